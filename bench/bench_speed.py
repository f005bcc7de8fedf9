"""Issue 12's table, measured side by side in one run (medians of --runs); it never asserts.

  .venv/bin/python bench/bench_speed.py                  # the full table (about 30 minutes)
  .venv/bin/python bench/bench_speed.py --n 1000 --rsa-n 100 --sizes 10000 --crl 0  # quicker

(1) a batch of --n P-256 requests to a P-384 sub-CA, import + sign + export through the CLI with
every check on, against `openssl ca -batch -infiles` (libp11 engine, a P-384 key in a sibling
token of the same SoftHSM store, the same extension set), run by run, interleaved;
(2) host CPU per certificate, and outside C_Sign (C_Sign's CPU taken from the raw rate of one
session: SoftHSM signs in the caller's process);
(3) an RSA-4096 sub-CA's batch sign against raw C_Sign with the same number of sessions;
(4) command latency on a home whose log has 10k / 100k / 1M entries (bench/big_home.py grows
a real home) against the same commands on a fresh home;
(5) a CRL of --crl entries on that home against `openssl ca -gencrl` (time, peak memory);
(6) where a batch's time goes now (cProfile, one process).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import multiprocessing
import os
import pstats
import resource
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_batch import (  # noqa: E402
    measured,
    openssl_ca_run,
    openssl_gencrl,
    openssl_setup,
    raw_rate,
)
from bench.big_home import grow  # noqa: E402
from bench.common import make_bundle, make_csrs, make_home, median, signer, tempdir  # noqa: E402

ROWS: list[tuple[str, str, str, str, str]] = []


def row(figure: str, anchor: str, now: str, ratio: str, target: str) -> None:
    ROWS.append((figure, anchor, now, ratio, target))
    print(f"  -> {figure}: {now} vs {anchor}: {ratio} ({target})", flush=True)


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(fn, *a, **k) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Wall time and CPU (this process's children: commands, their workers, openssl)."""
    c, t = cpu(), time.perf_counter()
    fn(*a, **k)
    return time.perf_counter() - t, cpu() - c


def fresh(fn, *a):  # type: ignore[no-untyped-def]
    """``fn(*a)`` in a new process: SoftHSM reads SOFTHSM2_CONF once per process, and each
    section has a store of its own (the current one, set by ``make_home``)."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, a)


class Clock:
    """Ceremony times that only go forward (I9), a minute apart."""

    def __init__(self) -> None:
        self.t = dt.datetime(2026, 11, 29, 12, tzinfo=dt.UTC)

    def __call__(self) -> str:
        self.t += dt.timedelta(minutes=1)
        return self.t.strftime("%Y-%m-%dT%H:%M:%SZ")


def batch_vs_openssl(args: argparse.Namespace, at: Clock) -> None:
    work = tempdir("bench-speed-")
    home, pin_file, pin = make_home(work)
    csrs = make_csrs(work / "csrs", args.n)
    conf, keyargs, cert = fresh(openssl_setup, work)
    ours, theirs = [], []
    for run in range(1, args.runs + 1):  # interleaved: machine noise hits both alike
        bundle = make_bundle(work, home, pin_file, csrs, run)
        auth = ("--pin-file", pin_file, "--at", at())
        parts = [timed(signer, home, "batch", "import", bundle, *auth),
                 timed(signer, home, "batch", "sign", f"ra1-{run}", *auth),
                 timed(signer, home, "batch", "export", f"ra1-{run}", "--out",
                       work / f"r{run}.res", *auth)]
        ours.append(parts)
        theirs.append(timed(openssl_ca_run, work, conf, keyargs, cert, csrs))
        print(f"  run {run}: import/sign/export " + " / ".join(f"{w:.1f}" for w, _ in parts)
              + f" s; openssl ca {theirs[-1][0]:.1f} s", flush=True)
    n = args.n
    wall = median([sum(w for w, _ in p) for p in ours])
    ocpu = median([sum(c for _, c in p) for p in ours]) / n
    owall, tcpu = median([w for w, _ in theirs]), median([c for _, c in theirs]) / n
    for i, name in enumerate(("import", "sign", "export")):
        print(f"  {name:7} median {median([p[i][0] for p in ours]):7.2f} s")
    row(f"batch of {n:,} P-256 requests -> P-384 sub-CA, import + sign + export, every check",
        f"`openssl ca -infiles`: {n / owall:.0f}/s", f"{n / wall:.0f}/s",
        f"**{owall / wall:.2f}**", ">= 0.5")
    r1 = median([raw_rate(pin, "class1-key", 1, "ecdsa") for _ in range(args.runs)])
    ro = median([raw_rate("bench-openssl-pin", "ossl-key", 1, "ecdsa", token="bench-openssl")
                 for _ in range(args.runs)])
    row("CPU per certificate", f"openssl {tcpu * 1e3:.2f} ms (token signing included)",
        f"{ocpu * 1e3:.2f} ms", f"{ocpu / tcpu:.1f}x", "")
    row("host CPU per certificate outside C_Sign",
        f"openssl {(tcpu - 1 / ro) * 1e3:.2f} ms; openssl's whole cost {tcpu * 1e3:.2f} ms",
        f"{(ocpu - 1 / r1) * 1e3:.2f} ms (C_Sign P-384: {1e3 / r1:.2f} ms)",
        f"{(ocpu - 1 / r1) / tcpu:.1f}x openssl's whole cost", "<= 1.0 for >= 1.0x openssl")


def rsa(args: argparse.Namespace, at: Clock) -> None:
    work = tempdir("bench-speed-rsa-")
    home, pin_file, pin = make_home(work, "rsa-4096")
    csrs = make_csrs(work / "csrs", args.rsa_n)
    signs = []
    for run in range(1, args.runs + 1):
        bundle = make_bundle(work, home, pin_file, csrs, run)
        auth = ("--pin-file", pin_file, "--at", at())
        signer(home, "batch", "import", bundle, *auth)
        signs.append(timed(signer, home, "batch", "sign", f"ra1-{run}", *auth)[0])
    raw = median([raw_rate(pin, "class1-key", args.workers, "rsa") for _ in range(args.runs)])
    ours = args.rsa_n / median(signs)
    row(f"RSA-4096 CA, {args.rsa_n} requests (batch sign)",
        f"raw `C_Sign`, {args.workers} sessions: {raw:.0f}/s", f"{ours:.0f}/s",
        f"**{ours / raw:.2f}**", ">= 0.5")


COMMANDS = (("token status",), ("ca list",), ("batch show", "ra1-1"), ("key list", "LOGIN"))


def latencies(home: Path, pin_file: Path, at: Clock, runs: int) -> dict[str, float]:
    out = {}
    for cmd in COMMANDS:
        argv = [*cmd[0].split(), *[a for a in cmd[1:] if a != "LOGIN"]]
        times = []
        for _ in range(runs):
            extra = ["--pin-file", str(pin_file), "--at", at()] if "LOGIN" in cmd else []
            times.append(timed(signer, home, *argv, *extra)[0])
        out[cmd[0]] = median(times)
    return out


def big_home(args: argparse.Namespace, at: Clock) -> None:
    work = tempdir("bench-speed-big-")
    home, pin_file, pin = make_home(work)
    csrs = make_csrs(work / "csrs", 20)  # a small batch, for `batch show`
    bundle = make_bundle(work, home, pin_file, csrs, 1)
    signer(home, "batch", "import", bundle, "--pin-file", pin_file, "--at", at())
    signer(home, "batch", "sign", "ra1-1", "--pin-file", pin_file, "--at", at())
    small = latencies(home, pin_file, at, args.runs)
    print("  fresh home: " + ", ".join(f"{k} {v:.2f} s" for k, v in small.items()), flush=True)
    with open(home / "log" / "ceremony.jsonl", "rb") as f:
        size = sum(1 for _ in f)
    for target in args.sizes:
        t = time.perf_counter()
        size = fresh(grow, home, pin, max(0, target - size))
        grew = time.perf_counter() - t
        # The first login after growing verifies the whole grown log once (what an appliance
        # whose log was verified at its last session never does) and keeps its state.
        first = timed(signer, home, "key", "list", "--pin-file", pin_file, "--at", at())[0]
        lat = latencies(home, pin_file, at, args.runs)
        print(f"  {size:,} entries (grown in {grew:.0f} s; first full verification {first:.1f} s):"
              + ", ".join(f" {k} {v:.2f} s" for k, v in lat.items()), flush=True)
        worst = max(lat[k] / small[k] for k in small if k != "key list")
        row(f"`token status`, `ca list`, `batch show` on a home whose log has {size:,} entries",
            "the same on a fresh home: " + " / ".join(f"{small[k]:.2f}" for k in small
                                                       if k != "key list") + " s",
            " / ".join(f"{lat[k]:.2f}" for k in lat if k != "key list") + " s",
            f"**{worst:.2f}x** (worst)", "<= 1.5x")
        row(f"a login (`key list`) on that home ({size:,} entries)",
            f"{small['key list']:.2f} s", f"{lat['key list']:.2f} s",
            f"+{lat['key list'] - small['key list']:.2f} s", "<= +1 s")
    if args.crl:
        crl(args, at, work, home, pin, pin_file)


def crl(args: argparse.Namespace, at: Clock, work: Path, home: Path, pin: str,
        pin_file: Path) -> None:
    db = sqlite3.connect(home / "ledger.sqlite")
    issued = db.execute("SELECT count(*) FROM certificates WHERE subscriber LIKE 'bench-%'"
                        ).fetchone()[0]
    db.close()
    size = fresh(grow, home, pin, max(0, args.crl - issued), args.crl)
    signer(home, "key", "list", "--pin-file", pin_file, "--at", at())  # verifies it once
    conf, keyargs, cert = fresh(openssl_setup, work)
    ours, theirs = [], []
    for _ in range(args.runs):
        ours.append(measured([sys.executable, "-m", "signer.cli", "--home", str(home), "crl",
                              "issue", "class1", "--pin-file", str(pin_file), "--at", at()]))
        theirs.append(openssl_gencrl(conf, keyargs, cert, args.crl))
        print(f"  CRL: ours {ours[-1][0]:.1f} s {ours[-1][1]:.0f} MiB; openssl "
              f"{theirs[-1][0]:.1f} s {theirs[-1][1]:.0f} MiB", flush=True)
    t_o, m_o = median([t for t, _ in ours]), median([m for _, m in ours])
    t_t, m_t = median([t for t, _ in theirs]), median([m for _, m in theirs])
    row(f"CRL of {args.crl:,} entries (log of {size:,} entries)",
        f"`openssl ca -gencrl`: {t_t:.1f} s, {m_t:.0f} MiB", f"{t_o:.1f} s, {m_o:.0f} MiB",
        f"**{t_o / t_t:.2f}x / {m_o / m_t:.2f}x**", "<= 0.5x / <= 0.5x")


def where(args: argparse.Namespace, at: Clock) -> None:
    print(fresh(_where, args.profile_n, at()))


def _where(n: int, at: str) -> str:
    """One process (no workers), cProfile: shares of the import + sign of ``n`` requests."""
    from signer.core.clock import parse_time
    from signer.service import batches
    from signer.service.session import Credentials, Session
    from signer.service.signing import sign_batch

    work = tempdir("bench-speed-prof-")
    home, pin_file, pin = make_home(work)
    bundle = make_bundle(work, home, pin_file, make_csrs(work / "csrs", n), 1)
    os.environ["SIGNER_WORKERS"] = "1"
    from signer.core.lint import prepare_linters
    prepare_linters(["server"])  # built once per process: the steady state is profiled
    app = Session(home)
    app.unlock(Credentials(pin=pin), parse_time(at))
    prof = cProfile.Profile()
    prof.enable()
    sign_batch(app, batches.import_batch(app, bundle.read_bytes()).batch)
    prof.disable()
    app.close()
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    total = sum(v[3] for k, v in stats.items() if k[2] in ("import_batch", "sign_batch"))

    def cum(fname: str, func: str) -> float:
        return sum(v[3] for k, v in stats.items() if k[0].endswith(fname) and k[2] == func)

    parts = {
        "pkilint (one lint a certificate)": cum("lint.py", "lint_der"),
        "policy at import (CSR parse and signature, checks)": cum("engine.py", "evaluate_batch"),
        "token C_Sign": cum("token.py", "raw_sign"),
        "software verify (I5: token layer and signed-bytes check)":
            cum("keys.py", "_verified") + cum("sigalg.py", "verify_bytes"),
        "TBS build + throwaway signature": cum("issuance.py", "build_certificate")
            + cum("lint.py", "_throwaway_copy"),
        "ceremony log appends": cum("session.py", "log_many"),
        "ledger writes": cum("db.py", "add_certificates"),
    }
    lines = [f"\n(6) where the time goes: import + sign of {n}, one process, {total:.1f} s "
             "profiled (cProfile inflates Python-heavy parts)"]
    lines += [f"    {label:58} {t:6.2f} s {100 * t / total:5.1f}%" for label, t in parts.items()]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rsa-n", type=int, default=400)
    ap.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--crl", type=int, default=1_000_000)
    ap.add_argument("--profile-n", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--skip", nargs="*", default=[], choices=["batch", "rsa", "big", "where"])
    args = ap.parse_args()
    os.environ["SIGNER_WORKERS"] = str(args.workers)
    print(f"bench_speed {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores, "
          f"{args.workers} workers, medians of {args.runs}", flush=True)
    at = Clock()
    if "batch" not in args.skip:
        batch_vs_openssl(args, at)
    if "rsa" not in args.skip:
        rsa(args, at)
    if "big" not in args.skip:
        big_home(args, at)
    if "where" not in args.skip:
        where(args, at)
    print("\n| figure | anchor | now | ratio | target |\n|---|---|---|---|---|")
    for r in ROWS:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
