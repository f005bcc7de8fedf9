"""Token PINs derived from a quorum's master secret, within the token's length limits.

A token states ``ulMinPinLen``..``ulMaxPinLen`` in CK_TOKEN_INFO: SoftHSM 4..255, smart cards
often 6..16, YubiHSM 2 wants the 4-hex-digit authentication-key id before the password. A
``PinPlan`` fixes the encoding, the length and any fixed prefix; it is chosen once at ``init``
from the token's limits and recorded, so a firmware update that changes the limits cannot change
the PIN. ``derive_pin`` turns the 32-byte master secret into the PIN with HKDF-SHA256 (the same
``info`` as before, so a 64-hex-character plan reproduces the PINs of existing homes).

The entropy floor is 64 bits: a plan that the token's maximum length cannot hold at that
strength is refused, naming the numbers, and nothing is set on the token.

Pure: no token, no I/O. It never prints, logs or returns a PIN except from ``derive_pin``.
"""

from __future__ import annotations

import base64
import enum
import math
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hsm.errors import PinPolicyError

ENTROPY_FLOOR_BITS = 64
_PIN_INFO = b"airgap-signer/token-user-pin/v1"  # as signer.quorum used before issue 13
_OKM_BYTES = 64  # HKDF output; its first 32 bytes are those of a 32-byte derivation


class PinEncoding(enum.StrEnum):
    HEX = "hex"  # 4 bits a character; accepted by every token that takes ASCII PINs
    BASE32 = "base32"  # 5 bits a character (RFC 4648 alphabet, upper case, no padding)


_BITS_PER_CHAR = {PinEncoding.HEX: 4, PinEncoding.BASE32: 5}
_NATURAL_CHARS = {PinEncoding.HEX: 64, PinEncoding.BASE32: 52}  # 256 bits
_MAX_CHARS = {PinEncoding.HEX: 2 * _OKM_BYTES, PinEncoding.BASE32: (8 * _OKM_BYTES) // 5}


class LoginMode(enum.StrEnum):
    PIN = "pin"  # the PIN is typed, read from a file or derived from shares
    PROTECTED_PATH = "protected-path"  # CKF_PROTECTED_AUTHENTICATION_PATH: the PIN pad asks


@dataclass(frozen=True)
class PinLimits:
    """``ulMinPinLen``/``ulMaxPinLen``; ``max_len`` None when the token does not say."""

    min_len: int
    max_len: int | None

    @classmethod
    def from_token_info(cls, min_len: int, max_len: int) -> PinLimits:
        unavailable = (0, 2**32 - 1, 2**64 - 1)  # CK_UNAVAILABLE_INFORMATION, or nothing said
        lo = 0 if min_len in unavailable else min_len
        hi = None if max_len in unavailable else max_len
        if hi is not None and lo > hi:
            raise PinPolicyError(f"the token's PIN limits make no sense (min {lo} > max {hi})")
        return cls(lo, hi)


@dataclass(frozen=True)
class PinPlan:
    """How a master secret becomes this token's PIN: ``prefix`` + ``length`` encoded characters."""

    encoding: PinEncoding = PinEncoding.HEX
    length: int = 64
    prefix: str = ""

    def __post_init__(self) -> None:
        if not 1 <= self.length <= _MAX_CHARS[self.encoding]:
            raise PinPolicyError(f"a {self.encoding} PIN has 1..{_MAX_CHARS[self.encoding]} "
                                 f"derived characters, not {self.length}")
        if not self.prefix.isascii() or not self.prefix.isprintable():
            raise PinPolicyError("a PIN prefix must be printable ASCII")
        if self.bits < ENTROPY_FLOOR_BITS:
            raise PinPolicyError(
                f"a {self.length}-character {self.encoding} PIN carries {self.bits} bits, "
                f"below the floor of {ENTROPY_FLOOR_BITS}")

    @property
    def bits(self) -> int:
        return self.length * _BITS_PER_CHAR[self.encoding]

    @property
    def total_length(self) -> int:
        return len(self.prefix) + self.length

    def to_config(self) -> str:
        """``encoding:length[:prefix]``, to record in the home's configuration at init."""
        return f"{self.encoding}:{self.length}" + (f":{self.prefix}" if self.prefix else "")

    @classmethod
    def from_config(cls, text: str) -> PinPlan:
        enc, _, rest = text.partition(":")
        length, _, prefix = rest.partition(":")
        if enc not in PinEncoding.__members__.values() or not length.isdigit():
            raise PinPolicyError(f"PIN plan {text!r}: expected encoding:length[:prefix]")
        return cls(PinEncoding(enc), int(length), prefix)

    def check(self, limits: PinLimits, token: str = "the token") -> None:
        """Refuse when this plan's PINs do not fit ``limits``."""
        if limits.max_len is not None and self.total_length > limits.max_len:
            raise PinPolicyError(f"{token} takes PINs of at most {limits.max_len} characters; "
                                 f"this plan needs {self.total_length}")
        if self.total_length < limits.min_len:
            raise PinPolicyError(f"{token} needs PINs of at least {limits.min_len} characters; "
                                 f"this plan gives {self.total_length}")


def plan_pin(limits: PinLimits, *, encoding: PinEncoding = PinEncoding.HEX, prefix: str = "",
             token: str = "the token") -> PinPlan:
    """The longest PIN up to 256 bits that fits the token; refused below the entropy floor."""
    per_char = _BITS_PER_CHAR[encoding]
    room = _NATURAL_CHARS[encoding] if limits.max_len is None else \
        min(limits.max_len - len(prefix), _NATURAL_CHARS[encoding])
    length = max(room, limits.min_len - len(prefix))
    if room * per_char < ENTROPY_FLOOR_BITS:
        need = len(prefix) + math.ceil(ENTROPY_FLOOR_BITS / per_char)
        raise PinPolicyError(
            f"{token} takes PINs of at most {limits.max_len} characters: a derived {encoding} "
            f"PIN would carry {max(room, 0) * per_char} bits, below the floor of "
            f"{ENTROPY_FLOOR_BITS} (needs {need} characters)")
    if length > _MAX_CHARS[encoding]:
        raise PinPolicyError(f"{token} needs PINs of at least {limits.min_len} characters, "
                             f"more than a derived {encoding} PIN can have")
    plan = PinPlan(encoding, length, prefix)
    plan.check(limits, token)
    return plan


def derive_pin(master_secret: bytes, plan: PinPlan, context: str = "") -> str:
    """The token PIN for ``master_secret`` under ``plan``; nobody ever needs to see it.

    ``context`` names the token within its home (empty for the main token, as before): one
    quorum unlocks several tokens, each with its own PIN, so a PIN seen on one token's path
    says nothing about another's.
    """
    if len(master_secret) < 16:
        raise PinPolicyError("the master secret is too short to derive a PIN from")
    info = _PIN_INFO + (b"/" + context.encode() if context else b"")
    okm = HKDF(algorithm=hashes.SHA256(), length=_OKM_BYTES, salt=None,
               info=info).derive(master_secret)
    if plan.encoding is PinEncoding.HEX:
        text = okm.hex()
    else:
        text = base64.b32encode(okm).decode().rstrip("=")
    return plan.prefix + text[:plan.length]


def login_mode(protected_path: bool, requested: LoginMode | None = None) -> LoginMode:
    """The login mode for a token: what was asked for, or what the token's flags suggest.

    A token with a protected authentication path may still take a PIN from the host (OpenSC
    does); a token without one cannot be asked to use a PIN pad.
    """
    if requested is LoginMode.PROTECTED_PATH and not protected_path:
        raise PinPolicyError("this token has no protected authentication path (PIN pad): "
                             "log in with a PIN")
    if requested is not None:
        return requested
    return LoginMode.PROTECTED_PATH if protected_path else LoginMode.PIN
