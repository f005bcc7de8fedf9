"""Benchmark the ceremony log: verify a 1,000,000-entry log (time, peak RSS) and fsync'd appends.

    python bench/bench_log.py [--entries N] [--every K] [--appends M]

Generation writes lines directly (no fsync per line) and signs a checkpoint every K entries
with a software Ed25519 key; verification runs in a child process so that its peak RSS
(ru_maxrss of RUSAGE_CHILDREN) is the verifier's alone. Targets: <= 30 s, <= 500 MB.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from signer.core.canonical import canonical_json
from signer.core.checkpoint import Checkpoint, sign_checkpoint
from signer.core.merkle import TreeBuilder, leaf_hash
from signer.store.log import CeremonyLog

ORIGIN = "bench.example/airgap-signer/log"
SEED = b"\x05" * 32
TIME = "2026-11-29T10:00:00Z"


def _key() -> tuple[Ed25519PrivateKey, bytes]:
    sk = Ed25519PrivateKey.from_private_bytes(SEED)
    return sk, sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def generate(path: Path, entries: int, every: int) -> None:
    sk, pub = _key()
    builder = TreeBuilder()
    with open(path, "wb", buffering=1 << 20) as f:
        seq = 0
        while seq < entries:
            if seq and seq % every == 0 or seq == entries - 1:
                cp = Checkpoint(ORIGIN, seq, builder.root())
                note = sign_checkpoint(cp, ORIGIN, pub, sk.sign)
                data = {"size": seq, "root": cp.root.hex(), "note": note}
                kind = "checkpoint"
            else:
                data = {"serial": f"{seq:040x}", "ca": "class1", "profile": "server",
                        "request": f"r{seq}", "digest": f"{seq:064x}"}
                kind = "certificate.issued"
            line = canonical_json({"seq": seq, "time": TIME, "type": kind, "data": data})
            f.write(line + b"\n")
            builder.append(leaf_hash(line))
            seq += 1


CHILD = """
import sys, time
from signer.store.log import verify_log
path, origin, pub = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3])
t0 = time.perf_counter()
report = verify_log(path, origin, origin, pub)
print(f"{time.perf_counter() - t0:.2f} {report.ok} {report.entries} {report.checkpoints}")
if not report.ok:
    print(report.first_error)
"""


def bench_verify(path: Path) -> None:
    _, pub = _key()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), ORIGIN, pub.hex()],
        check=True, capture_output=True, text=True,
    ).stdout.split("\n")
    seconds, ok, entries, checkpoints = out[0].split()
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    print(f"verify_log: {entries} entries, {checkpoints} checkpoints, ok={ok}, "
          f"{seconds} s, peak RSS {peak_mb:.0f} MB (child process)")
    if ok != "True":
        print("  first error:", out[1])


def bench_open(path: Path) -> None:
    t0 = time.perf_counter()
    log = CeremonyLog.open(path, ORIGIN)
    opened = time.perf_counter() - t0
    t0 = time.perf_counter()
    for seq in range(0, log.size - 1, max(1, log.size // 100)):
        log.inclusion_proof(seq, log.size - 1)
    print(f"CeremonyLog.open: {opened:.2f} s; inclusion proof (avg of 100, cache warming): "
          f"{(time.perf_counter() - t0) / 100 * 1000:.2f} ms each")


def bench_appends(directory: Path, appends: int) -> None:
    log = CeremonyLog.open(directory / "append.jsonl", ORIGIN, create=True)
    costs = []
    for i in range(appends):
        t0 = time.perf_counter()
        log.append("event", {"n": i}, TIME)
        costs.append(time.perf_counter() - t0)
    print(f"append with fsync: median {statistics.median(costs) * 1000:.2f} ms, "
          f"max {max(costs) * 1000:.2f} ms over {appends} appends")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--every", type=int, default=10_000)
    parser.add_argument("--appends", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ceremony.jsonl"
        t0 = time.perf_counter()
        generate(path, args.entries, args.every)
        print(f"generate: {args.entries} entries, {path.stat().st_size / 1e6:.0f} MB, "
              f"{time.perf_counter() - t0:.1f} s")
        bench_verify(path)
        bench_open(path)
        bench_appends(Path(tmp), args.appends)


if __name__ == "__main__":
    main()
