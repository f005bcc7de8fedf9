"""CRLs (I4): built from the ledger in one pass, numbered strictly upward, linted, signed.

The revoked entries are handed to ``CertificateRevocationListBuilder``'s constructor as one
list: adding them one by one copies the list each time (quadratic; 300,000 entries took
110 s here). Reason codes follow RFC 5280 §5.3.1; "unspecified" is left out, as it advises.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from signer.core import progress
from signer.errors import SignerError

REASONS = {
    "unspecified": x509.ReasonFlags.unspecified,
    "keyCompromise": x509.ReasonFlags.key_compromise,
    "cACompromise": x509.ReasonFlags.ca_compromise,
    "affiliationChanged": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessationOfOperation": x509.ReasonFlags.cessation_of_operation,
    "privilegeWithdrawn": x509.ReasonFlags.privilege_withdrawn,
    "aACompromise": x509.ReasonFlags.aa_compromise,
}


def check_reason(reason: str) -> None:
    if reason not in REASONS:
        raise SignerError(f"reason {reason!r}: use one of {', '.join(REASONS)}")


def parse_db_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def build_crl(
    issuer_cert: x509.Certificate, number: int, this_update: dt.datetime,
    next_update: dt.datetime, entries: list[tuple[str, str, str]],
) -> x509.CertificateRevocationListBuilder:
    """A CRL builder; ``entries`` are (serial hex, revocation time, reason name)."""
    if not this_update < next_update:
        raise SignerError("CRL thisUpdate must be before nextUpdate (I4)")
    revoked = []
    for done, (serial, when, reason) in enumerate(entries, 1):
        progress.report("building the CRL's entries", done, len(entries))
        rb = (x509.RevokedCertificateBuilder()
              .serial_number(int(serial, 16))
              .revocation_date(parse_db_time(when)))
        if reason != "unspecified":
            rb = rb.add_extension(x509.CRLReason(REASONS[reason]), critical=False)
        revoked.append(rb.build())
    ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.CertificateRevocationListBuilder(
        issuer_name=issuer_cert.subject,
        last_update=this_update,
        next_update=next_update,
        extensions=[
            x509.Extension(x509.CRLNumber.oid, False, x509.CRLNumber(number)),
            x509.Extension(x509.AuthorityKeyIdentifier.oid, False,
                           x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)),
        ],
        revoked_certificates=revoked,
    )


@dataclass(frozen=True)
class CRLResult:
    ca: str
    number: int
    this_update: str
    next_update: str
    entries: int
    pem: bytes
    sha256: str
    path: str
    warning: str | None

    def der_sha256(self) -> str:
        return self.sha256


def crl_digest(crl: x509.CertificateRevocationList) -> str:
    return hashlib.sha256(crl.public_bytes(serialization.Encoding.DER)).hexdigest()


def crl_signed_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    """True if ``crl``'s signature verifies with ``issuer``'s public key (I5)."""
    key = issuer.public_key()
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
                      | ed448.Ed448PublicKey | dsa.DSAPublicKey):
        return False
    return crl.is_signature_valid(key)
