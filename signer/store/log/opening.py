"""Opening the ceremony log for a session: verified, from its last verified state when it has
one, so the cost does not grow with the log.

``open_for_session`` (an unlocked session) verifies what is new since the state kept beside
the log (``signer.store.log.snapshot``): the log's first bytes must hash to the verified
prefix, the entry at the state's offset must log this very state file, the next one must be a
checkpoint signed in the token whose root the state's frontier leads to, and every entry after
it is checked as ``verify_log`` checks every entry (signatures included) and folded. A log
without a state file (made by an older version, or the file deleted) is verified in full, as
before, and gets one at its next checkpoint.

What is refused, and why (THREAT-MODEL T10, the insider who edits files between sessions):
a log shorter than its verified state (truncation), a verified prefix that no longer hashes
the same (a rewritten entry), a state file whose digest is not the one logged at its offset
(swapped or edited), or one not followed by its signed checkpoint: all are evidence, and no
ceremony starts (``signer.store.log.recovery`` words the refusal). A *stale* state file, one
this log really logged at an earlier checkpoint, is accepted: it is a true earlier state, and
everything after it is verified as a full verification would. Falling back to a full
verification when the file does not match would let whoever swaps it choose a weaker check
(a full verification cannot see a log cut at a checkpoint); refusing keeps the state file
from ever being a way around the checks. A missing file cannot be told from an old home and
is verified in full (truncation at a checkpoint is then caught only by anchors, as before).

``open_read_only`` (a read-only command: `ca list`, `batch show`, the TUI before login) does
not read the log at all when the state file matches the entry at its offset: it folds only
what follows. Like the full structural scan it replaces, it checks no signature.
"""

from __future__ import annotations

from pathlib import Path

from signer.core.checkpoint import checkpoint_of_note_unverified
from signer.errors import LogError
from signer.store.log import recovery
from signer.store.log.index import INDEX_NAME, Records, rebuild
from signer.store.log.snapshot import MAX_BYTES, decode, digest
from signer.store.log.verify import Kept, Start, verify_log
from signer.store.log.writer import STATE_NAME, CeremonyLog


def load_start(path: Path, origin: str) -> Start | None:
    """The last verified state kept beside the log, or None when there is none; LogError when
    the file is there but is not a state of this log."""
    state_path = path.parent / STATE_NAME
    try:
        with open(state_path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LogError(f"{state_path}: cannot read ({exc.strerror or exc})") from None
    if len(raw) > MAX_BYTES:
        raise LogError(f"{state_path}: larger than any state this appliance writes")
    try:
        snap = decode(raw)
    except LogError as exc:
        raise LogError(f"{state_path}: {exc} (swapped or edited)") from None
    if snap.origin != origin:
        raise LogError(f"{state_path}: a state of another log ({snap.origin!r})")
    return Start(snap, digest(raw))


def open_for_session(path: Path, origin: str, key: bytes, *, recovery_session: bool = False
                     ) -> tuple[CeremonyLog, str | recovery.CrashTail | None]:
    """The verified log a session acts on, and its root (None for a recovery session on an
    unsigned tail, the tail for the session to judge when a crash left complete entries
    unsigned); LogError, worded for the operator, when it does not verify."""
    try:
        start = load_start(path, origin)
    except LogError as exc:
        raise LogError(f"the ceremony log's verified state does not match the log: {exc}; no "
                       "ceremony can start. This is not a crash: keep the home as it is and "
                       f"call the auditors (see {recovery.PROCEDURE})") from None
    index = path.parent / INDEX_NAME
    kept = Kept(Records(index, start.snapshot.size if start else 0))
    root = recovery.check_log_for_session(path, origin, key, recovery=recovery_session,
                                          start=start, keep=kept)
    records = kept.records
    if records.mapped < records.base:  # the index was lost: its bytes are verified now
        rebuild(path, records.base, records)
        records.remap()
    return CeremonyLog.resumed(path, origin, kept, start.snapshot if start else None,
                               verified=True), root


def open_read_only(path: Path, origin: str) -> CeremonyLog:
    """The log's facts without reading it all (no signature is checked, as before)."""
    try:
        start = load_start(path, origin)
    except LogError:
        start = None
    if start is not None:
        kept = Kept(Records(path.parent / INDEX_NAME, start.snapshot.size))
        report = verify_log(path, origin, origin, b"", start=start, keep=kept,
                            verify_note=checkpoint_of_note_unverified)
        if report.ok or (report.unsigned_tail and not report.truncated_bytes):
            return CeremonyLog.resumed(path, origin, kept, start.snapshot, verified=False)
    return CeremonyLog.open(path, origin)  # the full scan decides
