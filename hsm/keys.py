"""CA keys held in a token, as pyca ``cryptography`` private-key objects.

The builders of ``cryptography`` (``CertificateBuilder.sign``,
``CertificateRevocationListBuilder.sign``) call ``sign()`` on these objects, which hands the
work to the token through a narrow ``RawSign`` callback. Every signature is verified in
software with the public key read from the token before it is returned (I5).

This module deliberately does not import ``pkcs11``: the backend supplies the callback.
Private key material never leaves the token, so every export method refuses.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, NoReturn, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from hsm.errors import HSMError, MechanismUnsupportedError, SignatureCheckError


def spki(public: PublicKeyTypes) -> bytes:
    return public.public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo)


class SignMechanism(enum.Enum):
    """The signing operations the appliance asks of a token (host-side names)."""

    RSA_PKCS1_SHA256 = "rsa-pkcs1-sha256"
    RSA_PKCS1_SHA384 = "rsa-pkcs1-sha384"
    RSA_PKCS1_SHA512 = "rsa-pkcs1-sha512"
    RSA_PSS_SHA256 = "rsa-pss-sha256"
    RSA_PSS_SHA384 = "rsa-pss-sha384"
    RSA_PSS_SHA512 = "rsa-pss-sha512"
    ECDSA = "ecdsa"  # raw: the host hashes, the token signs the digest (SoftHSM 2.6 lacks CKM_ECDSA_SHA*)
    EDDSA = "eddsa"


RawSign = Callable[[SignMechanism, bytes], bytes]

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def _hash_name(algorithm: object) -> str:
    if isinstance(algorithm, utils.Prehashed):
        raise MechanismUnsupportedError("prehashed input is not accepted by token keys")
    if not isinstance(algorithm, hashes.HashAlgorithm) or algorithm.name not in _HASHES:
        name = getattr(algorithm, "name", type(algorithm).__name__)
        raise MechanismUnsupportedError(f"hash algorithm {name} is not allowed for CA signatures")
    return algorithm.name


def _refuse_export() -> NoReturn:
    raise HSMError("private key material never leaves the token")


class _TokenKey:
    """What every token key shares: its label and public key, the I5 check, no export."""

    def __init__(self, label: str, public: Any, raw_sign: RawSign) -> None:
        self.label = label
        self._public = public
        self._raw_sign = raw_sign

    def _verified(self, signature: bytes, verify: Callable[[], None]) -> bytes:
        """Return ``signature`` only if ``verify`` (the public key's check of it) passes."""
        try:
            verify()
        except InvalidSignature as exc:
            raise SignatureCheckError(
                f"token signature by key {self.label!r} did not verify in software"
            ) from exc
        return signature

    def private_bytes(
        self,
        encoding: serialization.Encoding,
        format: serialization.PrivateFormat,
        encryption_algorithm: serialization.KeySerializationEncryption,
    ) -> bytes:
        _refuse_export()

    def __copy__(self) -> Self:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Self:
        return self


class TokenRSAPrivateKey(_TokenKey, rsa.RSAPrivateKey):
    """An RSA key in the token; PKCS#1 v1.5 or PSS (salt = digest length, MGF1 = same hash).

    How the token is asked (a combined ``CKM_SHA*_RSA_PKCS*`` or ``CKM_RSA_PKCS`` over a host
    DigestInfo) is the backend's choice (``hsm.mechanisms.sign_plan``).
    """

    _public: rsa.RSAPublicKey

    def sign(
        self,
        data: bytes | bytearray | memoryview,
        padding: padding.AsymmetricPadding,
        algorithm: hashes.HashAlgorithm | utils.Prehashed | utils.NoDigestInfo,
    ) -> bytes:
        name = _hash_name(algorithm)
        assert isinstance(algorithm, hashes.HashAlgorithm)  # _hash_name refused the rest
        data = bytes(data)
        if isinstance(padding, _PKCS1v15):
            mech = SignMechanism[f"RSA_PKCS1_{name.upper()}"]
        elif isinstance(padding, _PSS):
            _check_pss(padding, algorithm)
            mech = SignMechanism[f"RSA_PSS_{name.upper()}"]
        else:
            raise MechanismUnsupportedError(f"RSA padding {padding.name} is not supported")
        signature = self._raw_sign(mech, data)
        return self._verified(
            signature, lambda: self._public.verify(signature, data, padding, algorithm))

    def public_key(self) -> rsa.RSAPublicKey:
        return self._public

    @property
    def key_size(self) -> int:
        return self._public.key_size

    def decrypt(self, ciphertext: bytes, padding: padding.AsymmetricPadding) -> bytes:
        raise HSMError("CA keys are for signing only")

    def private_numbers(self) -> rsa.RSAPrivateNumbers:
        _refuse_export()


_PKCS1v15 = padding.PKCS1v15
_PSS = padding.PSS


def _check_pss(pad: padding.PSS, algorithm: hashes.HashAlgorithm) -> None:
    # RSA-PSS parameters are always explicit: MGF1 with the message hash, salt = digest length.
    mgf = pad.mgf
    if not isinstance(mgf, padding.MGF1) or mgf._algorithm.name != algorithm.name:
        raise MechanismUnsupportedError("RSA-PSS needs MGF1 with the same hash as the message")
    salt = pad._salt_length
    if salt is not padding.PSS.DIGEST_LENGTH and salt != algorithm.digest_size:
        raise MechanismUnsupportedError("RSA-PSS salt length must equal the digest length")


class TokenECPrivateKey(_TokenKey, ec.EllipticCurvePrivateKey):
    """An EC key in the token. ECDSA is hashed on the host; the r||s result is DER-encoded."""

    _public: ec.EllipticCurvePublicKey

    def sign(self, data: bytes | bytearray | memoryview,
             signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        data = bytes(data)
        if not isinstance(signature_algorithm, ec.ECDSA):
            raise MechanismUnsupportedError("only ECDSA is supported for EC keys")
        name = _hash_name(signature_algorithm.algorithm)
        h = hashes.Hash(_HASHES[name]())
        h.update(data)
        raw = self._raw_sign(SignMechanism.ECDSA, h.finalize())
        if len(raw) % 2:
            raise SignatureCheckError(f"token returned a malformed ECDSA signature for {self.label!r}")
        half = len(raw) // 2
        signature = utils.encode_dss_signature(
            int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
        )
        return self._verified(
            signature, lambda: self._public.verify(signature, data, signature_algorithm))

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._public.curve

    @property
    def key_size(self) -> int:
        return self._public.key_size

    def exchange(
        self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey
    ) -> bytes:
        raise HSMError("CA keys are for signing only")

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        _refuse_export()


class TokenEd25519PrivateKey(_TokenKey, ed25519.Ed25519PrivateKey):
    """An Ed25519 key in the token (CKM_EDDSA, pure EdDSA)."""

    _public: ed25519.Ed25519PublicKey

    def sign(self, data: bytes | bytearray | memoryview) -> bytes:
        data = bytes(data)
        signature = self._raw_sign(SignMechanism.EDDSA, data)
        return self._verified(signature, lambda: self._public.verify(signature, data))

    def public_key(self) -> ed25519.Ed25519PublicKey:
        return self._public

    def private_bytes_raw(self) -> bytes:
        _refuse_export()


TokenKey = TokenRSAPrivateKey | TokenECPrivateKey | TokenEd25519PrivateKey


def wrap_key(label: str, public: PublicKeyTypes, raw_sign: RawSign) -> TokenKey:
    """Return the token-key object that matches ``public``'s type."""
    if isinstance(public, rsa.RSAPublicKey):
        return TokenRSAPrivateKey(label, public, raw_sign)
    if isinstance(public, ec.EllipticCurvePublicKey):
        return TokenECPrivateKey(label, public, raw_sign)
    if isinstance(public, ed25519.Ed25519PublicKey):
        return TokenEd25519PrivateKey(label, public, raw_sign)
    raise MechanismUnsupportedError(f"key {label!r} has an unsupported type")


def software_key(private: PrivateKeyTypes, label: str = "software") -> TokenKey:
    """A stand-in behind the same protocol, for fast unit tests of code above the HSM only."""

    def raw_sign(mech: SignMechanism, data: bytes) -> bytes:
        if isinstance(private, rsa.RSAPrivateKey):
            _, kind, hname = mech.value.split("-")
            alg = _HASHES[hname]()
            pad: padding.AsymmetricPadding
            if kind == "pkcs1":
                pad = padding.PKCS1v15()
            else:
                pad = padding.PSS(padding.MGF1(alg), padding.PSS.DIGEST_LENGTH)
            return private.sign(data, pad, alg)
        if isinstance(private, ec.EllipticCurvePrivateKey):
            hlen = len(data)
            alg = {32: hashes.SHA256(), 48: hashes.SHA384(), 64: hashes.SHA512()}[hlen]
            der = private.sign(data, ec.ECDSA(utils.Prehashed(alg)))
            r, s = utils.decode_dss_signature(der)
            size = (private.curve.key_size + 7) // 8
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")
        if isinstance(private, ed25519.Ed25519PrivateKey):
            return private.sign(data)
        raise MechanismUnsupportedError("unsupported software key")

    return wrap_key(label, private.public_key(), raw_sign)
