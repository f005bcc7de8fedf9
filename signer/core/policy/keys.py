"""Public-key checks for subscriber keys (DESIGN §4 Keys): pure functions of a key object.

What it does: classifies a public key ("rsa-2048", "ec-p256", "ed25519"), and reports every
weakness it finds: a wrong type or curve; a key that is not a valid point or modulus; an Ed25519
point of small order; the RSA checks of `signer.core.policy.keys_rsa`; and, when the operator loaded
one, the compromised-key blocklist (`signer.core.policy.blocklist`: Debian weak keys and published keys).

- EC (SEC 1 §3.2.2.1 public-key validation): `cryptography`'s loader refuses a point off its
  curve, the point at infinity, a wrong length and x or y >= p (the tests in
  tests/signer/test_keys.py prove it), so the policy refuses such a CSR as `key.invalid` before
  any key object exists. The loader does accept the hybrid form (first octet 0x06/0x07), which
  RFC 5480 §2.2 says MUST be rejected, so the encoding as sent is checked here. The compressed
  form (0x02/0x03) is allowed by RFC 5480 and certified in the uncompressed form.
- Ed25519: `cryptography` (OpenSSL) loads any 32 bytes, and for a small-order point A, such as
  the identity, the signature (R = identity, S = 0) verifies for every message, so proof of
  possession means nothing. The point is checked with libsodium (PyNaCl, a PyCA project):
  canonical (y < p, RFC 8032 §5.1.3), on the curve (`crypto_core_ed25519_add`), not of small
  order ([8]A != identity), and in the prime-order subgroup
  (`crypto_core_ed25519_is_valid_point`, which also catches mixed-order points A = aB + T whose
  torsion part T lets signatures be forged with probability 1/8 per try). An honestly made key
  is a clamped multiple of the base point, so it passes all four.

What it deliberately does not: decide codes or verdicts (`signer.core.policy` maps findings to check
codes), or look anything up except in the blocklist it is given (duplicate and CA-key checks need
context and live in the policy).
"""

from __future__ import annotations

import nacl.bindings
import nacl.exceptions
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from signer.core.policy.blocklist import Blocklist
from signer.core.policy.key_findings import KeyFinding, KeyKind
from signer.core.policy.keys_rsa import (
    FERMAT_ROUNDS,
    RSA_EXPONENT,
    RSA_MAX_BITS,
    RSA_MIN_BITS,
    SMALL_FACTOR_LIMIT,
    check_rsa,
)

__all__ = ["FERMAT_ROUNDS", "RSA_EXPONENT", "RSA_MAX_BITS", "RSA_MIN_BITS", "SMALL_FACTOR_LIMIT",
           "ED25519_P", "ED25519_IDENTITY", "KeyFinding", "KeyKind", "check_ed25519_point",
           "check_ec_encoding", "check_public_key", "key_family", "key_type"]

# Curves accepted (DESIGN §4; CA/B BR §6.1.5 and Mozilla Root Store Policy §5.1 list P-256,
# P-384 and P-521 for CAs; we take only the two that every client supports well).
_CURVES: dict[str, str] = {"secp256r1": "ec-p256", "secp384r1": "ec-p384"}
_COORDINATE_BYTES = {"secp256r1": 32, "secp384r1": 48}

ED25519_P = 2**255 - 19  # RFC 8032 §5.1: the field prime
ED25519_IDENTITY = bytes([1]) + bytes(31)  # the neutral element (0, 1), RFC 8032 §5.1.2


def key_type(public: PublicKeyTypes) -> str:
    """A short name for the key: rsa-<bits>, ec-p256 / ec-p384 / ec-<curve>, ed25519, or the class."""
    if isinstance(public, rsa.RSAPublicKey):
        return f"rsa-{public.key_size}"
    if isinstance(public, ec.EllipticCurvePublicKey):
        return _CURVES.get(public.curve.name, f"ec-{public.curve.name}")
    if isinstance(public, ed25519.Ed25519PublicKey):
        return "ed25519"
    return type(public).__name__.removeprefix("_").lower()


def key_family(ktype: str) -> str:
    """rsa-<bits> -> "rsa"; other key types are their own family (ec-p256, ed25519, ...)."""
    return "rsa" if ktype.startswith("rsa-") else ktype


def check_ec_encoding(curve: str, point: bytes) -> list[KeyFinding]:
    """The EC point's encoding as sent (RFC 5480 §2.2, SEC 1 §2.3.3): 0x04 || X || Y or
    0x02/0x03 || X; the hybrid form 0x06/0x07 and anything else are refused."""
    size = _COORDINATE_BYTES.get(curve)
    if size is None or not point:
        return [KeyFinding("invalid", "the EC public key has no point encoding")]
    form = point[0]
    if form == 0x04 and len(point) == 1 + 2 * size:
        return []
    if form in (0x02, 0x03) and len(point) == 1 + size:
        return []
    if form in (0x06, 0x07):
        return [KeyFinding("invalid", "the EC point uses the hybrid form (0x06/0x07), which "
                                      "RFC 5480 §2.2 requires to be rejected")]
    return [KeyFinding("invalid", f"the EC point encoding (first octet 0x{form:02x}, "
                                  f"{len(point)} octets) is not SEC 1 §2.3.3")]


def check_ed25519_point(raw: bytes) -> list[KeyFinding]:
    """Problems with a 32-byte Ed25519 public key (module docstring), libsodium doing the
    group arithmetic."""
    if len(raw) != 32:
        return [KeyFinding("invalid", f"an Ed25519 key is 32 bytes, not {len(raw)}")]
    found: list[KeyFinding] = []
    y = int.from_bytes(raw, "little") & ((1 << 255) - 1)
    if y >= ED25519_P:
        found.append(KeyFinding("invalid", "the Ed25519 key is a non-canonical encoding "
                                           "(y >= p, RFC 8032 §5.1.3)"))
    try:
        eight = raw
        for _ in range(3):  # [8]A by doubling; the addition refuses a point off the curve
            eight = nacl.bindings.crypto_core_ed25519_add(eight, eight)
    except nacl.exceptions.RuntimeError:
        found.append(KeyFinding("invalid", "the Ed25519 key is not a point on the curve "
                                           "(RFC 8032 §5.1.3)"))
        return found
    if eight == ED25519_IDENTITY:
        found.append(KeyFinding("small_order", "the Ed25519 key is a point of small order: a "
                                               "signature verifies for any message, so the CSR "
                                               "proves nothing"))
    elif not nacl.bindings.crypto_core_ed25519_is_valid_point(raw) and not found:
        found.append(KeyFinding("small_order", "the Ed25519 key has a small-order component "
                                               "(it is not in the prime-order subgroup)"))
    return found


def check_public_key(public: PublicKeyTypes, *, encoded: bytes | None = None,
                     blocklist: Blocklist | None = None) -> list[KeyFinding]:
    """Every weakness of a subscriber key; empty when the key is acceptable (DESIGN §4 Keys).

    `encoded` is the subjectPublicKey as the subscriber sent it (`signer.core.policy.csr`); without it
    the key object's own encoding is judged.
    """
    found: list[KeyFinding]
    if isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        found = check_rsa(numbers.n, numbers.e)
    elif isinstance(public, ec.EllipticCurvePublicKey):
        if public.curve.name not in _CURVES:
            return [KeyFinding("curve", f"elliptic curve {public.curve.name} is not accepted; "
                                        "use P-256 or P-384")]
        point = encoded if encoded is not None else public.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        found = check_ec_encoding(public.curve.name, point)  # on-curve: the loader's job
    elif isinstance(public, ed25519.Ed25519PublicKey):
        found = check_ed25519_point(encoded if encoded is not None else public.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    else:
        # DSA (removed from CA/B BR §6.1.5), Ed448, X25519, X448 and anything newer.
        return [KeyFinding("type", f"key type {key_type(public)} is not accepted; use RSA, "
                                   "EC P-256/P-384 or Ed25519")]
    if blocklist is not None:
        hit = blocklist.lookup(public)
        if hit is not None:
            found.append(KeyFinding("blocklist", f"the key is on the compromised-key blocklist "
                                                 f"{hit.list_name!r} ({blocklist.source})"))
    return found
