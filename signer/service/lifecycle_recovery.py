"""I2 at login for the CA lifecycle (issue 14): further CA certificates and OCSP responses that
reached the ledger but not the log (a crash in between) are completed, or refused.

As for every other artifact (``signer.service.completion``): a row is completed only when the
log holds the intent it answers and the row is what the intent announced (the serial, the
key, a signature by the issuer); a row already logged whose index the ledger lacks gets its
index; any other unlogged row was written by someone else, and no ceremony starts.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp

from signer.core.ocsp import verify_response
from signer.core.profiles import spki_sha256
from signer.service import integrity
from signer.service.integrity import IntegrityError
from signer.store.files import write_new
from signer.store.ledger import CA_CERT_PROFILES
from signer.store.log.events import CaCertified, OcspSigned

if TYPE_CHECKING:  # the session calls this module at login; it imports no service module
    from signer.service.session import Session

_KINDS = {v: k for k, v in CA_CERT_PROFILES.items()}


def _fail(what: str) -> IntegrityError:
    return IntegrityError(f"the ledger holds {what} that no logged intent announced (edited "
                          f"between sessions?); no ceremony can start: {integrity.AUDIT_HINT}")


def complete_lifecycle(session: Session) -> None:
    _complete_ca_certificates(session)
    _complete_ocsp(session)


def _complete_ca_certificates(session: Session) -> None:
    ledger, state = session.ledger, session.state
    rows = ledger.unlogged_ca_certificates()
    if not rows:
        return
    logged = {(str(e.data.get("issuer")), str(e.data.get("serial"))): e
              for e in session.log.scan(frozenset({"ca.certified"}))}
    for row in rows:
        current_of = row.subscriber.removeprefix("ca:") if _KINDS[row.profile] == "recertify" \
            else None
        entry = logged.get((row.ca, row.serial))
        if entry is not None and entry.data.get("cert_sha256") == row.cert_sha256:
            ledger.mark_ca_certificate_logged(row.ca, row.serial, entry.seq, current_of)
            continue
        intent = state.pending_ca_certs.get((row.ca, row.serial))
        kind = _KINDS[row.profile]
        name = row.subscriber.partition(":")[2]
        if intent is None or (intent["kind"], intent["ca"], intent["spki_sha256"]) != (
                kind, name, row.spki_sha256):
            raise _fail(f"certificate {row.serial} of CA {row.ca!r}")
        issuer = integrity.verified_ca(ledger, state, row.ca)
        cert = x509.load_der_x509_certificate(row.cert_der)
        try:
            if issuer is None:
                raise ValueError("no issuer")
            cert.verify_directly_issued_by(x509.load_der_x509_certificate(issuer.cert_der))
        except (ValueError, TypeError, InvalidSignature):
            raise _fail(f"certificate {row.serial} of CA {row.ca!r} (it does not verify)") \
                from None
        if spki_sha256(cert.public_key()) != row.spki_sha256 \
                or hashlib.sha256(row.cert_der).hexdigest() != row.cert_sha256 \
                or format(cert.serial_number, "x") != row.serial:
            raise _fail(f"certificate {row.serial} of CA {row.ca!r} (not the one announced)")
        e = session.record(CaCertified(
            ca=name, issuer=row.ca, kind=kind, serial=row.serial, cert_sha256=row.cert_sha256,
            spki_sha256=row.spki_sha256, not_after=row.not_after, current=current_of is not None,
            profile=intent["profile"], lint_findings=[], recovered=True))
        ledger.mark_ca_certificate_logged(row.ca, row.serial, e.seq, current_of)
        out = session.paths.certs / f"{name}-{row.serial}.pem"
        if not out.exists():
            write_new(out, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)


def _complete_ocsp(session: Session) -> None:
    ledger, state = session.ledger, session.state
    rows = ledger.unlogged_ocsp_responses()
    if not rows:
        return
    logged = {str(e.data.get("response_sha256")): e
              for e in session.log.scan(frozenset({"ocsp.signed"}))}
    for row in rows:
        entry = logged.get(row.sha256)
        if entry is not None:
            ledger.mark_ocsp_logged(row.sha256, entry.seq)
            continue
        intent = state.pending_ocsp.get((row.ca, row.serial, row.this_update))
        if intent is None or (intent["status"], intent["next_update"]) != (row.status,
                                                                         row.next_update):
            raise _fail(f"an OCSP response for {row.serial} of CA {row.ca!r}")
        issuer = integrity.verified_ca(ledger, state, row.ca)
        try:
            if issuer is None or hashlib.sha256(row.der).hexdigest() != row.sha256:
                raise ValueError("not the announced response")
            resp = ocsp.load_der_ocsp_response(row.der)
            verify_response(resp, x509.load_der_x509_certificate(issuer.cert_der))
            if format(resp.serial_number, "x") != row.serial:
                raise ValueError("another serial")
        except (ValueError, InvalidSignature):
            raise _fail(f"an OCSP response for {row.serial} of CA {row.ca!r} (it does not "
                        "verify)") from None
        revoked = resp.revocation_time_utc
        e = session.record(OcspSigned(
            ca=row.ca, serial=row.serial, status=row.status, this_update=row.this_update,
            next_update=row.next_update,
            revoked_at=revoked.strftime("%Y-%m-%dT%H:%M:%SZ") if revoked else None,
            reason=resp.revocation_reason.value if resp.revocation_reason else (
                "unspecified" if revoked else None),
            response_sha256=row.sha256, recovered=True))
        ledger.mark_ocsp_logged(row.sha256, e.seq)
