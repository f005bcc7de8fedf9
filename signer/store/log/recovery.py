"""The ceremony log's health before a session, and recovery from a crash tail.

A ceremony may start only on a log that verifies (issue 5). A power cut or a kill mid-command
can leave two faults that are *expected*: entries after the last signed checkpoint (the session
never closed) and an incomplete last line (killed mid-append). Those, and only those, are
recovered by ``signer audit recover``: the damaged log is copied aside (never overwritten), an
incomplete last line is cut, and a ``recovery`` entry naming what was found, the bytes removed
and the damaged copy's SHA-256 is logged and covered by a fresh signed checkpoint. The steps
are mirrored in OPERATIONS.md, "Recovering the ceremony log".

Deliberately not done here: any other fault (an edited, reordered or spliced log, a bad
signature, a log with no checkpoint) is never "repaired"; it is evidence for the auditors.
What to do with an interrupted batch is not decided here either (`batch sign` resumes).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from signer.errors import LogError, SignerError
from signer.store.files import fsync_dir
from signer.store.log import CeremonyLog, LogReport, verify_log
from signer.store.log.verify import Kept, Start

CONFIRMATION = "I have a copy of the damaged log"
PROCEDURE = "OPERATIONS.md, 'Recovering the ceremony log'"
RECOVERY_TYPE = "recovery"


def is_crash_tail(report: LogReport) -> bool:
    """True when the only faults are an unsigned tail and/or an incomplete last line."""
    return not report.ok and (report.unsigned_tail > 0 or report.truncated_bytes > 0)


def refuse_crash_tail(report: LogReport, why: str = "") -> LogError:
    """The refusal of a session on a crash tail only custodians may complete."""
    return LogError(
        f"the ceremony log does not verify: {describe_crash_tail(report)} (an interrupted "
        f"session: a crash or power cut){why}; no ceremony can start until it is recovered "
        f'with `signer audit recover --confirm "{CONFIRMATION}"` (see {PROCEDURE})')


def describe_crash_tail(report: LogReport) -> str:
    parts = []
    if report.truncated_bytes:
        parts.append(f"its last line is truncated ({report.truncated_bytes} bytes)")
    if report.unsigned_tail:
        parts.append(f"{report.unsigned_tail} entries after the last signed checkpoint are not "
                     "covered by a signature")
    return " and ".join(parts)


@dataclass(frozen=True)
class CrashTail:
    """A log whose only fault is entries after the last signed checkpoint (complete lines):
    the next login may complete them (signer.service.crash_tail decides which). ``report.root``
    is the root over every entry, so the session can check it acts on exactly these."""

    report: LogReport


def check_log_for_session(path: Path, origin: str, key: bytes, *,
                          recovery: bool = False, start: Start | None = None,
                          keep: Kept | None = None) -> str | CrashTail | None:
    """Refuse to open a session on a log that does not verify (raises LogError); returns the
    verified root (hex), or None for a recovery session on an unsigned tail.

    ``recovery`` lets ``audit recover`` open its session on a log whose only fault is an
    unsigned tail (an incomplete last line must already have been cut). Otherwise a clean
    unsigned tail (complete lines only) is returned as a ``CrashTail`` for the session to
    judge; an incomplete last line always needs ``audit recover``. ``start`` verifies only
    what follows a last verified state; ``keep`` collects what the session works with.
    """
    report = verify_log(path, origin, origin, key, start=start, keep=keep)
    if report.ok:
        return report.root
    if is_crash_tail(report):
        if recovery and not report.truncated_bytes:
            return None
        if not report.truncated_bytes:
            return CrashTail(report)
        raise refuse_crash_tail(report)
    raise LogError(
        f"the ceremony log does not verify: {report.first_error}; no ceremony can start. This "
        "is not a crash tail: do not try to repair it, keep the home as it is and call the "
        f"auditors (see {PROCEDURE})")


def diagnose(path: Path, origin: str, key: bytes) -> LogReport:
    """The log's fault, when it is a recoverable crash tail; raises otherwise."""
    report = verify_log(path, origin, origin, key)
    if report.ok:
        raise SignerError("the ceremony log verifies: there is nothing to recover")
    if not is_crash_tail(report):
        raise LogError(
            f"refusing to recover: {report.first_error}. Only a crash tail (unsigned entries at "
            "the end, an incomplete last line) is recovered; this log was changed in another "
            "way: keep the home as it is and call the auditors")
    return report


@dataclass(frozen=True)
class Recovery:
    """What ``set_aside`` did, for the ``recovery`` log entry (and for ``undo``)."""

    found: str
    first_error: str
    unsigned_entries: int
    bytes_removed: int
    damaged_copy: Path
    damaged_sha256: str
    damaged_size: int

    def entry(self) -> dict[str, Any]:
        return {"found": self.found, "first_error": self.first_error,
                "unsigned_entries": self.unsigned_entries, "bytes_removed": self.bytes_removed,
                "damaged_copy": self.damaged_copy.name, "damaged_sha256": self.damaged_sha256,
                "damaged_size": self.damaged_size}


def _copy_aside(path: Path) -> tuple[Path, str, int]:
    """Copy ``path`` to ``path.damaged-<n>`` (the first free n; never overwriting), streaming."""
    for n in range(1, 10_000):
        dst = path.with_name(f"{path.name}.damaged-{n}")
        try:
            out = open(dst, "xb")  # noqa: SIM115 - closed below; exclusive create (I11)
        except FileExistsError:
            continue
        except OSError as exc:
            raise LogError(f"{dst}: cannot create ({exc.strerror or exc})") from None
        digest = hashlib.sha256()
        size = 0
        try:
            with out, open(path, "rb") as src:
                while chunk := src.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            fsync_dir(dst.parent)
        except OSError as exc:
            raise LogError(f"{dst}: cannot copy the damaged log ({exc.strerror or exc})") from None
        return dst, digest.hexdigest(), size
    raise LogError(f"{path.parent}: too many damaged copies; call the auditors")


def set_aside(path: Path, report: LogReport) -> Recovery:
    """Copy the damaged log aside, then cut an incomplete last line (the copy keeps it)."""
    copy, sha, size = _copy_aside(path)
    removed = 0
    if report.truncated_bytes:
        removed = CeremonyLog.repair_truncated_tail(path)
        if removed != report.truncated_bytes:
            raise LogError(f"{path}: changed while being recovered (expected to cut "
                           f"{report.truncated_bytes} bytes, cut {removed}); call the auditors")
    found = ",".join(k for k, v in (("truncated_line", report.truncated_bytes),
                                    ("unsigned_tail", report.unsigned_tail)) if v)
    return Recovery(found=found, first_error=report.first_error or "",
                    unsigned_entries=report.unsigned_tail, bytes_removed=removed,
                    damaged_copy=copy, damaged_sha256=sha, damaged_size=size)


def undo(path: Path, rec: Recovery) -> None:
    """Put the cut bytes back when the recovery session never started (e.g. a wrong PIN).

    Only when nothing was appended since: the log is then exactly the damaged copy minus its
    last ``bytes_removed`` bytes, and appending them restores it byte for byte.
    """
    if not rec.bytes_removed or path.stat().st_size != rec.damaged_size - rec.bytes_removed:
        return
    with open(rec.damaged_copy, "rb") as f:
        f.seek(rec.damaged_size - rec.bytes_removed)
        tail = f.read()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, tail)
        os.fsync(fd)
    finally:
        os.close(fd)
