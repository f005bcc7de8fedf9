"""Sending: a file becomes frames on demand, and how many repair frames one pass needs.

A FrameSource holds the padded payload and makes frame i (ESI i: source frames 0..k-1, then
repair frames) when asked, so a screen or a file writer renders one frame at a time in
constant memory. Repair packets are generated in growing batches (RaptorQ repair symbols are
a pure function of the payload and the ESI, so a later batch repeats the earlier ones).

The default repair count is the smallest that lets one pass complete with 99% probability
when 30% of frames are missed at random (a camera at an angle, a blink, a torn capture):
P[Binomial(n, 0.7) >= k + 1] >= 0.99, as RaptorQ needs k, rarely k + 1 frames. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator

from transfer import fountain
from transfer.errors import FrameError
from transfer.qr.frame import (
    PAD,
    Header,
    build_frame,
    make_payload,
    plan_symbols,
    symbol_size_for,
)

DEFAULT_VERSION = 25  # docs/TRANSFER.md "Measurements": 4.2 kB/s at 5 fps, 30% loss
TERMINAL_VERSION = 20  # a terminal cell is coarse; v20 fits 105 columns
ASSUMED_LOSS = 0.30
CONFIDENCE = 0.99
MAX_REPAIR_PERCENT = 1000


def _binomial_tail(n: int, p: float, m: int) -> float:
    """P[X >= m] for X ~ Binomial(n, p), summed from m upward in log space."""
    if m <= 0:
        return 1.0
    if m > n:
        return 0.0
    log_pmf = (math.lgamma(n + 1) - math.lgamma(m + 1) - math.lgamma(n - m + 1)
               + m * math.log(p) + (n - m) * math.log1p(-p))
    term, total, ratio = math.exp(log_pmf), 0.0, p / (1 - p)
    for j in range(m, n + 1):
        total += term
        if term < 1e-17 * total and j > n * p:
            break
        term *= (n - j) / (j + 1) * ratio
    return min(1.0, total)


def frames_for_one_pass(k: int, loss: float = ASSUMED_LOSS, confidence: float = CONFIDENCE) -> int:
    """Fewest frames n such that one pass delivers k + 1 of them with `confidence`."""
    if not 0 <= loss < 1:
        raise FrameError(f"loss {loss} outside 0..1")
    if loss == 0:
        return k
    lo, hi = k, max(k + 2, math.ceil((k + 1) / (1 - loss) * 2) + 20)
    while lo < hi:
        mid = (lo + hi) // 2
        if _binomial_tail(mid, 1 - loss, k + 1) >= confidence:
            hi = mid
        else:
            lo = mid + 1
    return lo


def repair_count(k: int, repair_percent: int | None) -> int:
    """Repair frames for one pass: the percentage given, else the one-pass default."""
    if repair_percent is None:
        return frames_for_one_pass(k) - k
    if not 0 <= repair_percent <= MAX_REPAIR_PERCENT:
        raise FrameError(f"repair percent {repair_percent} outside 0..{MAX_REPAIR_PERCENT}")
    return math.ceil(k * repair_percent / 100)


class FrameSource:
    """Frames of one file, made on demand: frame(esi) for any esi below 2**24."""

    def __init__(self, data: bytes, version: int = DEFAULT_VERSION) -> None:
        symbol_size_for(version)  # refuses a version that is not a profile
        payload, compressed = make_payload(data)
        size, k = plan_symbols(len(payload), version)
        self.header = Header(hashlib.sha256(payload).digest()[:8], len(data), len(payload),
                             compressed, size)
        self.version = version
        self.size = len(data)
        self.sha256 = hashlib.sha256(data).hexdigest()
        self._padded = payload + PAD * (k * size - len(payload))
        self._packets: list[bytes] = []

    @property
    def k(self) -> int:
        return self.header.k

    @property
    def transfer_id(self) -> str:
        return self.header.tid

    def packet(self, esi: int) -> bytes:
        if not 0 <= esi <= fountain.MAX_ESI:
            raise FrameError(f"frame number {esi} outside 0..{fountain.MAX_ESI}")
        if esi >= len(self._packets):
            # Grow geometrically so showing frames one by one stays linear overall.
            want = max(esi + 1, 2 * len(self._packets), self.k + 16)
            repair = min(want, fountain.MAX_ESI + 1) - self.k
            enc = fountain.RaptorQEncoder(self._padded, self.header.symbol_size)
            self._packets = enc.packets(repair)
        return self._packets[esi]

    def frame(self, esi: int) -> str:
        return build_frame(self.header, self.packet(esi))

    def frames(self, count: int) -> Iterator[str]:
        """Frames 0..count-1: every source frame first, then repair frames."""
        for esi in range(count):
            yield self.frame(esi)


def encode_file(data: bytes, version: int = DEFAULT_VERSION,
                repair_percent: int | None = None) -> list[str]:
    """Every frame of one pass (source, then repair) as a list; for small files and tests."""
    src = FrameSource(data, version)
    return list(src.frames(src.k + repair_count(src.k, repair_percent)))
