"""CLI rendering of the auditor's verbs: pubkey, verify, checkpoint."""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from signer import cli
from signer.audit import audit_verify
from signer.ceremony import Appliance, HomePaths
from signer.config import load_config
from signer.errors import SignerError
from signer.ledger import Ledger
from signer.online import load_public_key
from transfer.words import pgp_words


def _home_key(home: Path) -> bytes:
    app = Appliance(home)
    try:
        return app.log_public_key()
    finally:
        app.ledger.close()


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
                 f"{note.rstrip()}\n\nsha256 {digest}\nwords  {words}")
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
    if args.checkpoint:
        try:
            anchor = args.checkpoint.read_text(encoding="utf-8")
        except OSError as exc:
            raise SignerError(f"{args.checkpoint}: cannot read ({exc.strerror})") from None
    if not Path(log_path).exists():
        raise SignerError(f"{log_path}: no ceremony log")
    try:
        report = audit_verify(Path(log_path), key, origin=origin, bundles=args.bundle,
                              anchor=anchor, ledger=ledger)
    finally:
        if ledger is not None:
            ledger.close()
    cli.emit(args, report.to_json(), report.text())
    if not report.ok:
        first = report.log.first_error or report.problems[0]
        raise SignerError(f"audit failed: {first}")
    sys.stdout.flush()
