"""A CA's life after its first certificate, through the CLI, checked by independent tools
(issue 14): re-certification, rollover links, cross-certificates, declarative sub-CA profiles
with name constraints and usages, pre-signed OCSP responses and delegated responders, and the
outputs a relying party loads. `openssl verify`, `openssl ocsp`, `openssl pkcs7` and the
pkilint command-line linters are the judges; nothing on a signing path is mocked.

One home is built once on its own SoftHSM token (``lifecycle``) with every key the tests
need; each test works on a copy (the token is shared: keys made in a test get unique labels).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.conftest import AT, ROOT, run_signer
from tests.factories import facts, make_csr, pack
from tests.pkilint_check import pkilint_errors

# Ceremony times: never backwards within a home (I9); every copy starts after T0.
T1, T2, T3, T4, T5 = (f"2026-12-0{d}T10:00:00Z" for d in range(1, 6))
EPOCH_2027 = "1798761600"  # 2027-01-01: when relying parties check the chains
ROOT_DN = "CN=Lifecycle Root CA,O=Community CA,C=AU"


@dataclass(frozen=True)
class Life:
    home: Path
    pin: Path
    module: str


@pytest.fixture(scope="module")
def life(token_env, tmp_path_factory) -> Life:
    pin = token_env.new_token("lifecycle")
    home = tmp_path_factory.mktemp("life") / "home"
    auth = ("--pin-file", pin, "--at", AT)
    run_signer("init", "--module", token_env.module, "--token", "lifecycle", "--rehearsal",
               *auth, home=home, check=True)
    for label, alg in (("root-key", "ec-p384"), ("class1-key", "ec-p256"),
                       ("class3-key", "ec-p384"), ("root2-key", "ec-p256"),
                       ("tls-key", "ec-p256"), ("rsa-root-key", "rsa-3072")):
        run_signer("key", "generate", label, "--algorithm", alg, *auth, home=home, check=True)
    run_signer("ca", "root", "root", "--key", "root-key", "--subject", ROOT_DN, *auth,
               home=home, check=True)
    for name in ("class1", "class3"):
        run_signer("ca", "sub", name, "--issuer", "root", "--key", f"{name}-key", "--subject",
                   f"CN=Lifecycle {name.title()} CA,O=Community CA,C=AU", *auth, home=home,
                   check=True)
    o = home.parent / "online"
    o.mkdir()
    run_signer("request", "keygen", "--out", o / "ra.key", check=True)
    run_signer("ra", "trust", "ra1", o / "ra.key.pub", *auth, home=home, check=True)
    return Life(home, pin, token_env.module)


@pytest.fixture
def home(life, tmp_path) -> Path:
    dst = tmp_path / "home"
    shutil.copytree(life.home, dst)
    shutil.copytree(life.home.parent / "online", tmp_path / "online")
    return dst


def ok(life: Life, home: Path, *args: object, at: str) -> str:
    return run_signer(*args, "--pin-file", life.pin, "--at", at, home=home, check=True).stdout


def ok_json(life: Life, home: Path, *args: object, at: str) -> dict:
    return json.loads(ok(life, home, *args, "--json", at=at))


def refused(life: Life, home: Path, *args: object, at: str, code: str) -> str:
    """Exit 1, one line naming the code, and nothing made: no file, no certificate."""
    before = sorted(p.name for p in (home / "certs").iterdir())
    count = _cert_count(home)
    r = run_signer(*args, "--pin-file", life.pin, "--at", at, home=home)
    assert r.returncode == 1, (r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("signer: error:")]
    assert len(lines) == 1 and f"signer: error: {code}:" in lines[0], r.stderr
    assert sorted(p.name for p in (home / "certs").iterdir()) == before
    assert _cert_count(home) == count
    return lines[0]


def _cert_count(home: Path) -> int:
    with sqlite3.connect(home / "ledger.sqlite") as db:
        return int(db.execute("SELECT COUNT(*) FROM certificates").fetchone()[0])


def shown(home: Path, name: str) -> dict:
    return json.loads(run_signer("ca", "show", name, "--json", home=home, check=True).stdout)


def pem_file(tmp: Path, name: str, *pems: str) -> Path:
    p = tmp / name
    p.write_text("".join(pems))
    return p


def openssl_verify(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", "verify", "-x509_strict", "-attime", EPOCH_2027,
                           *map(str, args)], capture_output=True, text=True)


def verified(*args: object) -> None:
    r = openssl_verify(*args)
    assert r.returncode == 0 and r.stdout.strip().endswith("OK"), r.stdout + r.stderr


def batch(life: Life, home: Path, seq: int, requests: list[dict], at: str,
          approve: tuple[str, ...] = ()) -> tuple[dict, Path]:
    """Import, sign, export and verify one batch; the batch as shown, the unpacked result."""
    o = home.parent / "online"
    ok(life, home, "batch", "import", pack(o, seq, requests), at=at)
    flags = [x for a in approve for x in ("--approve-ca", a)]
    ok(life, home, "batch", "sign", f"ra1-{seq}", *flags, at=at)
    res = home.parent / f"r{seq}.res"
    ok(life, home, "batch", "export", f"ra1-{seq}", "--out", res, at=at)
    pub = home.parent / "appliance.pub"
    if not pub.exists():
        pub.write_text(run_signer("audit", "pubkey", home=home, check=True).stdout)
    out = home.parent / f"unpacked-{seq}"
    run_signer("result", "verify", res, "--trust", pub, "--out", out, check=True)
    b = json.loads(run_signer("batch", "show", f"ra1-{seq}", "--json", home=home,
                              check=True).stdout)
    return b, out


def server_request(o: Path, rid: str, dns: list[str], ca: str = "class3",
                   cn: str | None = None) -> dict:
    make_csr(o / f"{rid}.csr", cn=cn, dns=dns)
    return {"id": rid, "ca": ca, "profile": "server", "csr": f"{rid}.csr",
            "subscriber": f"m-{rid}", "verified": facts(dns=dns, points=100)}


def audit_ok(home: Path) -> None:
    r = run_signer("audit", "verify", home=home)
    assert r.returncode == 0 and "RESULT: OK" in r.stdout, r.stdout + r.stderr


# -- 1. re-certification -------------------------------------------------------------------


def test_recertified_class3_keeps_old_and_new_leaves_valid(life, home, tmp_path):
    """Done-when: Class 3 certified again under the same key; a relying party with only the
    new chain accepts the leaves issued before and after."""
    o = tmp_path / "online"
    first = shown(home, "class3")
    b1, out1 = batch(life, home, 1, [server_request(o, "before", ["before.example.org"])], T1)
    c = ok_json(life, home, "ca", "recertify", "class3", "--days", "2000", at=T2)
    b2, out2 = batch(life, home, 2, [server_request(o, "after", ["after.example.org"])], T3)
    now = shown(home, "class3")
    old = x509.load_pem_x509_certificate(first["pem"].encode())
    new = x509.load_pem_x509_certificate(now["pem"].encode())
    # Same subject, key and key identifier; a new serial and validity, inside the root's.
    assert new.subject == old.subject and new.public_key() == old.public_key()
    ski = x509.SubjectKeyIdentifier
    assert new.extensions.get_extension_for_class(ski) == \
        old.extensions.get_extension_for_class(ski)
    assert format(new.serial_number, "x") == c["serial"] != format(old.serial_number, "x")
    assert new.not_valid_before_utc > old.not_valid_before_utc
    # Both certificates stay in the ledger; `ca show` gives the current one and the chain.
    kinds = [(x["kind"], x["current"]) for x in now["certificates"]]
    assert kinds == [("sub", False), ("recertify", True)]
    assert [x509.load_pem_x509_certificate(p.encode()).subject for p in now["chain"]] == \
        [new.subject, x509.Name.from_rfc4514_string(ROOT_DN)]
    # The relying party: only the new chain (the new Class 3 certificate and the root).
    root = pem_file(tmp_path, "root.pem", now["chain"][1])
    inter = pem_file(tmp_path, "class3-new.pem", now["chain"][0])
    verified("-CAfile", root, "-untrusted", inter, out1 / "certs" / "before.pem",
             out2 / "certs" / "after.pem")
    # The second result carries the current certificate in its chain.
    assert (out2 / "chain" / "class3.pem").read_text() == now["pem"]
    assert (out1 / "chain" / "class3.pem").read_text() == first["pem"]
    assert pkilint_errors(now["pem"].encode()) == []
    audit_ok(home)


def test_a_root_is_certified_again_by_itself(life, home, tmp_path):
    c = ok_json(life, home, "ca", "recertify", "root", at=T1)
    root = shown(home, "root")
    cert = x509.load_pem_x509_certificate(root["pem"].encode())
    assert cert.issuer == cert.subject and format(cert.serial_number, "x") == c["serial"]
    # Sub-CAs issued under the first root certificate verify under the second.
    verified("-CAfile", pem_file(tmp_path, "root.pem", root["pem"]),
             home / "certs" / "class1.pem")
    audit_ok(home)


# -- 2. rollover and cross-certification ----------------------------------------------------------


def test_rollover_links_verify_both_ways_and_subs_move_to_the_new_root(life, home, tmp_path):
    """Done-when: both link certificates verify (-partial_chain) in both directions; a
    sub-CA certified again under the new root is reachable from either root."""
    o = tmp_path / "online"
    _, before = batch(life, home, 1, [server_request(o, "old", ["old.example.org"])], T1)
    r = ok_json(life, home, "ca", "rollover", "root", "root2", "--key", "root2-key",
                "--subject", "CN=Lifecycle Root CA 2026,O=Community CA,C=AU", at=T2)
    forward, backward = (Path(x["file"]) for x in r["links"])  # old -> new, new -> old
    old_root, new_root = home / "certs" / "root.pem", home / "certs" / "root2.pem"
    verified("-partial_chain", "-CAfile", old_root, forward)
    verified("-partial_chain", "-CAfile", new_root, backward)
    for link in (forward, backward):
        assert pkilint_errors(link.read_bytes(), "lint_cabf_serverauth_cert", "-t",
                              "INTERNAL-CROSS-CA") == []
    # Leaves under the old root reach the new root through the backward link ...
    via = pem_file(tmp_path, "via-backward.pem", (home / "certs" / "class3.pem").read_text(),
                   backward.read_text())
    verified("-CAfile", new_root, "-untrusted", via, before / "certs" / "old.pem")
    # ... and after class3 moves to the new root, its leaves reach the old root forward.
    ok(life, home, "ca", "recertify", "class3", "--issuer", "root2", at=T3)
    _, after = batch(life, home, 2, [server_request(o, "new", ["new.example.org"])], T4)
    chain = shown(home, "class3")["chain"]
    assert len(chain) == 2 and x509.load_pem_x509_certificate(chain[1].encode()).subject == \
        x509.Name.from_rfc4514_string("CN=Lifecycle Root CA 2026,O=Community CA,C=AU")
    c3 = pem_file(tmp_path, "class3-under-root2.pem", chain[0])
    verified("-CAfile", new_root, "-untrusted", c3, after / "certs" / "new.pem",
             before / "certs" / "old.pem")
    via = pem_file(tmp_path, "via-forward.pem", chain[0], forward.read_text())
    verified("-CAfile", old_root, "-untrusted", via, after / "certs" / "new.pem")
    # Run again, the rollover finds its work done and makes nothing new.
    again = ok_json(life, home, "ca", "rollover", "root", "root2", "--key", "root2-key",
                    "--subject", "CN=Lifecycle Root CA 2026,O=Community CA,C=AU", at=T4)
    assert again["links"] == []
    audit_ok(home)


def _external_root(tmp: Path, bits: int | None = None) -> tuple[object, x509.Certificate]:
    """Another community's root CA, made elsewhere (software keys)."""
    key = rsa.generate_private_key(65537, bits) if bits else ec.generate_private_key(
        ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Other Community"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "Other Root CA")])
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=7300))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False,
                                         False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    (tmp / "other-root.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def _leaf_of(key: object, issuer: x509.Certificate, subject_key: object, dns: str) -> bytes:
    start = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([]))
            .issuer_name(issuer.subject).public_key(subject_key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns)]), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def test_cross_certificates_both_ways(life, home, tmp_path):
    """Our root cross-certifies another community's root (after the custodians approve its
    exact bytes), and the other root cross-certifies our Class 3 from our CSR: each side's
    leaves then verify from the other's trust anchor."""
    other_key, other = _external_root(tmp_path)
    src = tmp_path / "other-root.pem"
    line = refused(life, home, "ca", "cross-sign", "other", "--issuer", "root", "--from", src,
                   at=T1, code="cross.approval")
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    assert digest in line  # shown to the custodians, with its words
    c = ok_json(life, home, "ca", "cross-sign", "other", "--issuer", "root", "--from", src,
                "--approve", digest, at=T1)
    cross = Path(c["file"])
    cert = x509.load_pem_x509_certificate(cross.read_bytes())
    assert cert.subject == other.subject and cert.public_key() == other.public_key()
    assert cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier) == \
        other.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    verified("-partial_chain", "-CAfile", home / "certs" / "root.pem", cross)
    their_leaf = tmp_path / "their-leaf.pem"
    their_leaf.write_bytes(_leaf_of(other_key, other, ec.generate_private_key(ec.SECP256R1()),
                                    "www.other.example"))
    verified("-CAfile", home / "certs" / "root.pem", "-untrusted", cross, their_leaf)
    log = (home / "log" / "ceremony.jsonl").read_text()
    assert f'"input_sha256":"{digest}"' in log  # the approval, logged with the intent
    # The reverse: a CSR of our Class 3, signed in the token, that the other root signs.
    csr_out = tmp_path / "class3.csr"
    ok(life, home, "ca", "cross-csr", "class3", "--out", csr_out, at=T2)
    csr = x509.load_pem_x509_csr(csr_out.read_bytes())
    ours = x509.load_pem_x509_certificate((home / "certs" / "class3.pem").read_bytes())
    assert csr.is_signature_valid and csr.subject == ours.subject
    assert csr.public_key() == ours.public_key()
    theirs = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(other.subject)
              .public_key(csr.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(dt.datetime(2026, 6, 1, tzinfo=dt.UTC))
              .not_valid_after(dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
              .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
              .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False,
                                           False), critical=True)
              .add_extension(x509.SubjectKeyIdentifier.from_public_key(csr.public_key()),
                             critical=False)
              .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                  other.public_key()), critical=False)
              .sign(other_key, hashes.SHA256()))
    their_cross = pem_file(tmp_path, "class3-by-other.pem",
                           theirs.public_bytes(serialization.Encoding.PEM).decode())
    verified("-partial_chain", "-CAfile", tmp_path / "other-root.pem", their_cross)
    _, out = batch(life, home, 1, [server_request(tmp_path / "online", "x",
                                                  ["x.example.org"])], T2)
    verified("-CAfile", tmp_path / "other-root.pem", "-untrusted", their_cross,
             out / "certs" / "x.pem")
    # A cross-certificate for a key of ours, under another name, is refused.
    refused(life, home, "ca", "cross-sign", "evil", "--issuer", "root", "--from", csr_out,
            "--approve", hashlib.sha256(csr_out.read_bytes()).hexdigest(),
            at=T3, code="cross.own_key")
    audit_ok(home)


# -- 3. declarative sub-CA profiles --------------------------------------------------------------

TLS_PROFILE = """
[ca_profiles.tls]
kind = "sub"
path_len = 0
ekus = ["serverAuth", "clientAuth"]
permitted_dns = ["example.org"]
excluded_dns = ["private.example.org"]
excluded_ip = ["0.0.0.0/0", "::/0"]
permitted_dirnames = ["O=Community CA,C=AU"]  # RFC 4514: the last RDN first
policies = ["2.23.140.1.2.1"]
crl_url = "http://crl.example.org/tls/{issuer}.crl"
max_days = 1000

[ca_profiles.tls-narrow]
kind = "sub"
path_len = 0
ekus = ["serverAuth"]
permitted_dns = ["www.example.org"]
excluded_ip = ["0.0.0.0/0", "::/0"]
permitted_dirnames = ["O=Community CA,C=AU"]
policies = ["2.23.140.1.2.1"]

[cas.tlsca]
profiles = ["server", "email"]
crl_days = 7
"""


def test_a_constrained_tls_sub_ca_is_br_linted_and_enforced_on_a_batch(life, home, tmp_path):
    """Done-when: a sub-CA profile with name constraints and an EKU is issued, linted as a
    technically constrained TLS sub-CA, and its constraints refuse a batch's outsiders."""
    cfg = home / "signer.toml"
    cfg.write_text(cfg.read_text() + TLS_PROFILE)
    ok(life, home, "ca", "sub", "tlsca", "--issuer", "root", "--key", "tls-key", "--subject",
       "CN=Lifecycle TLS CA,O=Community CA,C=AU", "--profile", "tls", at=T1)
    pem = (home / "certs" / "tlsca.pem").read_bytes()
    cert = x509.load_pem_x509_certificate(pem)
    nc = cert.extensions.get_extension_for_class(x509.NameConstraints)
    assert nc.critical and [g.value for g in nc.value.permitted_subtrees][0] == "example.org"
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == \
        [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    dp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert dp[0].full_name[0].value == "http://crl.example.org/tls/root.crl"
    assert pkilint_errors(pem, "lint_cabf_serverauth_cert", "-t",
                          "INTERNAL-CONSTRAINED-TLS-CA") == []
    assert pkilint_errors(pem, "lint_cabf_serverauth_cert", "-d") == []  # pkilint agrees
    o = tmp_path / "online"
    make_csr(o / "mail.csr", emails=["a@example.org"])
    reqs = [server_request(o, "inside", ["www.example.org"], "tlsca", cn="www.example.org"),
            server_request(o, "outside", ["www.example.net"], "tlsca"),
            server_request(o, "excluded", ["db.private.example.org"], "tlsca"),
            server_request(o, "later", ["api.example.org"], "tlsca"),
            {"id": "mail", "ca": "tlsca", "profile": "email", "csr": "mail.csr",
             "subscriber": "m-mail", "verified": facts(email=["a@example.org"], points=100)}]
    ok(life, home, "batch", "import", pack(o, 1, reqs), at=T2)
    b = json.loads(run_signer("batch", "show", "ra1-1", "--json", home=home).stdout)
    verdicts = {r["id"]: (r["verdict"], [x["code"] for x in r["reasons"]]) for r in b["requests"]}
    assert verdicts == {"inside": ("accept", []), "later": ("accept", []),
                        "outside": ("reject", ["name.constraints"]),
                        "excluded": ("reject", ["name.constraints"]),
                        "mail": ("reject", ["ca.eku"])}
    notices = {r["id"]: [n["code"] for n in r["notices"]] for r in b["requests"]}
    assert notices["inside"] == ["notice.subject_omitted"]  # the CN: outside the dirName
    # Between import and signing, the CA is certified again with narrower constraints: the
    # request they now exclude fails alone at signing, the rest is signed.
    ok(life, home, "ca", "recertify", "tlsca", "--profile", "tls-narrow", at=T3)
    rep = ok_json(life, home, "batch", "sign", "ra1-1", at=T3)
    assert rep["issued"] == 1 and [f["code"] for f in rep["failed"]] == ["issue.constraints"]
    res = tmp_path / "r1.res"
    ok(life, home, "batch", "export", "ra1-1", "--out", res, at=T3)
    pub = tmp_path / "pub.pem"
    pub.write_text(run_signer("audit", "pubkey", home=home, check=True).stdout)
    out = tmp_path / "unpacked"
    run_signer("result", "verify", res, "--trust", pub, "--out", out, check=True)
    leaf = (out / "certs" / "inside.pem").read_bytes()
    assert x509.load_pem_x509_certificate(leaf).subject == x509.Name([])
    assert pkilint_errors(leaf, "lint_cabf_serverauth_cert", "-t", "DV-FINAL-CERTIFICATE") == []
    # OpenSSL applies the constraints along the path: the leaf inside them verifies ...
    verified("-CAfile", home / "certs" / "root.pem", "-untrusted", out / "chain" / "tlsca.pem",
             out / "certs" / "inside.pem")
    outcomes = json.loads((out / "outcomes.json").read_text())["outcomes"]
    assert {o["id"]: o["status"] for o in outcomes}["later"] == "rejected"
    audit_ok(home)


BAD_PROFILES = [
    ("own-cn", 'kind = "sub"\npermitted_dns = ["example.org"]\n',
     "CN=ca.example.com,O=Community CA,C=AU", "ca.constraints"),
    ("own-dn", 'kind = "sub"\nekus = ["serverAuth"]\npermitted_dns = ["example.org"]\n'
               'permitted_dirnames = ["C=AU,O=Other Org"]\npolicies = ["2.23.140.1.2.1"]\n',
     "CN=Constrained CA,O=Community CA,C=AU", "ca.constraints"),
    ("p256-sha512", 'kind = "sub"\nhash = "sha512"\n', "CN=Hash CA,O=Community CA,C=AU",
     "ca.hash"),
    ("pss-on-ec", 'kind = "sub"\nhash = "sha384"\nrsa_pss = true\n',
     "CN=PSS CA,O=Community CA,C=AU", "ca.hash"),
]


@pytest.mark.parametrize(("pname", "table", "subject", "code"), BAD_PROFILES,
                         ids=[b[0] for b in BAD_PROFILES])
def test_a_profile_its_own_ca_certificate_would_violate_is_refused(life, home, pname, table,
                                                                     subject, code):
    cfg = home / "signer.toml"
    cfg.write_text(cfg.read_text() + f"\n[ca_profiles.{pname}]\n{table}")
    refused(life, home, "ca", "sub", f"bad-{pname}", "--issuer", "root", "--key", "tls-key",
            "--subject", subject, "--profile", pname, at=T1, code=code)


@pytest.mark.parametrize(("table", "error"), [
    ('kind = "sub"\npermitted_ip = ["10.0.0.1/8"]\n', "host bits"),
    ('kind = "sub"\nekus = ["codeSigning"]\n', "ekus"),
    ('kind = "sub"\nekus = ["serverAuth", "emailProtection"]\n', "BR §7.1.2.10.6"),
    ('kind = "root"\nekus = ["serverAuth"]\n', "root certificate carries no ekus"),
    ('kind = "sub"\npermitted_dns = ["Example.org"]\n', "not a DNS subtree"),
    ('kind = "sub"\npermitted_dns = ["a.example.org"]\nexcluded_dns = ["example.org"]\n',
     "wholly excluded"),
    ('kind = "sub"\nhash = "md5"\n', "hash"),
    ('kind = "sub"\nmax_days = 99999\n', "max_days"),
    ('kind = "sub"\ncolour = "blue"\n', "unknown key"),
    ('kind = "sub"\ncrl_url = "ldap://x/{issuer}"\n', "crl_url"),
])
def test_profiles_are_validated_strictly(life, home, table, error):
    cfg = home / "signer.toml"
    cfg.write_text(cfg.read_text() + f"\n[ca_profiles.bad]\n{table}")
    r = run_signer("ca", "list", home=home)
    assert r.returncode == 1 and "ca_profiles.bad" in r.stderr and error in r.stderr, r.stderr


def test_rsa_root_with_sha512_and_a_pss_sub_ca(life, home, tmp_path):
    """CAcert's 2022 signing document asks for sha512WithRSAEncryption; RSA-PSS on request."""
    cfg = home / "signer.toml"
    cfg.write_text(cfg.read_text() + '\n[ca_profiles.root-sha512]\nkind = "root"\n'
                   'hash = "sha512"\n\n[ca_profiles.sub-pss]\nkind = "sub"\nhash = "sha512"\n'
                   'rsa_pss = true\n')
    ok(life, home, "ca", "root", "rsaroot", "--key", "rsa-root-key", "--subject",
       "CN=Lifecycle RSA Root,O=Community CA,C=AU", "--profile", "root-sha512", at=T1)
    root = x509.load_pem_x509_certificate((home / "certs" / "rsaroot.pem").read_bytes())
    assert root.signature_algorithm_oid == x509.SignatureAlgorithmOID.RSA_WITH_SHA512
    ok(life, home, "ca", "sub", "psssub", "--issuer", "rsaroot", "--key", "root2-key",
       "--subject", "CN=Lifecycle PSS Sub,O=Community CA,C=AU", "--profile", "sub-pss", at=T1)
    sub = (home / "certs" / "psssub.pem").read_bytes()
    assert x509.load_pem_x509_certificate(sub).signature_algorithm_oid == \
        x509.SignatureAlgorithmOID.RSASSA_PSS
    verified("-CAfile", home / "certs" / "rsaroot.pem", home / "certs" / "psssub.pem")
    assert pkilint_errors(sub) == []
    # An external sub-CA from a batch follows its profile's CA profile too.
    cfg.write_text(cfg.read_text() + '\n[profiles.subca-pss]\nkind = "subca"\nmax_days = 365\n'
                   'max_days_low_points = 365\nca_profile = "sub-pss"\n')
    o = tmp_path / "online"
    make_csr(o / "ext.csr", cn="External PSS CA", key=ec.generate_private_key(ec.SECP384R1()),
             ca=True)
    req = {"id": "ext", "ca": "rsaroot", "profile": "subca-pss", "csr": "ext.csr",
           "subscriber": "org-1", "verified": facts(name="External PSS CA", points=100)}
    _, out = batch(life, home, 1, [req], T2, approve=("ext",))
    ext = x509.load_pem_x509_certificate((out / "certs" / "ext.pem").read_bytes())
    assert ext.signature_algorithm_oid == x509.SignatureAlgorithmOID.RSASSA_PSS
    assert ext.signature_hash_algorithm is not None
    assert ext.signature_hash_algorithm.name == "sha512"
    verified("-CAfile", home / "certs" / "rsaroot.pem", out / "certs" / "ext.pem")
    audit_ok(home)


# -- bad input: one code and one line each, nothing half-made ---------------------------------


def test_lifecycle_refusals(life, home, tmp_path):
    refused(life, home, "ca", "recertify", "nope", at=T1, code="ca.unknown")
    refused(life, home, "ca", "recertify", "class3", "--days", "99999", at=T1,
            code="ca.validity")
    refused(life, home, "ca", "recertify", "root", "--issuer", "class1", at=T1,
            code="ca.profile")
    refused(life, home, "ca", "rollover", "class1", "root9", "--key", "root2-key",
            "--subject", "CN=X,O=Community CA,C=AU", at=T1, code="rollover.root")
    refused(life, home, "ca", "rollover", "root", "root9", "--key", "root2-key",
            "--subject", ROOT_DN, at=T1, code="rollover.subject")
    refused(life, home, "ca", "sub", "deeper", "--issuer", "class1", "--key", "tls-key",
            "--subject", "CN=Deeper,O=Community CA,C=AU", at=T1, code="ca.profile")
    line = refused(life, home, "ca", "recertify", "class1", "--issuer", "class1", at=T1,
                   code="ca.profile")
    assert "certify itself" in line
    _, weak_root = _external_root(tmp_path, bits=2048)
    src = tmp_path / "other-root.pem"
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    refused(life, home, "ca", "cross-sign", "weak", "--issuer", "root", "--from", src,
            "--approve", digest, at=T1, code="cross.key")
    refused(life, home, "ca", "cross-sign", "weak", "--issuer", "root", "--from", src,
            "--approve", "00" * 32, at=T1, code="cross.approval")
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    refused(life, home, "ca", "cross-sign", "x", "--issuer", "root", "--from", garbage,
            "--approve", "00" * 32, at=T1, code="cross.input")
    _, good_root = _external_root(tmp_path)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    refused(life, home, "ca", "cross-sign", "class1", "--issuer", "root", "--from", src,
            "--approve", digest, at=T1, code="cross.name")
    audit_ok(home)


def test_recertifying_a_ca_whose_token_key_was_replaced_is_refused(life, home, token_env):
    """The key under the CA's label is not the key its certificate names: refused before
    anything is logged as intended (I5)."""
    ok(life, home, "key", "generate", "doomed-key", "--algorithm", "ec-p256", at=T1)
    ok(life, home, "ca", "sub", "doomed", "--issuer", "root", "--key", "doomed-key",
       "--subject", "CN=Doomed CA,O=Community CA,C=AU", at=T1)
    destroy = ("import pkcs11, sys\n"
               "lib = pkcs11.lib(sys.argv[1])\n"
               "tok = lib.get_token(token_label='lifecycle')\n"
               "with tok.open(user_pin=open(sys.argv[2]).read().strip(), rw=True) as s:\n"
               "    for o in list(s.get_objects({pkcs11.Attribute.LABEL: 'doomed-key'})):\n"
               "        o.destroy()\n"
               # The insider's own key under the same label (the CLI refuses a label twice).
               "from hsm.token import Token\n"
               "t = Token(sys.argv[1], label='lifecycle')\n"
               "t.login(open(sys.argv[2]).read().strip())\n"
               "t.generate_key('doomed-key', 'ec-p256')\n")
    subprocess.run([sys.executable, "-c", destroy, life.module, str(life.pin)], check=True,
                   env=token_env.env(), capture_output=True, cwd=ROOT)
    log_before = (home / "log" / "ceremony.jsonl").read_text().count('"ca.cert.intent"')
    refused(life, home, "ca", "recertify", "doomed", at=T2, code="ca.key")
    assert (home / "log" / "ceremony.jsonl").read_text().count('"ca.cert.intent"') == \
        log_before


# -- 5. OCSP ----------------------------------------------------------------------------------------


def _ocsp(*args: object, status: str, attime: str = EPOCH_2027) -> str:
    """`openssl ocsp` verifies the response (signature, signer, chain at ``attime``) and
    prints the certificate's status (after a warning if its times are not the clock's)."""
    r = subprocess.run(["openssl", "ocsp", "-no_nonce", "-attime", attime,
                        *map(str, args)], capture_output=True, text=True)
    text = r.stdout + r.stderr
    assert r.returncode == 0 and "Response verify OK" in text, text
    assert re.search(rf"(: |\n){status}\n", text), text
    return text


def test_pre_signed_ocsp_responses_verify_with_openssl(life, home, tmp_path):
    """Done-when: the root's pre-signed response about Class 3's certificate, and a revoked
    leaf's, verify with `openssl ocsp`."""
    class3 = shown(home, "class3")["certificates"][0]["serial"]
    resp = tmp_path / "class3.ocsp"
    r = ok_json(life, home, "ocsp", "sign", "root", "--serial", class3, "--status", "good",
                "--next-update", "2027-06-01T00:00:00Z", "--out", resp, at=T1)
    assert r["status"] == "good" and Path(r["kept"]).exists()
    certs = home / "certs"
    _ocsp("-respin", resp, "-CAfile", certs / "root.pem", "-issuer", certs / "root.pem",
          "-cert", certs / "class3.pem", status="good")
    assert pkilint_errors(resp.read_bytes(), "lint_ocsp_response") == []
    # A leaf of class1, revoked: the response says so, with the reason and time.
    o = tmp_path / "online"
    b, out = batch(life, home, 1, [server_request(o, "gone", ["gone.example.org"], "class1")],
                   T2)
    serial = b["requests"][0]["serial"]
    refused(life, home, "ocsp", "sign", "class1", "--serial", serial, "--status", "revoked",
            "--next-update", "2027-01-01T00:00:00Z", at=T2, code="ocsp.status")
    ok(life, home, "revoke", "class1", serial, "--reason", "keyCompromise", at=T2)
    refused(life, home, "ocsp", "sign", "class1", "--serial", serial, "--status", "good",
            "--next-update", "2027-01-01T00:00:00Z", at=T2, code="ocsp.status")
    gone = tmp_path / "gone.ocsp"
    ok(life, home, "ocsp", "sign", "class1", "--serial", serial, "--status", "revoked",
       "--next-update", "2027-01-01T00:00:00Z", "--out", gone, at=T3)
    text = _ocsp("-respin", gone, "-CAfile", certs / "root.pem", "-issuer",
                  certs / "class1.pem", "-cert", out / "certs" / "gone.pem", status="revoked")
    assert "Reason: keyCompromise" in text
    # Bad input: a serial this CA never issued, a window too long or past the CA.
    refused(life, home, "ocsp", "sign", "root", "--serial", "abcdef", "--status", "good",
            "--next-update", "2027-06-01T00:00:00Z", at=T3, code="ocsp.unknown")
    refused(life, home, "ocsp", "sign", "class1", "--serial", class3, "--status", "good",
            "--next-update", "2027-06-01T00:00:00Z", at=T3, code="ocsp.unknown")
    refused(life, home, "ocsp", "sign", "root", "--serial", class3, "--status", "good",
            "--next-update", "2028-06-01T00:00:00Z", at=T3, code="ocsp.window")
    refused(life, home, "ocsp", "sign", "root", "--serial", class3, "--status", "good",
            "--next-update", "2026-12-02T00:00:00Z", at=T3, code="ocsp.window")
    audit_ok(home)


def test_a_delegated_responder_signs_for_its_ca_without_the_ca_key(life, home, tmp_path):
    """The ocsp profile: id-kp-OCSPSigning, id-pkix-ocsp-nocheck, short validity, approved by
    the custodians; the online responder's key (software, here) answers for class1."""
    o = tmp_path / "online"
    responder_key = ec.generate_private_key(ec.SECP256R1())
    make_csr(o / "resp.csr", cn="Lifecycle Class 1 OCSP Responder", key=responder_key)
    req = {"id": "resp", "ca": "class1", "profile": "ocsp", "csr": "resp.csr",
           "subscriber": "ocsp-online", "verified": facts(name="Lifecycle Class 1 OCSP Responder")}
    leaf = server_request(o, "member", ["member.example.org"], "class1")
    b, out = batch(life, home, 1, [req, leaf], T1, approve=("resp",))
    pem = (out / "certs" / "resp.pem").read_bytes()
    cert = x509.load_pem_x509_certificate(pem)
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == \
        [ExtendedKeyUsageOID.OCSP_SIGNING]
    cert.extensions.get_extension_for_class(x509.OCSPNoCheck)
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days < 31
    assert pkilint_errors(pem, "lint_cabf_serverauth_cert", "-t", "OCSP-RESPONDER") == []
    # The online side signs a response with the responder's own key.
    member = x509.load_pem_x509_certificate((out / "certs" / "member.pem").read_bytes())
    class1 = x509.load_pem_x509_certificate((out / "chain" / "class1.pem").read_bytes())
    now = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
    resp = (ocsp.OCSPResponseBuilder()
            .add_response(cert=member, issuer=class1, algorithm=hashes.SHA1(),
                          cert_status=ocsp.OCSPCertStatus.GOOD, this_update=now,
                          next_update=now + dt.timedelta(days=4), revocation_time=None,
                          revocation_reason=None)
            .responder_id(ocsp.OCSPResponderEncoding.HASH, cert).certificates([cert])
            .sign(responder_key, hashes.SHA256()))
    rf = tmp_path / "member.ocsp"
    rf.write_bytes(resp.public_bytes(serialization.Encoding.DER))
    _ocsp("-respin", rf, "-CAfile", out / "chain" / "root.pem", "-issuer",
          out / "chain" / "class1.pem", "-cert", out / "certs" / "member.pem",
          "-verify_other", out / "chain" / "class1.pem", status="good",
          attime="1797292800")  # 2026-12-15: the responder certificate lives 30 days
    audit_ok(home)


# -- 6. outputs -------------------------------------------------------------------------------


def test_fullchain_p7b_and_der_outputs_parse_with_openssl(life, home, tmp_path):
    o = tmp_path / "online"
    _, out = batch(life, home, 1, [server_request(o, "web", ["web.example.org"])], T1)
    certs = out / "certs"
    p7 = subprocess.run(["openssl", "pkcs7", "-inform", "DER", "-in", certs / "web.p7b",
                         "-print_certs", "-noout"], capture_output=True, text=True)
    assert p7.returncode == 0, p7.stderr
    subjects = sorted(ln.replace(" = ", "=") for ln in p7.stdout.splitlines()
                      if ln.startswith("subject="))
    assert subjects == ["subject=", "subject=C=AU, O=Community CA, CN=Lifecycle Class3 CA",
                        "subject=C=AU, O=Community CA, CN=Lifecycle Root CA"]
    der = subprocess.run(["openssl", "x509", "-inform", "DER", "-in", certs / "web.der",
                          "-noout", "-serial"], capture_output=True, text=True)
    assert der.returncode == 0, der.stderr
    full = (certs / "web.fullchain.pem").read_text()
    assert full.count("BEGIN CERTIFICATE") == 2  # the leaf and Class 3, not the root
    verified("-CAfile", out / "chain" / "root.pem", "-untrusted", certs / "web.fullchain.pem",
             certs / "web.pem")
    # The same forms of a CA from `ca show`, never over an existing file.
    p7b = tmp_path / "class3.p7b"
    run_signer("ca", "show", "class3", "--out", p7b, "--format", "p7b", home=home, check=True)
    r = subprocess.run(["openssl", "pkcs7", "-inform", "DER", "-in", p7b, "-print_certs",
                        "-noout"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.count("subject=") == 2, r.stdout + r.stderr
    again = run_signer("ca", "show", "class3", "--out", p7b, "--format", "der", home=home)
    assert again.returncode == 1 and "already exists" in again.stderr


# -- 8. names in subscriber certificates ----------------------------------------------------------


def test_names_in_subscriber_certificates_as_members_expect(life, home, tmp_path):
    """An assured member with a verified given name and surname gets an individual-validated
    e-mail certificate, the name in its script as verified; a member below the threshold whose
    CSR carries the name gets a certificate without it and a notice, not a refusal."""
    import unicodedata
    o = tmp_path / "online"
    name, given, surname = "Zoë Ñúñez-李", "Zoë", "Ñúñez-李"
    make_csr(o / "zoe.csr", cn=unicodedata.normalize("NFD", name), emails=["zoe@example.org"])
    make_csr(o / "low.csr", cn="Владимир Иванов", emails=["vlad@example.org"])
    zoe = {"id": "zoe", "ca": "class3", "profile": "email", "csr": "zoe.csr",
           "subscriber": "m-zoe", "verified": {**facts(email=["zoe@example.org"], name=name,
                                                       points=150),
                                               "given_name": given, "surname": surname}}
    low = {"id": "low", "ca": "class1", "profile": "client", "csr": "low.csr",
           "subscriber": "m-low", "verified": facts(email=["vlad@example.org"],
                                                    name="Владимир Иванов", points=10)}
    b, out = batch(life, home, 1, [zoe, low], T1)
    assert {r["id"]: r["verdict"] for r in b["requests"]} == {"zoe": "accept", "low": "accept"}
    cert = x509.load_pem_x509_certificate((out / "certs" / "zoe.pem").read_bytes())
    get = cert.subject.get_attributes_for_oid
    assert [a.value for a in get(NameOID.GIVEN_NAME)] == [given]
    assert [a.value for a in get(NameOID.SURNAME)] == [surname]
    assert [a.value for a in get(NameOID.COMMON_NAME)] == [name]  # the RA's text, NFC
    assert pkilint_errors((out / "certs" / "zoe.pem").read_bytes(), "lint_cabf_smime_cert",
                          "-t", "INDIVIDUAL-STRICT") == []
    low_cert = x509.load_pem_x509_certificate((out / "certs" / "low.pem").read_bytes())
    assert low_cert.subject == x509.Name([])
    outcomes = json.loads((out / "outcomes.json").read_text())["outcomes"]
    assert {o_["id"]: [r["code"] for r in o_["reasons"]] for o_ in outcomes} == {
        "zoe": [], "low": ["notice.name_omitted"]}
    # The online side checks the names against its own request bundle, parts included.
    res = home.parent / "r1.res"
    run_signer("result", "verify", res, "--trust", home.parent / "appliance.pub", "--out",
               tmp_path / "again", "--request", o / "batch-1.req", check=True)
