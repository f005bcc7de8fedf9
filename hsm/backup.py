"""Key backup and restore under a trusted wrapping key (issue 13, revised I1).

The backup secret (256 bits, held by a SLIP-39 backup quorum) is imported by the Security
Officer as an AES key with CKA_TRUSTED, good for CKA_WRAP/CKA_UNWRAP only, sensitive and not
extractable. CA keys of a backup home are generated CKA_EXTRACTABLE with CKA_WRAP_WITH_TRUSTED,
so the token itself refuses to wrap them under any other key (SoftHSM 2.6: CKR_KEY_NOT_WRAPPABLE).
A backup is ``CKM_AES_KEY_WRAP_PAD`` (RFC 5649, with its integrity check) of the private key, plus
its public key, label, algorithm and CKA_ID. A restore unwraps onto a fresh token with the same
safe template, re-creates the public key object, and proves the pair by a test signature that
is verified in software under the public key from the backup; on any failure whatever it
created is destroyed, so nothing is half-made.

SoftHSM 2.6.1 cannot wrap Ed25519 private keys at all (CKR_KEY_NOT_WRAPPABLE even under the
trusted key); ``can_back_up`` finds out on a throwaway session key before a home relies on it.

It does not write backup files, sign them or log them: the service does.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from hsm import p11
from hsm.errors import (
    BackupError,
    HSMAuthError,
    HSMError,
    KeyExistsError,
    MechanismUnsupportedError,
    PinLockedError,
    SignatureCheckError,
)
from hsm.keys import spki
from hsm.mechanisms import family
from hsm.pins import LoginMode

if TYPE_CHECKING:
    from hsm.attributes import KeyAttributes
    from hsm.token import Token

BACKUP_KEY_LABEL = "airgap-backup-wrap"
_CHECK_INFO = b"airgap-signer/backup-key-check/v1"
_CHALLENGE = b"airgap-signer restore check: the unwrapped key signs under the recorded public key"


def backup_key_fingerprint(secret: bytes) -> str:
    """A check value of the backup secret (16 hex digits), to tell backup quorums apart.

    It is a hash of the secret, not of anything the token can compute: record it at import and
    compare it before a restore, so a backup made under another quorum is named as such.
    """
    return hashlib.sha256(_CHECK_INFO + secret).hexdigest()[:16]


@dataclass(frozen=True)
class WrappedKey:
    """One key of a backup: what the service writes, signs and logs."""

    label: str
    algorithm: str
    key_id: bytes
    public_key_der: bytes  # SubjectPublicKeyInfo
    blob: bytes  # CKM_AES_KEY_WRAP_PAD output

    @property
    def public_key(self) -> PublicKeyTypes:
        return serialization.load_der_public_key(self.public_key_der)


def _trusted_key(token: Token) -> Any:
    keys = p11.find(token._need_login(), "secret", BACKUP_KEY_LABEL)
    if not keys:
        raise BackupError(f"token {token.label!r} holds no backup wrapping key "
                          "(the SO imports it at init --backup)")
    if len(keys) > 1 or not p11.secret_key_is_trusted_wrap_key(keys[0]):
        raise BackupError(f"token {token.label!r}: the key {BACKUP_KEY_LABEL!r} is not one "
                          "trusted, wrap-only, unextractable AES key")
    return keys[0]


def has_backup_key(token: Token) -> bool:
    return bool(p11.find(token._need_login(), "secret", BACKUP_KEY_LABEL))


def import_backup_key(token: Token, so_pin: str, secret: bytes, *,
                      replace: bool = False) -> str:
    """The SO imports the backup secret as the trusted wrapping key; returns its fingerprint.

    ``replace`` (a rotation of the backup quorum) destroys the token's current backup key
    first, in the same SO session; a crash in between leaves no backup key, and the rotation is
    run again. The user must not be logged in (PKCS#11 allows one of SO and user at a time);
    the caller logs in as user afterwards.
    """
    if token.logged_in:
        raise HSMError("log out of the token first: the SO imports the backup key alone")
    if not so_pin:
        raise HSMAuthError("the SO PIN is needed to import the backup key")
    if len(secret) != 32:
        raise BackupError("the backup secret must be 256 bits")
    if "AES_KEY_WRAP_PAD" not in token.mechanisms():
        raise MechanismUnsupportedError(
            f"token {token.label!r} does not offer CKM_AES_KEY_WRAP_PAD: no key backup on it")
    what = f"SO login to token {token.label!r}"
    try:
        session = p11.open_session(token._token, LoginMode.PIN, so_pin, so=True)
    except p11.PKCS11Error as exc:
        err = p11.translate(exc, what)
        if isinstance(err, PinLockedError):
            err = PinLockedError(f"{what}: the token has locked the SO PIN")
        elif type(err) is HSMAuthError:
            err = HSMAuthError(f"{what}: wrong SO PIN")
        raise err from exc
    try:
        existing = p11.find(session, "secret", BACKUP_KEY_LABEL)
        if existing and not replace:
            raise KeyExistsError(f"token {token.label!r} already holds a backup wrapping key")
        for old in existing:
            with p11.guard("destroying the old backup wrapping key"):
                old.destroy()
        p11.create_trusted_wrap_key(session, secret, BACKUP_KEY_LABEL)
    finally:
        try:
            session.close()
        except p11.PKCS11Error:
            pass
    return backup_key_fingerprint(secret)


def wrap_key(token: Token, label: str) -> WrappedKey:
    """The private key ``label`` wrapped under the trusted key, with what a restore needs."""
    attrs = token.key_attributes(label)
    if not attrs.wrappable:
        raise BackupError(f"key {label!r} cannot be backed up: it was not generated for a "
                          "backup home (CKA_EXTRACTABLE with CKA_WRAP_WITH_TRUSTED)")
    wrapping = _trusted_key(token)
    priv = token._private(label)
    try:
        blob = p11.wrap(wrapping, priv)
    except p11.PKCS11Error as exc:
        if p11.is_error(exc, "KeyNotWrappable", "KeyUnextractable"):
            raise BackupError(f"token {token.label!r} refuses to wrap {attrs.algorithm} key "
                              f"{label!r} under the backup key") from exc
        raise p11.translate(exc, f"wrapping key {label!r}") from exc
    public = token.public_key(label)
    return WrappedKey(label=label, algorithm=attrs.algorithm, key_id=bytes.fromhex(attrs.key_id),
                      public_key_der=public.public_bytes(
                          serialization.Encoding.DER,
                          serialization.PublicFormat.SubjectPublicKeyInfo),
                      blob=blob)


def restore_key(token: Token, blob: bytes, label: str, algorithm: str,
                public_key: PublicKeyTypes, key_id: bytes | None = None) -> KeyAttributes:
    """Unwrap one backed-up key onto ``token`` and prove it matches ``public_key``.

    Refused, with nothing left behind: a label already in use, a blob that does not unwrap
    under this token's backup key (wrapped under another key, or damaged), a key that does not
    sign under the recorded public key.
    """
    family(algorithm)  # an unknown algorithm is refused before anything is made
    if token.label_in_use(label):
        raise KeyExistsError(f"token {token.label!r} already holds a key labelled {label!r}")
    session = token._need_login()
    if key_id is None or p11.id_in_use(session, key_id):
        key_id = token.new_key_id()
    wrapping = _trusted_key(token)
    try:
        priv = p11.unwrap(wrapping, blob, algorithm, label, key_id)
    except p11.PKCS11Error as exc:
        if p11.is_error(exc, "GeneralError", "WrappedKeyInvalid", "WrappedKeyLenRange",
                        "EncryptedDataInvalid", "EncryptedDataLenRange",
                        "AttributeTypeInvalid", "TemplateInconsistent"):
            raise BackupError(f"the backup of {label!r} does not unwrap under this token's "
                              "backup key (wrapped under another key, or damaged)") from exc
        raise p11.translate(exc, f"unwrapping key {label!r}") from exc
    made = [priv]
    try:
        made.append(p11.create_public_key(session, public_key, label, key_id))
        key = token.signing_key(label, restored_public=public_key)
        _test_signature(key)
        attrs = token.key_attributes(label)
        if spki(token.public_key(label)) != spki(public_key):
            raise BackupError(f"restored key {label!r}: public key differs from the backup")
    except (SignatureCheckError, HSMError) as exc:
        for obj in reversed(made):
            p11.destroy(obj)
        if isinstance(exc, SignatureCheckError):
            raise BackupError(f"restored key {label!r} does not sign under the public key "
                              "recorded in the backup; nothing was kept") from exc
        raise
    return attrs


def _test_signature(key: Any) -> None:
    """One signature by the restored key, verified in software (I5) under the recorded key."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

    if isinstance(key, ed25519.Ed25519PrivateKey):
        key.sign(_CHALLENGE)
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        key.sign(_CHALLENGE, ec.ECDSA(hashes.SHA256()))
    elif isinstance(key, rsa.RSAPrivateKey):
        key.sign(_CHALLENGE, padding.PKCS1v15(), hashes.SHA256())


def can_back_up(token: Token, algorithm: str) -> bool:
    """Whether this token will wrap an ``algorithm`` key under its trusted key.

    Tried on a session (non-token) key made for the purpose and gone when the session ends;
    needs the backup key in place and the user logged in.
    """
    wrapping = _trusted_key(token)
    session = token._need_login()
    pair = p11.generate_keypair(session, algorithm, "airgap-backup-probe", b"\xff", backup=True,
                                store=False)
    try:
        p11.wrap(wrapping, pair[1])
        return True
    except p11.PKCS11Error as exc:
        if p11.is_error(exc, "KeyNotWrappable", "KeyUnextractable", "MechanismInvalid"):
            return False
        raise p11.translate(exc, f"probing whether {algorithm} keys can be wrapped") from exc
    finally:
        for obj in pair:
            p11.destroy(obj)


def backup_log_key_algorithm(token: Token) -> str:
    """The log key for a backup home: Ed25519 only where the token can also wrap Ed25519 keys.

    Needs the backup key in place and the user logged in (``can_back_up`` probes).
    """
    algorithm = token.log_key_algorithm()
    if algorithm == "ed25519" and not can_back_up(token, algorithm):
        return "ec-p256"
    return algorithm
