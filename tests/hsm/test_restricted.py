"""A SoftHSM token restricted to a smaller HSM's mechanisms, watched through OpenSC's pkcs11-spy.

The store offers no EdDSA and no combined CKM_SHA*_RSA_PKCS* (RESTRICTED_MECHANISMS in
conftest). The scenario (tests/hsm/scenarios.py, in a subprocess: SoftHSM reads its
configuration once per process) chooses an ECDSA log key, makes RSA and EC CA keys, signs
certificates, a batch and CRLs through the fallbacks, and the spy log shows which mechanisms the
token was actually asked for.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import MODULE, ROOT, SPY_MODULE, TokenEnv
from tests.hsm import spylog


def run_scenario(name: str, env: TokenEnv, label: str, log: Path,
                 so_pin: str | None = None) -> dict:
    pin = env.new_token(label).read_text() if label != "restricted" else env.pin_file.read_text()
    proc_env = {**env.env(), "PKCS11SPY": MODULE, "PKCS11SPY_OUTPUT": str(log)}
    if so_pin:
        proc_env["SCENARIO_SO_PIN"] = so_pin
    proc = subprocess.run([sys.executable, "-m", "tests.hsm.scenarios", name, SPY_MODULE, label],
                          input=pin, capture_output=True, text=True, cwd=ROOT, env=proc_env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def restricted_run(restricted_token_env, tmp_path_factory):
    log = tmp_path_factory.mktemp("spy") / "restricted.log"
    out = run_scenario("restricted", restricted_token_env, "restricted", log,
                       so_pin=restricted_token_env.so_pin)
    return out, log


def test_the_store_offers_only_the_allow_list(restricted_run):
    out, _ = restricted_run
    assert set(out["offered"]) == {
        "RSA_PKCS_KEY_PAIR_GEN", "RSA_PKCS", "RSA_PKCS_PSS", "EC_KEY_PAIR_GEN", "ECDSA",
        "AES_KEY_GEN", "AES_KEY_WRAP_PAD", "SHA256", "SHA384", "SHA512"}


def test_status_says_what_is_missing_before_a_ceremony(restricted_run):
    out, _ = restricted_run
    assert out["ok"], out["missing"]  # RSA and EC CAs work through the fallbacks
    assert out["ed25519_missing"]
    assert "CKM_EC_EDWARDS_KEY_PAIR_GEN" in out["ed25519_refused"] or \
        "does not support" in out["ed25519_refused"]


def test_init_picks_an_ecdsa_log_key_without_eddsa(restricted_run):
    out, _ = restricted_run
    assert out["log_key_algorithm"] == "ec-p256"
    assert out["keys"]["appliance-log"]["algorithm"] == "ec-p256"
    assert out["keys"]["appliance-log"]["safe"]


def test_ceremony_batch_and_crls_are_signed_and_verified(restricted_run):
    out, _ = restricted_run
    assert out["signed"] == {"certificates": 6, "crls": 2, "checkpoint": True}
    assert out["crls_valid"] == [True, True]
    assert out["keys"]["root-key"]["algorithm"] == "rsa-3072"
    assert out["keys"]["root-key"]["wrap_with_trusted"] and out["wrapped"] > 0


def test_the_spy_shows_raw_rsa_with_a_host_digestinfo(restricted_run):
    _, log = restricted_run
    used = set(spylog.mechanisms(log, "C_SignInit"))
    assert {"CKM_RSA_PKCS", "CKM_RSA_PKCS_PSS", "CKM_ECDSA"} <= used
    assert not {m for m in used if m.startswith("CKM_SHA") or "EDDSA" in m}, used
    gen = set(spylog.mechanisms(log, "C_GenerateKeyPair"))
    assert gen == {"CKM_RSA_PKCS_KEY_PAIR_GEN", "CKM_EC_KEY_PAIR_GEN"}
    # OpenSC 0.23's spy prints CKM_AES_KEY_WRAP_PAD by number
    assert set(spylog.mechanisms(log, "C_WrapKey")) <= {"CKM_AES_KEY_WRAP_PAD", "0x0000210A"}
    assert spylog.mechanisms(log, "C_WrapKey")


def test_the_ed25519_request_never_reached_the_token(restricted_run):
    # refused from the mechanism list, before C_GenerateKeyPair
    _, log = restricted_run
    assert "CKM_EC_EDWARDS_KEY_PAIR_GEN" not in spylog.mechanisms(log, "C_GenerateKeyPair")


def test_always_authenticate_logs_in_before_each_signature(token_env, tmp_path):
    log = tmp_path / "auth.log"
    assert run_scenario("always_authenticate", token_env, "authspy", log) == {"signatures": 2}
    seq = [c for c in spylog.calls(log) if c.name in ("C_SignInit", "C_Login", "C_Sign")]
    logins = [c.field("userType") for c in seq if c.name == "C_Login"]
    assert logins == ["CKU_USER", "CKU_CONTEXT_SPECIFIC", "CKU_CONTEXT_SPECIFIC"]
    names = [c.name for c in seq][1:]
    collapsed = [n for i, n in enumerate(names) if i == 0 or n != names[i - 1]]
    assert collapsed == ["C_SignInit", "C_Login", "C_Sign"] * 2  # C_Sign asks the size first
