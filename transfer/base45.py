"""Base45 (RFC 9285): binary to the QR alphanumeric character set, about 97% as dense as bytes.

Decoding is strict: any character outside the 45-character set, a length of 3n+1, or a group
whose value exceeds what its bytes can hold raises FrameError (RFC 9285 §6: a decoder MUST
reject these). It does not strip whitespace or accept lowercase; callers decide that.
"""

from __future__ import annotations

from transfer.errors import FrameError

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_INDEX = {c: i for i, c in enumerate(ALPHABET)}


def b45encode(data: bytes) -> str:
    """Encode bytes; two bytes become three characters, a trailing byte becomes two."""
    out: list[str] = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        n, c = divmod(n, 45)
        e, d = divmod(n, 45)
        out += (ALPHABET[c], ALPHABET[d], ALPHABET[e])
    if len(data) % 2:
        d, c = divmod(data[-1], 45)
        out += (ALPHABET[c], ALPHABET[d])
    return "".join(out)


def b45decode(text: str) -> bytes:
    """Decode strictly; raises FrameError on any deviation from RFC 9285."""
    if len(text) % 3 == 1:
        raise FrameError(f"Base45 text has invalid length {len(text)} (3n+1)")
    try:
        vals = [_INDEX[c] for c in text]
    except KeyError as exc:
        raise FrameError(f"Base45 text contains invalid character {exc.args[0]!r}") from None
    out = bytearray()
    full = len(vals) - len(vals) % 3
    for i in range(0, full, 3):
        n = vals[i] + vals[i + 1] * 45 + vals[i + 2] * 2025
        if n > 0xFFFF:
            raise FrameError(f"Base45 group at {i} has value {n} > 65535")
        out += n.to_bytes(2, "big")
    if full < len(vals):
        n = vals[full] + vals[full + 1] * 45
        if n > 0xFF:
            raise FrameError(f"Base45 final pair has value {n} > 255")
        out.append(n)
    return bytes(out)


def b45_decoded_length(n_chars: int) -> int:
    """Bytes that `n_chars` Base45 characters carry (a 3n+1 remainder is unusable)."""
    return n_chars // 3 * 2 + (1 if n_chars % 3 == 2 else 0)
