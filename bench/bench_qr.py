"""QR transfer benchmark (issue 16): density, the fountain under loss (RaptorQ against a UR-style
LT code), the two decoders side by side on simulated camera captures, frames needed on hard
captures, throughput at 5 frames/s, the cost of a forged frame, and qr-send's time and memory.

Captures come from tests/transfer/capture.py (perspective, blur, JPEG, glare, noise; 720p and
480p). Every decoder comparison runs on the same pictures; times are medians of several runs
measured side by side. Run: python bench/bench_qr.py [--quick]; ~8 min on 2 cores (~3 min quick).
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.transfer.capture import (  # noqa: E402
    EASY_720,
    HARD_480,
    HARD_720,
    NORMAL_720,
    Conditions,
    capture,
)
from tests.transfer.hostile import forged  # noqa: E402
from transfer.qr import (  # noqa: E402
    PROFILES,
    QR_CAPACITY_L,
    FeedStatus,
    FrameSource,
    Receiver,
    decode_image,
    qr_image,
    symbol_size_for,
)
from transfer.qr.decode import decode_zbar, decode_zxing  # noqa: E402

LOSS = 0.30
FPS = 5
CONDITIONS = {"easy 720p": EASY_720, "normal 720p": NORMAL_720, "hard 720p": HARD_720,
              "hard 480p": HARD_480}


def density() -> None:
    print("== density: file bytes per frame vs QR byte-mode capacity (EC L) ==")
    for v in PROFILES:
        s = symbol_size_for(v)
        cap = QR_CAPACITY_L[v][1]
        print(f"  v{v:<2}  symbol {s:5d} B  byte-mode cap {cap:5d} B  density {s / cap:6.1%}  "
              f"at {FPS} frames/s with {LOSS:.0%} loss: {s * FPS * (1 - LOSS) / 1000:.1f} kB/s")


def raptorq_under_loss(size: int, trials: int) -> tuple[int, list[int]]:
    """(k, frames received until decoded) per trial, frames from an endless fountain."""
    got = []
    k = 0
    for t in range(trials):
        rnd = random.Random(1000 + t)
        src = FrameSource(rnd.randbytes(size), version=20)
        rcv = Receiver()
        for esi in range(4 * src.k):
            if rnd.random() < LOSS:
                continue
            if rcv.feed(src.frame(esi)).status is FeedStatus.COMPLETE:
                break
        k = src.k
        got.append(rcv.received)
    return k, got


def lt_under_loss(k: int, trials: int) -> list[int]:
    """UR-style LT: parts 1..k are the fragments, later parts XOR a random set of fragments whose
    size is drawn with weight 1/d (BCR-2020-005 chooseDegree); peeling decoder on index sets."""
    weights = [1 / d for d in range(1, k + 1)]
    got = []
    for t in range(trials):
        rnd = random.Random(2000 + t)
        known: set[int] = set()
        pending: list[set[int]] = []
        received = n = 0
        while len(known) < k:
            n += 1
            part = {n - 1} if n <= k else set(rnd.sample(range(k), rnd.choices(
                range(1, k + 1), weights)[0]))
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
    return got


def loss_tables(trials: int) -> None:
    print(f"\n== frames received until decoded, {LOSS:.0%} random loss (median of {trials}) ==")
    for size in (1_000, 20_000, 100_000):
        k, got = raptorq_under_loss(size, trials)
        lt = lt_under_loss(k, trials)
        print(f"  {size:>7} B  k={k:4d}  RaptorQ median {statistics.median(got):.0f} "
              f"(max k+{max(got) - k})  UR-LT median {statistics.median(lt):.0f} "
              f"(x{statistics.median(lt) / statistics.median(got):.2f})")


def decoders(pictures: int, runs: int) -> dict[tuple[str, int], float]:
    print(f"\n== decoders side by side on simulated captures ({pictures} pictures a cell; "
          f"ms: median of {runs} runs) ==")
    print(f"  {'conditions':12} ver  {'zxing-cpp':>9} {'zbar':>6} {'either':>6}   "
          f"{'zxing ms':>8} {'zbar ms':>8}  ratio")
    unread: dict[tuple[str, int], float] = {}
    for name, cond in CONDITIONS.items():
        for v in (20, 25, 30):
            rnd = random.Random(v * 7 + len(name))
            src = FrameSource(rnd.randbytes(40 * symbol_size_for(v)), version=v)
            pics = [(src.frame(i), capture(qr_image(src.frame(i)), rnd, cond).convert("L"))
                    for i in range(pictures)]
            zx = sum(t in decode_zxing(p) for t, p in pics)
            zb = sum(t in decode_zbar(p) for t, p in pics)
            both = sum(t in decode_image(p) for t, p in pics)
            tz, tb = [], []
            for _ in range(runs):
                t0 = time.perf_counter()
                for _, p in pics:
                    decode_zxing(p)
                tz.append((time.perf_counter() - t0) / len(pics))
                t0 = time.perf_counter()
                for _, p in pics:
                    decode_zbar(p)
                tb.append((time.perf_counter() - t0) / len(pics))
            mz, mb = statistics.median(tz) * 1000, statistics.median(tb) * 1000
            n = len(pics)
            unread[name, v] = 1 - both / n
            print(f"  {name:12} v{v}  {zx / n:9.0%} {zb / n:6.0%} {both / n:6.0%}   "
                  f"{mz:8.1f} {mb:8.1f}  x{mb / mz:.1f}")
    return unread


def frames_until_complete(seed: int, size: int, version: int, cond: Conditions,
                          forge: bool = False) -> tuple[int, int, int]:
    """(k, frames shown, frames captured) at 30% loss; each capture decoded for real."""
    rnd = random.Random(seed)
    src = FrameSource(rnd.randbytes(size), version=version)
    rcv = Receiver()
    if forge:
        rcv.feed(forged(src.frame(0), 0, random.Random(-seed)))  # same losses as clean
    shown = captured = 0
    for esi in range(4 * src.k):
        shown += 1
        if rnd.random() < LOSS:
            continue
        captured += 1
        for text in decode_image(capture(qr_image(src.frame(esi)), rnd, cond)):
            rcv.feed(text)
        if rcv.complete:
            break
    assert rcv.complete and rcv.transfer_id == src.transfer_id
    return src.k, shown, captured


def hard_captures(seeds: int) -> None:
    print(f"\n== hard 720p captures at {LOSS:.0%} loss: frames until complete "
          f"(median of {seeds} seeds) ==")
    for version, size in ((20, 9_000), (20, 20_000), (20, 60_000), (25, 20_000), (30, 20_000)):
        runs = [frames_until_complete(s, size, version, HARD_720) for s in range(seeds)]
        k = runs[0][0]
        cap = statistics.median(c for _, _, c in runs)
        shown = statistics.median(s for _, s, _ in runs)
        print(f"  v{version} {size:>6} B  k={k:3d}  captured median {cap:5.1f} ({cap / k:.2f} k, "
              f"max {max(c for _, _, c in runs)})  shown median {shown:5.1f} ({shown / k:.2f} k)")


def shown_until_complete(seed: int, size: int, version: int, unread: float,
                         forge: int | None = None) -> tuple[int, int]:
    """(k, frames shown until complete) with 30% random loss plus pictures left unread with
    probability `unread` (measured above); frames fed as text, so thousands of runs are cheap.
    `forge`: the ESI of a forged frame (valid CRC, real header) fed first."""
    rnd = random.Random(seed)
    src = FrameSource(rnd.randbytes(size), version=version)
    rcv = Receiver()
    if forge is not None:
        rcv.feed(forged(src.frame(0), forge, random.Random(-seed)))  # same losses as clean
    for esi in range(int(3 * src.k / max(0.01, (1 - LOSS) * (1 - unread))) + 64):
        if rnd.random() < LOSS or rnd.random() < unread:
            continue
        if rcv.feed(src.frame(esi)).status is FeedStatus.COMPLETE:
            assert rcv.complete
            return src.k, esi + 1
    raise AssertionError("not complete")


def throughput(seeds: int, unread: dict[tuple[str, int], float]) -> None:
    print(f"\n== throughput of incompressible data at {FPS} frames/s with {LOSS:.0%} loss, plus "
          f"the pictures each decoder setup left unread above (median of {seeds} seeds) ==")
    for size in (100_000, 1_000_000):
        for version in (20, 25, 30):
            row = []
            for name in ("30% loss only", "normal 720p", "hard 720p", "hard 480p"):
                miss = unread.get((name, version), 0.0)
                rates = [size / (shown_until_complete(s, size, version, miss)[1] / FPS) / 1000
                         for s in range(seeds)]
                row.append(f"{name} {statistics.median(rates):.2f}")
            print(f"  {size:>9} B v{version}: " + "  ".join(row) + "  kB/s")


def poisoned(seeds: int) -> None:
    print(f"\n== a forged first frame (valid CRC, real header): extra frames shown until "
          f"complete at {LOSS:.0%} loss, v20, against the same run without it ({seeds} seeds) ==")
    for size in (20_000, 100_000, 1_000_000):
        clean = [shown_until_complete(300 + s, size, 20, 0.0) for s in range(seeds)]
        k = clean[0][0]
        row = []
        for label, esi in (("forged frame 0", 0), ("forged unused number", 1 << 20)):
            bad = [shown_until_complete(300 + s, size, 20, 0.0, forge=esi) for s in range(seeds)]
            extra = [b - c for (_, c), (_, b) in zip(clean, bad, strict=True)]
            row.append(f"{label}: median {statistics.median(extra):+.0f}, max {max(extra):+d}")
        print(f"  k={k:5d}  " + "  ".join(row))


SEND = """
import sys, time, resource
from pathlib import Path
from transfer.qr import qr_send
t = time.perf_counter()
r = qr_send(Path(sys.argv[1]), Path(sys.argv[2]), version=int(sys.argv[3]))
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_utime, r.frames)
"""
WRAP = """
import resource, subprocess, sys
out = subprocess.run(sys.argv[1:], capture_output=True, text=True, check=True).stdout
print(out.strip(), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def send_cost(runs: int) -> None:
    print(f"\n== qr-send of 1 MB (incompressible), fresh process each (median of {runs}) ==")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "one.bin"
        src.write_bytes(random.Random(9).randbytes(1 << 20))
        for version in (20, 25):
            rows = []
            for i in range(runs):
                out = subprocess.run(
                    [sys.executable, "-c", WRAP, sys.executable, "-c", SEND, str(src),
                     str(Path(tmp) / f"o{version}-{i}"), str(version)],
                    capture_output=True, text=True, check=True, cwd=ROOT).stdout.split()
                rows.append((float(out[0]), float(out[1]), int(out[2]), int(out[3]) / 1024))
            print(f"  v{version}: {rows[0][2]} frames, wall {statistics.median(r[0] for r in rows):.1f} s, "
                  f"CPU {statistics.median(r[1] for r in rows):.1f} s, "
                  f"peak {max(r[3] for r in rows):.0f} MB")
    import qrcode
    import qrcode.constants
    import qrcode.util

    text = FrameSource(random.Random(3).randbytes(8_000), version=20).frame(0)
    tz, tq = [], []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(10):
            qr_image(text)
        tz.append((time.perf_counter() - t0) / 10)
        t0 = time.perf_counter()
        for _ in range(10):
            q = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_L, border=4,
                              box_size=4)
            q.add_data(qrcode.util.QRData(text.encode(), mode=qrcode.util.MODE_ALPHA_NUM))
            q.make_image()
        tq.append((time.perf_counter() - t0) / 10)
    mz, mq = statistics.median(tz) * 1000, statistics.median(tq) * 1000
    print(f"  rendering a v20 frame: zxing-cpp {mz:.1f} ms, python-qrcode {mq:.1f} ms "
          f"(x{mq / mz:.0f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer pictures and seeds")
    args = ap.parse_args()
    q = args.quick
    density()
    loss_tables(5 if q else 15)
    unread = decoders(12 if q else 40, 3)
    hard_captures(5 if q else 20)
    throughput(5 if q else 20, unread)
    poisoned(5 if q else 20)
    send_cost(1 if q else 3)


if __name__ == "__main__":
    main()
