"""Resource limits (issue 7): time and peak memory to parse the largest allowed request bundle.

Builds a bundle just under the 64 MiB cap (CSR-sized random blobs, the worst case for the
double base64 layers), then parses and verifies it in a fresh child process and reports the
child's wall time and peak RSS, against the bundle's size. Also the QR receiver's cap on
stored symbols and the log's line cap are printed for reference. Medians of --runs.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: E402

from transfer import bundle as tb  # noqa: E402

CHILD = """
import sys, time, resource
from transfer import bundle as tb
raw = open(sys.argv[1], "rb").read()
pub = bytes.fromhex(sys.argv[2])
t = time.perf_counter()
b = tb.parse_request_bundle(raw, {"ra1": pub})
print(time.perf_counter() - t, len(b.body.requests), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def build(path: Path, csr_bytes: int) -> tuple[bytes, int]:
    key = ed25519.Ed25519PrivateKey.generate()
    per = (csr_bytes * 4 // 3) * 4 // 3 + 400  # CSR base64 inside a base64 body, plus fields
    n = min(tb.MAX_REQUESTS, (tb.MAX_REQUEST_FILE - 4096) // per)
    body = {"batch_id": "limits-1", "ra": "ra1", "sequence": 1, "created": "2026-11-29T10:00:00Z",
            "requests": [{"id": f"r{i}", "ca": "class1", "profile": "server",
                          "csr": os.urandom(csr_bytes), "subscriber": f"m{i}",
                          "verified": {"dns": [f"h{i}.example.org"], "email": [], "name": None,
                                       "points": 0}} for i in range(n)],
            "revocations": []}
    raw = tb.encode_request_bundle(body, key.sign, key.public_key().public_bytes_raw())
    path.write_bytes(raw)
    return key.public_key().public_bytes_raw(), n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--build", nargs=2, metavar=("PATH", "CSR_BYTES"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.build:  # in its own process: Linux keeps ru_maxrss across fork and exec
        pub, n = build(Path(args.build[0]), int(args.build[1]))
        print(pub.hex(), n)
        return
    work = Path(tempfile.mkdtemp(prefix="bench-limits-"))
    for csr_bytes, label in ((16 * 1024, "16 KiB CSRs (cap)"), (1200, "1.2 KiB CSRs (typical)")):
        path = work / f"bundle-{csr_bytes}.req"
        built = subprocess.run([sys.executable, __file__, "--build", str(path), str(csr_bytes)],
                               capture_output=True, text=True, check=True).stdout.split()
        pub, n = bytes.fromhex(built[0]), int(built[1])
        size = path.stat().st_size
        times, peaks = [], []
        for _ in range(args.runs):
            t = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", CHILD, str(path), pub.hex()],
                                 capture_output=True, text=True, check=True,
                                 cwd=Path(__file__).resolve().parent.parent)
            wall = time.perf_counter() - t
            parse_s, count, rss_kb = out.stdout.split()
            times.append(float(parse_s))
            peaks.append(int(rss_kb) / 1024)
            del wall
        print(f"{label}: bundle {size / 2**20:.1f} MiB, {n} requests: parse+verify median "
              f"{statistics.median(times):.2f} s, peak RSS median {statistics.median(peaks):.0f} MB "
              f"({statistics.median(peaks) / (size / 2**20):.1f}x the bundle)")
    print(f"caps: bundle {tb.MAX_REQUEST_FILE / 2**20:.0f} MiB, {tb.MAX_REQUESTS} requests, "
          f"CSR {tb.MAX_CSR} B; parent peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")


if __name__ == "__main__":
    main()
