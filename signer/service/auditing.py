"""The auditor's verbs over a home or a bare log: its key, the latest checkpoint, a full
verification, the printable report, and the logged recovery of a crash tail.

These read the home without unlocking it (a damaged log must not stop an audit of it); only
``recover`` opens a session, because the recovery itself is logged and signed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

from signer.core.checkpoint import checkpoint_of_note_unverified
from signer.errors import LogError, SignerError
from signer.service.audit import AuditReport, audit_verify, log_origin
from signer.service.report import Facts, digest_words, write_report
from signer.service.session import Credentials, Session, unlocked_session
from signer.store.home import HomePaths, load_config
from signer.store.ledger import Ledger
from signer.store.log import recovery
from signer.store.log.read import recent_entries
from signer.version import VERSION


def home_log_key(home: Path) -> bytes:
    """The log key pinned in HOME's ledger (trust it only as far as the home: auditors pass
    the key the RA pinned)."""
    paths = HomePaths(home)
    if not paths.config.exists():
        raise SignerError(f"{home}: not a signer home (give --pubkey)")
    ledger = Ledger(paths.ledger)
    try:
        hexkey = ledger.get_meta("log_public_key")
    finally:
        ledger.close()
    if not hexkey:
        raise SignerError("no log key is pinned in this home")
    return bytes.fromhex(hexkey)


@dataclass(frozen=True)
class LatestCheckpoint:
    note: str
    sha256: str  # of the note text
    size: int
    root: str  # hex
    words: str  # the root's, what witnesses read aloud


def latest_checkpoint(home: Path) -> LatestCheckpoint:
    path = HomePaths(home).checkpoint
    try:
        note = path.read_text(encoding="utf-8")
        cp = checkpoint_of_note_unverified(note)
    except (OSError, LogError):
        raise SignerError(f"{path}: no signed checkpoint yet") from None
    return LatestCheckpoint(note, hashlib.sha256(note.encode()).hexdigest(), cp.size,
                            cp.root.hex(), digest_words(cp.root.hex()))


def verify_home(home: Path, *, log: Path | None = None, key: bytes | None = None,
                bundles: list[Path] | None = None, anchor: str | None = None) -> AuditReport:
    """`audit verify`: the log (HOME's, or another copy), bundles, an anchor, and, for HOME's
    own log, the ledger replayed against it."""
    paths = HomePaths(home)
    log_path = log or paths.log
    if not log_path.exists():
        raise SignerError(f"{log_path}: no ceremony log")
    if not log_path.is_file():  # a device or a pipe would be read without end
        raise SignerError(f"{log_path}: not a regular file")
    key = key if key is not None else home_log_key(home)
    origin = None
    ledger = None
    if paths.config.exists() and log is None:
        origin = load_config(paths.config).appliance_name
        ledger = Ledger(paths.ledger)
    try:
        return audit_verify(log_path, key, origin=origin, bundles=bundles, anchor=anchor,
                            ledger=ledger, version=VERSION)
    finally:
        if ledger is not None:
            ledger.close()


def report_home(home: Path, outs: Path | list[Path], report: AuditReport,
                log: Path | None = None, key: bytes | None = None) -> Facts:
    """`audit report`: the printable page (HTML, PDF or both) of a verified (or failed) audit;
    ``key`` is the log key the audit used (default: HOME's), shown as its fingerprint."""
    paths = HomePaths(home)
    log_path = log or paths.log
    config = load_config(paths.config) if paths.config.exists() else None
    appliance = config.appliance_name if config else log_origin(log_path)
    if key is None and config is not None:
        key = home_log_key(home)
    return write_report(outs, log_path, report, appliance=appliance,
                        rehearsal=bool(config and config.rehearsal), log_public_key=key)


def recover(home: Path, creds: Credentials, at: dt.datetime | None,
            confirm: str) -> recovery.Recovery:
    """`audit recover` (OPERATIONS.md, 'Recovering the ceremony log'): only a crash tail, only
    with the confirmation, the damaged log copied aside first, the recovery logged and signed."""
    paths = HomePaths(home)
    if not paths.config.exists():
        raise SignerError(f"{home}: not a signer home")
    origin = load_config(paths.config).appliance_name
    found = recovery.diagnose(paths.log, origin, home_log_key(home))
    if confirm != recovery.CONFIRMATION:
        creds.wipe()
        raise SignerError(
            f"found a crash tail: {recovery.describe_crash_tail(found)}. Recovery copies the log "
            "aside and cuts an incomplete last line; copy the home to other media first, then "
            f'confirm with --confirm "{recovery.CONFIRMATION}"')
    rec = recovery.set_aside(paths.log, found)
    try:
        with unlocked_session(home, creds, at, recovery=True) as s:
            s.log_event(recovery.RECOVERY_TYPE, rec.entry())
    except BaseException:  # e.g. a wrong PIN: put the cut bytes back if nothing was logged
        recovery.undo(paths.log, rec)
        raise
    return rec


@dataclass(frozen=True)
class LogView:
    entries: list[dict[str, object]]
    checkpoints: list[tuple[int, int, str]]  # (seq of the entry, size, root hex)


def log_view(s: Session) -> LogView:
    """The last entries and every signed checkpoint, for the TUI's log screen."""
    cps = [(seq, cp.size, cp.root.hex()) for seq, cp, _ in s.log.checkpoints()]
    return LogView(recent_entries(s.paths.log), cps)


def verify_session_home(s: Session) -> AuditReport:
    """`audit verify` of the session's own home, as it stands: entries of an unlocked session
    not yet under a checkpoint are reported as such (the TUI offers `sign_checkpoint`)."""
    return audit_verify(s.paths.log, s.log_public_key(), origin=s.config.appliance_name,
                        ledger=s.ledger, version=VERSION,
                        open_from=s.session_start if s.unlocked else None)


def sign_checkpoint(s: Session) -> str:
    """A checkpoint over everything logged so far, when the custodians ask for one."""
    s.log_event("checkpoint.requested", {})
    return s.checkpoint()
