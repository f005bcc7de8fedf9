"""Pre-issuance linting with pkilint (I6), in the order Boulder's ceremony tool uses.

1. The TBS is signed with a throwaway software key of the issuer's key type (same signature
   algorithm, so the same TBS bytes), and that copy is linted.
2. Only a ``LintedCertificate`` (which only this module builds) can be signed by a CA key.
3. The signed certificate's TBS bytes must equal the linted TBS bytes, and it is linted again.

An ERROR or FATAL finding blocks release; WARNING/NOTICE findings are returned for the log.
The linter containers are built once per process: building them costs far more than linting.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

from signer.errors import LintError

LINTER_KINDS = ("pkix", "server", "email-mailbox", "email-individual", "crl",
                # CA certificates by what they are for, OCSP (issue 14):
                "tls-ca", "tls-ca-constrained", "smime-ca", "cross-ca", "ocsp", "ocsp-response")
# pkilint's CA/B Forum TLS certificate types for the CA linters above: a TLS sub-CA with and
# without name constraints (BR §7.1.2.6, §7.1.2.5), a CA without serverAuth under a
# TLS-trusted root (BR §7.1.2.3: pkilint 0.13 has no S/MIME BR CA profile), a certificate
# for another root (BR §7.1.2.2), a delegated OCSP responder (BR §7.1.2.8).
_SERVERAUTH_TYPES = {"tls-ca": "INTERNAL_UNCONSTRAINED_TLS_CA",
                     "tls-ca-constrained": "INTERNAL_CONSTRAINED_TLS_CA",
                     "smime-ca": "NON_TLS_CA", "cross-ca": "INTERNAL_CROSS_CA",
                     "ocsp": "OCSP_RESPONDER"}
_BLOCKING = {"ERROR", "FATAL"}


@functools.cache
def _pkilint() -> SimpleNamespace:
    """pkilint, imported on first use: it and its data tables cost ~0.8 s to import, which
    every command would pay; only the commands that lint do (a third-party import)."""
    from pkilint import loader, pkix
    from pkilint.cabf import serverauth, smime
    from pkilint.cabf.serverauth import serverauth_constants
    from pkilint.cabf.smime import smime_constants
    from pkilint.pkix import certificate, crl, extension, name, ocsp

    return SimpleNamespace(loader=loader, pkix=pkix, serverauth=serverauth, smime=smime,
                           serverauth_constants=serverauth_constants,
                           smime_constants=smime_constants, certificate=certificate, crl=crl,
                           extension=extension, name=name, ocsp=ocsp)


@functools.cache
def _validator(kind: str) -> Any:
    pk = _pkilint()
    certificate, crl, extension, name, pkix = (pk.certificate, pk.crl, pk.extension, pk.name,
                                               pk.pkix)
    serverauth, smime = pk.serverauth, pk.smime
    serverauth_constants, smime_constants = pk.serverauth_constants, pk.smime_constants
    if kind == "pkix":
        return certificate.create_pkix_certificate_validator_container(
            certificate.create_decoding_validators(
                name.ATTRIBUTE_TYPE_MAPPINGS, extension.EXTENSION_MAPPINGS
            ),
            [
                certificate.create_issuer_validator_container([]),
                certificate.create_validity_validator_container(),
                certificate.create_subject_validator_container([]),
                certificate.create_extensions_validator_container([]),
                certificate.create_spki_validator_container([]),
            ],
        )
    if kind == "server":
        return certificate.create_pkix_certificate_validator_container(
            serverauth.create_decoding_validators(),
            serverauth.create_validators(serverauth_constants.CertificateType.DV_FINAL_CERTIFICATE),
        )
    if kind in _SERVERAUTH_TYPES:
        return certificate.create_pkix_certificate_validator_container(
            serverauth.create_decoding_validators(),
            serverauth.create_validators(
                serverauth_constants.CertificateType[_SERVERAUTH_TYPES[kind]]),
        )
    if kind == "ocsp-response":
        return pk.ocsp.create_pkix_ocsp_response_validator_container(
            [pk.ocsp.create_response_decoder(),
             pkix.create_attribute_decoder(name.ATTRIBUTE_TYPE_MAPPINGS),
             pkix.create_extension_decoder(extension.EXTENSION_MAPPINGS)],
            [],
        )
    if kind.startswith("email-"):
        level = {"email-mailbox": smime_constants.ValidationLevel.MAILBOX,
                 "email-individual": smime_constants.ValidationLevel.INDIVIDUAL}[kind]
        return certificate.create_pkix_certificate_validator_container(
            smime.create_decoding_validators(),
            smime.create_subscriber_validators(level, smime_constants.Generation.STRICT),
        )
    if kind == "crl":
        return crl.create_pkix_crl_validator_container(
            [
                pkix.create_attribute_decoder(name.ATTRIBUTE_TYPE_MAPPINGS),
                pkix.create_extension_decoder(extension.EXTENSION_MAPPINGS),
            ],
            [
                crl.create_issuer_validator_container([]),
                crl.create_validity_validator_container([]),
                crl.create_extensions_validator_container([]),
            ],
        )
    raise ValueError(f"unknown linter {kind!r}")


@dataclass(frozen=True)
class Finding:
    severity: str
    code: str
    message: str
    node: str

    def __str__(self) -> str:
        return f"{self.severity} {self.code} at {self.node}" + (f": {self.message}" if self.message else "")


def _findings(results: Any) -> list[Finding]:
    out = []
    for result in results:
        for fd in result.finding_descriptions:
            out.append(Finding(
                severity=str(fd.finding.severity),
                code=fd.finding.code,
                message=fd.message or "",
                node=result.node.path,
            ))
    return out


def lint_der(der: bytes, kind: str) -> list[Finding]:
    """Lint one DER certificate (or CRL, kind ``crl``) and return every finding."""
    loader = _pkilint().loader
    doc_loader = (loader.RFC5280CertificateListDocumentLoader() if kind == "crl"
                  else loader.RFC6960OCSPResponseDocumentLoader() if kind == "ocsp-response"
                  else loader.RFC5280CertificateDocumentLoader())
    try:
        doc = doc_loader.load_der_document(der, "tbs")
    except (ValueError, Exception) as exc:  # pkilint raises ValueError or pyasn1 errors
        raise LintError(f"pkilint cannot parse the document ({type(exc).__name__})") from None
    results = _validator(kind).validate(doc.root)
    return _findings(results)


def _enforce(findings: list[Finding], what: str) -> list[Finding]:
    blocking = [f for f in findings if f.severity in _BLOCKING]
    if blocking:
        raise LintError(f"{what}: pkilint {blocking[0]}")
    return findings


# -- throwaway keys -----------------------------------------------------------------------


@functools.cache
def _throwaway(kind: str) -> CertificateIssuerPrivateKeyTypes:
    if kind.startswith("rsa-"):
        return rsa.generate_private_key(65537, int(kind[4:]))
    if kind == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ec-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"no throwaway key for {kind}")


def key_kind(public: Any) -> str:
    if isinstance(public, rsa.RSAPublicKey):
        return f"rsa-{public.key_size}"
    if isinstance(public, ec.EllipticCurvePublicKey):
        return {"secp256r1": "ec-p256", "secp384r1": "ec-p384"}.get(public.curve.name, "ec-other")
    if isinstance(public, ed25519.Ed25519PublicKey):
        return "ed25519"
    return "other"


def signature_hash(public: Any) -> hashes.HashAlgorithm | None:
    """The hash matched to the CA key: P-384 -> SHA-384, Ed25519 -> none, else SHA-256."""
    if isinstance(public, ed25519.Ed25519PublicKey):
        return None
    if isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp384r1":
        return hashes.SHA384()
    return hashes.SHA256()


@dataclass(frozen=True)
class SignatureChoice:
    """The signature algorithm a CA profile asks for (``signer.core.ca_profiles``): a hash
    (None: matched to the key, ``signature_hash``) and, for RSA, PSS with MGF1 of the same
    hash and a salt of the digest length (RFC 4055 §3.1, BR §7.1.3.2.1)."""

    hash: str | None = None
    pss: bool = False


_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}


@dataclass(frozen=True)
class LintedCertificate:
    """A certificate TBS that passed lint. Build it only with ``lint_certificate``."""

    builder: x509.CertificateBuilder
    tbs: bytes
    kind: str
    findings: tuple[Finding, ...]
    _token: object
    signature: SignatureChoice | None = None  # signed exactly as linted

    def __post_init__(self) -> None:
        if self._token is not _LINT_TOKEN:
            raise TypeError("LintedCertificate is built only by lint_certificate()")


@dataclass(frozen=True)
class LintedCRL:
    builder: x509.CertificateRevocationListBuilder
    tbs: bytes
    findings: tuple[Finding, ...]
    _token: object
    sampled: bool = False

    def __post_init__(self) -> None:
        if self._token is not _LINT_TOKEN:
            raise TypeError("LintedCRL is built only by lint_crl()")


_LINT_TOKEN = object()


def _sign_args(public: Any, choice: SignatureChoice | None = None) -> dict[str, Any]:
    if choice is None or choice.hash is None:
        return {"algorithm": signature_hash(public)}
    algorithm = _HASHES[choice.hash]()
    if choice.pss:
        if not isinstance(public, rsa.RSAPublicKey):
            raise LintError("RSA-PSS needs an RSA key")
        return {"algorithm": algorithm, "rsa_padding": padding.PSS(
            mgf=padding.MGF1(algorithm), salt_length=padding.PSS.DIGEST_LENGTH)}
    return {"algorithm": algorithm}


def lint_certificate(
    builder: x509.CertificateBuilder, issuer_public: Any, kind: str, what: str,
    signature: SignatureChoice | None = None,
) -> LintedCertificate:
    """Steps 1-2: sign a copy with a throwaway key of the issuer's type and lint it."""
    copy = builder.sign(_throwaway(key_kind(issuer_public)), **_sign_args(issuer_public,
                                                                         signature))
    der = copy.public_bytes(serialization.Encoding.DER)
    findings = _enforce(lint_der(der, kind), what)
    return LintedCertificate(builder, copy.tbs_certificate_bytes, kind, tuple(findings),
                             _LINT_TOKEN, signature)


def sign_certificate(
    linted: LintedCertificate, key: CertificateIssuerPrivateKeyTypes, what: str
) -> x509.Certificate:
    """Step 3: sign with the CA key, compare the TBS with the linted one, lint again."""
    if not isinstance(linted, LintedCertificate):
        raise TypeError("only a LintedCertificate can be signed")
    cert = linted.builder.sign(key, **_sign_args(key.public_key(), linted.signature))
    if cert.tbs_certificate_bytes != linted.tbs:
        raise LintError(f"{what}: the signed TBS differs from the linted TBS")
    _enforce(lint_der(cert.public_bytes(serialization.Encoding.DER), linted.kind), what)
    return cert


def lint_crl(
    builder: x509.CertificateRevocationListBuilder, issuer_public: Any, what: str,
    sample: x509.CertificateRevocationListBuilder | None = None,
) -> LintedCRL:
    """Lint a throwaway-key copy of a CRL.

    pkilint needs about 4.7 s and 270 MB per 20,000 entries (pyasn1 decoding), so a CRL of a
    million entries cannot be linted whole. For large CRLs the caller passes ``sample``: the
    same CRL (same issuer, times, extensions) with a subset of the entries covering every
    reason code; pkilint judges the sample, and the caller has already checked every entry
    in linear time (``signer.service.revocation.check_entries``). The full CRL's TBS is still the one
    compared after signing.
    """
    kind = key_kind(issuer_public)
    copy = builder.sign(_throwaway(kind), **_sign_args(issuer_public))
    judged = copy if sample is None else sample.sign(_throwaway(kind), **_sign_args(issuer_public))
    findings = _enforce(lint_der(judged.public_bytes(serialization.Encoding.DER), "crl"), what)
    return LintedCRL(builder, copy.tbs_certlist_bytes, tuple(findings), _LINT_TOKEN,
                     sampled=sample is not None)


def sign_crl(
    linted: LintedCRL, key: CertificateIssuerPrivateKeyTypes, what: str
) -> x509.CertificateRevocationList:
    if not isinstance(linted, LintedCRL):
        raise TypeError("only a LintedCRL can be signed")
    crl_obj = linted.builder.sign(key, **_sign_args(key.public_key()))
    if crl_obj.tbs_certlist_bytes != linted.tbs:
        raise LintError(f"{what}: the signed CRL TBS differs from the linted TBS")
    if not linted.sampled:  # a sampled CRL's entries were checked before; its TBS is equal
        _enforce(lint_der(crl_obj.public_bytes(serialization.Encoding.DER), "crl"), what)
    return crl_obj


__all__ = ["LintedCertificate", "LintedCRL", "SignatureChoice", "lint_certificate",
           "sign_certificate",
           "lint_crl", "sign_crl", "lint_der", "Finding", "key_kind", "signature_hash"]
