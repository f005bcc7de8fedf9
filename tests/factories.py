"""Shared test factories: member CSRs, RA-verified facts, request bundles packed through the
real CLI, and the standard good and hostile requests of the batch tests."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import AT, run_signer


def make_csr(path: Path, *, key=None, cn: str | None = None, dns=(), emails=(), ca=False) -> None:
    key = key or ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else []
    b = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    sans = [x509.DNSName(d) for d in dns] + [x509.RFC822Name(e) for e in emails]
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if ca:
        b = b.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    path.write_bytes(b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))


def facts(dns=(), email=(), name=None, points=0):
    return {"dns": list(dns), "email": list(email), "name": name, "points": points}


def pack(o: Path, seq: int, requests, revocations=()):
    spec = o / f"spec-{seq}.json"
    spec.write_text(json.dumps({"ra": "ra1", "requests": requests, "revocations": list(revocations)}))
    out = o / f"batch-{seq}.req"
    run_signer("request", "pack", spec, "--ra-key", o / "ra.key", "--seq", str(seq), "--out", out,
               "--at", AT, check=True)
    return out


GOOD = [
    {"id": "good", "ca": "class1", "profile": "server", "csr": "good.csr", "subscriber": "m1",
     "verified": facts(dns=["www.example.org", "example.org"], points=10)},
    {"id": "client", "ca": "class3", "profile": "client", "csr": "client.csr", "subscriber": "m2",
     "verified": facts(email=["alice@example.net"], name="Alice Example", points=100)},
    {"id": "mail", "ca": "class1", "profile": "email", "csr": "mail.csr", "subscriber": "m3",
     "verified": facts(email=["bob@example.net"])},
]
HOSTILE = [
    {"id": "unverified", "ca": "class1", "profile": "server", "csr": "unverified.csr",
     "subscriber": "m4", "verified": facts(dns=["www.example.org"], points=10)},
    {"id": "ca", "ca": "class1", "profile": "server", "csr": "ca.csr", "subscriber": "m5",
     "verified": facts(dns=["evil.example.org"])},
    {"id": "garbage", "ca": "class1", "profile": "server", "csr": "garbage.csr", "subscriber": "m6",
     "verified": facts(dns=["x.example.org"])},
    {"id": "lowpoints", "ca": "class3", "profile": "server", "csr": "good.csr", "subscriber": "m1",
     "verified": facts(dns=["www.example.org", "example.org"], points=20)},
    {"id": "rootleaf", "ca": "root", "profile": "server", "csr": "good.csr", "subscriber": "m1",
     "verified": facts(dns=["www.example.org", "example.org"], points=20)},
]
