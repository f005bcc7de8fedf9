"""PIN plans within the token's limits, the entropy floor, and the login mode: tables."""

from __future__ import annotations

import pytest

from hsm.errors import PinPolicyError
from hsm.pins import (
    ENTROPY_FLOOR_BITS,
    LoginMode,
    PinEncoding,
    PinLimits,
    PinPlan,
    derive_pin,
    login_mode,
    plan_pin,
)
from signer.core.quorum import derive_pin as quorum_derive_pin

MASTER = bytes(range(32))
HEX, B32 = PinEncoding.HEX, PinEncoding.BASE32


@pytest.mark.parametrize("limits,encoding,prefix,want", [
    (PinLimits(4, 255), HEX, "", PinPlan(HEX, 64)),  # SoftHSM: the full 256 bits
    (PinLimits(0, None), HEX, "", PinPlan(HEX, 64)),  # limits unknown
    (PinLimits(6, 16), HEX, "", PinPlan(HEX, 16)),  # SmartCard-HSM: exactly 64 bits
    (PinLimits(6, 16), B32, "", PinPlan(B32, 16)),  # 80 bits in the same 16 characters
    (PinLimits(12, 68), HEX, "0001", PinPlan(HEX, 64, "0001")),  # YubiHSM 2: key id first
    (PinLimits(4, 32), HEX, "", PinPlan(HEX, 32)),
    (PinLimits(100, 255), HEX, "", PinPlan(HEX, 100)),  # a minimum beyond 256 bits
])
def test_plans_fit_the_token(limits, encoding, prefix, want):
    plan = plan_pin(limits, encoding=encoding, prefix=prefix)
    assert plan == want
    assert plan.bits >= ENTROPY_FLOOR_BITS
    pin = derive_pin(MASTER, plan)
    assert len(pin) == plan.total_length
    assert limits.min_len <= len(pin) <= (limits.max_len or 10**6)
    assert pin.startswith(prefix)


@pytest.mark.parametrize("limits,encoding,prefix,message", [
    (PinLimits(4, 8), HEX, "", "at most 8 characters: a derived hex PIN would carry 32 bits, "
                               "below the floor of 64 .needs 16 characters."),
    (PinLimits(4, 12), B32, "", "carry 60 bits"),
    (PinLimits(4, 16), HEX, "0001", "carry 48 bits"),
    (PinLimits(4, 3), HEX, "", "make no sense|at most 3"),
    (PinLimits(200, 255), HEX, "", "more than a derived hex PIN can have"),
])
def test_tokens_too_small_are_refused_naming_the_numbers(limits, encoding, prefix, message):
    with pytest.raises(PinPolicyError, match=message):
        plan_pin(limits, encoding=encoding, prefix=prefix, token="card")


def test_limits_from_token_info():
    assert PinLimits.from_token_info(4, 255) == PinLimits(4, 255)
    assert PinLimits.from_token_info(0, 0) == PinLimits(0, None)
    assert PinLimits.from_token_info(2**64 - 1, 2**64 - 1) == PinLimits(0, None)
    with pytest.raises(PinPolicyError, match="min 9 > max 8"):
        PinLimits.from_token_info(9, 8)


def test_the_full_hex_plan_reproduces_existing_homes_pins():
    # Homes made before issue 13 set HKDF(master).hex() on the token; the 64-hex plan keeps it.
    for master in (MASTER, bytes(32), b"\xff" * 32):
        assert derive_pin(master, PinPlan(HEX, 64)) == quorum_derive_pin(master)


def test_shorter_plans_are_prefixes_of_the_same_derivation():
    full = derive_pin(MASTER, PinPlan(HEX, 128))
    assert derive_pin(MASTER, PinPlan(HEX, 16)) == full[:16]
    assert derive_pin(b"\x01" * 32, PinPlan(HEX, 16)) != full[:16]
    b32 = derive_pin(MASTER, PinPlan(B32, 16))
    assert len(b32) == 16 and set(b32) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


def test_plans_round_trip_through_config_and_are_checked():
    for plan in (PinPlan(HEX, 64), PinPlan(B32, 16), PinPlan(HEX, 64, "0001")):
        assert PinPlan.from_config(plan.to_config()) == plan
    for bad in ("hex", "hex:x", "rot13:16", "hex:15"):
        with pytest.raises(PinPolicyError):
            PinPlan.from_config(bad)
    with pytest.raises(PinPolicyError, match="at most 16 characters; this plan needs 64"):
        PinPlan(HEX, 64).check(PinLimits(6, 16), "card")
    with pytest.raises(PinPolicyError, match="below the floor"):
        PinPlan(HEX, 15)
    with pytest.raises(PinPolicyError, match="too short"):
        derive_pin(b"short", PinPlan())


@pytest.mark.parametrize("protected,requested,want", [
    (False, None, LoginMode.PIN),
    (True, None, LoginMode.PROTECTED_PATH),
    (True, LoginMode.PIN, LoginMode.PIN),  # OpenSC still takes a PIN from the host
    (True, LoginMode.PROTECTED_PATH, LoginMode.PROTECTED_PATH),
    (False, LoginMode.PIN, LoginMode.PIN),
])
def test_login_mode(protected, requested, want):
    assert login_mode(protected, requested) is want


def test_a_pin_pad_is_not_asked_of_a_token_without_one():
    with pytest.raises(PinPolicyError, match="no protected authentication path"):
        login_mode(False, LoginMode.PROTECTED_PATH)
