"""Pre-issuance linting with pkilint (revised I6): one lint per certificate or CRL.

1. The TBS is built once, by signing a copy with a throwaway software key whose signature
   AlgorithmIdentifier is the CA key's (the cheapest such key: P-256 for any ECDSA CA with the
   CA's hash, RSA-1024 for RSA PKCS#1 v1.5, Ed25519 for Ed25519), and that copy is linted.
2. Only a ``LintedCertificate`` (which only this module builds) can be signed by a CA key.
3. The CA key signs those exact TBS bytes; the token's signature is attached to them
   (``signer.core.der``), and the result is taken apart and parsed again. Instead of a second
   pkilint pass, what the copy and the signed object could differ in is checked directly:
   the TBS is byte for byte the linted one, the outer signatureAlgorithm equals the TBS
   ``signature`` field (DER comparison) and is the algorithm the CA key signs with, the
   signature value is a well-formed BIT STRING, and nothing else is there. The copy and the
   certificate then differ only in the signature value's bits, which pkilint does not judge.

An ERROR or FATAL finding blocks release; WARNING/NOTICE findings are returned for the log.
The linter containers are built once per process (building them costs far more than linting)
and their dispatch is indexed (``signer.core.lint_dispatch``: the same findings, faster).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

from signer.core import der as asn1
from signer.core.crl import splice_revoked
from signer.core.lint_dispatch import index_container
from signer.core.sigalg import (
    HASHES,
    SignatureChoice,
    key_family,
    key_kind,
    sign_bytes,
    signature_algorithm,
    signature_hash,
    signing_scheme,
    throwaway,
    verify_bytes,
)
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
    from importlib.metadata import version

    from pkilint import loader, pkix
    from pkilint.cabf import serverauth, smime
    from pkilint.cabf.serverauth import serverauth_constants
    from pkilint.cabf.smime import smime_constants
    from pkilint.pkix import certificate, crl, extension, name, ocsp

    return SimpleNamespace(loader=loader, pkix=pkix, serverauth=serverauth, smime=smime,
                           serverauth_constants=serverauth_constants,
                           smime_constants=smime_constants, certificate=certificate, crl=crl,
                           extension=extension, name=name, ocsp=ocsp,
                           version=version("pkilint"))


@functools.cache
def _validator(kind: str) -> Any:
    """The linter of one kind, built once per process, its dispatch indexed."""
    with _one_suffix_list():
        container = build_validator(kind)
    index_container(container, _pkilint().version)
    return container


def prepare_linters(kinds: Sequence[str]) -> None:
    """Build the linters of ``kinds`` now (a signing worker, before its first job)."""
    for kind in kinds:
        _validator(kind)


@contextlib.contextmanager
def _one_suffix_list() -> Iterator[None]:
    """pkilint parses the Public Suffix List afresh (0.2 s) for each of its five domain-name
    validators; the list is read-only once parsed, so one parsed list, made with the same
    arguments, serves them all: the same data, the same answers, 1 s less at every worker's
    start (tests/signer/test_lint_dispatch.py compares the findings with pkilint's own)."""
    module: Any = importlib.import_module("publicsuffixlist")  # third-party, untyped
    real = module.PublicSuffixList
    made: dict[Any, Any] = {}

    def shared(*args: Any, **kwargs: Any) -> Any:
        key = (args, tuple(sorted(kwargs.items())))
        if key not in made:
            made[key] = real(*args, **kwargs)
        return made[key]

    module.PublicSuffixList = shared
    try:
        yield
    finally:
        module.PublicSuffixList = real


def build_validator(kind: str) -> Any:
    """A fresh pkilint container of one kind, exactly as pkilint builds it (not indexed)."""
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


# -- the signature algorithm, and the throwaway keys that produce it -------------------------

# The DER AlgorithmIdentifiers a CA key signs with (RFC 5758 §3.2, RFC 4055 §3.1 and §5,
# RFC 8410 §3; byte for byte the encodings BR §7.1.3.2 allows): ECDSA and Ed25519 carry no
# parameters, RSA PKCS#1 v1.5 an explicit NULL, RSASSA-PSS its parameters in full (the hash,
# MGF1 with the same hash, a salt of the digest's length).
@dataclass(frozen=True)
class LintedCertificate:
    """A certificate TBS that passed lint. Build it only with ``lint_certificate``."""

    tbs: bytes
    algorithm: bytes  # the TBS's signature field, exact DER
    kind: str
    findings: tuple[Finding, ...]
    _token: object
    signature: SignatureChoice | None = None  # signed exactly as linted

    def __post_init__(self) -> None:
        if self._token is not _LINT_TOKEN:
            raise TypeError("LintedCertificate is built only by lint_certificate()")


@dataclass(frozen=True)
class LintedCRL:
    """A CRL TBS that passed lint (whole, or by a sample and the caller's entry checks)."""

    tbs: bytes
    algorithm: bytes
    findings: tuple[Finding, ...]
    _token: object
    sampled: bool = False

    def __post_init__(self) -> None:
        if self._token is not _LINT_TOKEN:
            raise TypeError("LintedCRL is built only by lint_crl()")


_LINT_TOKEN = object()


def _throwaway_copy(builder: Any, issuer_public: Any,
                    choice: SignatureChoice | None) -> asn1.Signed:
    """Step 1: the TBS, built once by ``cryptography`` under the CA key's algorithm (and the
    CA profile's choice of hash and padding)."""
    scheme = signing_scheme(issuer_public, choice)
    key = throwaway(scheme.family + ("-pss" if scheme.pss else ""))
    algorithm = HASHES[scheme.hash]() if scheme.hash else None
    if scheme.pss:
        assert algorithm is not None
        signed = builder.sign(key, algorithm, rsa_padding=padding.PSS(
            mgf=padding.MGF1(algorithm), salt_length=padding.PSS.DIGEST_LENGTH))
    else:
        signed = builder.sign(key, algorithm)
    return asn1.split_signed(signed.public_bytes(serialization.Encoding.DER))


def lint_certificate(
    builder: x509.CertificateBuilder, issuer_public: Any, kind: str, what: str,
    signature: SignatureChoice | None = None,
) -> LintedCertificate:
    """Steps 1-2: build the TBS with a throwaway key of the CA key's algorithm and lint it."""
    copy = _throwaway_copy(builder, issuer_public, signature)
    if copy.algorithm != signature_algorithm(issuer_public, signature):
        raise LintError(f"{what}: the TBS names another signature algorithm than the CA key's")
    findings = _enforce(lint_der(asn1.encode_signed(copy.tbs, copy.algorithm, copy.signature),
                                 kind), what)
    return LintedCertificate(bytes(copy.tbs), copy.algorithm, kind, tuple(findings), _LINT_TOKEN,
                             signature)


def check_signed(der: bytes, tbs: bytes, public: Any, kind: str, what: str,
                 choice: SignatureChoice | None = None) -> asn1.Signed:
    """What makes a second lint redundant (revised I6), checked on the signed bytes: one
    SEQUENCE of exactly the linted TBS, an outer algorithm equal to the TBS signature field and
    to the key's, a well-formed BIT STRING; and the signature verifies with ``public`` (I5)."""
    try:
        signed = asn1.split_signed(der)
        field = asn1.tbs_signature_field(signed.tbs, kind)
    except asn1.DERError as exc:
        raise LintError(f"{what}: the signed {kind} is malformed ({exc})") from None
    if signed.tbs != tbs:
        raise LintError(f"{what}: the signed TBS differs from the linted TBS")
    if signed.algorithm != field:
        raise LintError(f"{what}: the outer signatureAlgorithm differs from the TBS signature "
                        "field")
    if signed.algorithm != signature_algorithm(public, choice):
        raise LintError(f"{what}: the CA key signs with another algorithm than the linted TBS "
                        "names (the signed TBS differs from what the key can sign)")
    if not verify_bytes(public, signed.signature, signed.tbs, choice):
        raise LintError(f"{what}: the signature does not verify with the CA's public key (I5)")
    return signed


def sign_certificate(
    linted: LintedCertificate, key: CertificateIssuerPrivateKeyTypes, what: str,
    issuer_public: Any = None,
) -> x509.Certificate:
    """Step 3: the CA key signs the linted TBS bytes; the result is checked (``check_signed``)
    and parsed again. ``issuer_public`` (the CA certificate's key) verifies it; the key's own
    public key by default."""
    if not isinstance(linted, LintedCertificate):
        raise TypeError("only a LintedCertificate can be signed")
    public = key.public_key() if issuer_public is None else issuer_public
    if linted.algorithm != signature_algorithm(public, linted.signature):
        raise LintError(f"{what}: the signed TBS differs from the linted TBS (the CA key signs "
                        "with another algorithm)")
    der = asn1.encode_signed(linted.tbs, linted.algorithm,
                             sign_bytes(key, linted.tbs, linted.signature))
    check_signed(der, linted.tbs, public, "certificate", what, linted.signature)
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise LintError(f"{what}: the signed certificate does not parse ({exc})") from None


def lint_crl(
    frame: x509.CertificateRevocationListBuilder, issuer_public: Any, what: str,
    revoked: bytes | Sequence[bytes] = b"", sample: bytes | None = None,
) -> LintedCRL:
    """Lint a CRL built from ``frame`` (issuer, times, extensions; no entries) and ``revoked``,
    the DER of its entries (``signer.core.crl.encode_entry``, concatenated, in one piece or in
    chunks), spliced into the frame's TBS.

    pkilint needs about 4.7 s and 270 MB per 20,000 entries (pyasn1 decoding), so a CRL of a
    million entries cannot be linted whole. For large CRLs the caller passes ``sample``: the
    DER of a subset of the entries covering every entry shape; pkilint judges the frame with
    the sample, and the caller has checked every entry in constant memory. The full CRL's TBS
    is the one signed and checked after signing.
    """
    copy = _throwaway_copy(frame, issuer_public, None)
    if copy.algorithm != signature_algorithm(issuer_public):
        raise LintError(f"{what}: the TBS names another signature algorithm than the CA key's")
    tbs = splice_revoked(copy.tbs, revoked)
    judged = tbs if sample is None else splice_revoked(copy.tbs, sample)
    key = throwaway(key_family(issuer_public))
    doc = asn1.encode_signed(judged, copy.algorithm, sign_bytes(key, judged))
    findings = _enforce(lint_der(doc, "crl"), what)
    return LintedCRL(tbs, copy.algorithm, tuple(findings), _LINT_TOKEN, sampled=sample is not None)


def sign_crl(linted: LintedCRL, key: CertificateIssuerPrivateKeyTypes, what: str,
             issuer_public: Any = None) -> bytes:
    """The CA key signs the linted TBS bytes; the DER CRL, checked like a certificate."""
    if not isinstance(linted, LintedCRL):
        raise TypeError("only a LintedCRL can be signed")
    public = key.public_key() if issuer_public is None else issuer_public
    if linted.algorithm != signature_algorithm(public):
        raise LintError(f"{what}: the signed CRL TBS differs from the linted TBS (the CA key "
                        "signs with another algorithm)")
    der = asn1.encode_signed(linted.tbs, linted.algorithm, sign_bytes(key, linted.tbs))
    check_signed(der, linted.tbs, public, "crl", what)
    return der


__all__ = ["LintedCertificate", "LintedCRL", "SignatureChoice", "lint_certificate",
           "sign_certificate", "check_signed", "lint_crl", "sign_crl", "lint_der", "Finding",
           "key_kind", "signature_algorithm", "signature_hash", "build_validator"]
