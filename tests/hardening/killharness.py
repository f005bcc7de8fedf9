"""SIGKILL trials for the batch ceremony: set up, kill one step, recover, resume, check I2-I4.

A trial runs the steps import -> sign -> revoke + CRL -> export on a fresh copy of a prepared
home. One step runs under tests/hardening/killpoint.py and dies by SIGKILL, either at a
deterministic point (``KILLPOINT``) or when the ceremony log has grown by a random number of
lines (polled, no timing sleeps). The step is then retried as an operator would: a log with a
torn last line must be refused with a clear message until it is recovered, a staged batch is
not imported twice, an existing output is never overwritten. Then the remaining steps run and
``check_invariants`` reads the ledger and the log directly. Shared by tests/hardening/test_kill.py
and bench/soak_kill.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).resolve().parent / "killpoint.py"
LATER = "2026-11-29T11:00:00Z"
STEPS = ("import", "sign", "crl", "export")
MIN_SERIAL_BITS = 64


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "SIGNER_WORKERS": "0"}
    env.pop("KILLPOINT", None)
    env.update(extra or {})
    return env


def signer(home: Path | None, *args: str | Path,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, str(DRIVER)] + (["--home", str(home)] if home else [])
    proc = subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True,
                          env=_env(env), timeout=600, cwd=ROOT)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def make_csr(path: Path, dns: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns)]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns)]), critical=False)
           .sign(key, hashes.SHA256()))
    path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))


@dataclass(frozen=True)
class Prepared:
    """A home with a trusted RA (never touched by trials) and a request bundle for it."""

    template: Path
    pin_file: Path
    bundle: Path
    batch: str
    accepted: tuple[str, ...]
    rejected: tuple[str, ...]


def prepare(base_home: Path, pin_file: Path, work: Path, n: int, at: str) -> Prepared:
    """Copy ``base_home`` (a hierarchy with CA 'class1'), trust an RA, pack ``n`` requests.

    Two extra requests are hostile (names the RA never verified) and must never be signed.
    """
    work.mkdir(parents=True, exist_ok=True)
    template = work / "template"
    shutil.copytree(base_home, template)
    ra = work / "ra.key"
    p = signer(None, "request", "keygen", "--out", ra)
    assert p.returncode == 0, p.stderr
    p = signer(template, "ra", "trust", "ra1", f"{ra}.pub", "--pin-file", pin_file, "--at", at)
    assert p.returncode == 0, p.stderr
    reqs = []
    for i in range(n):
        dns = f"host{i}.example.org"
        make_csr(work / f"r{i}.csr", dns)
        reqs.append({"id": f"r{i}", "ca": "class1", "profile": "server", "csr": f"r{i}.csr",
                     "subscriber": f"m{i}", "verified": {"dns": [dns], "email": [], "name": None,
                                                         "points": 10}})
    rejected = []
    for i in range(2):
        make_csr(work / f"h{i}.csr", f"bank{i}.example.com")
        reqs.append({"id": f"h{i}", "ca": "class1", "profile": "server", "csr": f"h{i}.csr",
                     "subscriber": f"x{i}", "verified": {"dns": [f"other{i}.example.org"],
                                                         "email": [], "name": None, "points": 10}})
        rejected.append(f"h{i}")
    spec = work / "spec.json"
    spec.write_text(json.dumps({"ra": "ra1", "requests": reqs, "revocations": []}))
    bundle = work / "batch.req"
    p = subprocess.run([sys.executable, str(DRIVER), "request", "pack", str(spec), "--ra-key",
                        str(ra), "--seq", "1", "--out", str(bundle), "--at", at],
                       capture_output=True, text=True, env=_env(), cwd=work)
    assert p.returncode == 0, p.stderr
    return Prepared(template, pin_file, bundle, "ra1-1",
                    tuple(f"r{i}" for i in range(n)), tuple(rejected))


@dataclass
class Trial:
    step: str
    how: str  # a KILLPOINT spec, or "lines:K" (kill once the log grew by K lines)
    chunk: int = 8
    killed: bool = False
    refused_first: str = ""  # the clear message of a refused retry (torn log tail)
    recovered: bool = False
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _log_lines(home: Path) -> int:
    try:
        return (home / "log" / "ceremony.jsonl").read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _run_killed(home: Path, args: list[str | Path], trial: Trial) -> None:
    env = {"KILLPOINT_CHUNK": str(trial.chunk)}
    if trial.how.startswith("lines:"):
        grow = int(trial.how.split(":")[1])
        start = _log_lines(home)
        proc = subprocess.Popen([sys.executable, str(DRIVER), "--home", str(home), *map(str, args)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env(env),
                                cwd=ROOT)
        while proc.poll() is None:
            if _log_lines(home) - start >= grow:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.0005)
        proc.wait(timeout=600)
        trial.killed = proc.returncode == -signal.SIGKILL
        if proc.stderr is not None:
            proc.stderr.close()
        return
    env["KILLPOINT"] = trial.how
    p = subprocess.run([sys.executable, str(DRIVER), "--home", str(home), *map(str, args)],
                       capture_output=True, text=True, env=_env(env), cwd=ROOT, timeout=600)
    trial.killed = p.returncode == -signal.SIGKILL
    if not trial.killed:
        assert "Traceback" not in p.stderr, p.stderr


def has_recover_verb() -> bool:
    p = signer(None, "audit", "recover", "--help")
    return p.returncode == 0


CONFIRMATION = "I have a copy of the damaged log"


def needs_recovery(stderr: str) -> bool:
    """The appliance refused to start because the log ends in a crash tail."""
    return "audit recover" in stderr or "truncated record" in stderr


def recover(home: Path, pin_file: Path, trial: Trial) -> None:
    """`signer audit recover` when this build has it, else cut a torn line in-process."""
    if has_recover_verb():
        p = signer(home, "audit", "recover", "--confirm", CONFIRMATION, "--pin-file", pin_file,
                   "--at", LATER)
        if p.returncode == 0:
            trial.recovered = True
        else:
            trial.problems.append(f"audit recover failed: {p.stderr.strip()}")
        return
    from signer.store.log import CeremonyLog

    if CeremonyLog.repair_truncated_tail(home / "log" / "ceremony.jsonl"):
        trial.recovered = True


def _step_args(step: str, prep: Prepared, work: Path, home: Path, attempt: int) -> list[str | Path]:
    auth: list[str | Path] = ["--pin-file", prep.pin_file, "--at", LATER]
    if step == "import":
        return ["batch", "import", prep.bundle, *auth]
    if step == "sign":
        return ["batch", "sign", prep.batch, *auth]
    if step == "crl":
        return ["crl", "issue", "class1", "--out", work / f"class1-{attempt}.crl", *auth]
    return ["batch", "export", prep.batch, "--out", work / f"result-{attempt}.res", *auth]


def _revoke_one(home: Path, prep: Prepared) -> None:
    db = sqlite3.connect(home / "ledger.sqlite")
    try:
        row = db.execute("SELECT serial FROM certificates WHERE batch_id = ? AND request_id = ?",
                         (prep.batch, prep.accepted[0])).fetchone()
    finally:
        db.close()
    if row is None:
        return
    p = signer(home, "revoke", "class1", row[0], "--reason", "keyCompromise",
               "--pin-file", prep.pin_file, "--at", LATER)
    if p.returncode != 0 and "already revoked" not in p.stderr:
        raise AssertionError(p.stderr)


def _retry(step: str, prep: Prepared, work: Path, home: Path, trial: Trial) -> None:
    """Run a step to completion after a kill, as an operator would."""
    for attempt in range(1, 4):
        p = signer(home, *_step_args(step, prep, work, home, attempt))
        if p.returncode == 0:
            return
        err = p.stderr.strip()
        if needs_recovery(err) and not trial.recovered:
            trial.refused_first = err
            recover(home, prep.pin_file, trial)
            continue
        if step == "import" and ("already imported" in err or "not greater" in err):
            return  # the first run staged it (all or nothing); never staged twice
        trial.problems.append(f"{step} retry {attempt} failed: {err}")
        return
    trial.problems.append(f"{step}: still failing after recovery")


def run_trial(prep: Prepared, work: Path, trial: Trial, *, full: bool = True) -> Trial:
    """One trial in ``work`` (created); returns ``trial`` with its problems filled in.

    ``full`` runs every step; otherwise the steps stop at the killed one (faster, for CI).
    """
    t0 = time.perf_counter()
    home = work / "home"
    shutil.copytree(prep.template, home)
    steps = STEPS if full else STEPS[:STEPS.index(trial.step) + 1]
    for step in steps:
        if step == "crl":
            _revoke_one(home, prep)
        if step == trial.step:
            _run_killed(home, _step_args(step, prep, work, home, 0), trial)
            _retry(step, prep, work, home, trial)
        else:
            p = signer(home, *_step_args(step, prep, work, home, 0))
            if p.returncode != 0:
                if needs_recovery(p.stderr) and not trial.recovered:
                    trial.refused_first = p.stderr.strip()
                    recover(home, prep.pin_file, trial)
                    _retry(step, prep, work, home, trial)
                else:
                    trial.problems.append(f"{step} failed: {p.stderr.strip()}")
        if trial.problems:
            break
    # A step after a kill may leave a sign run short; sign again (idempotent) before checking.
    p = signer(home, "batch", "sign", prep.batch, "--pin-file", prep.pin_file, "--at", LATER,
               "--json")
    if p.returncode != 0:
        trial.problems.append(f"final sign failed: {p.stderr.strip()}")
    elif "sign" in steps and json.loads(p.stdout)["issued"] != 0:
        trial.problems.append("the final sign run still found requests to sign")
    trial.problems += check_invariants(home, prep, work)
    trial.seconds = time.perf_counter() - t0
    return trial


def prep_digest(prep: Prepared) -> str:
    return hashlib.sha256(prep.bundle.read_bytes()).hexdigest()


def _entries(home: Path) -> list[dict]:
    out = []
    for line in (home / "log" / "ceremony.jsonl").read_bytes().split(b"\n"):
        if line:
            out.append(json.loads(line))
    return out


def check_invariants(home: Path, prep: Prepared, work: Path) -> list[str]:
    """I2, I3, I4 and 'nothing lost, nothing doubled', read from the ledger and the log."""
    problems: list[str] = []
    db = sqlite3.connect(home / "ledger.sqlite")
    try:
        certs = db.execute("SELECT ca, serial, batch_id, request_id, cert_sha256, cert_der "
                           "FROM certificates").fetchall()
        crls = db.execute("SELECT ca, number, sha256, der FROM crls ORDER BY rowid").fetchall()
    finally:
        db.close()
    per_request = Counter((b, r) for _, _, b, r, _, _ in certs if b is not None)
    for rid in prep.accepted:
        if per_request[(prep.batch, rid)] != 1:
            problems.append(f"request {rid}: {per_request[(prep.batch, rid)]} certificates")
    for rid in prep.rejected:
        if per_request[(prep.batch, rid)]:
            problems.append(f"rejected request {rid} was signed")
    # I3: serials positive, >= 64 significant bits, <= 20 octets, unique per CA.
    seen_serials: set[tuple[str, str]] = set()
    for ca, serial, _, _, _, der in certs:
        value = int(serial, 16)
        cert = x509.load_der_x509_certificate(bytes(der))
        if cert.serial_number != value or value <= 0 or value.bit_length() > 159 or (
                value.bit_length() < MIN_SERIAL_BITS):
            problems.append(f"serial {serial} of {ca} breaks I3")
        if (ca, serial) in seen_serials:
            problems.append(f"serial {serial} of {ca} is used twice (I3)")
        seen_serials.add((ca, serial))
    entries = _entries(home)
    issued = [e for e in entries if e["type"] in ("cert.issued", "ca.created")]
    logged = Counter(e["data"]["cert_sha256"] for e in issued)
    ledger_shas = Counter(c[4] for c in certs)
    for sha in ledger_shas:
        if logged[sha] != 1:
            problems.append(f"certificate {sha[:12]}: in the ledger, {logged[sha]} log entries (I2)")
    for sha in logged:
        if sha not in ledger_shas:
            problems.append(f"certificate {sha[:12]}: logged as issued, not in the ledger (I2)")
    per_logged_request = Counter((e["data"]["batch"], e["data"]["id"]) for e in issued
                                 if e["type"] == "cert.issued")
    problems += [f"request {k[1]} logged as issued {n} times" for k, n in per_logged_request.items()
                 if n > 1]
    # The import is on the record: the batch's digest and one verdict per request.
    imports = [e["data"] for e in entries if e["type"] == "batch.imported"]
    if [d["digest"] for d in imports] != [prep_digest(prep)]:
        problems.append(f"{len(imports)} batch.imported entries for the one staged batch")
    verdicts = Counter(e["data"]["id"] for e in entries if e["type"] == "verdict")
    if set(verdicts) != set(prep.accepted + prep.rejected) or set(verdicts.values()) != {1}:
        problems.append("the log does not hold exactly one verdict per request")
    # I2 write-ahead: every issued certificate's intent is logged before it.
    intents = {(e["data"]["batch"], e["data"]["id"], e["data"]["serial"]): e["seq"]
               for e in entries if e["type"] == "issue.intent"}
    for e in issued:
        if e["type"] != "cert.issued":
            continue
        d = e["data"]
        seq = intents.get((d["batch"], d["id"], d["serial"]))
        if seq is None or seq >= e["seq"]:
            problems.append(f"certificate for {d['id']}: no intent logged before it (I2)")
    # I4: CRL numbers strictly increase per CA, in the ledger and in the log; both agree.
    last: dict[str, int] = {}
    for ca, number, _, der in crls:
        crl = x509.load_der_x509_crl(bytes(der))
        ext = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        if ext != number or number <= last.get(ca, 0):
            problems.append(f"CRL {number} of {ca} does not increase (I4)")
        last[ca] = number
    last = {}
    logged_crls = [e["data"] for e in entries if e["type"] == "crl.issued"]
    for d in logged_crls:
        if d["number"] <= last.get(d["ca"], 0):
            problems.append(f"CRL {d['number']} of {d['ca']} logged out of order (I4)")
        last[d["ca"]] = d["number"]
    if sorted(c[2] for c in crls) != sorted(d["crl_sha256"] for d in logged_crls):
        problems.append("the CRLs in the ledger and the CRLs in the log differ (I2)")
    # No partial output: every result bundle and CRL written verifies, whole.
    from signer.service.audit import audit_verify
    from signer.service.online import verify_result
    from signer.store.ledger import Ledger

    ledger = Ledger(home / "ledger.sqlite")
    try:
        key = bytes.fromhex(ledger.get_meta("log_public_key") or "")
        pub = work / "appliance.pub"
        pub.write_bytes(ed25519.Ed25519PublicKey.from_public_bytes(key).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        for res in sorted(work.glob("result-*.res")):
            out = work / f"unpacked-{res.stem}"
            shutil.rmtree(out, ignore_errors=True)
            try:
                verify_result(res, pub, out)
            except Exception as exc:  # noqa: BLE001 - any failure is a finding here
                problems.append(f"{res.name} does not verify: {exc}")
        for f in sorted(work.glob("class1-*.crl")):
            try:
                x509.load_pem_x509_crl(f.read_bytes())
            except ValueError:
                problems.append(f"{f.name} is a partial CRL")
        report = audit_verify(home / "log" / "ceremony.jsonl", key, ledger=ledger)
    finally:
        ledger.close()
    if not report.ok:
        problems.append(f"audit verify: {report.log.first_error or report.problems}")
    return problems


def random_trials(rng: random.Random, n: int, batch_size: int, chunk: int = 8) -> list[Trial]:
    """``n`` trials over every step and every kind of kill point, drawn from ``rng``."""
    # Events per step (upper bounds that keep most kills inside the run).
    chunks = -(-batch_size // chunk)
    appends = {"import": 4, "sign": 3 + 2 * chunks, "crl": 4, "export": 5}
    commits = {"import": 1, "sign": chunks + 1, "crl": 1, "export": 1}
    signs = {"import": 1, "sign": batch_size + 1, "crl": 2, "export": 3}
    lines = {"import": batch_size + 4, "sign": 2 * batch_size + 4, "crl": 4, "export": 5}
    trials = []
    for _ in range(n):
        step = rng.choice(STEPS)
        kind = rng.choice(("append", "torn", "commit", "sign", "lines", "write"))
        if kind == "append":
            how = f"append:{rng.randint(1, appends[step])}:{rng.choice(('before', 'after'))}"
        elif kind == "torn":
            how = f"torn:{rng.randint(1, appends[step])}"
        elif kind == "commit":
            how = f"commit:{rng.randint(1, commits[step])}"
        elif kind == "sign":
            how = f"sign:{rng.randint(1, signs[step])}:{rng.choice(('before', 'after'))}"
        elif kind == "write":  # only CRL issue and export write output files
            step = rng.choice(("crl", "export"))
            how = f"write:{rng.randint(1, 2)}"
        else:
            how = f"lines:{rng.randint(1, lines[step])}"
        trials.append(Trial(step, how, chunk))
    return trials
