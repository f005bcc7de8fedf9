"""Reading a ceremony log's earlier entries and proofs through its index, every read checked.

The index beside the log (``signer.store.log.index``) is a cache: an entry read through it is
checked against its leaf hash and, for an entry of an earlier session, against its place in
the verified prefix (the session hashed the log's first bytes at login); a proof computed from
it is checked against a root a signature vouches for. A check that fails rebuilds the index
from the log once; if it still fails, the log changed on disk.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from signer.core.checkpoint import Checkpoint
from signer.core.merkle import (
    SubtreeCache,
    TreeBuilder,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from signer.core.merkle import root as merkle_root
from signer.errors import LogError
from signer.store.log.entries import MAX_LINE_BYTES, Entry
from signer.store.log.index import Leaves, Records, is_entry, rebuild


class LogReader:
    """Mixed into ``CeremonyLog``: its readers."""

    _path: Path
    _records: Records
    _builder: TreeBuilder
    _cache: SubtreeCache
    _checkpoints: list[tuple[int, Checkpoint, str]]
    verified: bool

    @property
    def size(self) -> int:
        return self._builder.size

    def read_entry(self, seq: int) -> Entry:
        """Entry ``seq`` read back from disk, checked: its bytes against its leaf hash, and,
        for an entry of an earlier session, its place (a line of the verified prefix whose
        ``seq`` is ``seq``); an index that disagrees is rebuilt from the log once."""
        for attempt in (0, 1):
            offset, leaf = self._records.get(seq)
            line = self._line_at(offset)
            if line is not None and leaf_hash(line) == leaf and (
                    self._records.trusted(seq) or self._placed(line, seq, offset)):
                obj = json.loads(line)
                return Entry(seq, obj["time"], obj["type"], obj["data"], line, leaf, offset)
            if attempt or self._records.trusted(seq):
                break
            self._rebuild_index()
        raise LogError(f"{self._path}: entry {seq} changed on disk since the log was verified")

    def _line_at(self, offset: int) -> bytes | None:
        try:
            with open(self._path, "rb") as f:
                f.seek(offset)
                line = f.readline(MAX_LINE_BYTES + 1)
        except OSError as exc:
            raise LogError(f"{self._path}: cannot read ({exc.strerror or exc})") from None
        return line[:-1] if line.endswith(b"\n") else None

    def _placed(self, line: bytes, seq: int, offset: int) -> bool:
        """An old entry is trusted through the verified prefix: the log opened verified (its
        first bytes hashed to the verified prefix), the line starts a line, and is ``seq``."""
        if not self.verified or not is_entry(line + b"\n", seq):
            return False
        if offset == 0:
            return True
        with open(self._path, "rb") as f:
            f.seek(offset - 1)
            return f.read(1) == b"\n"

    def _rebuild_index(self) -> None:
        """Write the index records of the entries before this session again, from the log."""
        base = self._records.base
        if not self.verified or not base:
            raise LogError(f"{self._path}: the log's index is damaged and cannot be rebuilt "
                           "from a log not verified in this session")
        rebuild(self._path, base)
        self._records.remap()
        self._cache.clear()
        tail_ok = self.root_at(self.size) == self._builder.root()
        if not tail_ok:
            raise LogError(f"{self._path}: the log's entries do not make its verified tree "
                           "(rewritten since the session opened?)")

    def scan(self, types: frozenset[str]) -> Iterator[Entry]:
        """Entries of these types, streamed from disk and checked against the tree. A recovery
        path (finding what a crash left half-recorded), never part of an ordinary session."""
        needles = [f'"type":"{t}"'.encode() for t in types]
        try:
            with open(self._path, "rb") as f:
                offset = 0
                for seq, raw in enumerate(f):
                    if seq >= self.size:
                        return
                    line = raw.rstrip(b"\n")
                    if any(n in line for n in needles) and (
                            leaf_hash(line) == self._records.leaf(seq)
                            if self._records.trusted(seq)
                            else self.verified and is_entry(raw, seq)):
                        obj = json.loads(line)
                        if obj["type"] in types:
                            yield Entry(seq, obj["time"], obj["type"], obj["data"], line,
                                        leaf_hash(line), offset)
                    offset += len(raw)
        except OSError as exc:
            raise LogError(f"{self._path}: cannot read ({exc.strerror or exc})") from None

    def leaf_hash(self, seq: int) -> bytes:
        if not 0 <= seq < self.size:
            raise LogError(f"no entry {seq} in a log of {self.size}")
        return self._records.leaf(seq)

    def _signed_root(self, size: int) -> bytes | None:
        """The root at ``size`` that a signature or this session's own tree vouches for."""
        if size == self.size:
            return self._builder.root()
        for _, cp, _ in reversed(self._checkpoints):
            if cp.size == size:
                return cp.root
        return None

    def root_at(self, size: int) -> bytes:
        if size == self.size:
            return self._builder.root()
        if not 0 <= size <= self.size:
            raise LogError(f"tree size {size} is outside 0..{self.size}")
        return merkle_root(Leaves(self._records), size, cache=self._cache)

    def inclusion_proof(self, seq: int, size: int) -> list[bytes]:
        """RFC 9162 PATH(seq, size), checked against the root a signature vouches for (the
        index it is computed from is a cache); rebuilt from the log once if it fails."""
        for attempt in (0, 1):
            proof = inclusion_proof(Leaves(self._records), seq, size, cache=self._cache)
            root = self._signed_root(size)
            try:
                if root is not None:
                    verify_inclusion(self._records.leaf(seq), seq, size, proof, root)
                return proof
            except LogError:
                if attempt:
                    raise
                self._rebuild_index()
        raise AssertionError("unreachable")

    def consistency_proof(self, old: int, new: int) -> list[bytes]:
        """RFC 9162 PROOF(old, new), checked against both signed roots when they are known."""
        for attempt in (0, 1):
            proof = consistency_proof(Leaves(self._records), old, new, cache=self._cache)
            a, b = self._signed_root(old), self._signed_root(new)
            try:
                if a is not None and b is not None:
                    verify_consistency(old, new, a, b, proof)
                return proof
            except LogError:
                if attempt:
                    raise
                self._rebuild_index()
        raise AssertionError("unreachable")

