"""Hostile frames for tests and benches: a valid CRC and a real header, but a junk symbol."""

from __future__ import annotations

import random

from transfer.qr import Header, build_frame, parse_frame


def forged(real: str, esi: int, rnd: random.Random, **changes: object) -> str:
    """A frame copying `real`'s header (or with some fields changed) with a junk symbol."""
    h = parse_frame(real).header
    head = Header(**{**h.__dict__, **changes})  # type: ignore[arg-type]
    return build_frame(head, b"\x00" + esi.to_bytes(3, "big") + rnd.randbytes(head.symbol_size))
