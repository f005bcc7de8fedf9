"""Tokens with a protected authentication path (a PIN pad), through a PIN-pad emulator.

SoftHSM has no PIN pad. tests/hsm/pinpad/pinpad.c is a small PKCS#11 module in front of SoftHSM
that reports CKF_PROTECTED_AUTHENTICATION_PATH and, when C_Login gets no PIN, takes the PIN from
a file as a pad would. What this shows: the appliance chooses the PIN-pad mode from the flag,
calls C_Login with a NULL PIN (the spy log), and logs in per signature with a zero-length PIN
for CKA_ALWAYS_AUTHENTICATE keys (the form OpenSC maps to its PIN pad). What it cannot show:
a real reader's behaviour, timeouts and cancellations on the pad.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import MODULE, ROOT, SPY_MODULE
from tests.hsm import spylog

SOURCE = ROOT / "tests" / "hsm" / "pinpad" / "pinpad.c"


@pytest.fixture(scope="session")
def pinpad_module(tmp_path_factory):
    out = tmp_path_factory.mktemp("pinpad") / "pinpad.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o", str(out),
                    str(SOURCE), "-ldl"], check=True, capture_output=True)
    return out


def _run(token_env, pinpad_module, tmp_path, label, host_pin):
    pin_file = token_env.new_token(label)
    env = {**token_env.env(), "PKCS11SPY": str(pinpad_module),
           "PKCS11SPY_OUTPUT": str(tmp_path / "spy.log"), "PINPAD_MODULE": MODULE,
           "PINPAD_PIN_FILE": str(pin_file), "PINPAD_LOG": str(tmp_path / "pad.log")}
    proc = subprocess.run(
        [sys.executable, "-m", "tests.hsm.scenarios", "protected_path", SPY_MODULE, label],
        input=host_pin, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_pin_pad_login_and_a_pad_login_per_signature(token_env, pinpad_module, tmp_path):
    out = _run(token_env, pinpad_module, tmp_path, "pinpad", host_pin="")
    assert out == {"protected_path": True, "mode": "protected-path", "signed": True}
    # CKU_USER (1) on the pad at login, then CKU_CONTEXT_SPECIFIC (2) on the pad for the signature
    assert (tmp_path / "pad.log").read_text().split("\n")[:2] == ["pad 1", "pad 2"]
    logins = [c for c in spylog.calls(tmp_path / "spy.log") if c.name == "C_Login"]
    assert [c.field("userType") for c in logins] == ["CKU_USER", "CKU_CONTEXT_SPECIFIC"]
    assert any("NULL" in line for line in logins[0].lines if "pPin" in line)  # C_Login(NULL, 0)


def test_the_pin_pad_flag_is_seen_where_the_service_looks(token_env, pinpad_module):
    code = ("import json, sys; from hsm.token import Token; t = Token(sys.argv[1], label='pinpad');"
            "s = t.status(); print(json.dumps([s.protected_authentication_path, s.flags]))")
    env = {**token_env.env(), "PINPAD_MODULE": MODULE}
    token_env.new_token("pinpad")
    proc = subprocess.run([sys.executable, "-c", code, str(pinpad_module)], capture_output=True,
                          text=True, cwd=ROOT, env=env, check=True)
    protected, flags = json.loads(proc.stdout)
    assert protected and "PROTECTED_AUTHENTICATION_PATH" in flags
