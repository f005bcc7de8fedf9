"""Batch-signing bench (issue 3): airgap-signer against `openssl ca` and the raw C_Sign rate.

Everything runs side by side in one invocation, on one throwaway SoftHSM token, and prints
ratios (medians of --runs runs). It never asserts: numbers are for the closing note.

  .venv/bin/python bench/bench_batch.py                 # the full bench (10,000 requests)
  .venv/bin/python bench/bench_batch.py --n 1000 --crl 100000 --rsa-n 300   # quicker

Sections: (1) N P-256 requests to a P-384 sub-CA: import + sign + export through the CLI
with every check on; (2) `openssl ca -batch -infiles` with the libp11 engine on the same
token and key; (3) raw C_Sign of that key, 1 and W sessions; (4) an RSA-4096 sub-CA against
its raw C_Sign rate with the same number of sessions; (5) a CRL of --crl entries seeded
into the ledger against `openssl ca -gencrl`; (6) where the time goes (a profiled run).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import hashlib
import multiprocessing
import os
import pstats
import resource
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    LATER,
    MODULE,
    make_bundle,
    make_csrs,
    make_home,
    median,
    signer,
    tempdir,
)

ENGINE_CONF = """
openssl_conf = init
[init]
engines = engines
[engines]
pkcs11 = p11
[p11]
engine_id = pkcs11
MODULE_PATH = {module}
init = 0
[ca]
default_ca = bench
[bench]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/new
serial = $dir/serial
crlnumber = $dir/crlnumber
default_md = sha384
default_days = 180
default_crl_days = 7
policy = anything
unique_subject = no
copy_extensions = copy
[anything]
commonName = supplied
# The extension set of the appliance's server profile (bench_speed compares like with like):
# the SAN comes from the request (copy_extensions), no subjectKeyIdentifier (BR 7.1.2.7.6).
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
certificatePolicies = 2.23.140.1.2.1
authorityKeyIdentifier = keyid
crlDistributionPoints = URI:http://crl.example.org/class1.crl
authorityInfoAccess = caIssuers;URI:http://ca.example.org/class1.crt
"""


_MEASURE = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
            "r = subprocess.run(sys.argv[1:], capture_output=True); "
            "print(r.returncode, time.perf_counter() - t, "
            "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def measured(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall time and peak RSS (MB) of one command, measured by a fresh wrapper process."""
    out = subprocess.run([sys.executable, "-c", _MEASURE, *argv], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    if out[0] != "0":
        raise SystemExit(f"{argv[:4]} failed")
    return float(out[1]), int(out[2]) / 1024


def child_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def timed(fn, *a, **k) -> float:
    t = time.perf_counter()
    fn(*a, **k)
    return time.perf_counter() - t


def openssl_setup(work: Path, key_alg: str = "ec-p384") -> tuple[Path, list[str], Path]:
    """A sibling token in the same SoftHSM store with a CA key for `openssl ca`.

    libp11 0.4.12 (Debian 12's engine) cannot enumerate the keys of a token that holds an
    Ed25519 key ("Unable to enumerate private keys"; checked here with pkcs11-tool), and the
    appliance's log key is Ed25519, so openssl signs with a key of the same type made the
    same way in a sibling token; section (3) prints both keys' raw C_Sign rates.
    """
    from hsm.token import Token

    d = work / "openssl-ca"
    (d / "new").mkdir(parents=True, exist_ok=True)
    pin = "bench-openssl-pin"
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "bench-openssl",
                    "--so-pin", "so-" + pin, "--pin", pin], check=True, capture_output=True)
    tok = Token(MODULE, label="bench-openssl")
    tok.login(pin)
    tok.generate_key("ossl-key", key_alg)
    tok.close()
    conf = d / "openssl.cnf"
    conf.write_text(ENGINE_CONF.format(module=MODULE, dir=d))
    keyargs = ["-engine", "pkcs11", "-keyform", "engine", "-keyfile",
               f"pkcs11:token=bench-openssl;object=ossl-key;type=private;pin-value={pin}"]
    cert = d / "ca.pem"
    r = subprocess.run(["openssl", "req", "-new", "-x509", "-engine", "pkcs11", "-keyform", "engine",
                        "-key", keyargs[-1], "-subj", "/CN=OpenSSL Bench CA", "-days", "400",
                        "-sha384", "-addext", "basicConstraints=critical,CA:TRUE",
                        "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", str(cert)],
                       capture_output=True, text=True, env={**os.environ, "OPENSSL_CONF": str(conf)})
    if r.returncode:
        raise SystemExit(f"openssl req failed: {r.stderr[-500:]}")
    return conf, keyargs, cert


def openssl_ca_run(work: Path, conf: Path, keyargs: list[str], cert: Path, csrs: list[Path]) -> float:
    d = conf.parent
    for f in d.glob("new/*"):
        f.unlink()
    (d / "index.txt").write_text("")
    (d / "serial").write_text("1000\n")
    env = {**os.environ, "OPENSSL_CONF": str(conf)}
    t = time.perf_counter()
    r = subprocess.run(["openssl", "ca", "-batch", "-config", str(conf), *keyargs, "-cert", str(cert),
                        "-extensions", "leaf", "-notext", "-out", str(d / "out.pem"),
                        "-infiles", *map(str, csrs)], capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - t
    if r.returncode:
        raise SystemExit(f"openssl ca failed: {r.stderr[-500:]}")
    return elapsed


def _raw_rate(args: tuple[str, str, str, float, str, str]) -> int:
    module, pin, label, seconds, mech, token = args
    import pkcs11
    from pkcs11 import Attribute, Mechanism, ObjectClass

    tok = pkcs11.lib(module).get_token(token_label=token)
    with tok.open(user_pin=pin) as s:
        key = next(s.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: label}))
        data = hashlib.sha384(b"x").digest() if mech == "ecdsa" else b"x" * 200
        m = Mechanism.ECDSA if mech == "ecdsa" else Mechanism.SHA256_RSA_PKCS
        n, end = 0, time.perf_counter() + seconds
        while time.perf_counter() < end:
            key.sign(data, mechanism=m)
            n += 1
        return n


def raw_rate(pin: str, label: str, sessions: int, mech: str, seconds: float = 3.0,
             token: str = "bench") -> float:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(sessions) as pool:
        counts = pool.map(_raw_rate, [(MODULE, pin, label, seconds, mech, token)] * sessions)
    return sum(counts) / seconds


def run_batches(work: Path, home: Path, pin_file: Path, csrs: list[Path], runs: int,
                first_seq: int) -> list[dict[str, float]]:
    out = []
    auth = ("--pin-file", pin_file, "--at", LATER)
    for i in range(runs):
        seq = first_seq + i
        bundle = make_bundle(work, home, pin_file, csrs, seq)
        t_imp = timed(signer, home, "batch", "import", bundle, *auth)
        t_sign = timed(signer, home, "batch", "sign", f"ra1-{seq}", *auth)
        t_exp = timed(signer, home, "batch", "export", f"ra1-{seq}", "--out", work / f"r{seq}.res", *auth)
        out.append({"import": t_imp, "sign": t_sign, "export": t_exp,
                    "total": t_imp + t_sign + t_exp, "peak_mb": child_peak_mb()})
    return out


def seed_revoked(home: Path, n: int) -> None:
    db = sqlite3.connect(home / "ledger.sqlite")
    far = "2027-06-01T00:00:00+00:00"
    rows = ((format((1 << 80) + i, "x"), far) for i in range(n))
    with db:
        db.executemany(
            "INSERT INTO certificates (ca, serial, profile, subscriber, spki_sha256, not_before, "
            "not_after, cert_der, cert_sha256, issued_at, revoked_at, revocation_reason) "
            "VALUES ('class1', ?, 'server', 'seed', 'seed', '2026-11-01T00:00:00+00:00', ?, x'', "
            "lower(hex(randomblob(32))), '2026-11-01T00:00:00Z', '2026-11-02T00:00:00Z', "
            "'keyCompromise')", rows)
    db.close()


def openssl_gencrl(conf: Path, keyargs: list[str], cert: Path, n: int) -> tuple[float, float]:
    d = conf.parent
    with open(d / "index.txt", "w") as f:
        for i in range(n):
            serial = format((1 << 80) + i, "X")
            serial = "0" * (len(serial) % 2) + serial  # openssl wants whole octets
            f.write(f"R\t270601000000Z\t261102000000Z,keyCompromise\t{serial}"
                    f"\tunknown\t/CN=seed{i}\n")
    (d / "crlnumber").write_text("01\n")
    return measured(["openssl", "ca", "-gencrl", "-config", str(conf), *keyargs, "-cert",
                     str(cert), "-out", str(d / "crl.pem")],
                    env={**os.environ, "OPENSSL_CONF": str(conf)})


def profile_breakdown(home: Path, pin: str, work: Path, csrs: list[Path], seq: int) -> None:
    from signer.core.clock import parse_time
    from signer.service import batches as batch
    from signer.service.session import Credentials, Session
    from signer.service.signing import sign_batch

    bundle = make_bundle(work, home, work / "token" / "user.pin", csrs, seq)
    os.environ["SIGNER_WORKERS"] = "1"
    app = Session(home)
    app.unlock(Credentials(pin=pin), parse_time("2026-11-29T13:00:00Z"))
    prof = cProfile.Profile()
    prof.enable()
    res = batch.import_batch(app, bundle.read_bytes())
    sign_batch(app, res.batch)
    prof.disable()
    app.close()
    del os.environ["SIGNER_WORKERS"]
    stats = pstats.Stats(prof)
    total = sum(v[3] for k, v in stats.stats.items() if k[2] in ("import_batch", "sign_batch"))
    parts = {"pkilint (2 lints a certificate)": ("lint.py", "lint_der"),
             "policy (CSR parse, signature, checks)": ("engine.py", "evaluate_batch"),
             "token C_Sign": ("token.py", "raw_sign"),
             "TBS build + throwaway signature": ("issuance.py", "build_certificate"),
             "ceremony log appends (fsync)": ("session.py", "log_many"),
             "ledger writes": ("ledger.py", "add_certificates")}
    print(f"\n(6) where the time goes: {len(csrs)} requests, one process, {total:.2f} s profiled")
    for label, (fname, func) in parts.items():
        cum = sum(v[3] for k, v in stats.stats.items() if k[0].endswith(fname) and k[2] == func)
        print(f"    {label:40} {cum:7.2f} s  {100 * cum / total:5.1f}%")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--crl", type=int, default=1_000_000)
    ap.add_argument("--rsa-n", type=int, default=400)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    os.environ["SIGNER_WORKERS"] = str(args.workers)
    work = tempdir("bench-batch-")
    print(f"bench in {work}; {args.n} requests, {args.runs} runs, {args.workers} workers, "
          f"{os.cpu_count()} cores")
    home, pin_file, pin = make_home(work)
    csrs = make_csrs(work / "csrs", args.n)

    # (1) and (2), interleaved run by run so machine noise hits both alike.
    ours = run_batches(work, home, pin_file, csrs, args.runs, 1)
    conf, keyargs, cert = openssl_setup(work)
    theirs = [openssl_ca_run(work, conf, keyargs, cert, csrs) for _ in range(args.runs)]
    t_ours = median([r["total"] for r in ours])
    t_theirs = median(theirs)
    print(f"\n(1) airgap-signer, {args.n} P-256 requests -> P-384 sub-CA, every check on:")
    for k in ("import", "sign", "export", "total"):
        print(f"    {k:7} median {median([r[k] for r in ours]):8.2f} s")
    print(f"    throughput {args.n / t_ours:8.1f} certificates/s; peak memory "
          f"{max(r['peak_mb'] for r in ours):.0f} MB (largest process)")
    print(f"(2) openssl ca -batch -infiles, libp11 engine, sibling-token P-384 key: median {t_theirs:.2f} s, "
          f"{args.n / t_theirs:.1f} certificates/s (checks nothing)")
    print(f"    RATIO airgap-signer / openssl ca throughput = {t_theirs / t_ours:.3f} (target >= 0.5)")

    # (3) raw C_Sign.
    r1 = median([raw_rate(pin, "class1-key", 1, "ecdsa") for _ in range(args.runs)])
    rw = median([raw_rate(pin, "class1-key", args.workers, "ecdsa") for _ in range(args.runs)])
    ro = median([raw_rate("bench-openssl-pin", "ossl-key", 1, "ecdsa", token="bench-openssl")
                 for _ in range(args.runs)])
    print(f"(3) raw C_Sign P-384: {r1:.0f}/s with 1 session, {rw:.0f}/s with {args.workers} "
          f"(openssl's sibling-token key: {ro:.0f}/s with 1 session); airgap-signer reaches "
          f"{args.n / t_ours / rw:.3f} of the {args.workers}-session rate")

    # (4) RSA-4096.
    rwork = tempdir("bench-rsa-")
    rhome, rpin_file, rpin = make_home(rwork, "rsa-4096")
    rcsrs = make_csrs(rwork / "csrs", args.rsa_n)
    rruns = run_batches(rwork, rhome, rpin_file, rcsrs, args.runs, 1)
    rsign = median([r["sign"] for r in rruns])
    rraw = median([raw_rate(rpin, "class1-key", args.workers, "rsa") for _ in range(args.runs)])
    print(f"(4) RSA-4096 sub-CA, {args.rsa_n} requests: batch sign {args.rsa_n / rsign:.1f}/s vs raw "
          f"C_Sign {rraw:.1f}/s with {args.workers} sessions: RATIO {args.rsa_n / rsign / rraw:.3f} "
          "(target >= 0.8)")

    # (5) A big CRL from the ledger (back on the first home's SoftHSM store).
    os.environ["SOFTHSM2_CONF"] = str(work / "token" / "softhsm2.conf")
    seed_revoked(home, args.crl)
    ours = []
    for i in range(args.runs):
        at = (dt.datetime(2026, 11, 29, 12, tzinfo=dt.UTC) + dt.timedelta(minutes=i))
        ours.append(measured([sys.executable, "-m", "signer.cli", "--home", str(home), "crl",
                              "issue", "class1", "--pin-file", str(pin_file), "--at",
                              at.strftime("%Y-%m-%dT%H:%M:%SZ")]))
    theirs_crl = [openssl_gencrl(conf, keyargs, cert, args.crl) for _ in range(args.runs)]
    t_oc, m_oc = median([t for t, _ in ours]), median([m for _, m in ours])
    t_tc, m_tc = median([t for t, _ in theirs_crl]), median([m for _, m in theirs_crl])
    print(f"(5) CRL of {args.crl} entries: airgap-signer {t_oc:.2f} s / {m_oc:.0f} MB, openssl ca "
          f"-gencrl {t_tc:.2f} s / {m_tc:.0f} MB: time RATIO {t_oc / t_tc:.2f} (target <= 0.75), "
          f"memory RATIO {m_oc / m_tc:.2f} (target <= 1)")
    profile_breakdown(home, pin, work, csrs[: min(500, args.n)], 100)


if __name__ == "__main__":
    main()
