"""The tamper-evident ceremony log, open for appending: an RFC 9162 tree, C2SP checkpoints.

A ``checkpoint`` entry commits to every entry before it with a signed C2SP checkpoint
(DESIGN §5 "Ceremony log"), so each checkpoint is covered by the next one. Appends are
write-ahead (I2): O_APPEND, then fsync, before the caller acts. Opening folds every entry into
the facts the service checks the ledger against (``signer.store.log.state``). Signing is a
callback; this module imports no HSM code.

Known limit: the time field of the *last* checkpoint entry is not covered by any signature
(only the next checkpoint will cover that line); its size, root and note are self-verifying.
"""

from __future__ import annotations

import fcntl
import json
import os
from array import array
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, overload

from signer.core import progress
from signer.core.canonical import canonical_json
from signer.core.checkpoint import (
    Checkpoint,
    check_origin,
    checkpoint_of_note_unverified,
    sign_checkpoint,
)
from signer.core.merkle import (
    HASH_SIZE,
    SubtreeCache,
    TreeBuilder,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
)
from signer.core.merkle import root as merkle_root
from signer.errors import LogError, SignerError
from signer.store.files import fsync_dir, write_new
from signer.store.log.entries import (
    _TYPE,
    CHECKPOINT_TYPE,
    MAX_LINE_BYTES,
    BadEntry,
    Entry,
    Scanner,
    check_time,
    find_secret_key,
    fold,
    iter_lines,
)
from signer.store.log.state import LogState, check_fields


class _Leaves(Sequence[bytes]):
    """Leaf hashes packed 32 bytes each (a million entries: 32 MB, not ~70 MB of bytes objects)."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def __len__(self) -> int:
        return len(self.buf) // HASH_SIZE

    @overload
    def __getitem__(self, i: int) -> bytes: ...
    @overload
    def __getitem__(self, i: slice) -> list[bytes]: ...
    def __getitem__(self, i: int | slice) -> bytes | list[bytes]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if not 0 <= i < len(self):
            raise IndexError(i)
        return bytes(self.buf[i * HASH_SIZE : (i + 1) * HASH_SIZE])


class CeremonyLog:
    """An open ceremony log: its leaf hashes in memory, appends going straight to disk."""

    def __init__(self, path: Path, origin: str) -> None:
        """Use ``CeremonyLog.open``."""
        self._path = path
        self._origin = origin
        self._leaves = _Leaves()
        self._builder = TreeBuilder()
        self._cache: SubtreeCache = {}
        self._last_time = ""
        self._file_size = 0
        self._checkpoints: list[tuple[int, Checkpoint, str]] = []
        self._broken = False
        self._offsets = array("Q")
        self.state = LogState()  # the facts folded from every entry (signer.store.log.state)

    @classmethod
    def open(cls, path: Path | str, origin: str, *, create: bool = False) -> CeremonyLog:
        """Scan the log once, checking its structure; ``create`` makes an empty one (at init).

        Signatures are not checked here (no key is needed to append); ``verify_log`` does that.
        """
        check_origin(origin)
        path = Path(path)
        if not path.exists():
            if not create:
                raise LogError(f"{path}: no ceremony log here")
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                os.fsync(fd)
                os.close(fd)
                fsync_dir(path.parent)
            except OSError as exc:
                raise LogError(f"{path}: cannot create ({exc.strerror or exc})") from None
        log = cls(path, origin)
        scanner = Scanner(origin, checkpoint_of_note_unverified)
        try:
            with open(path, "rb") as f:
                total = os.fstat(f.fileno()).st_size
                for line in iter_lines(f):
                    obj, leaf, cp = scanner.feed(line)
                    log._leaves.buf += leaf
                    if cp is not None:
                        log._checkpoints.append((obj["seq"], cp, obj["data"]["note"]))
                    log._offsets.append(log._file_size)
                    log._file_size += len(line) + 1
                    fold(log.state, obj)
                    progress.report("reading the ceremony log", log._file_size, total, "B")
        except BadEntry as exc:
            n = scanner.builder.size
            raise LogError(f"{path}: line {n + 1} (seq {n}): {exc}") from None
        except OSError as exc:
            raise LogError(f"{path}: cannot read ({exc.strerror or exc})") from None
        log._builder = scanner.builder
        log._last_time = scanner.last_time
        return log

    @staticmethod
    def repair_truncated_tail(path: Path | str) -> int:
        """Cut an incomplete last line (a crash mid-append); return the bytes removed.

        Only call this after the caller has logged/decided the recovery: it destroys bytes.
        """
        path = Path(path)
        try:
            with open(path, "r+b") as f:
                end = f.seek(0, os.SEEK_END)
                pos = end
                while pos > 0:  # search backwards for the last newline, 64 KiB at a time
                    start = max(0, pos - 65536)
                    f.seek(start)
                    chunk = f.read(pos - start)
                    nl = chunk.rfind(b"\n")
                    if nl >= 0:
                        pos = start + nl + 1
                        break
                    pos = start
                if pos == end:
                    return 0
                f.truncate(pos)
                f.flush()
                os.fsync(f.fileno())
            return end - pos
        except OSError as exc:
            raise LogError(f"{path}: cannot repair ({exc.strerror or exc})") from None

    @property
    def path(self) -> Path:
        return self._path

    @property
    def origin(self) -> str:
        return self._origin

    @property
    def size(self) -> int:
        return self._builder.size

    @property
    def last_time(self) -> str | None:
        return self._last_time or None

    @property
    def root(self) -> bytes:
        return self._builder.root()

    @property
    def last_checkpoint(self) -> Checkpoint | None:
        return self._checkpoints[-1][1] if self._checkpoints else None

    def checkpoints(self) -> list[tuple[int, Checkpoint, str]]:
        """(seq of the checkpoint entry, its checkpoint, the signed note), oldest first."""
        return list(self._checkpoints)

    def read_entry(self, seq: int) -> Entry:
        """Entry ``seq`` read back from disk, checked against its leaf hash in the tree."""
        if not 0 <= seq < self.size:
            raise LogError(f"no entry {seq} in a log of {self.size}")
        offset = self._offsets[seq]
        try:
            with open(self._path, "rb") as f:
                f.seek(offset)
                line = f.readline(MAX_LINE_BYTES + 1).rstrip(b"\n")
        except OSError as exc:
            raise LogError(f"{self._path}: cannot read ({exc.strerror or exc})") from None
        leaf = leaf_hash(line)
        if leaf != self._leaves[seq]:
            raise LogError(f"{self._path}: entry {seq} changed on disk since the log was opened")
        obj = json.loads(line)
        return Entry(seq, obj["time"], obj["type"], obj["data"], line, leaf, offset)

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
                    if any(n in line for n in needles):
                        obj = json.loads(line)
                        leaf = leaf_hash(line)
                        if obj["type"] in types and leaf == self._leaves[seq]:
                            yield Entry(seq, obj["time"], obj["type"], obj["data"], line, leaf,
                                        offset)
                    offset += len(raw)
        except OSError as exc:
            raise LogError(f"{self._path}: cannot read ({exc.strerror or exc})") from None

    def leaf_hash(self, seq: int) -> bytes:
        if not 0 <= seq < self.size:
            raise LogError(f"no entry {seq} in a log of {self.size}")
        return self._leaves[seq]

    def root_at(self, size: int) -> bytes:
        if size == self.size:
            return self._builder.root()
        if not 0 <= size <= self.size:
            raise LogError(f"tree size {size} is outside 0..{self.size}")
        return merkle_root(self._leaves, size, cache=self._cache)

    def inclusion_proof(self, seq: int, size: int) -> list[bytes]:
        return inclusion_proof(self._leaves, seq, size, cache=self._cache)

    def consistency_proof(self, old: int, new: int) -> list[bytes]:
        return consistency_proof(self._leaves, old, new, cache=self._cache)

    def append(self, type: str, data: dict[str, Any], time: str) -> Entry:
        """Write one entry ahead of the action it records (I2); refuses secrets (I10)."""
        if type == CHECKPOINT_TYPE:
            raise LogError("checkpoint entries are written only by CeremonyLog.checkpoint()")
        return self._append(type, data, time)

    def append_many(self, type: str, items: Sequence[dict[str, Any]], time: str) -> list[Entry]:
        """Append entries of one type with a single write and fsync (a chunk of a batch).

        The same checks as ``append``; all lines are built before anything is written, so a
        refused item writes nothing.
        """
        if type == CHECKPOINT_TYPE:
            raise LogError("checkpoint entries are written only by CeremonyLog.checkpoint()")
        return self._append_lines(type, list(items), time)

    def checkpoint(
        self, time: str, name: str, public_key_raw: bytes, sign: Callable[[bytes], bytes]
    ) -> str:
        """Sign the tree of every entry so far, log it, and publish ``<logdir>/checkpoint``."""
        self._check_time(time)  # refuse before asking the HSM for a signature
        size = self.size
        cp = Checkpoint(self._origin, size, self._builder.root())
        note = sign_checkpoint(cp, name, public_key_raw, sign)
        entry = self._append(
            CHECKPOINT_TYPE, {"size": size, "root": cp.root.hex(), "note": note}, time
        )
        self._checkpoints.append((entry.seq, cp, note))
        try:  # I11: atomic; replacing the previous checkpoint file is intended
            write_new(self._path.parent / "checkpoint", note.encode(), replace=True)
        except SignerError as exc:
            raise LogError(f"checkpoint logged but not published: {exc}") from None
        return note

    def _check_time(self, time: str) -> None:
        check_time(time)
        if time < self._last_time:  # I9
            raise LogError(f"time {time} is earlier than the last logged time {self._last_time}")

    def _append(self, type: str, data: dict[str, Any], time: str) -> Entry:
        return self._append_lines(type, [data], time)[0]

    def _append_lines(self, type: str, items: list[dict[str, Any]], time: str) -> list[Entry]:
        if self._broken:
            raise LogError(f"{self._path}: an earlier append failed; reopen the log")
        if not isinstance(type, str) or not _TYPE.fullmatch(type):
            raise LogError(f"entry type {type!r} is not a short lowercase name")
        self._check_time(time)
        lines: list[bytes] = []
        for data in items:
            if not isinstance(data, dict):
                raise LogError("entry data must be an object")
            secret = find_secret_key(data)
            if secret:
                raise LogError(f"refusing to log {secret}: it looks like a secret (I10)")
            missing = check_fields(type, data)
            if missing:
                raise LogError(f"a {type} entry needs {missing}")
            try:
                line = canonical_json(
                    {"seq": self.size + len(lines), "time": time, "type": type, "data": data})
            except (TypeError, ValueError) as exc:
                raise LogError(f"entry data is not canonical JSON: {exc}") from None
            if len(line) > MAX_LINE_BYTES:
                raise LogError(f"entry is longer than {MAX_LINE_BYTES} bytes")
            lines.append(line)
        if not lines:
            return []
        try:
            fd = os.open(self._path, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            raise LogError(f"{self._path}: cannot open ({exc.strerror or exc})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # one writer; detect appends by anyone else
            if os.fstat(fd).st_size != self._file_size:
                raise LogError(f"{self._path}: changed by another writer since it was opened")
            view = memoryview(b"".join(line + b"\n" for line in lines))
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)  # I2: on disk before the caller acts on it
        except OSError as exc:
            self._broken = True
            raise LogError(f"{self._path}: append failed ({exc.strerror or exc})") from None
        finally:
            os.close(fd)
        entries = []
        for line, data in zip(lines, items, strict=True):
            leaf = leaf_hash(line)
            self._leaves.buf += leaf
            self._builder.append(leaf)
            self._offsets.append(self._file_size)
            entries.append(Entry(self.size - 1, time, type, json.loads(line)["data"], line, leaf,
                                 self._file_size))
            self._file_size += len(line) + 1
            self.state.apply(type, data, self.size - 1, time)
        self._last_time = time
        return entries
