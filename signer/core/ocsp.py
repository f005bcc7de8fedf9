"""Pre-signed OCSP responses (RFC 6960) about certificates a CA issued, built here byte for
byte so that producedAt is the confirmed ceremony time (I9): ``cryptography``'s builder takes
producedAt from the system clock at each signature, which would make the signed response
differ from the linted one and carry a time nobody confirmed.

The order is the certificates' (I6): a ``LintedOCSPResponse`` (only ``lint_response`` makes
one) holds the exact ResponseData that pkilint judged in a copy signed with a throwaway key;
``sign_response`` signs those bytes with the CA key (the token verifies its own signature,
I5), and the result is parsed back with ``cryptography`` and verified again with the CA's
certificate. A response names the CA itself as responder (byKey, RFC 6960 §4.2.2.3) and
identifies the certificate with SHA-1 hashes (§4.1.1: what clients ask with).

Deliberately not here: deciding the status (the service reads it from the ledger, checked
against the log) or any I/O.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from asn1crypto import algos, core, keys
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp

from signer.core.lint import Finding, lint_der
from signer.core.sigalg import signature_hash, throwaway_like
from signer.errors import LintError, SignerError

MAX_WINDOW_DAYS = 366  # BR §4.9.10: responses for CA certificates at least every 12 months

_SIG_ALGOS = {("ec", "sha256"): "sha256_ecdsa", ("ec", "sha384"): "sha384_ecdsa",
              ("ec", "sha512"): "sha512_ecdsa", ("rsa", "sha256"): "sha256_rsa",
              ("rsa", "sha384"): "sha384_rsa", ("rsa", "sha512"): "sha512_rsa"}
# RFC 5280 §5.3.1 names (as logged) -> asn1crypto's CRLReason names.
_REASON_OF = {"unspecified": "unspecified", "keyCompromise": "key_compromise",
              "cACompromise": "ca_compromise", "affiliationChanged": "affiliation_changed",
              "superseded": "superseded", "cessationOfOperation": "cessation_of_operation",
              "privilegeWithdrawn": "privilege_withdrawn", "aACompromise": "aa_compromise"}


@dataclass(frozen=True)
class CertStatus:
    """What the response says about one certificate."""

    serial: int
    status: str  # "good" | "revoked"
    revoked_at: dt.datetime | None = None
    reason: str | None = None  # RFC 5280 name, as logged


def _gt(t: dt.datetime) -> core.GeneralizedTime:
    return core.GeneralizedTime(t.astimezone(dt.UTC).replace(microsecond=0))


def _spki_bits(cert: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING's contents (RFC 6960 §4.1.1 issuerKeyHash, §4.2.2.3)."""
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return bytes(keys.PublicKeyInfo.load(spki)["public_key"].contents[1:])


def response_data(issuer: x509.Certificate, st: CertStatus, this_update: dt.datetime,
                  next_update: dt.datetime, produced_at: dt.datetime) -> bytes:
    """The DER ResponseData (RFC 6960 §4.2.1) for one certificate of ``issuer``."""
    if st.status == "good":
        status = asn1_ocsp.CertStatus(name="good", value=core.Null())
    elif st.status == "revoked" and st.revoked_at is not None:
        info: dict[str, Any] = {"revocation_time": _gt(st.revoked_at)}
        if st.reason and st.reason != "unspecified":  # RFC 5280 §5.3.1: omit unspecified
            info["revocation_reason"] = _REASON_OF[st.reason]
        status = asn1_ocsp.CertStatus(name="revoked", value=asn1_ocsp.RevokedInfo(info))
    else:
        raise SignerError(f"OCSP status {st.status!r} is not signed ahead of time")
    cert_id = asn1_ocsp.CertId({
        "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha1", "parameters": core.Null()}),
        "issuer_name_hash": hashlib.sha1(issuer.subject.public_bytes()).digest(),
        "issuer_key_hash": hashlib.sha1(_spki_bits(issuer)).digest(),
        "serial_number": st.serial,
    })
    single = asn1_ocsp.SingleResponse({
        "cert_id": cert_id, "cert_status": status, "this_update": _gt(this_update),
        "next_update": _gt(next_update)})
    data = asn1_ocsp.ResponseData({
        "responder_id": asn1_ocsp.ResponderId(
            name="by_key", value=hashlib.sha1(_spki_bits(issuer)).digest()),
        "produced_at": _gt(produced_at),
        "responses": [single],
    })
    return bytes(data.dump())


def _algorithm(public: Any) -> tuple[hashes.HashAlgorithm, algos.SignedDigestAlgorithm]:
    h = signature_hash(public)
    if h is None:
        raise SignerError("OCSP responses are signed with RSA or ECDSA CA keys")
    family = "rsa" if isinstance(public, rsa.RSAPublicKey) else "ec"
    alg: dict[str, Any] = {"algorithm": _SIG_ALGOS[(family, h.name)]}
    if family == "rsa":  # RFC 4055 §5: NULL parameters for PKCS#1 v1.5
        alg["parameters"] = core.Null()
    return h, algos.SignedDigestAlgorithm(alg)


def _sign(key: Any, data: bytes) -> tuple[bytes, algos.SignedDigestAlgorithm]:
    h, alg = _algorithm(key.public_key())
    if isinstance(key.public_key(), rsa.RSAPublicKey):
        return key.sign(data, padding.PKCS1v15(), h), alg
    return key.sign(data, ec.ECDSA(h)), alg


def _assemble(tbs: bytes, signature: bytes, alg: algos.SignedDigestAlgorithm) -> bytes:
    basic = asn1_ocsp.BasicOCSPResponse({
        "tbs_response_data": asn1_ocsp.ResponseData.load(tbs), "signature_algorithm": alg,
        "signature": signature})
    return bytes(asn1_ocsp.OCSPResponse({
        "response_status": "successful",
        "response_bytes": {"response_type": "basic_ocsp_response", "response": basic},
    }).dump())


@dataclass(frozen=True)
class LintedOCSPResponse:
    tbs: bytes
    findings: tuple[Finding, ...]
    _token: object

    def __post_init__(self) -> None:
        if self._token is not _LINT_TOKEN:
            raise TypeError("LintedOCSPResponse is built only by lint_response()")


_LINT_TOKEN = object()


def lint_response(tbs: bytes, issuer_public: Any, what: str) -> LintedOCSPResponse:
    """Sign a copy with a throwaway key of the issuer's type and lint it (I6)."""
    throwaway = throwaway_like(issuer_public)
    signature, alg = _sign(throwaway, tbs)
    findings = lint_der(_assemble(tbs, signature, alg), "ocsp-response")
    blocking = [f for f in findings if f.severity in ("ERROR", "FATAL")]
    if blocking:
        raise LintError(f"{what}: pkilint {blocking[0]}")
    return LintedOCSPResponse(tbs, tuple(findings), _LINT_TOKEN)


def sign_response(linted: LintedOCSPResponse, key: Any, issuer: x509.Certificate,
                  what: str) -> bytes:
    """Sign the linted ResponseData with the CA key; parse it back and verify it (I5)."""
    if not isinstance(linted, LintedOCSPResponse):
        raise TypeError("only a LintedOCSPResponse can be signed")
    signature, alg = _sign(key, linted.tbs)
    der = _assemble(linted.tbs, signature, alg)
    try:
        resp = ocsp.load_der_ocsp_response(der)
        if resp.tbs_response_bytes != linted.tbs:
            raise LintError(f"{what}: the signed response data differ from the linted data")
        verify_response(resp, issuer)
    except (ValueError, InvalidSignature) as exc:
        raise SignerError(f"{what}: the signed response does not verify ({exc})") from None
    return der


def verify_response(resp: ocsp.OCSPResponse, issuer: x509.Certificate) -> None:
    """The response is signed by the issuer's key (raises ``InvalidSignature``)."""
    h = resp.signature_hash_algorithm
    public = issuer.public_key()
    if h is None:
        raise InvalidSignature("no hash")
    if isinstance(public, rsa.RSAPublicKey):
        public.verify(resp.signature, resp.tbs_response_bytes, padding.PKCS1v15(), h)
    elif isinstance(public, ec.EllipticCurvePublicKey):
        public.verify(resp.signature, resp.tbs_response_bytes, ec.ECDSA(h))
    else:
        raise InvalidSignature("unsupported key")
