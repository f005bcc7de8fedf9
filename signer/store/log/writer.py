"""The tamper-evident ceremony log, open for appending: an RFC 9162 tree, C2SP checkpoints.

A ``checkpoint`` entry commits to every entry before it with a signed C2SP checkpoint
(DESIGN §5 "Ceremony log"), so each checkpoint is covered by the next one. Just before it, a
``log.state`` entry records the digest of the verified state kept beside the log
(``signer.store.log.snapshot``): the next session verifies only what follows it
(``signer.store.log.opening``). Appends are write-ahead (I2): O_APPEND, then fsync, before the
caller acts. The facts the service checks the ledger against (``signer.store.log.state``) are
folded as entries are read or written. Entries are found again through the index beside the
log (``signer.store.log.index``), every read checked. Signing is a callback; this module
imports no HSM code.

Known limit: the time field of the *last* checkpoint entry is not covered by any signature
(only the next checkpoint will cover that line); its size, root and note are self-verifying.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from signer.core import progress
from signer.core.canonical import canonical_json
from signer.core.checkpoint import (
    Checkpoint,
    check_origin,
    checkpoint_of_note_unverified,
    sign_checkpoint,
)
from signer.core.merkle import (
    SubtreeCache,
    TreeBuilder,
    leaf_hash,
)
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
from signer.store.log.index import Records
from signer.store.log.reading import LogReader
from signer.store.log.snapshot import STATE_TYPE, Snapshot, digest
from signer.store.log.state import LogState, check_fields

STATE_NAME = "state.json"
_WRITER_ONLY = frozenset({CHECKPOINT_TYPE, STATE_TYPE})


class CeremonyLog(LogReader):
    """An open ceremony log: its tree's frontier and facts in memory, its entries on disk
    (found through the index, ``signer.store.log.reading``), appends going straight to disk."""

    def __init__(self, path: Path, origin: str) -> None:
        """Use ``CeremonyLog.open`` or ``signer.store.log.opening``."""
        self._path = path
        self._origin = origin
        self._records = Records()
        self._builder = TreeBuilder()
        self._cache: SubtreeCache = {}
        self._last_time = ""
        self._file_size = 0
        self._checkpoints: list[tuple[int, Checkpoint, str]] = []
        self._broken = False
        self._prefix: Any = hashlib.sha256()  # of the file's bytes so far
        # Verified: opened by verifying signatures (or made empty here). Only such a log
        # keeps its state beside it at a checkpoint, and reads old entries through the index.
        self.verified = False
        self.state = LogState()  # the facts folded from every entry (signer.store.log.state)

    @classmethod
    def open(cls, path: Path | str, origin: str, *, create: bool = False) -> CeremonyLog:
        """Scan the whole log once, checking its structure; ``create`` makes an empty one (at
        init). Signatures are not checked here: ``verify_log`` does that, and a session opens
        the log verified (``signer.store.log.opening``)."""
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
                    log._records.append(log._file_size, leaf)
                    if cp is not None:
                        log._checkpoints.append((obj["seq"], cp, obj["data"]["note"]))
                    log._file_size += len(line) + 1
                    log._prefix.update(line)
                    log._prefix.update(b"\n")
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

    @classmethod
    def resumed(cls, path: Path, origin: str, kept: Any, snapshot: Snapshot | None,
                verified: bool) -> CeremonyLog:
        """The log as a verifying pass (``signer.store.log.verify.Kept``) left it."""
        log = cls(path, origin)
        log._records, log._builder, log.state = kept.records, kept.builder, kept.state
        log._last_time, log._file_size, log._prefix = kept.last_time, kept.consumed, kept.prefix
        log._checkpoints = list(kept.checkpoints)
        if snapshot is not None and snapshot.checkpoint is not None:
            seq, note = snapshot.checkpoint
            log._checkpoints.insert(0, (seq, checkpoint_of_note_unverified(note), note))
        log.verified = verified
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

    def append(self, type: str, data: dict[str, Any], time: str) -> Entry:
        """Write one entry ahead of the action it records (I2); refuses secrets (I10)."""
        if type in _WRITER_ONLY:
            raise LogError(f"{type} entries are written only by CeremonyLog.checkpoint()")
        return self._append(type, data, time)

    def append_many(self, type: str, items: Sequence[dict[str, Any]], time: str) -> list[Entry]:
        """Append entries of one type with a single write and fsync (a chunk of a batch).

        The same checks as ``append``; all lines are built before anything is written, so a
        refused item writes nothing.
        """
        if type in _WRITER_ONLY:
            raise LogError(f"{type} entries are written only by CeremonyLog.checkpoint()")
        return self._append_lines(type, list(items), time)

    def checkpoint(
        self, time: str, name: str, public_key_raw: bytes, sign: Callable[[bytes], bytes]
    ) -> str:
        """Sign the tree of every entry so far, log it, and publish ``<logdir>/checkpoint``.

        A verified log first logs the digest of its state (``log.state``), so the checkpoint
        signs it, and keeps that state beside the log afterwards (``log/state.json``)."""
        self._check_time(time)  # refuse before asking the HSM for a signature
        kept, first = None, []
        tree = TreeBuilder.restore(self.size, self._builder.frontier())
        if self.verified:
            self.state.seal()  # what the log.state entry does to the fold: no run continues
            kept = self._snapshot().encode()
            first = [(STATE_TYPE, {"size": self.size, "sha256": digest(kept)})]
            tree.append(leaf_hash(self._line(*first[0], time, self.size)))
        cp = Checkpoint(self._origin, tree.size, tree.root())
        note = sign_checkpoint(cp, name, public_key_raw, sign)  # nothing is written if it fails
        last = (CHECKPOINT_TYPE, {"size": cp.size, "root": cp.root.hex(), "note": note})
        entries = self._append_lines([t for t, _ in [*first, last]],
                                     [d for _, d in [*first, last]], time)
        self._checkpoints.append((entries[-1].seq, cp, note))
        try:  # I11: atomic; replacing the previous checkpoint file is intended
            write_new(self._path.parent / "checkpoint", note.encode(), replace=True)
            if kept is not None:  # a cache of verified facts: its digest is in the log
                self._records.flush()
                write_new(self._path.parent / STATE_NAME, kept, replace=True)
        except (SignerError, OSError) as exc:
            raise LogError(f"checkpoint logged but not published: {exc}") from None
        return note

    def _snapshot(self) -> Snapshot:
        last = self._checkpoints[-1] if self._checkpoints else None
        return Snapshot(
            origin=self._origin, size=self.size, offset=self._file_size,
            prefix_sha256=self._prefix.hexdigest(), frontier=self._builder.frontier(),
            last_time=self._last_time, checkpoint=None if last is None else (last[0], last[2]),
            state=self.state)

    def _check_time(self, time: str) -> None:
        check_time(time)
        if time < self._last_time:  # I9
            raise LogError(f"time {time} is earlier than the last logged time {self._last_time}")

    def _append(self, type: str, data: dict[str, Any], time: str) -> Entry:
        return self._append_lines(type, [data], time)[0]

    @staticmethod
    def _line(kind: str, data: dict[str, Any], time: str, seq: int) -> bytes:
        """One entry's canonical line, after the checks every entry passes (I10)."""
        if not isinstance(kind, str) or not _TYPE.fullmatch(kind):
            raise LogError(f"entry type {kind!r} is not a short lowercase name")
        if not isinstance(data, dict):
            raise LogError("entry data must be an object")
        secret = find_secret_key(data)
        if secret:
            raise LogError(f"refusing to log {secret}: it looks like a secret (I10)")
        missing = check_fields(kind, data)
        if missing:
            raise LogError(f"a {kind} entry needs {missing}")
        try:
            line = canonical_json({"seq": seq, "time": time, "type": kind, "data": data})
        except (TypeError, ValueError) as exc:
            raise LogError(f"entry data is not canonical JSON: {exc}") from None
        if len(line) > MAX_LINE_BYTES:
            raise LogError(f"entry is longer than {MAX_LINE_BYTES} bytes")
        return line

    def _append_lines(self, type: str | Sequence[str], items: list[dict[str, Any]],
                      time: str) -> list[Entry]:
        """Write entries of ``type`` (or one type each) with one write and one fsync."""
        if self._broken:
            raise LogError(f"{self._path}: an earlier append failed; reopen the log")
        types = [type] * len(items) if isinstance(type, str) else list(type)
        if len(types) != len(items):
            raise LogError("one type per entry")
        self._check_time(time)
        lines: list[bytes] = []
        for kind, data in zip(types, items, strict=True):
            lines.append(self._line(kind, data, time, self.size + len(lines)))
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
        for kind, line, data in zip(types, lines, items, strict=True):
            leaf = leaf_hash(line)
            self._records.append(self._file_size, leaf)
            self._builder.append(leaf)
            entries.append(Entry(self.size - 1, time, kind, json.loads(line)["data"], line, leaf,
                                 self._file_size))
            self._file_size += len(line) + 1
            self._prefix.update(line)
            self._prefix.update(b"\n")
            self.state.apply(kind, data, self.size - 1, time)
        self._last_time = time
        return entries
