"""One ceremony-log line: its format, the checks of one entry, and streaming lines from a file.

Each entry is one line of canonical JSON ``{"data": {...}, "seq": N, "time": "...Z", "type": T}``;
its Merkle leaf is the exact line bytes without the newline (hash the original bytes, never a
re-serialisation). No secret may be logged (I10): keys named pin/share/secret/password/mnemonic
are refused at any depth, and error messages name the key, never a value. ``Scanner`` checks
entries in order and builds the tree; the writer (``CeremonyLog.open``) and the verifier
(``verify_log``) share it, so what verifies also opens.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from signer.core.canonical import canonical_json
from signer.core.checkpoint import Checkpoint
from signer.core.merkle import TreeBuilder, leaf_hash
from signer.errors import LogError, SignerError
from signer.store.log.state import LogState

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


class BadEntry(Exception):
    """A reason why one line is not a valid entry (turned into LogError or a LogReport)."""


class TruncatedTail(BadEntry):
    """The last line has no newline: a crash mid-append (recoverable, see signer.store.log.recovery)."""


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


def parse_line(line: bytes, seq: int, last_time: str) -> dict[str, Any]:
    """Check one line (without newline) as entry ``seq``; raise BadEntry naming the fault."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise BadEntry("not UTF-8") from None
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        raise BadEntry("not JSON") from None
    if not isinstance(obj, dict) or obj.keys() != _FIELDS:
        raise BadEntry("not an object with exactly seq, time, type, data")
    try:
        canonical = canonical_json(obj) == line
    except (TypeError, ValueError, RecursionError):
        canonical = False
    if not canonical:
        raise BadEntry("not canonical JSON")
    got = obj["seq"]
    if type(got) is not int or got != seq:
        raise BadEntry(f"seq is {got!r}, expected {seq} (entries must be contiguous)")
    time = obj["time"]
    if not isinstance(time, str) or time != last_time:
        try:
            check_time(time)
        except LogError as exc:
            raise BadEntry(str(exc)) from None
        if time < last_time:
            raise BadEntry(f"time {time} is earlier than the previous entry's {last_time}")
    if not isinstance(obj["type"], str) or not _TYPE.fullmatch(obj["type"]):
        raise BadEntry("type is not a short lowercase name")
    if not isinstance(obj["data"], dict):
        raise BadEntry("data is not an object")
    secret = find_secret_key(obj["data"])
    if secret:
        raise BadEntry(f"carries a secret-looking key {secret} (I10)")
    return obj


def fold(state: LogState, obj: dict[str, Any]) -> None:
    """Fold one checked entry into the state; a shape the fold cannot read is a bad entry."""
    try:
        state.apply(obj["type"], obj["data"], obj["seq"], obj["time"])
    except (KeyError, TypeError, ValueError, AttributeError, SignerError) as exc:
        raise BadEntry(f"{obj['type']} entry data is malformed ({type(exc).__name__})") from None


def iter_lines(f: IO[bytes]) -> Iterator[bytes]:
    """Lines without their newline, streaming; a cap on length and a complete last line."""
    while True:
        line = f.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        if not line.endswith(b"\n"):
            if len(line) > MAX_LINE_BYTES:
                raise BadEntry(f"longer than {MAX_LINE_BYTES} bytes")
            raise TruncatedTail(
                "truncated record: the last line has no newline (crash mid-append?)")
        yield line[:-1]


class Scanner:
    """Checks entries in order and builds the tree; shared by ``open`` and ``verify_log``."""

    def __init__(self, origin: str, verify_note: Callable[[str], Checkpoint]) -> None:
        self.origin = origin
        self.verify_note = verify_note
        self.builder = TreeBuilder()
        self.last_time = ""

    def feed(self, line: bytes) -> tuple[dict[str, Any], bytes, Checkpoint | None]:
        seq = self.builder.size
        obj = parse_line(line, seq, self.last_time)
        cp = None
        if obj["type"] == CHECKPOINT_TYPE:
            cp = self._check_checkpoint(obj["data"], seq)
        leaf = leaf_hash(line)
        self.builder.append(leaf)
        self.last_time = obj["time"]
        return obj, leaf, cp

    def _check_checkpoint(self, data: dict[str, Any], seq: int) -> Checkpoint:
        if data.keys() != _CHECKPOINT_FIELDS:
            raise BadEntry("checkpoint data is not exactly size, root, note")
        if data["size"] != seq or type(data["size"]) is not int:
            raise BadEntry(f"checkpoint size {data['size']!r} is not its seq {seq}")
        root = self.builder.root()
        if data["root"] != root.hex():
            raise BadEntry(f"checkpoint root is not the tree's root at size {seq}")
        if not isinstance(data["note"], str):
            raise BadEntry("checkpoint note is not a string")
        try:
            cp = self.verify_note(data["note"])
        except LogError as exc:
            raise BadEntry(f"checkpoint note: {exc}") from None
        if cp.origin != self.origin or cp.size != seq or cp.root != root:
            raise BadEntry("checkpoint note does not match this log's origin, size and root")
        return cp


