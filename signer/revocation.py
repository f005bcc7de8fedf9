"""Revocation and CRL issuance (I4) as ceremony steps: validate, log intent, lint, sign, record.

A revocation is announced in the log (``revoke.intent``), recorded in the ledger, then logged
(``revoked``) with the certificate's notAfter as the log recorded it at issuance; the log keeps
a hash chain of each CA's revocations (``signer.logstate``). A CRL is built only from ledger
rows that reproduce that chain, and numbered from the log's last CRL number, so a revocation
erased, added or altered in the ledger between sessions stops CRL issuance.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from signer import integrity
from signer.ceremony import Appliance, format_time
from signer.crl import CRLResult, build_crl, check_reason, crl_digest
from signer.errors import LogError, SignerError
from signer.files import check_new_output, write_new
from signer.ledger import CertRow, CRLRow
from signer.lint import lint_crl, sign_crl

FULL_LINT_MAX = 10_000  # above this many entries, pkilint judges a sample (see lint_crl)


@dataclass(frozen=True)
class RevokeItem:
    ca: str
    serial: str
    reason: str
    batch: str | None = None
    position: int | None = None


def check_entries(entries: list[tuple[str, str, str]], this_update: str) -> None:
    """Linear-time checks of every CRL entry (RFC 5280 §5.3, I4) before building."""
    seen: set[str] = set()
    for serial, when, reason in entries:
        if not serial or len(serial) > 40 or serial.startswith("0") or serial in seen:
            raise SignerError(f"CRL entry {serial!r}: serial is empty, too long, padded or repeated")
        seen.add(serial)
        if when[:19] > this_update[:19].replace("Z", ""):
            raise SignerError(f"CRL entry {serial}: revoked after thisUpdate")
        check_reason(reason)


def _sample(entries: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    by_reason: dict[str, tuple[str, str, str]] = {}
    for e in entries:
        by_reason.setdefault(e[2], e)
    return list({e[0]: e for e in [*entries[:500], *entries[-500:], *by_reason.values()]}.values())


def _logged_not_after(app: Appliance, row: CertRow) -> str:
    """The certificate's notAfter as its ``cert.issued`` entry recorded it (not the ledger's
    column: that could have been edited to drop the entry from CRLs early, I4)."""
    if row.log_seq is None:
        raise integrity.IntegrityError(
            f"certificate {row.serial} of CA {row.ca!r} has no log entry: "
            f"{integrity.AUDIT_HINT}")
    try:
        entry = app.log.read_entry(row.log_seq)
    except LogError as exc:
        raise integrity.IntegrityError(f"certificate {row.serial}: {exc}") from None
    d = entry.data
    if entry.type not in ("cert.issued", "ca.created") or d.get("serial") != row.serial \
            or d.get("cert_sha256") != hashlib.sha256(row.cert_der).hexdigest():
        raise integrity.IntegrityError(
            f"the ledger disagrees with the ceremony log: certificate {row.serial} of CA "
            f"{row.ca!r} is not the one its log entry records ({integrity.AUDIT_HINT})")
    cert = x509.load_der_x509_certificate(row.cert_der)
    return cert.not_valid_after_utc.isoformat()


def revoked_entry(app: Appliance, row: CertRow, when: str,
                  intent: dict[str, Any]) -> dict[str, Any]:
    return {"ca": row.ca, "serial": row.serial, "reason": intent["reason"], "revoked_at": when,
            "not_after": _logged_not_after(app, row), "batch": intent.get("batch"),
            "position": intent.get("position")}


def revoke_many(app: Appliance, items: Sequence[RevokeItem]) -> None:
    """Revoke certificates: intents logged, the ledger updated, the revocations logged."""
    if not items:
        return
    rows = []
    for it in items:
        check_reason(it.reason)
        row = app.ledger.certificate(it.ca, it.serial)
        if row is None:
            raise SignerError(f"CA {it.ca!r} issued no certificate with serial {it.serial}")
        if row.profile.startswith("ca-"):
            raise SignerError("CA certificates are not revoked with `revoke`")
        if row.revoked_at is not None:
            raise SignerError(f"certificate {it.serial} of CA {it.ca!r} is already revoked")
        _logged_not_after(app, row)  # refuse before anything is logged
        rows.append(row)
    when = format_time(app.ceremony_time)
    intents = [{"ca": it.ca, "serial": it.serial, "reason": it.reason, "batch": it.batch,
                "position": it.position} for it in items]
    app.log_many("revoke.intent", intents)
    app.ledger.revoke([(it.ca, it.serial, when, it.reason) for it in items])
    entries = app.log_many("revoked", [revoked_entry(app, row, when, intent)
                                       for row, intent in zip(rows, intents, strict=True)])
    app.ledger.mark_revocations_logged([(e.data["ca"], e.data["serial"], e.seq)
                                        for e in entries])


def revoke(app: Appliance, ca: str, serial: str, reason: str) -> None:
    check_reason(reason)
    serial = serial.lower().removeprefix("0x")
    if integrity.verified_ca(app.ledger, app.state, ca) is None:
        raise SignerError(f"unknown CA {ca!r}")
    revoke_many(app, [RevokeItem(ca, serial, reason)])


def issue_crl(app: Appliance, ca: str, *, batch_id: str | None = None,
              out: Path | None = None) -> CRLResult:
    """Issue CA ``ca``'s next CRL from the ledger; kept in HOME/crls and optionally at ``out``."""
    rec = integrity.verified_ca(app.ledger, app.state, ca)
    if rec is None:
        raise SignerError(f"unknown CA {ca!r}")
    if out is not None:
        check_new_output(out)
    app.require_airgap()
    now = app.ceremony_time
    cfg = app.config
    days = cfg.root_crl_days if rec.kind == "root" else cfg.ca_policy(ca).crl_days
    issuer_cert = x509.load_der_x509_certificate(rec.cert_der)
    next_update = min(now + dt.timedelta(days=days), issuer_cert.not_valid_after_utc)
    if not now < next_update or now < issuer_cert.not_valid_before_utc:
        raise SignerError(f"CA {ca!r} is not valid at {format_time(now)} (I4)")
    warning = None
    if cfg.next_ceremony is not None and next_update.date() < cfg.next_ceremony:
        warning = (f"nextUpdate {next_update:%Y-%m-%d} ends before the next planned ceremony "
                   f"({cfg.next_ceremony}): relying parties will see an expired CRL")
    number = integrity.verified_next_crl_number(app.ledger, app.state, ca)
    cutoff = now.isoformat()
    entries = [(serial, when, reason) for serial, when, reason, not_after
               in integrity.verified_revocations(app.ledger, app.state, ca)
               if not_after >= cutoff]  # I4: an entry leaves only after the certificate expired
    check_entries(entries, cutoff)
    builder = build_crl(issuer_cert, number, now, next_update, entries)
    sample = None
    if len(entries) > FULL_LINT_MAX:
        sample = build_crl(issuer_cert, number, now, next_update, _sample(entries))
    key = app.ca_key(rec)
    stored = app.paths.crls / f"{ca}-{number}.crl"
    check_new_output(stored)
    app.log_event("crl.intent", {"ca": ca, "number": number, "entries": len(entries),
                                 "this_update": format_time(now),
                                 "next_update": format_time(next_update)})
    linted = lint_crl(builder, key.public_key(), f"CRL {number} of {ca!r}", sample)
    crl = sign_crl(linted, key, f"CRL {number} of {ca!r}")
    if not crl.is_signature_valid(issuer_cert.public_key()):  # I5, against the certificate
        raise SignerError(f"CRL {number} of {ca!r} does not verify against the CA certificate")
    der = crl.public_bytes(serialization.Encoding.DER)
    sha = crl_digest(crl)
    app.ledger.add_crl(CRLRow(ca, number, format_time(now), format_time(next_update), der, sha,
                              batch_id))
    entry = app.log_event("crl.issued", {
        "ca": ca, "number": number, "crl_sha256": sha, "entries": len(entries),
        "this_update": format_time(now), "next_update": format_time(next_update),
        "batch": batch_id, "warning": warning})
    app.ledger.mark_crl_logged(ca, number, entry.seq)
    pem = crl.public_bytes(serialization.Encoding.PEM)
    write_new(stored, pem)
    if out is not None:
        write_new(out, pem, mode=0o644)
    return CRLResult(ca, number, format_time(now), format_time(next_update), len(entries), pem,
                     sha, str(stored), warning)
