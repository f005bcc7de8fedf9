"""Shared set-up for the benches: a throwaway SoftHSM token, a rehearsal home, CSRs, bundles."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parent.parent
MODULE = next(p for p in ("/usr/lib/softhsm/libsofthsm2.so",
                           "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so") if Path(p).exists())
AT = "2026-11-29T10:00:00Z"
LATER = "2026-11-29T11:00:00Z"


def median(xs: list[float]) -> float:
    return statistics.median(xs)


@contextmanager
def timer() -> Iterator[Callable[[], float]]:
    start = time.perf_counter()
    end: list[float] = []
    yield lambda: (end[0] if end else time.perf_counter()) - start
    end.append(time.perf_counter())


def signer(home: Path, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "signer.cli", "--home", str(home),
                           *map(str, args)], capture_output=True, text=True)
    if check and proc.returncode:
        raise SystemExit(f"signer {args} failed: {proc.stderr}")
    return proc


def make_token(workdir: Path, label: str) -> tuple[Path, str]:
    subprocess.run([str(ROOT / "softhsm-config" / "make-token.sh"), str(workdir / "token"), label],
                   check=True, capture_output=True)
    os.environ["SOFTHSM2_CONF"] = str(workdir / "token" / "softhsm2.conf")
    pin_file = workdir / "token" / "user.pin"
    return pin_file, pin_file.read_text()


def make_home(workdir: Path, sub_alg: str = "ec-p384") -> tuple[Path, Path, str]:
    """A rehearsal home with a P-384 root and a sub-CA 'class1' of ``sub_alg``."""
    pin_file, pin = make_token(workdir, "bench")
    home = workdir / "home"
    auth = ("--pin-file", pin_file, "--at", AT)
    signer(home, "init", "--module", MODULE, "--token", "bench", "--rehearsal", *auth)
    signer(home, "key", "generate", "root-key", "--algorithm", "ec-p384", *auth)
    signer(home, "key", "generate", "class1-key", "--algorithm", sub_alg, *auth)
    signer(home, "ca", "root", "root", "--key", "root-key", "--subject", "CN=Bench Root,O=Bench,C=AU",
           *auth)
    signer(home, "ca", "sub", "class1", "--issuer", "root", "--key", "class1-key", "--subject",
           "CN=Bench Class 1,O=Bench,C=AU", *auth)
    return home, pin_file, pin


def make_csrs(outdir: Path, n: int) -> list[Path]:
    outdir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        key = ec.generate_private_key(ec.SECP256R1())
        name = f"host{i}.example.org"
        csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
               .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
               .sign(key, hashes.SHA256()))
        p = outdir / f"r{i}.csr"
        p.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
        paths.append(p)
    return paths


def make_bundle(workdir: Path, home: Path, pin_file: Path, csrs: list[Path], seq: int = 1) -> Path:
    ra_key = workdir / "ra.key"
    if not ra_key.exists():
        signer(home, "request", "keygen", "--out", ra_key)
        signer(home, "ra", "trust", "ra1", f"{ra_key}.pub", "--pin-file", pin_file, "--at", AT)
    spec = {"ra": "ra1", "requests": [
        {"id": p.stem, "ca": "class1", "profile": "server", "csr": str(p), "subscriber": f"m{p.stem}",
         "verified": {"dns": [f"host{p.stem[1:]}.example.org"], "email": [], "name": None,
                      "points": 10}} for p in csrs], "revocations": []}
    spec_path = workdir / f"spec-{seq}.json"
    spec_path.write_text(json.dumps(spec))
    out = workdir / f"batch-{seq}.req"
    signer(home, "request", "pack", spec_path, "--ra-key", ra_key, "--seq", str(seq), "--out", out,
           "--at", AT)
    return out


def tempdir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))
