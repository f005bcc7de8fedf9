"""Signing adapts to the token's mechanisms; what a configuration needs; the log key choice."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

from hsm.attributes import KeyAttributes
from hsm.errors import MechanismUnsupportedError
from hsm.keys import SignMechanism as SM
from hsm.mechanisms import (
    MechanismReport,
    SignPlan,
    digest_info,
    log_key_algorithm,
    requirements,
    sign_plan,
)

SOFTHSM = {"RSA_PKCS_KEY_PAIR_GEN", "RSA_PKCS", "RSA_PKCS_PSS", "SHA256_RSA_PKCS",
           "SHA384_RSA_PKCS", "SHA256_RSA_PKCS_PSS", "SHA384_RSA_PKCS_PSS", "EC_KEY_PAIR_GEN",
           "ECDSA", "EC_EDWARDS_KEY_PAIR_GEN", "EDDSA", "AES_KEY_WRAP_PAD"}
SMALL = {"RSA_PKCS_KEY_PAIR_GEN", "RSA_PKCS", "RSA_PKCS_PSS", "EC_KEY_PAIR_GEN", "ECDSA",
         "AES_KEY_WRAP_PAD"}


@pytest.mark.parametrize("mech,offered,plan", [
    (SM.RSA_PKCS1_SHA256, SOFTHSM, SignPlan("SHA256_RSA_PKCS")),
    (SM.RSA_PKCS1_SHA256, SMALL, SignPlan("RSA_PKCS", host_hash="sha256", digest_info=True)),
    (SM.RSA_PKCS1_SHA512, SOFTHSM, SignPlan("RSA_PKCS", host_hash="sha512", digest_info=True)),
    (SM.RSA_PSS_SHA384, SOFTHSM, SignPlan("SHA384_RSA_PKCS_PSS", pss=("sha384", "sha384", 48))),
    (SM.RSA_PSS_SHA384, SMALL,
     SignPlan("RSA_PKCS_PSS", host_hash="sha384", pss=("sha384", "sha384", 48))),
    (SM.ECDSA, SMALL, SignPlan("ECDSA")),
    (SM.EDDSA, SOFTHSM, SignPlan("EDDSA")),
])
def test_sign_plans(mech, offered, plan):
    assert sign_plan(mech, offered) == plan


@pytest.mark.parametrize("mech,offered", [
    (SM.EDDSA, SMALL),
    (SM.RSA_PKCS1_SHA256, {"ECDSA"}),
    (SM.RSA_PSS_SHA256, {"RSA_PKCS"}),
    (SM.ECDSA, {"RSA_PKCS"}),
])
def test_impossible_plans_are_refused(mech, offered):
    with pytest.raises(MechanismUnsupportedError, match="offers neither"):
        sign_plan(mech, offered)


@pytest.mark.parametrize("hash_cls", [hashes.SHA256, hashes.SHA384, hashes.SHA512])
def test_digest_info_is_what_pkcs1_v15_signs(hash_cls):
    # RFC 8017 §9.2: a raw RSA signature over our DigestInfo verifies as PKCS#1 v1.5.
    key = rsa.generate_private_key(65537, 2048)
    digest = hashlib.new(hash_cls.name, b"tbs").digest()
    em = digest_info(hash_cls.name, digest)
    k = key.key_size // 8
    padded = b"\x00\x01" + b"\xff" * (k - len(em) - 3) + b"\x00" + em
    nums = key.private_numbers()
    sig = pow(int.from_bytes(padded, "big"), nums.d, nums.public_numbers.n).to_bytes(k, "big")
    key.public_key().verify(sig, b"tbs", padding.PKCS1v15(), hash_cls())
    key.public_key().verify(sig, digest, padding.PKCS1v15(), utils.Prehashed(hash_cls()))


def test_digest_info_refuses_a_wrong_length():
    with pytest.raises(MechanismUnsupportedError):
        digest_info("sha256", bytes(48))
    with pytest.raises(MechanismUnsupportedError):
        digest_info("sha1", bytes(20))


@pytest.mark.parametrize("offered,want", [
    (SOFTHSM, "ed25519"),
    (SMALL, "ec-p256"),
    ({"EC_EDWARDS_KEY_PAIR_GEN", "EC_KEY_PAIR_GEN", "ECDSA"}, "ec-p256"),  # keygen, no EdDSA
    ({"EDDSA", "EC_KEY_PAIR_GEN", "ECDSA"}, "ec-p256"),
])
def test_log_key_choice(offered, want):
    assert log_key_algorithm(offered) == want


def test_no_log_key_without_edwards_or_ecdsa():
    with pytest.raises(MechanismUnsupportedError, match="neither EdDSA nor ECDSA"):
        log_key_algorithm({"RSA_PKCS", "RSA_PKCS_KEY_PAIR_GEN"})


def test_requirements_list_every_mechanism_and_what_is_missing():
    needs = requirements(["rsa-3072", "ec-p384"], "ed25519", hashes=("sha256", "sha384"),
                         pss=True, backup=True)
    named = {a for n in needs for a in n.alternatives}
    assert named >= {"RSA_PKCS_KEY_PAIR_GEN", "SHA256_RSA_PKCS", "SHA384_RSA_PKCS_PSS",
                     "RSA_PKCS", "RSA_PKCS_PSS", "EC_KEY_PAIR_GEN", "ECDSA",
                     "EC_EDWARDS_KEY_PAIR_GEN", "EDDSA", "AES_KEY_WRAP_PAD"}
    report = MechanismReport(tuple(needs), frozenset(SMALL))
    assert not report.ok
    missing = {n.purpose for n in report.missing}
    assert missing == {"ed25519 key generation", "ed25519 signing"}
    assert "ed25519 signing needs CKM_EDDSA" in report.summary()
    ok = MechanismReport(tuple(requirements(["rsa-3072"], "ec-p256", pss=True)), frozenset(SMALL))
    assert ok.ok and ok.to_json()["ok"]
    with pytest.raises(MechanismUnsupportedError):
        requirements(["dsa-2048"], "ec-p256")


def _attrs(**kw):
    base = dict(label="k", algorithm="ec-p256", key_id="0102", token=True, private=True,
                sensitive=True, always_sensitive=True, extractable=False, never_extractable=True,
                local=True, sign=True)
    return KeyAttributes(**{**base, **kw})


@pytest.mark.parametrize("kw,custody,origin", [
    ({}, [], []),
    ({"extractable": True, "never_extractable": False, "wrap_with_trusted": True}, [], []),
    ({"extractable": True, "never_extractable": False},
     ["extractable without CKA_WRAP_WITH_TRUSTED (could be wrapped under any key)"], []),
    ({"never_extractable": False}, ["was extractable once"], []),
    ({"sensitive": False}, ["not sensitive"], []),
    ({"private": False, "token": False}, ["not a token object", "not private"], []),
    # a restored key: unwrapped, so neither local nor always sensitive
    ({"extractable": True, "never_extractable": False, "wrap_with_trusted": True,
      "local": False, "always_sensitive": False}, [],
     ["was not always sensitive", "not generated in the token"]),
])
def test_i1_revised(kw, custody, origin):
    a = _attrs(**kw)
    assert a.custody_problems == custody
    assert a.origin_problems == origin
    assert a.safe == (not custody and not origin)
    assert a.to_json()["problems"] == custody + origin
