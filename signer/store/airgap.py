"""The air-gap check (I12): which network interfaces other than loopback are up.

Reads ``/sys/class/net`` (no daemon, no sockets). The caller decides what to refuse.
"""

from __future__ import annotations

from pathlib import Path

IFF_UP = 0x1
IFF_LOOPBACK = 0x8


def interfaces_up(sys_net: Path = Path("/sys/class/net")) -> list[str]:
    """Names of interfaces that are administratively up and are not loopback."""
    up: list[str] = []
    try:
        entries = sorted(sys_net.iterdir())
    except OSError:
        return up
    for entry in entries:
        try:
            flags = int((entry / "flags").read_text().strip(), 16)
        except (OSError, ValueError):
            continue
        if flags & IFF_LOOPBACK or not flags & IFF_UP:
            continue
        up.append(entry.name)
    return up
