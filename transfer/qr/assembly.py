"""Frames that share one header, rebuilt into a verified file even when some are forged.

An Assembly holds the packets of one header (ESI -> packet, in arrival order) and feeds them
to a streaming RaptorQ decoder. A forged frame that passes the CRC (or a misread that does)
makes the decoder yield a wrong payload, which verification catches; the assembly then keeps
collecting and retries with subsets that leave suspects out, cheapest first:

1. without every ESI that arrived with two different contents (one of them is not genuine),
   and with the later contents instead of the first;
2. the source frames alone, when all k are present (no decoding at all);
3. the latest k + 1 packets (clean once suspect frames stopped arriving; also tried on
   every new packet between rounds, one decode each);
4. leave-chunk-out: the packets in arrival order cut into chunks of (surplus - 1), decoding
   without each chunk in turn, earliest first (a single forged frame, e.g. one that arrived
   first, sits in exactly one chunk, and k + 1 packets nearly always decode);
5. a few seeded random subsets of k + 1 packets (several scattered forged frames).

A round runs when the surplus (distinct packets beyond k) reaches 2, 3, 5, 9, 17, ... and
makes at most RETRY_BUDGET decodes, so a poisoned transfer costs about log2(k) rounds. At the
cap of 2k + 64 distinct packets the assembly gives up with the last reason. It never releases
a payload that verify_payload has not accepted. Pure: no I/O, no clock.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from enum import StrEnum

from transfer import fountain
from transfer.errors import FrameError
from transfer.qr.frame import Frame, Header, verify_payload

RETRY_BUDGET = 48  # decodes per retry round; a k=1311 decode takes ~10 ms
MAX_ALTERNATIVES = 3  # other contents kept per ESI
EXTRA = 64  # distinct packets kept beyond 2k; RaptorQ needs k + 2 at worst in practice


class Added(StrEnum):
    NEW = "new"  # a packet with an ESI not seen before
    CONFLICT = "conflict"  # a known ESI with different content: kept aside as a suspect
    DUPLICATE = "duplicate"  # seen before, byte for byte
    FULL = "full"  # the cap is reached; not stored
    DONE = "done"  # already rebuilt and verified, or given up


class Assembly:
    """Packets of one header variant, the decoder over them, and the verified result."""

    def __init__(self, header: Header) -> None:
        self.header = header
        self.k = header.k
        self.cap = 2 * self.k + EXTRA
        self._packets: dict[int, bytes] = {}  # insertion order is arrival order
        self._alternatives: dict[int, list[bytes]] = {}
        self._decoder: fountain.RaptorQDecoder | None = fountain.RaptorQDecoder(
            self.k * header.symbol_size, header.symbol_size)
        self._next_round = 2
        self.data: bytes | None = None
        self.failure: str | None = None  # why the last rebuilt payload was refused
        self.given_up: str | None = None  # final: why this assembly will never complete
        self.decodes = 1  # decoders run, the streaming one included (for the benches)

    @property
    def distinct(self) -> int:
        return len(self._packets)

    @property
    def conflicts(self) -> int:
        return len(self._alternatives)

    @property
    def remaining(self) -> int:
        """Frames still needed, as best known: 'any N more'."""
        if self.data is not None or self.given_up is not None:
            return 0
        if self._decoder is not None:
            return max(1, self.k - self.distinct)
        return max(1, self.k + self._next_round - self.distinct)  # until the next retry round

    def add(self, frame: Frame) -> Added:
        """Store one packet; rebuild and verify when possible. Never raises on bad packets."""
        if self.data is not None or self.given_up is not None:
            return Added.DONE
        esi, packet = frame.esi, frame.packet
        known = self._packets.get(esi)
        if known is not None:
            if known == packet or packet in self._alternatives.get(esi, []):
                return Added.DUPLICATE
            alts = self._alternatives.setdefault(esi, [])
            if len(alts) >= MAX_ALTERNATIVES or len(self._alternatives) > self.cap:
                return Added.FULL
            alts.append(packet)
            if self._decoder is None:
                self._retry_conflicts()  # a conflict names suspects: worth a try at once
            return Added.CONFLICT
        if self.distinct >= self.cap:
            return Added.FULL
        self._packets[esi] = packet
        if self._decoder is not None:
            self._stream(packet)
        elif self.distinct - self.k >= self._next_round:
            self._round()
        elif self.distinct > self.k:  # one decode a frame: clean once forgeries stopped
            self._try(list(self._packets.values())[-(self.k + 1):])
        if self.data is None and self.distinct >= self.cap:
            self._round()
            if self.data is None:
                self.given_up = (f"{self.distinct} different frames did not rebuild a verified "
                                 f"file ({self.failure or 'no decoding'}); some frames are "
                                 "forged or misread")
        return Added.NEW

    # -- decoding --------------------------------------------------------------------------

    def _stream(self, packet: bytes) -> None:
        if self._decoder is None:  # set by the first frame, before any packet is streamed
            raise FrameError("a packet arrived before the transfer's first frame")
        try:
            padded = self._decoder.add(packet)
        except FrameError as exc:
            self._decoder = None  # a decoder that refused a packet is not trusted again
            self.failure = str(exc)
            return
        if padded is None:
            return
        self._decoder = None
        self._accept(padded)
        if self.data is None and self.distinct - self.k >= self._next_round:
            self._round()

    def _accept(self, padded: bytes) -> bool:
        try:
            self.data = verify_payload(self.header, padded)
        except FrameError as exc:
            self.failure = f"rebuilt file failed verification: {exc}"
            return False
        return True

    def _try(self, packets: Iterable[bytes]) -> bool:
        """Decode a subset with a fresh decoder; True once a verified file is rebuilt."""
        self.decodes += 1
        dec = fountain.RaptorQDecoder(self.k * self.header.symbol_size, self.header.symbol_size)
        try:
            for p in packets:
                padded = dec.add(p)
                if padded is not None:
                    return self._accept(padded)
        except FrameError:
            return False
        return False

    def _retry_conflicts(self) -> bool:
        if not self._alternatives:
            return False
        clean = [p for e, p in self._packets.items() if e not in self._alternatives]
        if len(clean) >= self.k and self._try(clean):
            return True
        swapped = [self._alternatives[e][-1] if e in self._alternatives else p
                   for e, p in self._packets.items()]
        return self._try(swapped)

    def _source_alone(self) -> bool:
        if any(e not in self._packets for e in range(self.k)):
            return False
        self.decodes += 1
        return self._accept(b"".join(self._packets[e][fountain.PAYLOAD_ID_LEN:]
                                     for e in range(self.k)))

    def _round(self) -> None:
        """One retry round (see the module docstring); advances the next threshold."""
        surplus = self.distinct - self.k
        self._next_round = max(2 * surplus - 1, self._next_round + 1)
        order = list(self._packets.values())
        if self._retry_conflicts() or self._source_alone():
            return
        if surplus >= 2 and self._try(order[-(self.k + 1):]):
            return  # the latest k + 1: clean once suspect frames stopped arriving
        budget = RETRY_BUDGET
        chunk = max(1, surplus - 1)
        if surplus >= 2:
            for start in range(0, len(order), chunk):
                if budget == 0:
                    return
                budget -= 1
                if self._try(order[:start] + order[start + chunk:]):
                    return
        if surplus >= 2:
            rnd = random.Random(int.from_bytes(self.header.transfer_id, "big") ^ self.distinct)
            for _ in range(min(budget, 8)):
                if self._try(rnd.sample(order, self.k + 1)):
                    return
