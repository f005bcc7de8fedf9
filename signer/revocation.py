"""Revocation and CRL issuance (I4) as ceremony steps: validate, log intent, lint, sign, record."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from signer.ceremony import Appliance, format_time
from signer.crl import CRLResult, build_crl, check_reason, crl_digest
from signer.errors import SignerError
from signer.files import check_new_output, write_new
from signer.lint import lint_crl, sign_crl

FULL_LINT_MAX = 10_000  # above this many entries, pkilint judges a sample (see lint_crl)


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


def revoke(app: Appliance, ca: str, serial: str, reason: str) -> None:
    check_reason(reason)
    serial = serial.lower().removeprefix("0x")
    if app.ledger.get_ca(ca) is None:
        raise SignerError(f"unknown CA {ca!r}")
    row = app.ledger.certificate(ca, serial)
    if row is None:
        raise SignerError(f"CA {ca!r} issued no certificate with serial {serial}")
    if row["profile"].startswith("ca-"):
        raise SignerError("CA certificates are not revoked with `revoke`")
    app.ledger.revoke(ca, serial, format_time(app._time()), reason)
    app._log("revoked", {"ca": ca, "serial": serial, "reason": reason})


def log_unlogged_crls(app: Appliance, ca: str | None = None, *,
                      logged: Mapping[str, object] | None = None) -> int:
    """I2 recovery: log CRLs that reached the ledger but not the log (a crash between).

    ``issue_crl`` records a signed, verified CRL in the ledger, then logs it; a kill in between
    leaves a CRL whose number is used (I4: never reissued) but that the log does not name.
    Log it now, marked ``recovered``, and keep its copy in HOME if that was never written.
    """
    if logged is None:
        from signer.export import log_records

        logged = log_records(app.log.path)
    rows = app.ledger.query("SELECT * FROM crls" + (" WHERE ca = ?" if ca else "") +
                            " ORDER BY ca, number", (ca,) if ca else ())
    n = 0
    for row in rows:
        if row["sha256"] in logged:
            continue
        crl = x509.load_der_x509_crl(bytes(row["der"]))
        app._log("crl.issued", {"ca": row["ca"], "number": row["number"],
                                "crl_sha256": row["sha256"], "entries": len(list(crl)),
                                "this_update": row["this_update"],
                                "next_update": row["next_update"], "batch": row["batch_id"],
                                "warning": None, "recovered": True})
        stored = app.paths.crls / f"{row['ca']}-{row['number']}.crl"
        if not stored.exists():
            write_new(stored, crl.public_bytes(serialization.Encoding.PEM))
        n += 1
    return n


def issue_crl(app: Appliance, ca: str, *, batch_id: str | None = None,
              out: Path | None = None) -> CRLResult:
    """Issue CA ``ca``'s next CRL from the ledger; kept in HOME/crls and optionally at ``out``."""
    rec = app.ledger.get_ca(ca)
    if rec is None:
        raise SignerError(f"unknown CA {ca!r}")
    if out is not None:
        check_new_output(out)
    app.require_airgap()
    now = app._time()
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
    log_unlogged_crls(app, ca)
    number = app.ledger.last_crl_number(ca) + 1
    entries = app.ledger.revoked_unexpired(ca, now.isoformat())
    check_entries(entries, now.isoformat())
    builder = build_crl(issuer_cert, number, now, next_update, entries)
    sample = None
    if len(entries) > FULL_LINT_MAX:
        sample = build_crl(issuer_cert, number, now, next_update, _sample(entries))
    key = app.ca_key(rec)
    stored = app.paths.crls / f"{ca}-{number}.crl"
    check_new_output(stored)
    app._log("crl.intent", {"ca": ca, "number": number, "entries": len(entries),
                            "this_update": format_time(now), "next_update": format_time(next_update)})
    linted = lint_crl(builder, key.public_key(), f"CRL {number} of {ca!r}", sample)
    crl = sign_crl(linted, key, f"CRL {number} of {ca!r}")
    if not crl.is_signature_valid(issuer_cert.public_key()):  # I5, against the certificate
        raise SignerError(f"CRL {number} of {ca!r} does not verify against the CA certificate")
    der = crl.public_bytes(serialization.Encoding.DER)
    sha = crl_digest(crl)
    app.ledger.add_crl(ca, number, format_time(now), format_time(next_update), der, sha, batch_id)
    app._log("crl.issued", {"ca": ca, "number": number, "crl_sha256": sha, "entries": len(entries),
                            "this_update": format_time(now),
                            "next_update": format_time(next_update), "batch": batch_id,
                            "warning": warning})
    pem = crl.public_bytes(serialization.Encoding.PEM)
    write_new(stored, pem)
    if out is not None:
        write_new(out, pem)
    return CRLResult(ca, number, format_time(now), format_time(next_update), len(entries), pem,
                     sha, str(stored), warning)
