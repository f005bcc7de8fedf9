"""CLI rendering of the auditor's verbs: pubkey, verify, checkpoint, report, recover."""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from signer import cli, recovery
from signer.audit import AuditReport, audit_verify, log_origin
from signer.ceremony import HomePaths
from signer.config import load_config
from signer.errors import SignerError
from signer.ledger import Ledger
from signer.online import load_public_key
from signer.report import checkpoint_summary, write_report
from transfer.words import pgp_words


def _home_key(home: Path) -> bytes:
    """The pinned log key, read from the ledger (not via Appliance: a damaged log must not
    stop an audit of it)."""
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


def checkpoint_words(note: str) -> tuple[str, str]:
    digest = hashlib.sha256(note.encode()).hexdigest()
    return digest, " ".join(pgp_words(bytes.fromhex(digest)[:8]))


def run_audit(args: argparse.Namespace) -> None:
    home = cli.home_of(args)
    if args.sub == "pubkey":
        raw = _home_key(home)
        pem = ed25519.Ed25519PublicKey.from_public_bytes(raw).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        cli.emit(args, {"pem": pem, "raw": raw.hex()}, pem.rstrip("\n"))
        return
    if args.sub == "checkpoint":
        path = HomePaths(home).log_dir / "checkpoint"
        try:
            note = path.read_text(encoding="utf-8")
        except OSError:
            raise SignerError(f"{path}: no signed checkpoint yet") from None
        digest, words = checkpoint_words(note)
        cli.emit(args, {"checkpoint": note, "sha256": digest, "words": words},
                 f"{note.rstrip()}\n\nsha256 {digest}\nwords  {words}\n"
                 f"{checkpoint_summary(note)}")
        return
    if args.sub == "recover":
        run_recover(args, home)
        return
    paths = HomePaths(home)
    log_path = args.log or paths.log
    key = load_public_key(args.pubkey) if args.pubkey else _home_key(home)
    origin = None
    ledger = None
    if paths.config.exists() and args.log is None:
        origin = load_config(paths.config).appliance_name
        ledger = Ledger(paths.ledger)
    anchor = None
    if getattr(args, "checkpoint", None):
        try:
            anchor = args.checkpoint.read_text(encoding="utf-8")
        except OSError as exc:
            raise SignerError(f"{args.checkpoint}: cannot read ({exc.strerror})") from None
    if not Path(log_path).exists():
        raise SignerError(f"{log_path}: no ceremony log")
    if not Path(log_path).is_file():  # a device or a pipe would be read without end
        raise SignerError(f"{log_path}: not a regular file")
    try:
        report = audit_verify(Path(log_path), key, origin=origin,
                              bundles=getattr(args, "bundle", None), anchor=anchor, ledger=ledger)
    finally:
        if ledger is not None:
            ledger.close()
    if args.sub == "report":
        run_report(args, home, Path(log_path), report)
        return
    cli.emit(args, report.to_json(), report.text())
    if not report.ok:
        first = report.log.first_error or report.problems[0]
        raise SignerError(f"audit failed: {first}")
    sys.stdout.flush()


def run_report(args: argparse.Namespace, home: Path, log_path: Path, report: AuditReport) -> None:
    """`audit report`: verify first, then write the HTML page (the result shown on top)."""
    paths = HomePaths(home)
    config = load_config(paths.config) if paths.config.exists() else None
    appliance = config.appliance_name if config else log_origin(log_path)
    facts = write_report(args.out, log_path, report, appliance=appliance,
                         rehearsal=bool(config and config.rehearsal))
    cli.emit(args, {"out": str(args.out), "ok": report.ok, "entries": facts.entries,
                    "issued": facts.issued, "refused": facts.refused},
             f"wrote {args.out}: {facts.entries} entries, verification "
             + ("OK" if report.ok else "FAILED"))
    if not report.ok:  # the page is written; the exit code still says the audit failed
        first = report.log.first_error or report.problems[0]
        raise SignerError(f"report written, but the audit failed: {first}")


def run_recover(args: argparse.Namespace, home: Path) -> None:
    """`audit recover`: see signer.recovery (OPERATIONS.md, 'Recovering the ceremony log')."""
    paths = HomePaths(home)
    if not paths.config.exists():
        raise SignerError(f"{home}: not a signer home")
    origin = load_config(paths.config).appliance_name
    found = recovery.diagnose(paths.log, origin, _home_key(home))
    if args.confirm != recovery.CONFIRMATION:
        raise SignerError(
            f"found a crash tail: {recovery.describe_crash_tail(found)}. Recovery copies the log "
            "aside and cuts an incomplete last line; copy the home to other media first, then "
            f'confirm with --confirm "{recovery.CONFIRMATION}"')
    rec = recovery.set_aside(paths.log, found)
    try:
        cli.with_login(args, lambda app: app.log_event(recovery.RECOVERY_TYPE, rec.entry()),
                       recovery=True)
    except BaseException:  # e.g. a wrong PIN: put the cut bytes back if nothing was logged
        recovery.undo(paths.log, rec)
        raise
    cli.emit(args, {"recovered": rec.entry()},
             f"recovered: {rec.found}; {rec.bytes_removed} bytes cut; the damaged log is kept "
             f"as {rec.damaged_copy} (sha256 {rec.damaged_sha256}); a recovery entry and a new "
             "signed checkpoint are in the log")
