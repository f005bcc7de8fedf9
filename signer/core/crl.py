"""CRLs (I4): entries encoded once, at revocation; a CRL streamed from them; numbered upward.

Each revocation's ``revokedCertificates`` entry is DER made once, when it is recorded
(``encode_entry``), byte for byte what ``cryptography``'s builder makes for it. A CRL is the
frame ``cryptography`` builds with no entries (version, algorithm, issuer, times, CRL number,
AKI) with the concatenated entries spliced in (``splice_revoked``): no object per entry, so a
million entries cost their bytes, not a million Python objects. Reason codes follow RFC 5280
§5.3.1; "unspecified" is left out, as it advises. ``build_crl`` (the builder with every entry)
stays as the reference the streamed bytes are proven equal to.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from signer.core import der as asn1
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


# RFC 5280 §5.3.1 CRLReason codes (7 is not used).
REASON_CODES = {"unspecified": 0, "keyCompromise": 1, "cACompromise": 2, "affiliationChanged": 3,
                "superseded": 4, "cessationOfOperation": 5, "privilegeWithdrawn": 9,
                "aACompromise": 10}
_REASON_OID = bytes.fromhex("0603551d15")  # id-ce-cRLReasons 2.5.29.21


def check_reason(reason: str) -> None:
    if reason not in REASONS:
        raise SignerError(f"reason {reason!r}: use one of {', '.join(REASONS)}")


def parse_db_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def encode_time(when: dt.datetime) -> bytes:
    """RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; seconds, Z."""
    when = when.astimezone(dt.UTC)
    if not 1950 <= when.year <= 9999:
        raise SignerError(f"time {when.isoformat()} cannot be encoded in a CRL")
    if when.year < 2050:
        return asn1.tlv(asn1.UTC_TIME, when.strftime("%y%m%d%H%M%SZ").encode())
    return asn1.tlv(asn1.GENERALIZED_TIME, when.strftime("%Y%m%d%H%M%SZ").encode())


def encode_entry(serial: str, revoked_at: str, reason: str) -> bytes:
    """The DER of one ``revokedCertificates`` entry: serial, revocation date, and a
    non-critical reasonCode unless the reason is "unspecified" (RFC 5280 §5.3.1)."""
    check_reason(reason)
    if not serial or len(serial) > 40 or serial.startswith("0") \
            or serial.strip("0123456789abcdef"):
        raise SignerError(f"CRL entry {serial!r}: not a serial in lowercase hex without padding")
    body = asn1.encode_integer(int(serial, 16)) + encode_time(parse_db_time(revoked_at))
    if reason != "unspecified":
        code = asn1.tlv(asn1.ENUMERATED, bytes((REASON_CODES[reason],)))
        ext = asn1.tlv(asn1.SEQUENCE, _REASON_OID + asn1.tlv(asn1.OCTET_STRING, code))
        body += asn1.tlv(asn1.SEQUENCE, ext)
    return asn1.tlv(asn1.SEQUENCE, body)


_TIMES = (asn1.UTC_TIME, asn1.GENERALIZED_TIME)


def splice_revoked(frame_tbs: bytes | memoryview, revoked: bytes | Sequence[bytes]) -> bytes:
    """The TBSCertList of ``frame_tbs`` (a CRL with no entries) with ``revoked``, the
    concatenated DER of its entries (or chunks of it), as its ``revokedCertificates``
    (RFC 5280 §5.1: absent when empty). One allocation, however large."""
    chunks = [revoked] if isinstance(revoked, bytes) else list(revoked)
    tag, start, end = asn1.read_header(frame_tbs, 0)
    parts = asn1.children(frame_tbs, start, end) if tag == asn1.SEQUENCE else []
    tags = [t for t, _, _ in parts]
    if end != len(frame_tbs) or tags[:3] != [asn1.INTEGER, asn1.SEQUENCE, asn1.SEQUENCE] \
            or len(tags) not in (5, 6) or tags[3] not in _TIMES or tags[4] not in _TIMES \
            or tags[5:] not in ([], [asn1.CONTEXT_0]):
        raise SignerError("the CRL frame is not version, signature, issuer, thisUpdate, "
                          "nextUpdate[, extensions] with no entries")
    total = sum(len(c) for c in chunks)
    if not total:
        return bytes(frame_tbs)
    cut = parts[4][2]
    head = asn1.encode_length(total)
    body = (end - start) + 1 + len(head) + total
    return b"".join((bytes((asn1.SEQUENCE,)), asn1.encode_length(body), frame_tbs[start:cut],
                     bytes((asn1.SEQUENCE,)), head, *chunks, frame_tbs[cut:end]))


def crl_frame(issuer_cert: x509.Certificate, number: int, this_update: dt.datetime,
              next_update: dt.datetime) -> x509.CertificateRevocationListBuilder:
    """A CRL with no entries: issuer, times, CRL number and AKI (the streamed CRL's frame)."""
    return build_crl(issuer_cert, number, this_update, next_update, [])


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
