"""The tokens of a home, as ``signer.toml`` names them (issue 13: several tokens per hierarchy).

``[token]`` is the home's main token: it holds the log key, and every CA key generated without
``--token``. ``[tokens.NAME]`` tables add tokens (the root's, opened once a year; a spare for a
restore). Each is chosen by label, serial or an RFC 7512 ``pkcs11:`` URI. Which token holds a
key is a fact of the ceremony log (``key.generated`` names it), not of this file: the file only
says how to find a token of that name.

Pure: no token, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from signer.errors import ConfigError

MAIN = "main"
LOGIN_MODES = ("pin", "protected-path")
DEFAULT_PIN_PLAN = "hex:64"  # 256 bits, the PIN every home derived before issue 13
_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_PIN_PLAN = re.compile(r"(hex|base32):[1-9][0-9]{0,2}(:[\x21-\x7e]{1,16})?")


@dataclass(frozen=True)
class TokenConfig:
    """How to find one token and log in to it."""

    name: str
    module: str
    label: str | None = None
    serial: str | None = None
    uri: str | None = None
    key_id_bytes: int = 2  # YubiHSM 2 object ids are 16 bits
    pin_plan: str = DEFAULT_PIN_PLAN  # how a quorum's secret becomes this token's PIN
    login: str = "pin"  # or "protected-path": the token's PIN pad asks

    def __post_init__(self) -> None:
        where = "token" if self.name == MAIN else f"tokens.{self.name}"
        if not _NAME.fullmatch(self.name):
            raise ConfigError(f"{where}: a token name is 1-32 of a-z, 0-9, '-', '_'")
        if sum(x is not None for x in (self.label, self.serial, self.uri)) == 0:
            raise ConfigError(f"{where}: name the token by label, serial or uri")
        if self.uri is not None and not self.uri.startswith("pkcs11:"):
            raise ConfigError(f"{where}.uri: expected an RFC 7512 'pkcs11:' URI")
        if not 1 <= self.key_id_bytes <= 32:
            raise ConfigError(f"{where}.key_id_bytes: must be between 1 and 32")
        if not _PIN_PLAN.fullmatch(self.pin_plan):
            raise ConfigError(f"{where}.pin_plan: expected ENCODING:LENGTH[:PREFIX], e.g. "
                              "'hex:64' or 'hex:16:0001'")
        if self.login not in LOGIN_MODES:
            raise ConfigError(f"{where}.login: expected one of {', '.join(LOGIN_MODES)}")

    def describe(self) -> str:
        if self.uri:
            return self.uri
        if self.label and self.serial:
            return f"label {self.label!r}, serial {self.serial}"
        return f"label {self.label!r}" if self.label else f"serial {self.serial}"


def token_toml(t: TokenConfig) -> str:
    """The ``[tokens.NAME]`` table for ``t`` (what `token add` appends)."""
    lines = [f"[tokens.{t.name}]", f'module = "{_escape(t.module)}"']
    for key in ("label", "serial", "uri"):
        value = getattr(t, key)
        if value is not None:
            lines.append(f'{key} = "{_escape(value)}"')
    lines += [f"key_id_bytes = {t.key_id_bytes}", f'pin_plan = "{_escape(t.pin_plan)}"',
              f'login = "{t.login}"']
    return "\n".join(lines) + "\n"


def _escape(text: str) -> str:
    if any(ord(c) < 0x20 or c == "\x7f" for c in text):
        raise ConfigError(f"{text!r}: control characters are not allowed in signer.toml values")
    return text.replace("\\", "\\\\").replace('"', '\\"')
