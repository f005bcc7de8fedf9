"""RFC 9162 §2.1 Merkle tree hashing, proofs and proof verification (SHA-256).

Pure functions over leaf hashes (32-byte ``bytes``): no files, no keys, no clock. The ceremony
log keeps its leaf hashes and calls these; auditors call the ``verify_*`` functions, which raise
``LogError`` with a one-line reason and never return a boolean (house style).

This module deliberately does not hash entries for you beyond ``leaf_hash`` and does not know
what an entry is; it also does not support hash algorithms other than SHA-256 (RFC 9162 §2.1
with the RFC 6962 hash, as C2SP checkpoints require).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, MutableMapping, Sequence

from signer.errors import LogError

HASH_SIZE = 32
_sha256 = hashlib.sha256
# RFC 9162 §2.1.1: MTH({}) = HASH() -- the hash of the empty string.
EMPTY_ROOT: bytes = _sha256(b"").digest()

SubtreeCache = MutableMapping[tuple[int, int], bytes]
# Complete subtrees at least this wide are memoised (at most 2n/_CACHE_MIN entries): proofs in a
# million-entry log then cost a few thousand hashes instead of a million. Inclusion proofs also
# keep the narrower and the ragged siblings they compute (_sibling): a batch's proofs share them
# (O(n) entries at most, and only for the leaves proved).
_CACHE_MIN = 256


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1: MTH({d}) = HASH(0x00 || d)."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: HASH(0x01 || MTH(left) || MTH(right))."""
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly smaller than ``n`` (n > 1), the RFC 9162 §2.1.1 split k."""
    return 1 << ((n - 1).bit_length() - 1)


class TreeBuilder:
    """Append leaf hashes one at a time; O(log n) memory.

    The stack holds the roots of the complete subtrees that make up the tree so far, largest
    (leftmost) first: one per set bit of the size, like a binary counter. ``root()`` folds them
    right to left, which is exactly RFC 9162 §2.1.1's MTH for a non-power-of-two size.
    """

    __slots__ = ("_size", "_stack")

    def __init__(self) -> None:
        self._size = 0
        self._stack: list[bytes] = []

    @property
    def size(self) -> int:
        return self._size

    def frontier(self) -> tuple[bytes, ...]:
        """The roots of the complete subtrees making up the tree, largest first: with the
        size, everything needed to extend it (and to compute its root)."""
        return tuple(self._stack)

    @classmethod
    def restore(cls, size: int, frontier: Iterable[bytes]) -> TreeBuilder:
        """A builder continuing a tree of ``size`` leaves from its ``frontier``."""
        stack = list(frontier)
        if size < 0 or len(stack) != bin(size).count("1") or \
                any(len(h) != HASH_SIZE for h in stack):
            raise LogError(f"a frontier of {len(stack)} hashes is not one of a tree of {size}")
        builder = cls()
        builder._size, builder._stack = size, stack
        return builder

    def append(self, leaf: bytes) -> None:
        stack = self._stack
        stack.append(leaf)
        n = self._size
        # Each trailing 1 bit of the old size is a complete subtree that the new leaf completes.
        while n & 1:
            right = stack.pop()
            stack[-1] = _sha256(b"\x01" + stack[-1] + right).digest()
            n >>= 1
        self._size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        stack = self._stack
        if not stack:
            return EMPTY_ROOT
        acc = stack[-1]
        for i in range(len(stack) - 2, -1, -1):
            acc = _sha256(b"\x01" + stack[i] + acc).digest()
        return acc


def _subtree_root(
    leaves: Sequence[bytes], lo: int, hi: int, cache: SubtreeCache | None = None
) -> bytes:
    """MTH(D[lo:hi]) for hi > lo, streaming with a TreeBuilder.

    With ``cache``, roots of power-of-two-wide ranges are memoised: in RFC 9162's recursion such a
    range is always a complete, aligned subtree, which never changes in an append-only log.
    """
    width = hi - lo
    complete = width & (width - 1) == 0
    if cache is not None and complete:
        hit = cache.get((lo, hi))
        if hit is not None:
            return hit
    if cache is not None and width > _CACHE_MIN:
        k = _split(width)
        result = node_hash(
            _subtree_root(leaves, lo, lo + k, cache), _subtree_root(leaves, lo + k, hi, cache)
        )
    else:
        builder = TreeBuilder()
        for i in range(lo, hi):
            builder.append(leaves[i])
        result = builder.root()
    if cache is not None and complete and width >= _CACHE_MIN:
        cache[(lo, hi)] = result
    return result


def root(
    leaf_hashes: Sequence[bytes], size: int | None = None, *, cache: SubtreeCache | None = None
) -> bytes:
    """MTH of the first ``size`` leaves (all of them by default)."""
    n = len(leaf_hashes) if size is None else size
    if not 0 <= n <= len(leaf_hashes):
        raise LogError(f"tree size {n} is outside 0..{len(leaf_hashes)}")
    if n == 0:
        return EMPTY_ROOT
    return _subtree_root(leaf_hashes, 0, n, cache)


def inclusion_proof(
    leaf_hashes: Sequence[bytes], index: int, size: int, *, cache: SubtreeCache | None = None
) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(index, D[0:size]): sibling hashes from the leaf up to the root."""
    if not 0 < size <= len(leaf_hashes):
        raise LogError(f"tree size {size} is outside 1..{len(leaf_hashes)}")
    if not 0 <= index < size:
        raise LogError(f"leaf index {index} is outside 0..{size - 1}")
    path: list[bytes] = []
    lo, hi, m = 0, size, index
    # Walk down from the root; siblings are found top-down, the proof lists them bottom-up.
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:
            path.append(_sibling(leaf_hashes, lo + k, hi, cache))
            hi = lo + k
        else:
            path.append(_sibling(leaf_hashes, lo, lo + k, cache))
            lo, m = lo + k, m - k
    path.reverse()
    return path


def _sibling(leaves: Sequence[bytes], lo: int, hi: int, cache: SubtreeCache | None) -> bytes:
    """A proof's sibling subtree; with ``cache``, remembered whatever its width and shape (in an
    append-only log any range's root is fixed once its leaves exist). Proofs of neighbouring
    leaves share their small siblings, and every proof to one tree size shares the ragged
    subtrees of its right edge: a batch's proofs then cost a few hashes each, not hundreds."""
    if cache is None or hi - lo == 1:
        return _subtree_root(leaves, lo, hi, cache)
    hit = cache.get((lo, hi))
    if hit is None:
        if hi - lo < _CACHE_MIN:
            half = _split(hi - lo)
            hit = node_hash(_sibling(leaves, lo, lo + half, cache),
                            _sibling(leaves, lo + half, hi, cache))
        else:
            hit = _subtree_root(leaves, lo, hi, cache)
        cache[(lo, hi)] = hit
    return hit


def consistency_proof(
    leaf_hashes: Sequence[bytes],
    old_size: int,
    new_size: int,
    *,
    cache: SubtreeCache | None = None,
) -> list[bytes]:
    """RFC 9162 §2.1.4.1 PROOF(old_size, D[0:new_size]); empty when old_size is 0 or equal."""
    if not 0 <= new_size <= len(leaf_hashes):
        raise LogError(f"tree size {new_size} is outside 0..{len(leaf_hashes)}")
    if not 0 <= old_size <= new_size:
        raise LogError(f"old size {old_size} is outside 0..{new_size}")
    if old_size == 0 or old_size == new_size:
        return []
    proof: list[bytes] = []
    lo, hi, m, complete_old = 0, new_size, old_size, True
    # SUBPROOF(m, D[lo:hi], b) unrolled; the RFC appends after recursing, so collect and reverse.
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            proof.append(_subtree_root(leaf_hashes, lo + k, hi, cache))
            hi = lo + k
        else:
            proof.append(_subtree_root(leaf_hashes, lo, lo + k, cache))
            lo, m, complete_old = lo + k, m - k, False
    if not complete_old:
        proof.append(_subtree_root(leaf_hashes, lo, hi, cache))
    proof.reverse()
    return proof


def _check_hashes(proof: Sequence[bytes], what: str) -> None:
    for i, h in enumerate(proof):
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            raise LogError(f"{what} element {i} is not a {HASH_SIZE}-byte hash")


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root_hash: bytes
) -> None:
    """RFC 9162 §2.1.3.2: raise LogError unless ``proof`` shows ``leaf`` at ``index`` in ``root_hash``."""
    _check_hashes([leaf, root_hash], "inclusion input")
    _check_hashes(proof, "inclusion proof")
    if not 0 <= index < size:  # step 1
        raise LogError(f"inclusion proof: leaf index {index} is not below tree size {size}")
    fn, sn, r = index, size - 1, leaf  # steps 2-3
    for p in proof:  # step 4
        if sn == 0:
            raise LogError("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = _sha256(b"\x01" + p + r).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:  # step 5
        raise LogError("inclusion proof is shorter than the tree is deep")
    if r != root_hash:
        raise LogError(f"inclusion proof for leaf {index} does not lead to the root of size {size}")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 §2.1.4.2: raise LogError unless the tree at ``new_size`` extends ``old_size``."""
    _check_hashes([old_root, new_root], "consistency input")
    _check_hashes(proof, "consistency proof")
    if not 0 <= old_size <= new_size:
        raise LogError(f"consistency: old size {old_size} is not within 0..{new_size}")
    if old_size == new_size:
        if proof:
            raise LogError("consistency proof between equal sizes must be empty")
        if old_root != new_root:
            raise LogError(f"two different roots for the same tree size {old_size} (fork)")
        return
    if old_size == 0:
        # Every tree extends the empty tree; its root is fixed (RFC 9162 §2.1.1).
        if proof:
            raise LogError("consistency proof from the empty tree must be empty")
        if old_root != EMPTY_ROOT:
            raise LogError("root of the empty tree is not HASH()")
        return
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # step 1: old tree is a complete subtree
        path.insert(0, old_root)
    if not path:
        raise LogError("consistency proof is empty")
    fn, sn = old_size - 1, new_size - 1  # step 2
    while fn & 1:  # step 3
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # step 4
    for c in path[1:]:  # step 5
        if sn == 0:
            raise LogError("consistency proof is longer than expected")
        if fn & 1 or fn == sn:
            fr = _sha256(b"\x01" + c + fr).digest()
            sr = _sha256(b"\x01" + c + sr).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _sha256(b"\x01" + sr + c).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:  # step 6
        raise LogError("consistency proof is shorter than expected")
    if fr != old_root:
        raise LogError(f"consistency proof does not reproduce the old root at size {old_size}")
    if sr != new_root:
        raise LogError(f"consistency proof does not reproduce the new root at size {new_size}")
