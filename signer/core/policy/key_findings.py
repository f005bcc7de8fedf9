"""What a key check reports: a finding per weakness, whose kind names its policy check code.

Kept apart from the checks themselves so the RSA, EC/Ed25519 and profile rules can live in
their own small modules without importing each other.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

KeyKind = Literal[
    "type", "invalid", "small_order", "weak", "size", "exponent", "roca", "small_factor",
    "fermat", "shared_prime", "pattern", "blocklist", "curve", "profile", "subca",
]


class KeyFinding(NamedTuple):
    """One weakness of a key: `kind` becomes the check code `key.<kind>` in the policy."""

    kind: KeyKind
    message: str
