"""Signature algorithms of CA keys: which AlgorithmIdentifier a key signs with (hash matched to
the key, or a CA profile's choice of hash and RSA-PSS), the cheapest throwaway key with the same
identifier (the one-lint path of ``signer.core.lint``), and signing and verifying raw bytes with
either. Split from ``lint`` so that the linting module holds only the linting.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, cast

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

from signer.errors import LintError

_PSS = ("304106092a864886f70d01010a3034a00f300d0609608648016503040{h}0500a11c301a06092a864886"
        "f70d010108300d0609608648016503040{h}0500a2030201{salt}")
_ALGORITHM_DER = {
    ("ec", "sha256"): bytes.fromhex("300a06082a8648ce3d040302"),
    ("ec", "sha384"): bytes.fromhex("300a06082a8648ce3d040303"),
    ("ec", "sha512"): bytes.fromhex("300a06082a8648ce3d040304"),
    ("rsa", "sha256"): bytes.fromhex("300d06092a864886f70d01010b0500"),
    ("rsa", "sha384"): bytes.fromhex("300d06092a864886f70d01010c0500"),
    ("rsa", "sha512"): bytes.fromhex("300d06092a864886f70d01010d0500"),
    ("rsa-pss", "sha256"): bytes.fromhex(_PSS.format(h="201", salt="20")),
    ("rsa-pss", "sha384"): bytes.fromhex(_PSS.format(h="202", salt="30")),
    ("rsa-pss", "sha512"): bytes.fromhex(_PSS.format(h="203", salt="40")),
    ("ed25519", ""): bytes.fromhex("300506032b6570"),
}


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


def key_family(public: Any) -> str:
    if isinstance(public, ec.EllipticCurvePublicKey):
        return "ec"
    if isinstance(public, rsa.RSAPublicKey):
        return "rsa"
    if isinstance(public, ed25519.Ed25519PublicKey):
        return "ed25519"
    raise LintError(f"no signature algorithm for a {type(public).__name__} CA key")


@dataclass(frozen=True)
class Scheme:
    family: str  # ec | rsa | ed25519
    hash: str  # sha256 | sha384 | sha512, "" for Ed25519
    pss: bool = False


def signing_scheme(public: Any, choice: SignatureChoice | None = None) -> Scheme:
    """How a CA key signs: its family, the hash (the CA profile's, else matched to the key)
    and, for RSA, PKCS#1 v1.5 or PSS."""
    family = key_family(public)
    if choice is not None and choice.hash is not None:
        if family == "ed25519":
            raise LintError("an Ed25519 key signs with no separate hash")
        name = choice.hash
    else:
        h = signature_hash(public)
        name = h.name if h else ""
    pss = choice is not None and choice.pss
    if pss and family != "rsa":
        raise LintError("RSA-PSS needs an RSA key")
    return Scheme(family, name, pss)


def signature_algorithm(public: Any, choice: SignatureChoice | None = None) -> bytes:
    """The DER AlgorithmIdentifier a CA key with this public key signs certificates with."""
    scheme = signing_scheme(public, choice)
    return _ALGORITHM_DER[(scheme.family + ("-pss" if scheme.pss else ""), scheme.hash)]


@functools.cache
def throwaway(family: str) -> CertificateIssuerPrivateKeyTypes:
    """The cheapest key of a family: every ECDSA curve signs under the same ecdsa-with-SHA*
    identifier, every RSA size under the same sha*WithRSAEncryption or RSASSA-PSS parameters;
    its strength is moot. PSS with SHA-512 and a 64-byte salt needs more than 1,024 bits."""
    if family == "rsa":
        return rsa.generate_private_key(65537, 1024)
    if family == "rsa-pss":
        return rsa.generate_private_key(65537, 2048)
    if family == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


@functools.cache
def _same_kind(kind: str) -> CertificateIssuerPrivateKeyTypes:
    if kind.startswith("rsa-"):
        return rsa.generate_private_key(65537, int(kind[4:]))
    if kind in ("ec-p256", "ec-p384"):
        return ec.generate_private_key(ec.SECP256R1() if kind == "ec-p256" else ec.SECP384R1())
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise LintError(f"no throwaway key for {kind}")


def throwaway_like(public: Any) -> CertificateIssuerPrivateKeyTypes:
    """A throwaway key of the same kind as ``public`` (curve, modulus size), for objects
    signed with the hash matched to the key (OCSP responses, ``signer.core.ocsp``)."""
    return _same_kind(key_kind(public))


def _pss(algorithm: hashes.HashAlgorithm) -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(algorithm), salt_length=padding.PSS.DIGEST_LENGTH)


def sign_bytes(key: Any, data: bytes, choice: SignatureChoice | None = None) -> bytes:
    """``key`` signs ``data`` exactly, with the algorithm ``signature_algorithm`` names."""
    scheme = signing_scheme(key.public_key(), choice)
    h = HASHES[scheme.hash]() if scheme.hash else None
    if isinstance(key, ec.EllipticCurvePrivateKey) and h is not None:
        return bytes(key.sign(data, ec.ECDSA(h)))
    if isinstance(key, rsa.RSAPrivateKey) and h is not None:
        return bytes(key.sign(data, _pss(h) if scheme.pss else padding.PKCS1v15(), h))
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return bytes(key.sign(data))
    raise LintError(f"no signing recipe for a {type(key).__name__}")


def verify_bytes(public: Any, signature: bytes, data: bytes | memoryview,
            choice: SignatureChoice | None = None) -> bool:
    scheme = signing_scheme(public, choice)
    h = HASHES[scheme.hash]() if scheme.hash else None
    try:
        if isinstance(public, ec.EllipticCurvePublicKey) and h is not None:
            public.verify(signature, data, ec.ECDSA(h))
        elif isinstance(public, rsa.RSAPublicKey) and h is not None:
            public.verify(signature, cast(bytes, data),  # any buffer
                          _pss(h) if scheme.pss else padding.PKCS1v15(), h)
        elif isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(signature, data)
        else:
            return False
    except InvalidSignature:
        return False
    return True


# -- linted objects: the only things a CA key signs --------------------------------------------


@dataclass(frozen=True)
class SignatureChoice:
    """The signature algorithm a CA profile asks for (``signer.core.ca_profiles``): a hash
    (None: matched to the key, ``signature_hash``) and, for RSA, PSS with MGF1 of the same
    hash and a salt of the digest length (RFC 4055 §3.1, BR §7.1.3.2.1)."""

    hash: str | None = None
    pss: bool = False


HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
