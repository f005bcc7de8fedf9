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
    HSMError,
    KeyExistsError,
    KeyMissingError,
    KeyUnsafeError,
    MechanismUnsupportedError,
    ModuleError,
    SignatureCheckError,
    TokenAbsentError,
)
from hsm.keys import SignMechanism, TokenECPrivateKey, software_key, wrap_key
from hsm.pins import PinLimits, PinPlan, plan_pin
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


# -- issue 13: selection, CKA_ID, PIN limits, status, context-specific login -------------------


def test_tokens_are_chosen_by_uri_or_serial(token_env, token):
    serial = token.serial
    by_uri = Token(token_env.module, uri="pkcs11:token=hsmsel;manufacturer=SoftHSM%20project")
    assert by_uri.label == "hsmsel"
    by_serial = Token(token_env.module, serial=serial)
    assert by_serial.label == "hsmtest"
    by_both = Token(token_env.module, uri=f"pkcs11:token=hsmtest;serial={serial}")
    assert by_both.facts.slot_id == token.facts.slot_id
    assert Token(token_env.module, uri=f"pkcs11:slot-id={token.facts.slot_id}").label == "hsmtest"
    with pytest.raises(TokenAbsentError, match="no token"):
        Token(token_env.module, uri="pkcs11:token=hsmtest;serial=0000")
    with pytest.raises(TokenAbsentError, match="tokens match"):
        Token(token_env.module, uri="pkcs11:model=SoftHSM%20v2")


def test_cka_id_is_two_bytes_by_default_and_unique(token):
    ids = [bytes.fromhex(k.key_id) for k in token.list_keys()]
    assert ids and all(len(i) == 2 for i in ids)
    assert len(set(ids)) == len(ids)


def test_cka_id_length_is_configurable(token_env):
    pin = token_env.new_token("hsmsel")
    t = Token(token_env.module, label="hsmsel", key_id_bytes=8)
    t.login(pin.read_text())
    try:
        assert len(bytes.fromhex(t.generate_key("id8", "ec-p256").key_id)) == 8
    finally:
        t.close()
    with pytest.raises(HSMError, match="CKA_ID length"):
        Token(token_env.module, label="hsmsel", key_id_bytes=0)


def test_softhsm_states_its_pin_limits(token):
    assert token.pin_limits() == PinLimits(4, 255)
    assert plan_pin(token.pin_limits()) == PinPlan()  # 64 hex characters, as before


def test_a_new_pin_outside_the_limits_is_refused_before_the_token_sees_it(token_env):
    pin = token_env.new_token("hsmsel").read_text()
    t = Token(token_env.module, label="hsmsel")
    with pytest.raises(HSMError, match="takes PINs of 4..255 characters; the new PIN has 300"):
        t.set_user_pin(pin, "x" * 300)
    assert not t.logged_in  # nothing was attempted


def test_status_lists_every_needed_mechanism(token):
    st = token.status(("rsa-3072", "ec-p384"), hashes=("sha256", "sha384"), pss=True,
                      backup=True)
    assert st.log_key_algorithm == "ed25519" and st.missing == []
    assert st.mechanisms["SHA384_RSA_PKCS_PSS"] and st.mechanisms["EDDSA"]
    assert st.mechanisms["AES_KEY_WRAP_PAD"] and st.mechanisms["ECDSA"]
    assert st.pin_min == 4 and st.pin_max == 255 and not st.protected_authentication_path
    assert st.uri.startswith("pkcs11:token=hsmtest;serial=")
    assert {n["purpose"] for n in st.needs} >= {"rsa-3072 RSA-PSS with sha384",
                                                "ec-p384 signing (host-hashed ECDSA)"}


def test_softhsm_has_no_pin_pad(token_env):
    t = Token(token_env.module, label="hsmsel")
    assert not t.protected_authentication_path
    with pytest.raises(HSMError, match="no protected authentication path"):
        t.login_protected()
    assert not t.logged_in


@pytest.fixture(scope="module")
def auth_token(token_env):
    pin = token_env.new_token("authkeys")
    t = Token(token_env.module, label="authkeys")
    t.login(pin.read_text())
    for label, alg in (("ec-auth", "ec-p256"), ("rsa-auth", "rsa-3072"), ("ed-auth", "ed25519")):
        t.generate_key(label, alg, always_authenticate=True)
    yield t
    t.close()


@pytest.mark.parametrize("label,alg,pad", [
    ("ec-auth", hashes.SHA256(), None),
    ("rsa-auth", hashes.SHA256(), None),
    ("rsa-auth", hashes.SHA256(), padding.PSS(padding.MGF1(hashes.SHA256()),
                                              padding.PSS.DIGEST_LENGTH)),
    ("ed-auth", None, None),
])
def test_always_authenticate_keys_sign_after_a_context_login(auth_token, label, alg, pad):
    assert auth_token.key_attributes(label).always_authenticate
    key = auth_token.signing_key(label)
    for _ in range(2):  # a login per signature, not per session
        cert = _self_signed(key, alg, pad)
        cert.verify_directly_issued_by(cert)


def test_softhsm_enforces_always_authenticate(auth_token):
    # Without CKU_CONTEXT_SPECIFIC the token refuses: the context login above is real.
    import pkcs11
    from pkcs11.exceptions import UserNotLoggedIn

    with pytest.raises(UserNotLoggedIn):
        auth_token._private("ec-auth").sign(bytes(32), mechanism=pkcs11.Mechanism.ECDSA)
