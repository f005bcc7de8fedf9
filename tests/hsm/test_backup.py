"""Backup and restore under a trusted wrapping key, on real SoftHSM tokens (issue 13, I1 revised).

Token A makes backup-home keys and wraps them; token B (same backup secret) restores them,
signs, and the signatures verify under A's public keys. The refusals are one line each and
leave nothing behind.
"""

from __future__ import annotations

import datetime as dt
import os

import pkcs11
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pkcs11.exceptions import KeyNotWrappable

from hsm.backup import (
    BACKUP_KEY_LABEL,
    backup_key_fingerprint,
    backup_log_key_algorithm,
    can_back_up,
    has_backup_key,
    restore_key,
    wrap_key,
)
from hsm.errors import BackupError, HSMAuthError, HSMError, KeyExistsError, KeyUnsafeError
from hsm.token import Token

SECRET = os.urandom(32)


def _ensure_foreign_backup_key(token_env):
    """Token backup-c holds a backup key of another quorum (made once, whichever test is first)."""
    token_env.new_token("backup-c")
    t = Token(token_env.module, label="backup-c")
    try:
        t.import_backup_key(token_env.so_pin, os.urandom(32))
    except KeyExistsError:
        pass
    return t


def _logged_in(token_env, label, secret=SECRET):
    pin = token_env.new_token(label).read_text()
    t = Token(token_env.module, label=label)
    if secret is not None:
        assert t.import_backup_key(token_env.so_pin, secret) == backup_key_fingerprint(secret)
    t.login(pin)
    return t


@pytest.fixture(scope="module")
def pair(token_env):
    a = _logged_in(token_env, "backup-a")
    b = _logged_in(token_env, "backup-b")
    for label, alg in (("root-key", "rsa-3072"), ("sub-key", "ec-p384"), ("log-key", "ec-p256")):
        a.generate_key(label, alg, backup=True)
    a.generate_key("plain-key", "ec-p256")  # I1 as before: never extractable
    a.generate_key("ed-key", "ed25519", backup=True)
    yield a, b
    a.close()
    b.close()


def _cert(key, alg):
    n = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "restored")])
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return (x509.CertificateBuilder().subject_name(n).issuer_name(n)
            .public_key(key.public_key()).serial_number(7).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, alg))


def test_the_trusted_key_has_the_safe_template(pair):
    a, _ = pair
    (k,) = list(a._need_login().get_objects({pkcs11.Attribute.LABEL: BACKUP_KEY_LABEL}))
    A = pkcs11.Attribute
    assert (k[A.TRUSTED], k[A.WRAP], k[A.UNWRAP], k[A.TOKEN]) == (True, True, True, True)
    assert (k[A.ENCRYPT], k[A.DECRYPT], k[A.EXTRACTABLE], k[A.SENSITIVE]) == (
        False, False, False, True)
    assert has_backup_key(a)


def test_backup_home_keys_are_extractable_only_under_a_trusted_wrap(pair):
    a, _ = pair
    attrs = a.key_attributes("root-key")
    assert attrs.extractable and attrs.wrap_with_trusted and attrs.sensitive
    assert attrs.safe and attrs.wrappable  # I1 revised: accepted
    a.signing_key("root-key")


def test_softhsm_refuses_to_wrap_under_an_untrusted_key_and_allows_the_trusted_one(pair):
    a, _ = pair
    session = a._need_login()
    untrusted = session.generate_key(pkcs11.KeyType.AES, 256, store=False,
                                     template={pkcs11.Attribute.WRAP: True})
    with pytest.raises(KeyNotWrappable):  # CKR_KEY_NOT_WRAPPABLE
        untrusted.wrap_key(a._private("sub-key"), mechanism=pkcs11.Mechanism.AES_KEY_WRAP_PAD)
    assert len(wrap_key(a, "sub-key").blob) > 64  # RFC 5649 output of a PKCS#8 P-384 key


def test_a_never_extractable_key_is_not_backed_up(pair):
    a, _ = pair
    with pytest.raises(BackupError, match="not generated for a backup home"):
        wrap_key(a, "plain-key")


def test_softhsm_2_6_cannot_wrap_ed25519_keys_and_the_probe_says_so(pair):
    a, _ = pair
    with pytest.raises(BackupError, match="refuses to wrap ed25519 key 'ed-key'"):
        wrap_key(a, "ed-key")
    assert not can_back_up(a, "ed25519")
    assert can_back_up(a, "ec-p256") and can_back_up(a, "ec-p384")
    assert not any(k.label == "airgap-backup-probe" for k in a.list_keys())  # probes are gone
    # so a backup home on SoftHSM 2.6 gets an ECDSA log key, which it can back up
    assert a.log_key_algorithm() == "ed25519" and backup_log_key_algorithm(a) == "ec-p256"


@pytest.mark.parametrize("label,alg", [("root-key", hashes.SHA256()),
                                       ("sub-key", hashes.SHA384()),
                                       ("log-key", hashes.SHA256())])
def test_wrap_on_a_restore_on_b_sign_on_b_verify_under_a(pair, label, alg):
    a, b = pair
    wrapped = wrap_key(a, label)
    public_a = a.public_key(label)
    attrs = restore_key(b, wrapped.blob, label, wrapped.algorithm, wrapped.public_key,
                        wrapped.key_id)
    assert attrs.algorithm == a.key_attributes(label).algorithm
    assert attrs.custody_problems == [] and attrs.wrappable
    assert attrs.origin_problems == ["was not always sensitive", "not generated in the token"]
    assert attrs.key_id == a.key_attributes(label).key_id
    # the public key object is back too
    assert b.public_key(label).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == wrapped.public_key_der
    cert = _cert(b.signing_key(label, restored_public=public_a), alg)
    cert.verify_directly_issued_by(_cert(a.signing_key(label), alg))  # A's key verifies B's
    # and it can be backed up again from B
    assert wrap_key(b, label).algorithm == wrapped.algorithm


def test_a_restored_key_is_used_only_against_its_recorded_public_key(pair):
    a, b = pair
    if not b.label_in_use("sub-key"):
        w = wrap_key(a, "sub-key")
        restore_key(b, w.blob, "sub-key", w.algorithm, w.public_key)
    with pytest.raises(KeyUnsafeError, match="not generated in the token"):
        b.signing_key("sub-key")
    other = ec.generate_private_key(ec.SECP384R1()).public_key()
    with pytest.raises(KeyUnsafeError, match="does not match the public key recorded"):
        b.signing_key("sub-key", restored_public=other)


def test_restore_onto_a_label_in_use_is_refused(pair):
    a, _ = pair
    w = wrap_key(a, "log-key")
    with pytest.raises(KeyExistsError, match="already holds a key labelled 'log-key'"):
        restore_key(a, w.blob, "log-key", w.algorithm, w.public_key)


def test_a_blob_with_the_wrong_public_key_leaves_nothing(pair):
    a, b = pair
    w = wrap_key(a, "log-key")
    wrong = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(BackupError, match="does not sign under the public key recorded"):
        restore_key(b, w.blob, "mismatch", w.algorithm, wrong)
    assert not b.label_in_use("mismatch")


def test_a_damaged_blob_leaves_nothing(pair):
    a, b = pair
    w = wrap_key(a, "log-key")
    damaged = w.blob[:-1] + bytes([w.blob[-1] ^ 1])
    with pytest.raises(BackupError, match="does not unwrap under this token's backup key"):
        restore_key(b, damaged, "damaged", w.algorithm, w.public_key)
    assert not b.label_in_use("damaged")


def test_a_backup_wrapped_under_another_key_is_refused(pair, token_env):
    a, _ = pair
    w = wrap_key(a, "log-key")
    c = _ensure_foreign_backup_key(token_env)
    c.login(token_env.new_token("backup-c").read_text())
    try:
        with pytest.raises(BackupError, match="wrapped under another key, or damaged"):
            restore_key(c, w.blob, "log-key", w.algorithm, w.public_key)
        assert not c.label_in_use("log-key")
    finally:
        c.close()


def test_import_refusals_are_one_line_and_never_echo_the_pin(token_env, pair):
    t = _ensure_foreign_backup_key(token_env)
    with pytest.raises(HSMAuthError, match="SO PIN is needed"):
        t.import_backup_key("", SECRET)
    with pytest.raises(HSMAuthError, match="wrong SO PIN") as ei:
        t.import_backup_key("not-the-so-pin-4711", SECRET)
    assert "4711" not in str(ei.value)
    with pytest.raises(BackupError, match="256 bits"):
        t.import_backup_key(token_env.so_pin, SECRET[:16])
    with pytest.raises(KeyExistsError, match="already holds a backup wrapping key"):
        t.import_backup_key(token_env.so_pin, SECRET)
    a, _ = pair
    with pytest.raises(HSMError, match="log out of the token first"):
        a.import_backup_key(token_env.so_pin, SECRET)


def test_without_a_backup_key_nothing_is_wrapped(token_env):
    pin = token_env.new_token("hsmsel").read_text()
    t = Token(token_env.module, label="hsmsel")
    t.login(pin)
    try:
        t.generate_key("bk", "ec-p256", backup=True)
        with pytest.raises(BackupError, match="holds no backup wrapping key"):
            wrap_key(t, "bk")
    finally:
        t.close()
