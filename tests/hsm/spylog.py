"""Reading OpenSC pkcs11-spy logs: which PKCS#11 calls were made, with which mechanism.

pkcs11-spy writes every call as ``N: C_Name`` followed by ``[in]``/``[out]`` lines. It also
logs PINs in hex: use it only on rehearsal tokens with throwaway PINs, never in a ceremony (I10).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_CALL = re.compile(r"^\d+: (C_\w+)")


@dataclass(frozen=True)
class Call:
    name: str
    lines: tuple[str, ...]

    def field(self, key: str) -> str | None:
        """The value of an ``[in] key = value`` line (first word), e.g. ``pMechanism->type``."""
        for line in self.lines:
            m = re.match(rf"\[in\] {re.escape(key)} = (\S+)", line.strip())
            if m:
                return m.group(1)
        return None


def calls(path: Path) -> list[Call]:
    out: list[Call] = []
    name, lines = None, []
    for line in path.read_text(errors="replace").splitlines():
        m = _CALL.match(line)
        if m:
            if name:
                out.append(Call(name, tuple(lines)))
            name, lines = m.group(1), []
        elif name:
            lines.append(line)
    if name:
        out.append(Call(name, tuple(lines)))
    return out


def mechanisms(path: Path, call: str) -> list[str]:
    return [c.field("pMechanism->type") or "?" for c in calls(path) if c.name == call]
