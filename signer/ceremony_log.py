"""The tamper-evident ceremony log: append-only JSON Lines, an RFC 9162 tree, C2SP checkpoints.

Each entry is one line of canonical JSON ``{"data": {...}, "seq": N, "time": "...Z", "type": T}``;
its Merkle leaf is the exact line bytes without the newline (hash the original bytes, never a
re-serialisation). A ``checkpoint`` entry commits to every entry before it with a signed C2SP
checkpoint (DESIGN §5 "Ceremony log"), so each checkpoint is covered by the next one.

Appends are write-ahead (I2): O_APPEND, then fsync, before the caller acts. No secret may be
logged (I10): keys named pin/share/secret/password/mnemonic are refused at any depth, and error
messages name the key, never a value. Signing is a callback; this module imports no HSM code.

Known limit: the time field of the *last* checkpoint entry is not covered by any signature
(only the next checkpoint will cover that line); its size, root and note are self-verifying.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, overload

from signer.canonical import canonical_json
from signer.checkpoint import (
    Checkpoint,
    check_origin,
    checkpoint_of_note_unverified,
    parse_signed_checkpoint,
    sign_checkpoint,
)
from signer.errors import LogError, SignerError
from signer.files import fsync_dir, write_new
from signer.logstate import LogState, check_fields
from signer.merkle import (
    HASH_SIZE,
    SubtreeCache,
    TreeBuilder,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
)
from signer.merkle import root as merkle_root

MAX_LINE_BYTES = 1 << 20
CHECKPOINT_TYPE = "checkpoint"
SECRET_KEYS = frozenset({"pin", "share", "secret", "password", "mnemonic"})  # I10
_MAX_COUNTED_TYPES = 1000
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_TYPE = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
_FIELDS = frozenset({"seq", "time", "type", "data"})
_CHECKPOINT_FIELDS = frozenset({"size", "root", "note"})


@dataclass(frozen=True)
class Entry:
    seq: int
    time: str
    type: str
    data: dict[str, Any]
    line: bytes  # the exact bytes logged, without the newline
    leaf_hash: bytes
    offset: int = 0  # byte offset of the line in the log file


class _BadEntry(Exception):
    """A reason why one line is not a valid entry (turned into LogError or a LogReport)."""


class _TruncatedTail(_BadEntry):
    """The last line has no newline: a crash mid-append (recoverable, see signer.recovery)."""


def check_time(time: str) -> None:
    """Ceremony times are UTC, to the second: YYYY-MM-DDTHH:MM:SSZ (compares as a string)."""
    if not isinstance(time, str) or not _TIME.fullmatch(time):
        raise LogError(f"time {time!r} is not YYYY-MM-DDTHH:MM:SSZ")
    try:
        datetime.strptime(time, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        raise LogError(f"time {time!r} is not a real date and time") from None


def find_secret_key(value: Any, where: str = "data") -> str | None:
    """Path of the first key that looks like a secret (I10), or None. Never looks at values."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and key.lower() in SECRET_KEYS:
                return f"{where}.{key}"
            found = find_secret_key(item, f"{where}.{key}")
            if found:
                return found
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = find_secret_key(item, f"{where}[{i}]")
            if found:
                return found
    return None


def _parse_line(line: bytes, seq: int, last_time: str) -> dict[str, Any]:
    """Check one line (without newline) as entry ``seq``; raise _BadEntry naming the fault."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise _BadEntry("not UTF-8") from None
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        raise _BadEntry("not JSON") from None
    if not isinstance(obj, dict) or obj.keys() != _FIELDS:
        raise _BadEntry("not an object with exactly seq, time, type, data")
    try:
        canonical = canonical_json(obj) == line
    except (TypeError, ValueError, RecursionError):
        canonical = False
    if not canonical:
        raise _BadEntry("not canonical JSON")
    got = obj["seq"]
    if type(got) is not int or got != seq:
        raise _BadEntry(f"seq is {got!r}, expected {seq} (entries must be contiguous)")
    time = obj["time"]
    if not isinstance(time, str) or time != last_time:
        try:
            check_time(time)
        except LogError as exc:
            raise _BadEntry(str(exc)) from None
        if time < last_time:
            raise _BadEntry(f"time {time} is earlier than the previous entry's {last_time}")
    if not isinstance(obj["type"], str) or not _TYPE.fullmatch(obj["type"]):
        raise _BadEntry("type is not a short lowercase name")
    if not isinstance(obj["data"], dict):
        raise _BadEntry("data is not an object")
    secret = find_secret_key(obj["data"])
    if secret:
        raise _BadEntry(f"carries a secret-looking key {secret} (I10)")
    return obj


def _fold(state: LogState, obj: dict[str, Any]) -> None:
    """Fold one checked entry into the state; a shape the fold cannot read is a bad entry."""
    try:
        state.apply(obj["type"], obj["data"], obj["seq"], obj["time"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _BadEntry(f"{obj['type']} entry data is malformed ({type(exc).__name__})") from None


def _iter_lines(f: IO[bytes]) -> Iterator[bytes]:
    """Lines without their newline, streaming; a cap on length and a complete last line."""
    while True:
        line = f.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        if not line.endswith(b"\n"):
            if len(line) > MAX_LINE_BYTES:
                raise _BadEntry(f"longer than {MAX_LINE_BYTES} bytes")
            raise _TruncatedTail(
                "truncated record: the last line has no newline (crash mid-append?)")
        yield line[:-1]


class _Scanner:
    """Checks entries in order and builds the tree; shared by ``open`` and ``verify_log``."""

    def __init__(self, origin: str, verify_note: Callable[[str], Checkpoint]) -> None:
        self.origin = origin
        self.verify_note = verify_note
        self.builder = TreeBuilder()
        self.last_time = ""

    def feed(self, line: bytes) -> tuple[dict[str, Any], bytes, Checkpoint | None]:
        seq = self.builder.size
        obj = _parse_line(line, seq, self.last_time)
        cp = None
        if obj["type"] == CHECKPOINT_TYPE:
            cp = self._check_checkpoint(obj["data"], seq)
        leaf = leaf_hash(line)
        self.builder.append(leaf)
        self.last_time = obj["time"]
        return obj, leaf, cp

    def _check_checkpoint(self, data: dict[str, Any], seq: int) -> Checkpoint:
        if data.keys() != _CHECKPOINT_FIELDS:
            raise _BadEntry("checkpoint data is not exactly size, root, note")
        if data["size"] != seq or type(data["size"]) is not int:
            raise _BadEntry(f"checkpoint size {data['size']!r} is not its seq {seq}")
        root = self.builder.root()
        if data["root"] != root.hex():
            raise _BadEntry(f"checkpoint root is not the tree's root at size {seq}")
        if not isinstance(data["note"], str):
            raise _BadEntry("checkpoint note is not a string")
        try:
            cp = self.verify_note(data["note"])
        except LogError as exc:
            raise _BadEntry(f"checkpoint note: {exc}") from None
        if cp.origin != self.origin or cp.size != seq or cp.root != root:
            raise _BadEntry("checkpoint note does not match this log's origin, size and root")
        return cp


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
        self.state = LogState()  # the facts folded from every entry (signer.logstate)

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
        scanner = _Scanner(origin, checkpoint_of_note_unverified)
        try:
            with open(path, "rb") as f:
                for line in _iter_lines(f):
                    obj, leaf, cp = scanner.feed(line)
                    log._leaves.buf += leaf
                    if cp is not None:
                        log._checkpoints.append((obj["seq"], cp, obj["data"]["note"]))
                    log._offsets.append(log._file_size)
                    log._file_size += len(line) + 1
                    _fold(log.state, obj)
        except _BadEntry as exc:
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


@dataclass(frozen=True)
class LogReport:
    """What ``verify_log`` found: ok, or the first fault with its seq and line number."""

    ok: bool
    entries: int
    checkpoints: int
    first_error: str | None
    error_seq: int | None
    error_line: int | None
    last_checkpoint: str | None
    counts: Mapping[str, int] = field(default_factory=dict)
    root: str | None = None
    # Set only when the log's sole faults are a crash tail (every complete line verifies and
    # the signed prefix is intact): entries after the last checkpoint, and the bytes of an
    # incomplete last line. signer.recovery relies on this to tell a crash from tampering.
    unsigned_tail: int = 0
    truncated_bytes: int = 0

    def to_json(self) -> str:
        return canonical_json(
            {
                "ok": self.ok,
                "entries": self.entries,
                "checkpoints": self.checkpoints,
                "first_error": self.first_error,
                "error_seq": self.error_seq,
                "error_line": self.error_line,
                "last_checkpoint": self.last_checkpoint,
                "counts": dict(self.counts),
                "root": self.root,
                "unsigned_tail": self.unsigned_tail,
                "truncated_bytes": self.truncated_bytes,
            }
        ).decode()


def verify_log(
    path: Path | str, origin: str, name: str, public_key_raw: bytes, anchor: str | None = None
) -> LogReport:
    """Verify a ceremony log, streaming, in O(log n) memory; report the first fault.

    ``anchor`` is a signed checkpoint held elsewhere (a result bundle, the RA): the log must be
    at least that long and have that root at that size, or it was truncated or rewritten.
    """
    scanner = _Scanner(
        origin, lambda note: parse_signed_checkpoint(note, name, public_key_raw, origin=origin)
    )
    counts: dict[str, int] = {}
    n_checkpoints = 0
    last_cp: tuple[int, str] | None = None
    anchor_cp: Checkpoint | None = None
    anchor_root: bytes | None = None

    def report(error: str | None, seq: int | None = None, unsigned_tail: int = 0,
               truncated_bytes: int = 0) -> LogReport:
        return LogReport(
            ok=error is None,
            entries=scanner.builder.size,
            checkpoints=n_checkpoints,
            first_error=error,
            error_seq=seq,
            error_line=None if seq is None else seq + 1,
            last_checkpoint=last_cp[1] if last_cp else None,
            counts=counts,
            root=scanner.builder.root().hex() if error is None else None,
            unsigned_tail=unsigned_tail,
            truncated_bytes=truncated_bytes,
        )

    try:
        check_origin(origin)
        if anchor is not None:
            anchor_cp = parse_signed_checkpoint(anchor, name, public_key_raw, origin=origin)
    except LogError as exc:
        return report(f"anchor checkpoint: {exc}" if anchor is not None else str(exc))
    truncated = 0
    consumed = 0
    state = LogState()  # the same fold as CeremonyLog.open: what verifies also opens
    try:
        with open(path, "rb") as f:
            try:
                for line in _iter_lines(f):
                    if anchor_cp is not None and scanner.builder.size == anchor_cp.size:
                        anchor_root = scanner.builder.root()
                    obj, _, cp = scanner.feed(line)
                    _fold(state, obj)
                    consumed += len(line) + 1
                    kind = obj["type"]
                    if kind in counts or len(counts) < _MAX_COUNTED_TYPES:
                        counts[kind] = counts.get(kind, 0) + 1
                    if cp is not None:
                        n_checkpoints += 1
                        last_cp = (obj["seq"], obj["data"]["note"])
            except _TruncatedTail:  # judged below, after the checks of the complete lines
                truncated = os.fstat(f.fileno()).st_size - consumed
    except _BadEntry as exc:
        n = scanner.builder.size
        return report(f"line {n + 1} (seq {n}): {exc}", n)
    except OSError as exc:
        return report(f"{path}: cannot read ({exc.strerror or exc})")
    size = scanner.builder.size
    if anchor_cp is not None:
        if size == anchor_cp.size:
            anchor_root = scanner.builder.root()
        if size < anchor_cp.size:
            return report(
                f"log has {size} entries but the anchor checkpoint covers {anchor_cp.size}: truncated",
                size,
            )
        if anchor_root != anchor_cp.root:
            return report(
                f"root at size {anchor_cp.size} differs from the anchor checkpoint: "
                "the log was rewritten or forked",
                anchor_cp.size - 1 if anchor_cp.size else None,
            )
    if last_cp is None:
        return report("the log has no signed checkpoint")
    tail = size - last_cp[0] - 1
    if truncated:
        return report(
            f"line {size + 1} (seq {size}): truncated record: the last line has no newline "
            "(crash mid-append?)" + (f"; the {tail} entries before it are not covered by a "
                                     "signature" if tail else ""),
            size, unsigned_tail=tail, truncated_bytes=truncated,
        )
    if tail:
        return report(
            f"{tail} entries after the last signed checkpoint are not covered by a signature",
            last_cp[0] + 1, unsigned_tail=tail,
        )
    return report(None)
