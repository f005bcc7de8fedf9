"""The appliance key in its two families (transfer.appkey): Ed25519 and ECDSA on P-256/P-384,
in checkpoints (signed-note type 0x02), result bundles and key backup files."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from signer.core.checkpoint import (
    Checkpoint,
    key_id,
    parse_signed_checkpoint,
    sign_checkpoint,
    verifier_key,
)
from signer.errors import LogError
from transfer.appkey import AppKeyError, app_key, canonical_ecdsa, load_app_key, signer_for
from transfer.keybackup import (
    BackedUpKey,
    BackupFileError,
    KeyBackup,
    encode_backup,
    parse_backup,
)

NAME = "airgap-signer/test"
CP = Checkpoint(NAME, 5, bytes(range(32)))
KEYS = {
    "ed25519": ed25519.Ed25519PrivateKey.generate(),
    "ec-p256": ec.generate_private_key(ec.SECP256R1()),
    "ec-p384": ec.generate_private_key(ec.SECP384R1()),
}


@pytest.mark.parametrize("alg", sorted(KEYS))
def test_each_family_signs_and_verifies_checkpoints(alg):
    priv = KEYS[alg]
    pub = app_key(priv.public_key())
    assert pub.algorithm == alg and load_app_key(pub.raw) == pub
    note = sign_checkpoint(CP, NAME, pub.raw, signer_for(priv, pub))
    assert parse_signed_checkpoint(note, NAME, pub.raw, origin=NAME) == CP
    if alg != "ed25519":  # c2sp.org/signed-note type 0x02: key ID over the DER SPKI alone
        assert key_id(NAME, pub.raw) == hashlib.sha256(pub.raw).digest()[:4]
        assert verifier_key(NAME, pub.raw).endswith(base64.b64encode(b"\x02" + pub.raw).decode())
    other = app_key(KEYS["ec-p256" if alg != "ec-p256" else "ec-p384"].public_key())
    with pytest.raises(LogError):
        parse_signed_checkpoint(note, NAME, other.raw)


@pytest.mark.parametrize("alg", ["ec-p256", "ec-p384"])
def test_only_the_low_s_spelling_of_an_ecdsa_signature_is_accepted(alg):
    priv = KEYS[alg]
    pub = app_key(priv.public_key())
    assert isinstance(pub.key, ec.EllipticCurvePublicKey)
    sig = signer_for(priv, pub)(b"message")
    r, s = decode_dss_signature(sig)
    order = int(canonical_ecdsa.__globals__["_CURVES"][pub.key.curve.name][1])
    assert s <= order // 2 and pub.verify(sig, b"message")
    high = encode_dss_signature(r, order - s)  # mathematically valid, a second spelling
    assert not pub.verify(high, b"message")
    assert canonical_ecdsa(pub.key, high) == sig


def test_other_keys_are_refused():
    with pytest.raises(AppKeyError):
        app_key(ec.generate_private_key(ec.SECP521R1()).public_key())
    with pytest.raises(AppKeyError):
        load_app_key(b"\x30" * 31)


def _backup(priv, pub, keys=None):
    k = keys or (BackedUpKey("root-key", "main", "ec-p384", b"\x01\x02",
                             app_key(KEYS["ec-p384"].public_key()).raw, b"wrapped"),)
    return encode_backup(KeyBackup("airgap-signer/test", "2026-11-29T10:00:00Z", 9, "ab" * 8,
                                   tuple(k)), signer_for(priv, pub), pub)


def test_backup_files_are_bound_to_the_home_key():
    priv = KEYS["ec-p256"]
    pub = app_key(priv.public_key())
    raw = _backup(priv, pub)
    got = parse_backup(raw, pub.raw)
    assert got.keys[0].label == "root-key" and got.backup_key == "ab" * 8
    other = app_key(KEYS["ed25519"].public_key())
    with pytest.raises(BackupFileError, match="another home"):
        parse_backup(raw, other.raw)
    with pytest.raises(BackupFileError):
        parse_backup(raw[:-40], pub.raw)  # truncated
    doc = raw.replace(b'"version":1', b'"version":2')
    with pytest.raises(BackupFileError, match="v1"):
        parse_backup(doc, pub.raw)
    body_at = raw.index(b'"body":"') + 9
    flipped = raw[:body_at] + (b"B" if raw[body_at:body_at + 1] != b"B" else b"C") + \
        raw[body_at + 1:]
    with pytest.raises(BackupFileError):
        parse_backup(flipped, pub.raw)
