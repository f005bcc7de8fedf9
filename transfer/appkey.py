"""The appliance's key as the outside world sees it: Ed25519, or ECDSA on P-256 or P-384.

Checkpoints, result bundles and key backup files are signed by the appliance's log key in the
token. Tokens without Curve25519 (SmartCard-HSM, older YubiHSM 2 modules) and homes whose keys
are backed up on SoftHSM (which cannot wrap Ed25519 keys) use ECDSA instead.

The public key travels as *key bytes*: the 32 raw bytes for Ed25519 (as ever since format v1),
the DER SubjectPublicKeyInfo for ECDSA; no SubjectPublicKeyInfo is 32 bytes long, so the two
never collide. Signatures are Ed25519 (RFC 8032, 64 bytes) or ECDSA over SHA-256 in ASN.1 DER,
whatever the curve: c2sp.org/signed-note signature type 0x02, "as implemented by
transparency-dev/witness", hashes with SHA-256 for every curve it admits, and one rule for
notes and bundles keeps verifiers simple. ECDSA signatures are made canonical (low S, minimal
DER) before release and accepted only in that form, so each signed statement has exactly one
spelling, as with Ed25519.

Pure: no I/O, no token.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from transfer.errors import TransferError

ALGORITHMS = ("ed25519", "ec-p256", "ec-p384")
_CURVES: dict[str, tuple[type[ec.EllipticCurve], int]] = {
    "secp256r1": (ec.SECP256R1, 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551),
    "secp384r1": (ec.SECP384R1, int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC5"
        "2973", 16)),
}
_NAMES = {"secp256r1": "ec-p256", "secp384r1": "ec-p384"}
MAX_KEY_BYTES = 256
MAX_SIGNATURE_BYTES = 2 * 48 + 8  # DER ECDSA on P-384; Ed25519 is 64


class AppKeyError(TransferError):
    """An appliance key or signature that is not one of the accepted forms."""


@dataclass(frozen=True)
class AppKey:
    """An appliance public key: its key bytes, algorithm name and the parsed key."""

    raw: bytes
    algorithm: str
    key: ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey

    @property
    def is_ed25519(self) -> bool:
        return self.algorithm == "ed25519"

    def verify(self, signature: bytes, message: bytes) -> bool:
        """True when ``signature`` is this key's (canonical) signature of ``message``."""
        if not isinstance(signature, bytes) or not 0 < len(signature) <= MAX_SIGNATURE_BYTES:
            return False
        try:
            if isinstance(self.key, ed25519.Ed25519PublicKey):
                if len(signature) != 64:
                    return False
                self.key.verify(signature, message)
            else:
                if canonical_ecdsa(self.key, signature) != signature:
                    return False
                self.key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError, AppKeyError):
            return False
        return True

    def pem(self) -> str:
        return self.key.public_bytes(serialization.Encoding.PEM,
                                     serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_app_key(raw: bytes) -> AppKey:
    """Parse key bytes (raw Ed25519, or an ECDSA P-256/P-384 SubjectPublicKeyInfo)."""
    if not isinstance(raw, bytes) or not raw or len(raw) > MAX_KEY_BYTES:
        raise AppKeyError("the appliance key must be 32 raw Ed25519 bytes or an ECDSA "
                          "SubjectPublicKeyInfo")
    if len(raw) == 32:
        return AppKey(raw, "ed25519", ed25519.Ed25519PublicKey.from_public_bytes(raw))
    try:
        key = serialization.load_der_public_key(raw)
    except (ValueError, TypeError):
        raise AppKeyError("the appliance key is neither 32 raw Ed25519 bytes nor a DER "
                          "SubjectPublicKeyInfo") from None
    return app_key(key)


def app_key(key: PublicKeyTypes) -> AppKey:
    """The AppKey of a public key object (refusing every algorithm but the three)."""
    if isinstance(key, ed25519.Ed25519PublicKey):
        return AppKey(key.public_bytes_raw(), "ed25519", key)
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in _NAMES:
        der = key.public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo)
        return AppKey(der, _NAMES[key.curve.name], key)
    raise AppKeyError("the appliance key must be Ed25519 or ECDSA on P-256 or P-384")


def canonical_ecdsa(key: ec.EllipticCurvePublicKey, signature: bytes) -> bytes:
    """The signature with S in the lower half of the group order, minimally DER-encoded."""
    order = _CURVES[key.curve.name][1]
    try:
        r, s = decode_dss_signature(signature)
    except ValueError:
        raise AppKeyError("not an ASN.1 DER ECDSA signature") from None
    if not (0 < r < order and 0 < s < order):
        raise AppKeyError("ECDSA signature values out of range")
    return encode_dss_signature(r, min(s, order - s))


def signer_for(private_key: PrivateKeyTypes, public: AppKey) -> Callable[[bytes], bytes]:
    """A ``sign(message) -> signature`` callback for a private key object (a token key):
    Ed25519 as is, ECDSA over SHA-256 made canonical."""
    if isinstance(private_key, ed25519.Ed25519PrivateKey) and public.is_ed25519:
        return private_key.sign
    if isinstance(private_key, ec.EllipticCurvePrivateKey) and \
            isinstance(public.key, ec.EllipticCurvePublicKey):
        pub = public.key

        def sign(message: bytes) -> bytes:
            der = private_key.sign(message, ec.ECDSA(hashes.SHA256()))
            return canonical_ecdsa(pub, der)
        return sign
    raise AppKeyError(f"the log key is not a {public.algorithm} key")
