"""``CKA_EC_POINT`` in every form that tokens return, for P-256, P-384 and Ed25519.

PKCS#11 2.40 defines ``CKA_EC_POINT`` as the DER encoding of the X9.62 ECPoint, an OCTET STRING
(SoftHSM 2.6, OpenSC, most HSMs). PKCS#11 3.1 defines the Edwards point as the raw 32 bytes, and
3.0 tokens return either. Some modules hand back the BIT STRING of a SubjectPublicKeyInfo. For the
curves the appliance accepts the three forms never collide: each has its own exact length (a raw
P-256 point is 65 bytes, its OCTET STRING 67, its BIT STRING 68; Ed25519 is 32, 34, 35), so the
form is recognised by length and structure together, and exactly one form must match.

Pure: no token, no I/O. It does not accept curves outside ``ec-p256``, ``ec-p384`` and
``ed25519``, nor indefinite or non-minimal DER lengths.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from hsm.errors import KeyFormatError

_FIELD_BYTES = {"ec-p256": 32, "ec-p384": 48, "ed25519": 32}
_CURVES: dict[str, type[ec.EllipticCurve]] = {"ec-p256": ec.SECP256R1, "ec-p384": ec.SECP384R1}
_OCTET_STRING = 0x04
_BIT_STRING = 0x03


def _raw_ok(point: bytes, algorithm: str) -> bool:
    n = _FIELD_BYTES[algorithm]
    if algorithm == "ed25519":
        return len(point) == n
    if len(point) == 1 + 2 * n:
        return point[0] == 0x04  # uncompressed
    return len(point) == 1 + n and point[0] in (0x02, 0x03)  # compressed


def _der_content(value: bytes, tag: int) -> bytes | None:
    """The content of a single DER TLV with ``tag`` spanning all of ``value``, else None."""
    if len(value) < 2 or value[0] != tag:
        return None
    first = value[1]
    if first < 0x80:
        length, start = first, 2
    elif first == 0x81 and len(value) >= 3 and value[2] >= 0x80:  # minimal long form only
        length, start = value[2], 3
    else:
        return None
    if len(value) != start + length:
        return None
    return value[start:]


def decode_ec_point(value: bytes, algorithm: str) -> bytes:
    """The raw point (X9.62 for EC, 32 bytes for Ed25519) from any form of ``CKA_EC_POINT``.

    Raises ``KeyFormatError`` naming the length when no form fits.
    """
    if algorithm not in _FIELD_BYTES:
        raise KeyFormatError(f"CKA_EC_POINT: unsupported algorithm {algorithm!r}")
    found: list[tuple[str, bytes]] = []
    if _raw_ok(value, algorithm):
        found.append(("raw", value))
    inner = _der_content(value, _OCTET_STRING)
    if inner is not None and _raw_ok(inner, algorithm):
        found.append(("octet string", inner))
    bits = _der_content(value, _BIT_STRING)
    if bits is not None and bits[:1] == b"\x00" and _raw_ok(bits[1:], algorithm):
        found.append(("bit string", bits[1:]))
    if len(found) != 1:  # none, or (impossible for these curves) ambiguous
        raise KeyFormatError(
            f"CKA_EC_POINT of {len(value)} bytes is not a {algorithm} point in any known form")
    return found[0][1]


def public_key_from_ec_point(value: bytes, algorithm: str) -> PublicKeyTypes:
    """A ``cryptography`` public key from ``CKA_EC_POINT``; the point is checked on the curve."""
    point = decode_ec_point(value, algorithm)
    try:
        if algorithm == "ed25519":
            return ed25519.Ed25519PublicKey.from_public_bytes(point)
        return ec.EllipticCurvePublicKey.from_encoded_point(_CURVES[algorithm](), point)
    except ValueError as exc:
        raise KeyFormatError(f"CKA_EC_POINT is not a valid {algorithm} point") from exc


def encode_ec_point(public: PublicKeyTypes) -> bytes:
    """``CKA_EC_POINT`` as a DER OCTET STRING (PKCS#11 2.40), for creating public-key objects."""
    if isinstance(public, ed25519.Ed25519PublicKey):
        raw = public.public_bytes_raw()
    elif isinstance(public, ec.EllipticCurvePublicKey):
        raw = public.public_bytes(serialization.Encoding.X962,
                                  serialization.PublicFormat.UncompressedPoint)
    else:
        raise KeyFormatError("only EC and Ed25519 keys have a CKA_EC_POINT")
    if len(raw) < 0x80:
        return bytes([_OCTET_STRING, len(raw)]) + raw
    return bytes([_OCTET_STRING, 0x81, len(raw)]) + raw
