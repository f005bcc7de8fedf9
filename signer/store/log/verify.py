"""Verifying a ceremony log, streaming, in O(log n) memory: every entry, every checkpoint's
signature, an anchor checkpoint held elsewhere; the first fault is reported with its line.

A log whose only faults are a crash tail (entries after the last signed checkpoint, an
incomplete last line) is reported as such, so ``signer.store.log.recovery`` can tell a crash
from tampering.

A session verifies only what is new (``Start``): from its last verified state
(``signer.store.log.snapshot``), after checking that the log's bytes up to there still hash to
the verified prefix and that the state is the one logged there and signed by the next
checkpoint. ``Kept`` collects, in the same pass, what the session then works with (the facts,
the tree, the records of the index), so what verifies is exactly what opens.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from signer.core import progress
from signer.core.canonical import canonical_json
from signer.core.checkpoint import Checkpoint, check_origin, parse_signed_checkpoint
from signer.core.merkle import TreeBuilder
from signer.errors import LogError
from signer.store.log.entries import (
    _MAX_COUNTED_TYPES,
    CHECKPOINT_TYPE,
    BadEntry,
    Scanner,
    TruncatedTail,
    fold,
    iter_lines,
)
from signer.store.log.index import Records
from signer.store.log.snapshot import STATE_TYPE, Snapshot
from signer.store.log.state import LogState

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Start:
    """Where a verification may begin: a last verified state and its file's SHA-256."""

    snapshot: Snapshot
    digest: str


@dataclass
class Kept:
    """What a verifying pass leaves for the session that asked for it."""

    records: Records
    state: LogState = field(default_factory=LogState)
    builder: TreeBuilder = field(default_factory=TreeBuilder)
    last_time: str = ""
    checkpoints: list[tuple[int, Checkpoint, str]] = field(default_factory=list)
    consumed: int = 0  # bytes of complete lines
    prefix: Any = field(default_factory=hashlib.sha256)  # SHA-256 of those bytes


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
    # incomplete last line. signer.store.log.recovery relies on this to tell a crash from tampering.
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
    path: Path | str, origin: str, name: str, public_key_raw: bytes, anchor: str | None = None,
    open_from: int | None = None, *, start: Start | None = None, keep: Kept | None = None,
    verify_note: Callable[[str], Checkpoint] | None = None,
) -> LogReport:
    """Verify a ceremony log, streaming, in O(log n) memory; report the first fault.

    ``anchor`` is a signed checkpoint held elsewhere (a result bundle, the RA): the log must be
    at least that long and have that root at that size, or it was truncated or rewritten.
    ``open_from`` is where a session still open began (the TUI verifying its own home): its
    entries are signed when it closes, so an unsigned tail from there on is not a fault.
    ``start`` resumes from a verified state (not with an anchor); ``keep`` collects the
    session's facts; ``verify_note`` replaces the signature check (read-only views only).
    """
    if start is not None and anchor is not None:
        raise ValueError("an anchor is checked by a full verification only")
    scanner = Scanner(origin, verify_note or (
        lambda note: parse_signed_checkpoint(note, name, public_key_raw, origin=origin)))
    counts: dict[str, int] = {}
    n_checkpoints = 0
    last_cp: tuple[int, str] | None = None
    anchor_cp: Checkpoint | None = None
    anchor_root: bytes | None = None
    state = LogState()  # the same fold as CeremonyLog.open: what verifies also opens
    consumed = 0
    prefix = hashlib.sha256()
    if start is not None:
        snap = start.snapshot
        scanner.builder = TreeBuilder.restore(snap.size, snap.frontier)
        scanner.last_time = snap.last_time
        state = snap.state
        last_cp = snap.checkpoint
        consumed = snap.offset

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
            # A crash tail's root too: a session completing it checks it acts on these bytes.
            root=scanner.builder.root().hex() if error is None or unsigned_tail else None,
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
    try:
        with open(path, "rb") as f:
            total = os.fstat(f.fileno()).st_size
            if start is not None:
                fault = _check_prefix(f, start, prefix, verify_note is None)
                if fault is not None:
                    return report(fault, start.snapshot.size)
            try:
                for line in iter_lines(f):
                    if anchor_cp is not None and scanner.builder.size == anchor_cp.size:
                        anchor_root = scanner.builder.root()
                    seq = scanner.builder.size
                    if start is not None and seq <= start.snapshot.size + 1:
                        _check_resumed(line, seq, start)
                    obj, leaf, cp = scanner.feed(line)
                    fold(state, obj)
                    if keep is not None:
                        keep.records.append(consumed, leaf)
                        prefix.update(line)
                        prefix.update(b"\n")
                    consumed += len(line) + 1
                    progress.report("verifying the ceremony log", consumed, total, "B")
                    kind = obj["type"]
                    if kind in counts or len(counts) < _MAX_COUNTED_TYPES:
                        counts[kind] = counts.get(kind, 0) + 1
                    if cp is not None:
                        n_checkpoints += 1
                        last_cp = (obj["seq"], obj["data"]["note"])
                        if keep is not None:
                            keep.checkpoints.append((obj["seq"], cp, obj["data"]["note"]))
            except TruncatedTail:  # judged below, after the checks of the complete lines
                truncated = os.fstat(f.fileno()).st_size - consumed
    except BadEntry as exc:
        n = scanner.builder.size
        return report(f"line {n + 1} (seq {n}): {exc}", n)
    except OSError as exc:
        return report(f"{path}: cannot read ({exc.strerror or exc})")
    size = scanner.builder.size
    if keep is not None:
        keep.state, keep.builder, keep.last_time = state, scanner.builder, scanner.last_time
        keep.consumed, keep.prefix = consumed, prefix
    if start is not None and size < start.snapshot.size + 2:
        return report(f"the log ends at entry {size} but its last verified state (entry "
                      f"{start.snapshot.size}) is followed by no signed checkpoint there: "
                      "truncated", size)
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
    if tail and open_from is not None and last_cp[0] + 1 >= open_from:
        return report(None, unsigned_tail=tail)
    if tail:
        return report(
            f"{tail} entries after the last signed checkpoint are not covered by a signature",
            last_cp[0] + 1, unsigned_tail=tail,
        )
    return report(None)


def _check_prefix(f: IO[bytes], start: Start, prefix: Any, verify: bool) -> str | None:
    """The log's first bytes are still the verified prefix (not shorter, not rewritten)."""
    snap = start.snapshot
    have = os.fstat(f.fileno()).st_size
    if have < snap.offset:
        return (f"the log has {have} bytes, but its first {snap.size} entries were verified "
                f"at {snap.offset} bytes: truncated")
    if not verify:  # a read-only view: the prefix is taken as it is
        f.seek(snap.offset)
        return None
    left = snap.offset
    while left:
        chunk = f.read(min(_CHUNK, left))
        if not chunk:
            return "the log ended while its verified prefix was read: truncated"
        prefix.update(chunk)
        left -= len(chunk)
    if prefix.hexdigest() != snap.prefix_sha256:
        return (f"the log's first {snap.size} entries ({snap.offset} bytes) are not the ones "
                "verified before: the log was rewritten")
    return None


def _check_resumed(line: bytes, seq: int, start: Start) -> None:
    """Entry ``size`` records the verified state (its file's digest); the next is the
    checkpoint that signs it (checked by the scanner; here, that it is one)."""
    snap = start.snapshot
    if seq == snap.size:
        want = canonical_json({"size": snap.size, "sha256": start.digest})
        if f'"type":"{STATE_TYPE}"'.encode() not in line or \
                not line.startswith(b'{"data":' + want + b',"seq":'):
            raise BadEntry(f"it is not the {STATE_TYPE} entry of the log's verified state "
                           "(the state file was swapped or edited)")
    elif f'"type":"{CHECKPOINT_TYPE}"'.encode() not in line:
        raise BadEntry("the log's verified state is not followed by the checkpoint that signs "
                       "it")
