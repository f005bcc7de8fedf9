"""QR transfer benchmark: density, loss tolerance, decode speed, bundle transfer time, and a
simulated comparison with an LT fountain in the style of Blockchain Commons UR (BCR-2020-005).

Run: python bench/bench_qr.py [--trials N]. Prints a plain-text table; takes ~30 s on 2 cores.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from PIL import Image

from transfer import fountain
from transfer.qr import (
    PROFILES,
    QR_CAPACITY_L,
    FeedStatus,
    Receiver,
    decode_image,
    encode_file,
    parse_frame,
    qr_image,
)

LOSS = 0.30
FPS = 5
CSR_BYTES = 1200


def density() -> None:
    print("== density: file bytes per frame vs QR byte-mode capacity (EC L) ==")
    for v in PROFILES:
        frame = encode_file(random.Random(v).randbytes(50_000), version=v)[0]
        s = parse_frame(frame).header.symbol_size
        cap = QR_CAPACITY_L[v][1]
        print(f"  v{v:<2}  symbol {s:5d} B  byte-mode cap {cap:5d} B  density {s / cap:6.1%}  "
              f"frame text {len(frame)}/{QR_CAPACITY_L[v][0]} chars")


def raptorq_under_loss(size: int, trials: int) -> tuple[int, list[int], list[int]]:
    """(k, frames received until decoded, frames shown until decoded) per trial."""
    got, shown = [], []
    k = 0
    for t in range(trials):
        rnd = random.Random(1000 + t)
        frames = encode_file(rnd.randbytes(size), repair_percent=400)  # never runs dry
        rcv = Receiver()
        n_shown = 0
        for f in frames:
            n_shown += 1
            if rnd.random() < LOSS:
                continue
            if rcv.feed(f).status is FeedStatus.COMPLETE:
                break
        assert rcv.complete, "not decoded: raise repair_percent"
        k = rcv.needed
        got.append(rcv.received)
        shown.append(n_shown)
    return k, got, shown


def lt_under_loss(k: int, trials: int) -> tuple[list[int], list[int]]:
    """UR-style LT: parts 1..k are the fragments, later parts XOR a random set of fragments whose
    size is drawn with weight 1/d (BCR-2020-005 chooseDegree); peeling decoder on index sets."""
    weights = [1 / d for d in range(1, k + 1)]
    got, shown = [], []
    for t in range(trials):
        rnd = random.Random(2000 + t)
        known: set[int] = set()
        pending: list[set[int]] = []
        received = n = 0
        while len(known) < k:
            n += 1
            if n <= k:
                part = {n - 1}
            else:
                deg = rnd.choices(range(1, k + 1), weights)[0]
                part = set(rnd.sample(range(k), deg))
            if rnd.random() < LOSS:
                continue
            received += 1
            queue = [part]
            while queue:  # peel: reduce by known fragments, learn singletons, repeat
                p = queue.pop() - known
                if len(p) == 1:
                    known |= p
                    queue.extend(pending)
                    pending = []
                elif p:
                    pending.append(p)
        got.append(received)
        shown.append(n)
    return got, shown


def loss_tables(trials: int) -> None:
    print(f"\n== frames needed under {LOSS:.0%} random loss (median of {trials}; target <= k+3) ==")
    for size in (1_000, 20_000, 100_000):
        k, got, shown = raptorq_under_loss(size, trials)
        print(f"  RaptorQ {size:>7} B  k={k:4d}  received median {statistics.median(got):.0f} "
              f"(max {max(got)}, k+{max(got) - k})  shown median {statistics.median(shown):.0f}")
        lt_got, lt_shown = lt_under_loss(k, trials)
        print(f"  UR-LT   {size:>7} B  k={k:4d}  received median {statistics.median(lt_got):.0f} "
              f"(max {max(lt_got)}, k+{max(lt_got) - k})  shown median "
              f"{statistics.median(lt_shown):.0f}")


def decode_speed(runs: int = 15) -> float:
    text = encode_file(random.Random(7).randbytes(10_000))[0]
    page = Image.new("L", (1280, 720), 255)
    qr = qr_image(text, box_size=6)
    page.paste(qr, ((1280 - qr.width) // 2, (720 - qr.height) // 2))
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        assert decode_image(page) == [text]
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(f"\n== pyzbar decode, 1280x720 frame, QR v20 ==\n  median {med * 1000:.1f} ms "
          f"over {runs} runs (max {1 / med:.0f} frames/s on one core)")
    return med


def bundle_time() -> None:
    size = 1000 * CSR_BYTES
    t0 = time.perf_counter()
    frames = encode_file(random.Random(9).randbytes(size), repair_percent=50)
    enc = time.perf_counter() - t0
    k = fountain.source_symbol_count(size, parse_frame(frames[0]).header.symbol_size)
    lossless = k / FPS
    lossy = k / (1 - LOSS) / FPS
    print(f"\n== 1,000-request bundle (~{size:,} B, incompressible worst case) at {FPS} frames/s ==\n"
          f"  k={k} frames (v20), encode {enc:.2f} s; no loss {lossless / 60:.1f} min, "
          f"{LOSS:.0%} loss ~{lossy / 60:.1f} min")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--trials", type=int, default=15)
    args = ap.parse_args()
    density()
    loss_tables(args.trials)
    decode_speed()
    bundle_time()


if __name__ == "__main__":
    main()
