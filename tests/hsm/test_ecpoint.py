"""CKA_EC_POINT in every form tokens return (DER OCTET STRING, raw, DER BIT STRING): a table."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from hsm.ecpoint import decode_ec_point, encode_ec_point, public_key_from_ec_point
from hsm.errors import KeyFormatError


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    return bytes([tag, n]) + content if n < 0x80 else bytes([tag, 0x81, n]) + content


def _raw(public) -> bytes:
    if isinstance(public, ed25519.Ed25519PublicKey):
        return public.public_bytes_raw()
    return public.public_bytes(serialization.Encoding.X962,
                               serialization.PublicFormat.UncompressedPoint)


KEYS = {
    "ec-p256": ec.generate_private_key(ec.SECP256R1()).public_key(),
    "ec-p384": ec.generate_private_key(ec.SECP384R1()).public_key(),
    "ed25519": ed25519.Ed25519PrivateKey.generate().public_key(),
}
FORMS = {
    "der-octet-string": lambda raw: _der(0x04, raw),  # PKCS#11 2.40; SoftHSM, OpenSC
    "raw": lambda raw: raw,  # PKCS#11 3.1 for Edwards points
    "der-bit-string": lambda raw: _der(0x03, b"\x00" + raw),  # as in a SubjectPublicKeyInfo
}


@pytest.mark.parametrize("algorithm", sorted(KEYS))
@pytest.mark.parametrize("form", sorted(FORMS))
def test_every_form_decodes_to_the_same_key(algorithm, form):
    public = KEYS[algorithm]
    value = FORMS[form](_raw(public))
    assert decode_ec_point(value, algorithm) == _raw(public)
    assert _raw(public_key_from_ec_point(value, algorithm)) == _raw(public)


def test_compressed_ec_points_are_read():
    public = KEYS["ec-p256"]
    comp = public.public_bytes(serialization.Encoding.X962,
                               serialization.PublicFormat.CompressedPoint)
    for value in (comp, _der(0x04, comp), _der(0x03, b"\x00" + comp)):
        assert _raw(public_key_from_ec_point(value, "ec-p256")) == _raw(public)


def test_encode_is_the_der_octet_string_form():
    for algorithm, public in KEYS.items():
        value = encode_ec_point(public)
        assert value == _der(0x04, _raw(public))
        assert decode_ec_point(value, algorithm) == _raw(public)


def test_the_forms_never_collide_for_random_points():
    # Each form has its own exact length; an Ed25519 point may begin with 0x04 or 0x03.
    for first in (0x03, 0x04):
        raw = bytes([first, 32 - 2]) + bytes(30)
        assert decode_ec_point(raw, "ed25519") == raw


@pytest.mark.parametrize("algorithm,value,why", [
    ("ec-p256", b"", "empty"),
    ("ec-p256", b"\x04" * 64, "one byte short"),
    ("ec-p256", _der(0x04, _raw(KEYS["ec-p384"])), "a P-384 point for P-256"),
    ("ec-p384", _raw(KEYS["ec-p256"]), "a P-256 point for P-384"),
    ("ed25519", bytes(31), "short Edwards point"),
    ("ed25519", _der(0x04, bytes(32)) + b"\x00", "trailing byte"),
    ("ed25519", _der(0x03, b"\x01" + bytes(32)), "bit string with unused bits"),
    ("ed25519", bytes([0x04, 0x81, 0x20]) + bytes(32), "non-minimal DER length"),
    ("ed25519", bytes([0x04, 0x80]) + bytes(32) + b"\x00\x00", "indefinite length"),
    ("ec-p256", _der(0x04, b"\x05" + bytes(64)), "unknown point prefix"),
    ("ec-p521", bytes(133), "unsupported curve"),
])
def test_malformed_points_are_refused(algorithm, value, why):
    with pytest.raises(KeyFormatError):
        decode_ec_point(value, algorithm)


def test_a_point_off_the_curve_is_refused():
    with pytest.raises(KeyFormatError, match="not a valid ec-p256 point"):
        public_key_from_ec_point(b"\x04" + bytes(64), "ec-p256")
