"""Revocation and CRL issuance (I4) as ceremony steps: validate, log intent, lint, sign, record.

A revocation is announced in the log (``revoke.intent``), recorded in the ledger, then logged
(``revoked``) with the certificate's notAfter as the log recorded it at issuance; its CRL
entry is DER made once, then (``Ledger.mark_revocations_logged``), and the log keeps digests of
each CA's runs of revocations (``signer.store.log.state``). A CRL is streamed from ledger rows
that reproduce those digests (``integrity.verified_crl_entries``), numbered from the log's last
CRL number, so a revocation erased, added or altered in the ledger between sessions stops CRL
issuance. Its TBS is the frame ``cryptography`` builds with the entries spliced in, linted
(whole, or by a sample of every entry shape when large), signed as those exact bytes in the
token, verified, and parsed back and compared with what the ledger said it must list.

A CRL is kept once in HOME: ``crls/<CA>-<number>.crl`` (PEM), written before the ledger and
the log record it (a crash in between leaves a file the next login adopts,
``signer.service.completion``); the ledger keeps the DER too only when it is small
(``LEDGER_CRL_MAX``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from signer.core import progress
from signer.core.clock import format_time
from signer.core.crl import CRLResult, check_reason, crl_frame, crl_signed_by
from signer.core.lint import lint_crl, sign_crl
from signer.errors import SignerError
from signer.service import integrity
from signer.service.session import Session
from signer.store.files import check_new_output, write_new
from signer.store.ledger import LEDGER_CRL_MAX, CRLRow, Ledger
from signer.store.log.events import CrlIntent, RevokeIntent, crl_issued

FULL_LINT_MAX = 10_000  # above this many entries, pkilint judges a sample (see lint_crl)


@dataclass(frozen=True)
class RevokeItem:
    ca: str
    serial: str
    reason: str
    batch: str | None = None
    position: int | None = None


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
    what = f"CRL {number} of {ca!r}"
    entries = integrity.verified_crl_entries(  # I4: entries leave only once expired
        session.ledger, session.state, ca, now.isoformat(), format_time(now),
        sample=True)
    count = entries.count
    key = session.ca_key(rec)
    stored = session.paths.crls / f"{ca}-{number}.crl"
    check_new_output(stored)
    session.record(CrlIntent(ca=ca, number=number, entries=count,
                             this_update=format_time(now), next_update=format_time(next_update)))
    step = f"CRL {number} of {ca}: lint, sign, verify"
    progress.report(step, 0, 3)
    linted = lint_crl(crl_frame(issuer_cert, number, now, next_update), key.public_key(), what,
                      entries.chunks, entries.sample if count > FULL_LINT_MAX else None)
    del entries  # the chunks: the TBS holds the entries now
    progress.report(step, 1, 3)
    der = sign_crl(linted, key, what, issuer_public=issuer_cert.public_key())  # I5 inside
    del linted
    progress.report(step, 2, 3)
    crl = _parsed_back(der, issuer_cert, number, now, next_update, count, what)
    progress.report(step, 3, 3)
    sha = hashlib.sha256(der).hexdigest()
    pem = crl.public_bytes(serialization.Encoding.PEM)
    del crl
    write_new(stored, pem)  # kept in HOME first: the ledger may hold only its digest
    row = CRLRow(ca, number, format_time(now), format_time(next_update),
                 der if len(der) <= LEDGER_CRL_MAX else b"", sha, batch_id)
    del der
    session.ledger.add_crl(row)
    entry = session.record(crl_issued(row, count, warning))
    session.ledger.mark_crl_logged(ca, number, entry.seq)
    if out is not None:
        write_new(out, pem, mode=0o644)
    return CRLResult(ca, number, format_time(now), format_time(next_update), count, pem,
                     sha, str(stored), warning)


def _parsed_back(der: bytes, issuer: x509.Certificate, number: int, this_update: dt.datetime,
                 next_update: dt.datetime, count: int, what: str
                 ) -> x509.CertificateRevocationList:
    """The signed CRL as ``cryptography`` reads it: what the ledger said, and verifying."""
    try:
        crl = x509.load_der_x509_crl(der)
        got = (crl.issuer, crl.last_update_utc, crl.next_update_utc, len(crl),
               crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)
    except (ValueError, x509.ExtensionNotFound) as exc:
        raise SignerError(f"{what}: the signed CRL does not parse back ({exc})") from None
    want = (issuer.subject, this_update.replace(microsecond=0),
            next_update.replace(microsecond=0), count, number)
    if got != want:
        raise SignerError(f"{what}: the signed CRL does not say what was built (issuer, times, "
                          "entries or number)")
    if not crl_signed_by(crl, issuer):  # I5, against the CA certificate itself
        raise SignerError(f"{what} does not verify against the CA certificate")
    return crl
