"""C2SP tlog-checkpoint / signed-note / tlog-proof, with a software Ed25519 key for the HSM."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from signer.core.checkpoint import (
    Checkpoint,
    format_consistency_proof,
    format_tlog_proof,
    key_id,
    parse_consistency_proof,
    parse_signed_checkpoint,
    parse_tlog_proof,
    sign_checkpoint,
    verifier_key,
    verify_tlog_proof,
)
from signer.core.merkle import consistency_proof, inclusion_proof, leaf_hash, root
from signer.errors import LogError

ORIGIN = "example.org/airgap-signer/log"
NAME = ORIGIN


def _key(seed: bytes = b"\x07" * 32) -> tuple[Ed25519PrivateKey, bytes]:
    sk = Ed25519PrivateKey.from_private_bytes(seed)
    return sk, sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


SK, PUB = _key()
OTHER_SK, OTHER_PUB = _key(b"\x09" * 32)
CP = Checkpoint(ORIGIN, 5, hashlib.sha256(b"root").digest())

# golang.org/x/mod/sumdb/note note_test.go reference vector (PeterNeumann).
GO_SKEY_B64 = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_SIG = "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="


def test_go_sumdb_note_reference_vector():
    seed = base64.b64decode(GO_SKEY_B64)[1:]
    sk, pub = _key(seed)
    assert verifier_key("PeterNeumann", pub) == GO_VKEY
    blob = base64.b64decode(GO_SIG)
    assert blob[:4] == key_id("PeterNeumann", pub) == bytes.fromhex("c74f20a3")
    assert blob[4:] == sk.sign(GO_TEXT.encode())  # Ed25519 is deterministic (RFC 8032)
    note = GO_TEXT + "\n\u2014 PeterNeumann " + GO_SIG + "\n"
    # The signature verifies; only then is the text refused for not being a checkpoint.
    with pytest.raises(LogError, match="checkpoint text has 2 lines"):
        parse_signed_checkpoint(note, "PeterNeumann", pub)
    with pytest.raises(LogError, match="does not verify"):
        parse_signed_checkpoint(note.replace("cryptography", "cryptographY"), "PeterNeumann", pub)


def test_body_and_note_format():
    assert CP.body() == f"{ORIGIN}\n5\n{base64.b64encode(CP.root).decode()}\n".encode()
    note = sign_checkpoint(CP, NAME, PUB, SK.sign)
    body, sig = note.split("\n\n")
    assert body + "\n" == CP.body().decode()
    assert sig.startswith(f"\u2014 {NAME} ") and sig.endswith("\n")
    raw = base64.b64decode(sig.split(" ")[2])
    kid = hashlib.sha256(NAME.encode() + b"\n\x01" + PUB).digest()[:4]
    assert raw[:4] == kid and len(raw) == 68
    assert parse_signed_checkpoint(note, NAME, PUB, origin=ORIGIN) == CP


def test_verifier_key_format():
    vkey = verifier_key(NAME, PUB)
    name, kid, material = vkey.split("+", 2)
    assert name == NAME and kid == key_id(NAME, PUB).hex() and len(kid) == 8
    assert base64.b64decode(material) == b"\x01" + PUB


def test_sign_refuses_a_bad_hsm_signature():  # I5
    with pytest.raises(LogError, match="I5"):
        sign_checkpoint(CP, NAME, PUB, OTHER_SK.sign)
    with pytest.raises(LogError, match="not an Ed25519 signature"):
        sign_checkpoint(CP, NAME, PUB, lambda body: b"\x00" * 10)


def test_witness_cosignatures_from_unknown_keys_are_ignored():
    note = sign_checkpoint(CP, NAME, PUB, SK.sign)
    other = sign_checkpoint(CP, "witness.example", OTHER_PUB, OTHER_SK.sign)
    cosigned = note + other.split("\n\n")[1]
    assert parse_signed_checkpoint(cosigned, NAME, PUB) == CP
    # Same name, another key: unknown, ignored; but then no known signature remains.
    impostor = sign_checkpoint(CP, NAME, OTHER_PUB, OTHER_SK.sign)
    with pytest.raises(LogError, match="no signature by"):
        parse_signed_checkpoint(impostor, NAME, PUB)


GOOD = sign_checkpoint(CP, NAME, PUB, SK.sign)
GOOD_BODY, GOOD_SIGS = GOOD.split("\n\n")
_SIG_B64 = GOOD_SIGS.split(" ")[2].rstrip("\n")
_FORGED = base64.b64encode(key_id(NAME, PUB) + b"\x00" * 64).decode()


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (GOOD.replace("\n5\n", "\n6\n"), "does not verify"),
        (GOOD_BODY + "\n", "no signature lines|no blank line"),
        (GOOD_BODY + "\n\n", "no signature lines"),
        (GOOD.rstrip("\n"), "does not end with a newline"),
        (GOOD.replace("\u2014", "-"), "malformed"),
        (GOOD.replace(f"\u2014 {NAME} ", f"\u2014  {NAME} "), "malformed"),
        (GOOD.replace(_SIG_B64, _SIG_B64[:-2] + "!="), "not valid base64"),
        (GOOD_BODY + "\n\n" + f"\u2014 {NAME} {_FORGED}\n", "does not verify"),
        (GOOD + GOOD_SIGS, "2 signatures"),
        (GOOD.replace(ORIGIN, ORIGIN + "\x01"), "control character"),
        (GOOD + ("\u2014 w x" * 3000), "larger than"),
        (GOOD.replace("\n\n", "\nextension\n\n"), "does not verify"),
        ("", "does not end"),
    ],
)
def test_parse_refuses(text, why):
    with pytest.raises(LogError, match=why):
        parse_signed_checkpoint(text, NAME, PUB)


def test_parse_refuses_non_canonical_base64_signature():
    # The last base64 digit of a 68-byte blob carries 2 unused bits; flipping them decodes to
    # the same bytes, so only a canonical-encoding check notices the change.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = _SIG_B64[-2]
    twin = alphabet[alphabet.index(last) ^ 1]
    bad = GOOD.replace(_SIG_B64, _SIG_B64[:-2] + twin + "=")
    assert base64.b64decode(bad.split(" ")[-1]) == base64.b64decode(_SIG_B64)
    with pytest.raises(LogError, match="canonical"):
        parse_signed_checkpoint(bad, NAME, PUB)


def test_parse_checks_origin_and_extension_lines():
    with pytest.raises(LogError, match="origin"):
        parse_signed_checkpoint(GOOD, NAME, PUB, origin="other.example/log")

    class Ext(Checkpoint):
        def body(self) -> bytes:
            return super().body() + b"ext\n"

    note = sign_checkpoint(Ext(ORIGIN, 5, CP.root), NAME, PUB, SK.sign)
    with pytest.raises(LogError, match="no extensions"):
        parse_signed_checkpoint(note, NAME, PUB)


@pytest.mark.parametrize(
    ("origin", "size", "root_hash"),
    [("", 1, b"\x00" * 32), ("a\nb", 1, b"\x00" * 32), ("o", -1, b"\x00" * 32), ("o", 1, b"x")],
)
def test_checkpoint_constructor_validates(origin, size, root_hash):
    with pytest.raises(LogError):
        Checkpoint(origin, size, root_hash)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "tab\tname"])
def test_bad_key_names(name):
    with pytest.raises(LogError, match="key name"):
        verifier_key(name, PUB)


LEAVES = [leaf_hash(b"e%d" % i) for i in range(11)]


def test_tlog_proof_round_trip_and_verify():
    cp = Checkpoint(ORIGIN, 11, root(LEAVES))
    note = sign_checkpoint(cp, NAME, PUB, SK.sign)
    proof = inclusion_proof(LEAVES, 6, 11)
    text = format_tlog_proof(6, proof, note)
    assert text.startswith("c2sp.org/tlog-proof@v1\nindex 6\n")
    assert text.endswith("\n\n" + note)
    assert parse_tlog_proof(text) == (6, proof, note)
    assert verify_tlog_proof(text, LEAVES[6], NAME, PUB, origin=ORIGIN) == cp
    with pytest.raises(LogError):
        verify_tlog_proof(text, LEAVES[5], NAME, PUB)
    with_extra = format_tlog_proof(6, proof, note, extra=b"context")
    assert with_extra.split("\n")[1] == "extra " + base64.b64encode(b"context").decode()
    assert parse_tlog_proof(with_extra) == (6, proof, note)
    # A proof for a size-1 tree has no hashes at all.
    one = sign_checkpoint(Checkpoint(ORIGIN, 1, LEAVES[0]), NAME, PUB, SK.sign)
    assert parse_tlog_proof(format_tlog_proof(0, [], one)) == (0, [], one)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("c2sp.org/tlog-proof@v2\nindex 1\n\nx", "does not start"),
        ("c2sp.org/tlog-proof@v1\nindex 01\n\nx", "leading zeros"),
        ("c2sp.org/tlog-proof@v1\nindex -1\n\nx", "leading zeros"),
        ("c2sp.org/tlog-proof@v1\n\nx", "no index"),
        ("c2sp.org/tlog-proof@v1\nindex 1\nAAAA\n\nx", "32-byte"),
        ("c2sp.org/tlog-proof@v1\nindex 1\n", "no blank line"),
        ("c2sp.org/tlog-proof@v1\nindex 1\n" + "A" * 40000, "larger than"),
    ],
)
def test_tlog_proof_parse_refuses(text, why):
    with pytest.raises(LogError, match=why):
        parse_tlog_proof(text)


def test_consistency_proof_text_round_trip():
    proof = consistency_proof(LEAVES, 3, 11)
    text = format_consistency_proof(3, 11, proof)
    assert text.startswith("airgap-signer/consistency-proof@v1\nold 3\nnew 11\n")
    assert parse_consistency_proof(text) == (3, 11, proof)
    with pytest.raises(LogError, match="exceeds"):
        parse_consistency_proof(format_consistency_proof(3, 11, proof).replace("old 3", "old 12"))
    with pytest.raises(LogError, match="does not start"):
        parse_consistency_proof("nope\nold 1\nnew 2\n")
