"""The PKCS#11 boundary against a real SoftHSM2 token: I1 templates, read-back, signing, errors."""

from __future__ import annotations

import datetime as dt
import os
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID

from hsm.errors import (
    HSMAuthError,
    KeyExistsError,
    KeyMissingError,
    KeyUnsafeError,
    MechanismUnsupportedError,
    ModuleError,
    SignatureCheckError,
    TokenAbsentError,
)
from hsm.keys import SignMechanism, TokenECPrivateKey, software_key, wrap_key
from hsm.token import Token


@pytest.fixture(scope="module")
def token(token_env):
    pin = token_env.new_token("hsmtest")
    t = Token(token_env.module, label="hsmtest")
    t.login(pin.read_text())
    for label, alg in (("p256", "ec-p256"), ("p384", "ec-p384"), ("rsa3072", "rsa-3072"),
                       ("ed", "ed25519")):
        t.generate_key(label, alg)
    yield t
    t.close()


@pytest.mark.parametrize("label", ["p256", "p384", "rsa3072", "ed"])
def test_generated_keys_have_the_i1_template(token, label):
    a = token.key_attributes(label)
    assert (a.token, a.private, a.sensitive, a.always_sensitive) == (True, True, True, True)
    assert (a.extractable, a.never_extractable, a.local) == (False, True, True)
    assert a.safe and a.problems == []


def test_algorithm_is_read_back(token):
    found = {k.label: k.algorithm for k in token.list_keys()}
    assert found.items() >= {
        "p256": "ec-p256", "p384": "ec-p384", "rsa3072": "rsa-3072", "ed": "ed25519"}.items()


def _self_signed(key, alg, pad=None):
    n = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "t")])
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    b = (x509.CertificateBuilder().subject_name(n).issuer_name(n).public_key(key.public_key())
         .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1)))
    return b.sign(key, alg, rsa_padding=pad) if pad else b.sign(key, alg)


@pytest.mark.parametrize("label,alg,pad", [
    ("p256", hashes.SHA256(), None),
    ("p384", hashes.SHA384(), None),
    ("rsa3072", hashes.SHA256(), None),
    ("rsa3072", hashes.SHA384(), padding.PSS(padding.MGF1(hashes.SHA384()), padding.PSS.DIGEST_LENGTH)),
    ("ed", None, None),
])
def test_token_keys_sign_through_cryptography_builders(token, label, alg, pad):
    cert = _self_signed(token.signing_key(label), alg, pad)
    cert.verify_directly_issued_by(cert)  # an independent check of the token's signature


def test_openssl_verifies_a_token_signed_certificate(token, tmp_path):
    cert = _self_signed(token.signing_key("p384"), hashes.SHA384())
    p = tmp_path / "c.pem"
    p.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    r = subprocess.run(["openssl", "verify", "-check_ss_sig", "-attime", "1767229200",
                        "-CAfile", p, p],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_pss_with_a_foreign_salt_is_refused(token):
    key = token.signing_key("rsa3072")
    with pytest.raises(MechanismUnsupportedError):
        key.sign(b"x", padding.PSS(padding.MGF1(hashes.SHA256()), 20), hashes.SHA256())


def test_private_material_never_leaves(token):
    key = token.signing_key("p256")
    with pytest.raises(Exception, match="never leaves"):
        key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption())


def test_a_bad_token_signature_is_caught_in_software():
    # I5: the wrapper verifies every signature; a token returning garbage is refused.
    good = ec.generate_private_key(ec.SECP256R1())
    key = wrap_key("bad", good.public_key(), lambda mech, data: b"\x01" * 64)
    assert isinstance(key, TokenECPrivateKey)
    with pytest.raises(SignatureCheckError):
        key.sign(b"data", ec.ECDSA(hashes.SHA256()))


def test_software_stand_in_speaks_the_same_protocol():
    for priv in (ec.generate_private_key(ec.SECP384R1()), ed25519.Ed25519PrivateKey.generate(),
                 rsa.generate_private_key(65537, 2048)):
        alg = None if isinstance(priv, ed25519.Ed25519PrivateKey) else hashes.SHA256()
        cert = _self_signed(software_key(priv), alg)
        cert.verify_directly_issued_by(cert)
    assert SignMechanism.ECDSA.value == "ecdsa"


def test_duplicate_label_is_refused(token):
    with pytest.raises(KeyExistsError, match="already exists"):
        token.generate_key("p256", "ec-p256")


@pytest.mark.parametrize("alg", ["rsa-1024", "dsa-2048", "ec-p521", ""])
def test_weak_or_unknown_algorithms_are_refused(token, alg):
    with pytest.raises(MechanismUnsupportedError, match="not allowed"):
        token.generate_key("weak", alg)


def test_missing_key(token):
    with pytest.raises(KeyMissingError):
        token.signing_key("nope")


def test_imported_extractable_key_is_refused(token_env, tmp_path):
    """I1: a key imported with softhsm2-util (extractable once, not local) is never used."""
    pin = token_env.new_token("imported")
    priv = ec.generate_private_key(ec.SECP256R1())
    pem = tmp_path / "k.pem"
    pem.write_bytes(priv.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    subprocess.run(["softhsm2-util", "--import", str(pem), "--token", "imported", "--label",
                    "imp", "--id", "0102", "--pin", pin.read_text()],
                   env={**os.environ, "SOFTHSM2_CONF": str(token_env.conf)}, check=True,
                   capture_output=True)
    t = Token(token_env.module, label="imported")
    t.login(pin.read_text())
    try:
        attrs = t.key_attributes("imp")
        assert not attrs.safe
        with pytest.raises(KeyUnsafeError, match="not safe"):
            t.signing_key("imp")
    finally:
        t.close()


def test_wrong_pin_says_it_is_the_pin(token_env):
    token_env.new_token("wrongpin")
    t = Token(token_env.module, label="wrongpin")
    with pytest.raises(HSMAuthError, match="wrong PIN") as ei:
        t.login("not-the-pin-1234")
    assert "not-the-pin" not in str(ei.value)  # I10


def test_missing_module_and_token(token_env):
    with pytest.raises(ModuleError, match="not found"):
        Token("/nonexistent/libpkcs11.so", label="x")
    with pytest.raises(TokenAbsentError, match="no token"):
        Token(token_env.module, label="no-such-token")
