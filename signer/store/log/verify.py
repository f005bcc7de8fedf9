"""Verifying a ceremony log, streaming, in O(log n) memory: every entry, every checkpoint's
signature, an anchor checkpoint held elsewhere; the first fault is reported with its line.

A log whose only faults are a crash tail (entries after the last signed checkpoint, an
incomplete last line) is reported as such, so ``signer.store.log.recovery`` can tell a crash
from tampering.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from signer.core import progress
from signer.core.canonical import canonical_json
from signer.core.checkpoint import Checkpoint, check_origin, parse_signed_checkpoint
from signer.errors import LogError
from signer.store.log.entries import (
    _MAX_COUNTED_TYPES,
    BadEntry,
    Scanner,
    TruncatedTail,
    fold,
    iter_lines,
)
from signer.store.log.state import LogState


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
    open_from: int | None = None,
) -> LogReport:
    """Verify a ceremony log, streaming, in O(log n) memory; report the first fault.

    ``anchor`` is a signed checkpoint held elsewhere (a result bundle, the RA): the log must be
    at least that long and have that root at that size, or it was truncated or rewritten.
    ``open_from`` is where a session still open began (the TUI verifying its own home): its
    entries are signed when it closes, so an unsigned tail from there on is not a fault.
    """
    scanner = Scanner(
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
    consumed = 0
    state = LogState()  # the same fold as CeremonyLog.open: what verifies also opens
    try:
        with open(path, "rb") as f:
            total = os.fstat(f.fileno()).st_size
            try:
                for line in iter_lines(f):
                    if anchor_cp is not None and scanner.builder.size == anchor_cp.size:
                        anchor_root = scanner.builder.root()
                    obj, _, cp = scanner.feed(line)
                    fold(state, obj)
                    consumed += len(line) + 1
                    progress.report("verifying the ceremony log", consumed, total, "B")
                    kind = obj["type"]
                    if kind in counts or len(counts) < _MAX_COUNTED_TYPES:
                        counts[kind] = counts.get(kind, 0) + 1
                    if cp is not None:
                        n_checkpoints += 1
                        last_cp = (obj["seq"], obj["data"]["note"])
            except TruncatedTail:  # judged below, after the checks of the complete lines
                truncated = os.fstat(f.fileno()).st_size - consumed
    except BadEntry as exc:
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
    if tail and open_from is not None and last_cp[0] + 1 >= open_from:
        return report(None, unsigned_tail=tail)
    if tail:
        return report(
            f"{tail} entries after the last signed checkpoint are not covered by a signature",
            last_cp[0] + 1, unsigned_tail=tail,
        )
    return report(None)
