"""Revocation and CRL issuance (I4) as ceremony steps: validate, log intent, lint, sign, record.

A revocation is announced in the log (``revoke.intent``), recorded in the ledger, then logged
(``revoked``) with the certificate's notAfter as the log recorded it at issuance; the log keeps
a hash chain of each CA's revocations (``signer.store.log.state``). A CRL is built only from ledger
rows that reproduce that chain, and numbered from the log's last CRL number, so a revocation
erased, added or altered in the ledger between sessions stops CRL issuance.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from signer.core import progress
from signer.core.clock import format_time
from signer.core.crl import CRLResult, build_crl, check_reason, crl_digest, crl_signed_by
from signer.core.lint import lint_crl, sign_crl
from signer.errors import SignerError
from signer.service import integrity
from signer.service.session import Session
from signer.store.files import check_new_output, write_new
from signer.store.ledger import CRLRow, Ledger
from signer.store.log.events import CrlIntent, RevokeIntent, crl_issued

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


def check_revocation(ledger: Ledger, ca: str, serial: str, reason: str) -> list[dict[str, str]]:
    try:
        check_reason(reason)
    except SignerError as exc:
        return [{"code": "revocation.reason", "message": str(exc)}]
    row = ledger.certificate(ca, serial)
    if row is None:
        return [{"code": "revocation.unknown", "message": f"CA {ca!r} issued no certificate {serial}"}]
    if row.revoked_at is not None:
        return [{"code": "revocation.duplicate", "message": f"certificate {serial} is already revoked"}]
    if row.profile.startswith("ca-"):
        return [{"code": "revocation.ca", "message": "a CA certificate is revoked only in a key ceremony"}]
    return []


def revoke_many(session: Session, items: Sequence[RevokeItem]) -> None:
    """Revoke certificates: intents logged, the ledger updated, the revocations logged."""
    if not items:
        return
    rows = []
    for it in items:
        check_reason(it.reason)
        row = session.ledger.certificate(it.ca, it.serial)
        if row is None:
            raise SignerError(f"CA {it.ca!r} issued no certificate with serial {it.serial}")
        if row.profile.startswith("ca-"):
            raise SignerError("CA certificates are not revoked with `revoke`")
        if row.revoked_at is not None:
            raise SignerError(f"certificate {it.serial} of CA {it.ca!r} is already revoked")
        integrity.logged_not_after(session.log, row)  # refuse before anything is logged
        rows.append(row)
    when = format_time(session.ceremony_time)
    intents = [RevokeIntent(ca=it.ca, serial=it.serial, reason=it.reason, batch=it.batch,
                            position=it.position) for it in items]
    session.record_all(intents)
    session.ledger.revoke([(it.ca, it.serial, when, it.reason) for it in items])
    entries = session.record_all([integrity.revoked_event(session.log, row, when, intent)
                               for row, intent in zip(rows, intents, strict=True)])
    session.ledger.mark_revocations_logged([(e.data["ca"], e.data["serial"], e.seq)
                                        for e in entries])


def revoke(session: Session, ca: str, serial: str, reason: str) -> None:
    check_reason(reason)
    serial = serial.lower().removeprefix("0x")
    if integrity.verified_ca(session.ledger, session.state, ca) is None:
        raise SignerError(f"unknown CA {ca!r}")
    revoke_many(session, [RevokeItem(ca, serial, reason)])


def issue_crl(session: Session, ca: str, *, batch_id: str | None = None,
              out: Path | None = None) -> CRLResult:
    """Issue CA ``ca``'s next CRL from the ledger; kept in HOME/crls and optionally at ``out``."""
    rec = integrity.verified_ca(session.ledger, session.state, ca)
    if rec is None:
        raise SignerError(f"unknown CA {ca!r}")
    if out is not None:
        check_new_output(out)
    session.require_airgap()
    now = session.ceremony_time
    cfg = session.config
    days = cfg.root_crl_days if rec.kind == "root" else cfg.ca_policy(ca).crl_days
    issuer_cert = x509.load_der_x509_certificate(rec.cert_der)
    next_update = min(now + dt.timedelta(days=days), issuer_cert.not_valid_after_utc)
    if not now < next_update or now < issuer_cert.not_valid_before_utc:
        raise SignerError(f"CA {ca!r} is not valid at {format_time(now)} (I4)")
    warning = None
    if cfg.next_ceremony is not None and next_update.date() < cfg.next_ceremony:
        warning = (f"nextUpdate {next_update:%Y-%m-%d} ends before the next planned ceremony "
                   f"({cfg.next_ceremony}): relying parties will see an expired CRL")
    number = integrity.verified_next_crl_number(session.ledger, session.state, ca)
    cutoff = now.isoformat()
    entries = [(serial, when, reason) for serial, when, reason, not_after
               in integrity.verified_revocations(session.ledger, session.state, ca)
               if not_after >= cutoff]  # I4: an entry leaves only after the certificate expired
    check_entries(entries, cutoff)
    builder = build_crl(issuer_cert, number, now, next_update, entries)
    sample = None
    if len(entries) > FULL_LINT_MAX:
        sample = build_crl(issuer_cert, number, now, next_update, _sample(entries))
    key = session.ca_key(rec)
    stored = session.paths.crls / f"{ca}-{number}.crl"
    check_new_output(stored)
    session.record(CrlIntent(ca=ca, number=number, entries=len(entries),
                          this_update=format_time(now), next_update=format_time(next_update)))
    progress.report(f"CRL {number} of {ca}: lint, sign, verify", 0, 3)
    linted = lint_crl(builder, key.public_key(), f"CRL {number} of {ca!r}", sample)
    progress.report(f"CRL {number} of {ca}: lint, sign, verify", 1, 3)
    crl = sign_crl(linted, key, f"CRL {number} of {ca!r}")
    progress.report(f"CRL {number} of {ca}: lint, sign, verify", 2, 3)
    if not crl_signed_by(crl, issuer_cert):  # I5, against the certificate
        raise SignerError(f"CRL {number} of {ca!r} does not verify against the CA certificate")
    progress.report(f"CRL {number} of {ca}: lint, sign, verify", 3, 3)
    der = crl.public_bytes(serialization.Encoding.DER)
    sha = crl_digest(crl)
    row = CRLRow(ca, number, format_time(now), format_time(next_update), der, sha, batch_id)
    session.ledger.add_crl(row)
    entry = session.record(crl_issued(row, len(entries), warning))
    session.ledger.mark_crl_logged(ca, number, entry.seq)
    pem = crl.public_bytes(serialization.Encoding.PEM)
    write_new(stored, pem)
    if out is not None:
        write_new(out, pem, mode=0o644)
    return CRLResult(ca, number, format_time(now), format_time(next_update), len(entries), pem,
                     sha, str(stored), warning)
