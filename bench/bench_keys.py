"""Per-key cost of the subscriber-key checks and of judging one request (DESIGN §4 Keys).

For RSA-2048, RSA-4096, EC P-256 and Ed25519 keys: the median time of
``signer.core.policy.keys.check_public_key`` on the key object, and of ``signer.core.policy.evaluate`` on a
server (or client, for Ed25519) request carrying a CSR for that key: parse, self-signature,
key checks, names. A 10,000-request batch costs about 10,000 times the second number; the
budget is that an import of the largest batch stays well under a minute on the reference
machine (2 cores). Run: ``python bench/bench_keys.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa  # noqa: E402

from signer import policy  # noqa: E402
from signer.core.policy import keys as keycheck
from tests.signer.policy_fixtures import context, make_csr, request  # noqa: E402


def per_call(fn: Callable[[], object], runs: int) -> float:
    """Seconds per call: the fastest of `runs` rounds of a batch sized to take ~50 ms."""
    fn()  # warm caches (primorials, blocklist pages, linter tables)
    t = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t, 1e-7)
    n = max(1, int(0.05 / once))
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        times.append((time.perf_counter() - t) / n)
    return min(times)  # the least disturbed run: other jobs share this machine


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    keys = {
        "rsa-2048": rsa.generate_private_key(65537, 2048),
        "rsa-4096": rsa.generate_private_key(65537, 4096),
        "ec-p256": ec.generate_private_key(ec.SECP256R1()),
        "ed25519": ed25519.Ed25519PrivateKey.generate(),
    }
    ctx = context()
    print(f"{'key':10} {'check_public_key':>18} {'evaluate':>12} {'10,000 requests':>16}")
    for name, key in keys.items():
        public = key.public_key()
        profile = "client" if name == "ed25519" else "server"
        req = request(make_csr(key, dns=("www.example.org",)), profile=profile)
        check = per_call(lambda public=public: keycheck.check_public_key(public), args.runs)
        judge = per_call(lambda req=req: policy.evaluate(req, ctx), args.runs)
        print(f"{name:10} {check * 1e3:15.3f} ms {judge * 1e3:9.3f} ms {judge * 1e4:14.1f} s")


if __name__ == "__main__":
    main()
