"""Fountain-code interface for QR transfer, backed by RaptorQ (RFC 6330) from the `raptorq` package.

The QR framing only needs: split a payload into fixed-size packets (source packets first, then
any number of repair packets) and rebuild it from any sufficient subset. That is the
`FountainEncoder` / `FountainDecoder` protocol here, so an LT code (e.g. the one in Blockchain
Commons UR, BCR-2020-005) can replace RaptorQ without touching the frame format's callers
(see docs/TRANSFER.md for why one might: IETF IPR disclosure #2554).

What it does not do: integrity. Packets reaching a decoder must already be CRC-checked, and the
rebuilt payload must still be compared with its digest by the caller.
"""

from __future__ import annotations

import math
from typing import Protocol

import raptorq

from transfer.errors import FrameError

PAYLOAD_ID_LEN = 4  # RFC 6330 §3.2: 8-bit source block number + 24-bit encoding symbol id
SYMBOL_ALIGN = 8  # the raptorq crate rounds the symbol size down to a multiple of 8
MAX_PAYLOAD = 8 * 1024 * 1024  # keeps every transfer in one source block (SBN 0); tested
MAX_ESI = (1 << 24) - 1


class FountainEncoder(Protocol):
    symbol_size: int
    source_symbols: int

    def packets(self, repair: int) -> list[bytes]:
        """All source packets in order, then `repair` repair packets."""
        ...


class FountainDecoder(Protocol):
    symbol_size: int
    source_symbols: int

    def packet_id(self, packet: bytes) -> int:
        """A stable id per distinct packet, for duplicate detection; raises FrameError."""
        ...

    def add(self, packet: bytes) -> bytes | None:
        """Feed one packet; returns the payload once it can be rebuilt, else None."""
        ...


def source_symbol_count(length: int, symbol_size: int) -> int:
    """k for a payload: the number of source packets, and the floor of packets needed."""
    return max(1, math.ceil(length / symbol_size))


def _check_params(length: int, symbol_size: int) -> None:
    if not 0 < length <= MAX_PAYLOAD:
        raise FrameError(f"fountain payload length {length} outside 1..{MAX_PAYLOAD}")
    if symbol_size <= 0 or symbol_size % SYMBOL_ALIGN or symbol_size > 65528:
        raise FrameError(f"symbol size {symbol_size} is not a positive multiple of {SYMBOL_ALIGN}")


class RaptorQEncoder:
    """Systematic RaptorQ: packets 0..k-1 are the payload itself, split into symbols."""

    def __init__(self, data: bytes, symbol_size: int) -> None:
        _check_params(len(data), symbol_size)
        self.symbol_size = symbol_size
        self.source_symbols = source_symbol_count(len(data), symbol_size)
        self._data = data

    def packets(self, repair: int) -> list[bytes]:
        if repair < 0:
            raise ValueError("repair must be >= 0")
        # with_defaults takes the symbol size as its "MTU"; a packet is payload id + symbol.
        enc = raptorq.Encoder.with_defaults(self._data, self.symbol_size)
        out = [bytes(p) for p in enc.get_encoded_packets(repair)]
        # Guard the assumptions the frame format relies on (one block, fixed packet size).
        if len(out) != self.source_symbols + repair or any(
            len(p) != PAYLOAD_ID_LEN + self.symbol_size or p[0] != 0
            or int.from_bytes(p[1:4], "big") != esi for esi, p in enumerate(out)
        ):
            raise FrameError("raptorq produced an unexpected packet layout")
        return out


class RaptorQDecoder:
    """Decoder for one payload of known length and symbol size (both carried in every frame)."""

    def __init__(self, length: int, symbol_size: int) -> None:
        _check_params(length, symbol_size)
        self.symbol_size = symbol_size
        self.source_symbols = source_symbol_count(length, symbol_size)
        self._length = length
        self._dec = raptorq.Decoder.with_defaults(length, symbol_size)
        self._done: bytes | None = None
        self._broken = False

    def packet_id(self, packet: bytes) -> int:
        # The Rust decoder panics (an uncatchable-in-practice BaseException) on malformed
        # packets, so everything it could index on is checked here first.
        if len(packet) != PAYLOAD_ID_LEN + self.symbol_size:
            raise FrameError(f"packet length {len(packet)} != {PAYLOAD_ID_LEN + self.symbol_size}")
        if packet[0] != 0:
            raise FrameError(f"source block number {packet[0]} != 0")
        return int.from_bytes(packet[1:4], "big")

    def add(self, packet: bytes) -> bytes | None:
        self.packet_id(packet)
        if self._done is not None:
            return self._done
        if self._broken:
            raise FrameError("fountain decoder failed earlier; restart the transfer")
        try:
            result = self._dec.decode(packet)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # pyo3's PanicException derives from BaseException
            self._broken = True  # a panicked Rust decoder's state is not to be trusted
            raise FrameError(f"fountain decoder rejected a packet: {exc}") from exc
        if result is not None:
            self._done = bytes(result)
            if len(self._done) != self._length:
                raise FrameError("fountain decoder returned a payload of the wrong length")
        return self._done
