"""Pre-signed OCSP responses: the offline root answers for its sub-CA certificates (and any CA
for a certificate it issued) ahead of time, so that the online responder never holds a CA key.
For everyday responses about leaves, a CA certifies a delegated responder instead (profile
kind ``ocsp``: id-kp-OCSPSigning and id-pkix-ocsp-nocheck, issued in a batch like any leaf).

Steps of `signer ocsp sign` (mirrored in OPERATIONS.md §5a):
 1. validate: the CA against the log; the certificate is one the CA issued, as its log entry
    records it; its status in the ledger, checked against the log's chain of the CA's
    revocations, is the one asked for; thisUpdate (the ceremony time) < nextUpdate, at most
    366 days apart (BR §4.9.10) and within the CA's certificate; the output path is free;
 2. load the CA key (I1) and check it matches the CA's certificate (I5);
 3. log the intent (``ocsp.intent``, I2);
 4. lint a throwaway-key copy, sign the same ResponseData in the token, parse and verify it;
 5. record in the ledger, log it (``ocsp.signed``), write the DER response.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

from cryptography import x509

from signer.core import ca_rules
from signer.core.clock import format_time
from signer.core.ocsp import (
    MAX_WINDOW_DAYS,
    CertStatus,
    lint_response,
    response_data,
    sign_response,
)
from signer.core.policy.checks import CeremonyCheck
from signer.service import integrity
from signer.service.session import Session
from signer.store.files import check_new_output, write_new
from signer.store.ledger import OcspRow
from signer.store.log.events import OcspIntent, OcspSigned

STATUSES = ("good", "revoked")
_HEX = frozenset("0123456789abcdef")


def ocsp_dir(s: Session) -> Path:
    d = s.paths.root / "ocsp"
    d.mkdir(mode=0o700, exist_ok=True)
    return d


def sign_ocsp(s: Session, ca: str, serial: str, status: str, next_update: dt.datetime,
              out: Path | None = None) -> dict[str, Any]:
    # Step 1: validate.
    if status not in STATUSES:
        raise ca_rules.refuse(CeremonyCheck.OCSP_STATUS, f"--status {status!r}: good or revoked")
    rec = integrity.verified_ca(s.ledger, s.state, ca)
    if rec is None:
        raise ca_rules.refuse(CeremonyCheck.CA_UNKNOWN, f"unknown CA {ca!r}")
    serial = serial.lower().removeprefix("0x").lstrip("0") or "0"
    row = s.ledger.certificate(ca, serial) if all(c in _HEX for c in serial) else None
    if row is None:
        raise ca_rules.refuse(CeremonyCheck.OCSP_UNKNOWN, f"CA {ca!r} never issued a certificate with "
                                                  f"serial {serial}")
    integrity.logged_not_after(s.log, row)  # the row is the certificate its entry logged
    revoked = integrity.verified_revocation(s.ledger, s.state, ca, serial,
                                            format_time(s.ceremony_time))
    actual = "revoked" if revoked is not None else "good"
    if status != actual:
        raise ca_rules.refuse(CeremonyCheck.OCSP_STATUS, f"certificate {serial} of CA {ca!r} is "
                                                 f"{actual}, not {status}"
                                                 + (" (revoke it first)" if actual == "good"
                                                    else ""))
    now = s.ceremony_time.replace(microsecond=0)
    ca_cert = x509.load_der_x509_certificate(rec.cert_der)
    if not next_update > now:
        raise ca_rules.refuse(CeremonyCheck.OCSP_WINDOW, f"--next-update {format_time(next_update)} is "
                                                 f"not after the ceremony time "
                                                 f"{format_time(now)}")
    if next_update - now > dt.timedelta(days=MAX_WINDOW_DAYS):
        raise ca_rules.refuse(CeremonyCheck.OCSP_WINDOW, f"--next-update is more than "
                                                 f"{MAX_WINDOW_DAYS} days after thisUpdate "
                                                 "(BR §4.9.10)")
    if next_update > ca_cert.not_valid_after_utc:
        raise ca_rules.refuse(CeremonyCheck.OCSP_WINDOW, f"--next-update is after CA {ca!r} expires "
                                                 f"({format_time(ca_cert.not_valid_after_utc)})")
    name = f"{ca}-{serial}-{now:%Y%m%dT%H%M%SZ}.ocsp"
    kept = ocsp_dir(s) / name
    check_new_output(kept)
    if out is not None:
        check_new_output(out)
    s.require_airgap()
    # Step 2: the CA key (I1, I5).
    key = s.ca_key(rec)
    when = reason = None
    if revoked is not None:
        when, reason = revoked
    st = CertStatus(int(serial, 16), actual,
                    dt.datetime.fromisoformat(when.replace("Z", "+00:00")) if when else None,
                    reason)
    this_update = format_time(now)
    # Step 3: write-ahead (I2).
    s.record(OcspIntent(ca=ca, serial=serial, status=actual, this_update=this_update,
                        next_update=format_time(next_update)))
    # Step 4: lint, sign, verify (I5, I6).
    what = f"the OCSP response for {serial} of {ca!r}"
    tbs = response_data(ca_cert, st, now, next_update, now)
    linted = lint_response(tbs, key.public_key(), what)
    der = sign_response(linted, key, ca_cert, what)
    digest = hashlib.sha256(der).hexdigest()
    # Step 5: the ledger, the log, then the files (I2).
    s.ledger.add_ocsp_response(OcspRow(ca, serial, actual, this_update,
                                       format_time(next_update), der, digest))
    entry = s.record(OcspSigned(ca=ca, serial=serial, status=actual, this_update=this_update,
                                next_update=format_time(next_update), revoked_at=when,
                                reason=reason, response_sha256=digest))
    s.ledger.mark_ocsp_logged(digest, entry.seq)
    write_new(kept, der)
    if out is not None:
        write_new(out, der, mode=0o644)
    return {"ca": ca, "serial": serial, "status": actual, "this_update": this_update,
            "next_update": format_time(next_update), "sha256": digest,
            "file": str(out or kept), "kept": str(kept)}
