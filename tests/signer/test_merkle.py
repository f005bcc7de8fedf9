"""RFC 9162 §2.1 Merkle maths, cross-checked against a literal transcription of the RFC."""

from __future__ import annotations

import hashlib

import pytest

from signer.core.merkle import (
    EMPTY_ROOT,
    TreeBuilder,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)
from signer.errors import LogError

MAX = 40
LEAVES = [leaf_hash(b"entry %d" % i) for i in range(MAX + 2)]


# --- A naive, recursive transcription of RFC 9162 §2.1 (the reference behaviour) ----------
def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]  # already a leaf hash: HASH(0x00 || entry)
    k = _k(len(d))
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return ref_path(m, d[:k]) + [ref_mth(d[k:])]
    return ref_path(m - k, d[k:]) + [ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [ref_mth(d)]
    k = _k(len(d))
    if m <= k:
        return ref_subproof(m, d[:k], b) + [ref_mth(d[k:])]
    return ref_subproof(m - k, d[k:], False) + [ref_mth(d[:k])]


def _flip(h: bytes) -> bytes:
    return bytes([h[0] ^ 1]) + h[1:]


# --- Hashing ---------------------------------------------------------------------------------
def test_hash_domain_separation():
    assert EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()


def test_known_vector_rfc6962_empty_and_single():
    # Well-known values from the RFC 6962 test vectors (certificate-transparency-go).
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"


@pytest.mark.parametrize("n", range(0, MAX + 1))
def test_root_matches_reference_and_builder(n):
    expected = ref_mth(LEAVES[:n])
    assert root(LEAVES[:n]) == expected
    assert root(LEAVES, n) == expected
    assert root(LEAVES, n, cache={}) == expected
    b = TreeBuilder()
    b.extend(LEAVES[:n])
    assert b.size == n and b.root() == expected


def test_builder_root_at_every_size():
    b = TreeBuilder()
    for n in range(MAX):
        assert b.root() == ref_mth(LEAVES[:n])
        b.append(LEAVES[n])


# --- Inclusion, all sizes x all indices ------------------------------------------------------
@pytest.mark.parametrize("size", range(1, MAX + 1))
def test_inclusion_all_indices(size):
    r = ref_mth(LEAVES[:size])
    for index in range(size):
        proof = inclusion_proof(LEAVES, index, size)
        assert proof == ref_path(index, LEAVES[:size])
        verify_inclusion(LEAVES[index], index, size, proof, r)
        with pytest.raises(LogError):
            verify_inclusion(_flip(LEAVES[index]), index, size, proof, r)
        with pytest.raises(LogError):
            verify_inclusion(LEAVES[index], index, size, proof, _flip(r))
        for j in range(len(proof)):
            bad = list(proof)
            bad[j] = _flip(bad[j])
            with pytest.raises(LogError):
                verify_inclusion(LEAVES[index], index, size, bad, r)
        with pytest.raises(LogError):
            verify_inclusion(LEAVES[index], index, size, proof + [r], r)
        if proof:
            with pytest.raises(LogError):
                verify_inclusion(LEAVES[index], index, size, proof[:-1], r)
        if size > 1:
            with pytest.raises(LogError):  # right hash, wrong position
                verify_inclusion(LEAVES[index], (index + 1) % size, size, proof, r)


@pytest.mark.parametrize(
    ("index", "size", "why"),
    [(0, 0, "outside"), (3, 3, "outside"), (-1, 3, "outside")],
)
def test_inclusion_proof_bad_arguments(index, size, why):
    with pytest.raises(LogError, match=why):
        inclusion_proof(LEAVES[:3], index, size)


def test_verify_inclusion_refuses_bad_index_and_hash_length():
    with pytest.raises(LogError, match="not below"):
        verify_inclusion(LEAVES[0], 5, 5, [], LEAVES[0])
    with pytest.raises(LogError, match="32-byte"):
        verify_inclusion(LEAVES[0], 0, 2, [b"short"], LEAVES[0])


# --- Consistency, all sizes x all old sizes --------------------------------------------------
@pytest.mark.parametrize("new", range(1, MAX + 1))
def test_consistency_all_old_sizes(new):
    new_root = ref_mth(LEAVES[:new])
    for old in range(0, new + 1):
        old_root = ref_mth(LEAVES[:old])
        proof = consistency_proof(LEAVES, old, new)
        if 0 < old < new:
            assert proof == ref_subproof(old, LEAVES[:new], True)
        else:
            assert proof == []
        assert consistency_proof(LEAVES, old, new, cache={}) == proof
        verify_consistency(old, new, old_root, new_root, proof)
        if old:  # every tree extends the empty tree, whatever its root
            with pytest.raises(LogError):
                verify_consistency(old, new, old_root, _flip(new_root), proof)
            with pytest.raises(LogError):
                verify_consistency(old, new, _flip(old_root), new_root, proof)
        for j in range(len(proof)):
            bad = list(proof)
            bad[j] = _flip(bad[j])
            with pytest.raises(LogError):
                verify_consistency(old, new, old_root, new_root, bad)
        with pytest.raises(LogError):
            verify_consistency(old, new, old_root, new_root, proof + [new_root])
        if proof:
            with pytest.raises(LogError):
                verify_consistency(old, new, old_root, new_root, proof[:-1])
        if 0 < old < new - 1:  # a proof for another old size does not pass
            with pytest.raises(LogError):
                verify_consistency(old + 1, new, ref_mth(LEAVES[: old + 1]), new_root, proof)


def test_consistency_fork_and_bad_sizes():
    with pytest.raises(LogError, match="fork"):
        verify_consistency(3, 3, ref_mth(LEAVES[:3]), _flip(ref_mth(LEAVES[:3])), [])
    with pytest.raises(LogError, match="within"):
        verify_consistency(4, 3, ref_mth(LEAVES[:4]), ref_mth(LEAVES[:3]), [])
    with pytest.raises(LogError, match="empty tree"):
        verify_consistency(0, 3, LEAVES[0], ref_mth(LEAVES[:3]), [])
    with pytest.raises(LogError):
        consistency_proof(LEAVES[:3], 2, 4)


def test_cached_proofs_in_a_larger_tree_match_uncached():
    leaves = [leaf_hash(b"%d" % i) for i in range(1500)]
    cache: dict[tuple[int, int], bytes] = {}
    r = root(leaves, 1300)
    for index in (0, 255, 256, 1000, 1299):
        p = inclusion_proof(leaves, index, 1300, cache=cache)
        assert p == inclusion_proof(leaves, index, 1300)
        verify_inclusion(leaves[index], index, 1300, p, r)
    assert cache  # large complete subtrees were memoised
    for old in (1, 256, 257, 1024, 1299):
        p = consistency_proof(leaves, old, 1300, cache=cache)
        verify_consistency(old, 1300, root(leaves, old), r, p)
    assert root(leaves, 1300, cache=cache) == r


def test_one_cache_serves_proofs_to_every_tree_size_of_a_growing_log():
    """The cache remembers ragged right-edge subtrees too: a range's root never changes in an
    append-only log, so proofs to any later size, from one cache, equal uncached ones."""
    leaves = [leaf_hash(b"%d" % i) for i in range(1200)]
    cache: dict[tuple[int, int], bytes] = {}
    for size in (1, 2, 3, 255, 256, 257, 300, 511, 700, 1023, 1024, 1199, 1200):
        r = root(leaves, size)
        for index in sorted({0, size // 3, size // 2, size - 2, size - 1} - {-1}):
            p = inclusion_proof(leaves, index, size, cache=cache)
            assert p == inclusion_proof(leaves, index, size)
            verify_inclusion(leaves[index], index, size, p, r)
        assert root(leaves, size, cache=cache) == r
    assert any((hi - lo) & (hi - lo - 1) for lo, hi in cache)  # ragged ranges were kept
