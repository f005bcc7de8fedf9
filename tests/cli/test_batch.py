"""The batch ceremony end to end through the CLI: pack, import, show, sign, export, verify."""

from __future__ import annotations

import json
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.conftest import AT, run_signer
from tests.factories import GOOD, HOSTILE, facts, make_csr, pack
from tests.pkilint_check import pkilint_errors

LATER = "2026-11-29T11:00:00Z"


@pytest.fixture
def online(tmp_path, copy_home, hierarchy):
    """An RA key trusted by a private copy of the hierarchy home, and some CSRs."""
    o = tmp_path / "online"
    o.mkdir()
    run_signer("request", "keygen", "--out", o / "ra.key", check=True)
    run_signer("ra", "trust", "ra1", o / "ra.key.pub", "--pin-file", hierarchy.pin_file,
               "--at", AT, home=copy_home, check=True)
    make_csr(o / "good.csr", cn="www.example.org", dns=["www.example.org", "example.org"])
    make_csr(o / "client.csr", cn="Alice Example", key=rsa.generate_private_key(65537, 2048))
    make_csr(o / "mail.csr", emails=["bob@example.net"])
    make_csr(o / "unverified.csr", dns=["www.example.org", "bank.example.com"])
    make_csr(o / "ca.csr", dns=["evil.example.org"], ca=True)
    (o / "garbage.csr").write_bytes(b"\x30\x82garbage")
    return o


def test_full_batch_ceremony(online, copy_home, hierarchy, tmp_path):
    pin = ("--pin-file", hierarchy.pin_file)
    bundle = pack(online, 1, GOOD + HOSTILE)
    r = run_signer("batch", "import", bundle, *pin, "--at", LATER, "--json", home=copy_home,
                   check=True)
    imp = json.loads(r.stdout)
    assert imp["batch"] == "ra1-1" and len(imp["digest"]) == 64
    shown = json.loads(run_signer("batch", "show", "ra1-1", "--json", home=copy_home,
                                  check=True).stdout)
    verdicts = {q["id"]: q for q in shown["requests"]}
    assert {k for k, v in verdicts.items() if v["verdict"] == "accept"} == {"good", "client", "mail"}
    codes = {k: {x["code"] for x in v["reasons"]} for k, v in verdicts.items()}
    assert "name.unverified" in codes["unverified"]
    assert "ext.ca" in codes["ca"]
    assert "csr.parse" in codes["garbage"]
    assert "assurance.points" in codes["lowpoints"]
    assert "ca.root_leaf" in codes["rootleaf"]

    run_signer("batch", "sign", "ra1-1", *pin, "--at", LATER, home=copy_home, check=True)
    # Idempotent: a second run signs nothing new.
    again = json.loads(run_signer("batch", "sign", "ra1-1", *pin, "--at", LATER, "--json",
                                  home=copy_home, check=True).stdout)
    assert again["issued"] == 0 and again["already_issued"] == 3
    shown = json.loads(run_signer("batch", "show", "ra1-1", "--json", home=copy_home,
                                  check=True).stdout)
    serials = {q["id"]: q["serial"] for q in shown["requests"]}
    assert all(serials[i] for i in ("good", "client", "mail"))
    assert not any(serials[h["id"]] for h in HOSTILE)

    res = tmp_path / "result.res"
    run_signer("batch", "export", "ra1-1", "--out", res, *pin, "--at", LATER, home=copy_home,
               check=True)
    again = run_signer("batch", "export", "ra1-1", "--out", res, *pin, "--at", LATER,
                       home=copy_home, check=False)
    assert "already exists" in again.stderr  # never overwrites
    pub = tmp_path / "appliance.pub"
    pub.write_text(run_signer("audit", "pubkey", home=copy_home, check=True).stdout)
    out = tmp_path / "unpacked"
    r = run_signer("result", "verify", res, "--trust", pub, "--out", out, "--json", check=True)
    summary = json.loads(r.stdout)
    assert summary["issued"] == 3 and summary["rejected"] == len(HOSTILE)

    root = copy_home / "certs" / "root.pem"
    chain = tmp_path / "chain.pem"
    chain.write_bytes(b"".join((copy_home / "certs" / f"{n}.pem").read_bytes()
                               for n in ("class1", "class3")))
    for rid, linter, extra in (("good", "lint_cabf_serverauth_cert", ("-t", "DV-FINAL-CERTIFICATE")),
                               ("client", "lint_pkix_cert", ()),
                               ("mail", "lint_cabf_smime_cert", ("-t", "MAILBOX-STRICT"))):
        pem = out / "certs" / f"{rid}.pem"
        v = subprocess.run(["openssl", "verify", "-attime", "1795953600", "-CAfile", root,
                            "-untrusted", chain, pem], capture_output=True, text=True)
        assert v.returncode == 0, v.stdout + v.stderr
        assert pkilint_errors(pem.read_bytes(), linter, *extra) == [], rid

    # I8: extensions come from the profile; names from the verified facts only.
    good = x509.load_pem_x509_certificate((out / "certs" / "good.pem").read_bytes())
    sans = good.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(sans.get_values_for_type(x509.DNSName)) == ["example.org", "www.example.org"]
    client = x509.load_pem_x509_certificate((out / "certs" / "client.pem").read_bytes())
    assert client.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Alice Example"


def test_replayed_and_tampered_bundles_stage_nothing(online, copy_home, hierarchy):
    pin = ("--pin-file", hierarchy.pin_file)
    bundle = pack(online, 1, GOOD[:1])
    run_signer("batch", "import", bundle, *pin, "--at", LATER, home=copy_home, check=True)
    r = run_signer("batch", "import", bundle, *pin, "--at", LATER, home=copy_home, check=False)
    assert "replay" in r.stderr or "not greater" in r.stderr
    b2 = pack(online, 2, GOOD[:1])
    raw = bytearray(b2.read_bytes())
    raw[len(raw) // 2] ^= 1
    tampered = online / "tampered.req"
    tampered.write_bytes(bytes(raw))
    r = run_signer("batch", "import", tampered, *pin, "--at", LATER, home=copy_home, check=False)
    assert r.returncode == 1
    listed = json.loads(run_signer("batch", "list", "--json", home=copy_home, check=True).stdout)
    assert [b["id"] for b in listed["batches"]] == ["ra1-1"]


def test_revocation_and_crl(online, copy_home, hierarchy, tmp_path):
    pin = ("--pin-file", hierarchy.pin_file)
    run_signer("batch", "import", pack(online, 1, GOOD[:1]), *pin, "--at", LATER,
               home=copy_home, check=True)
    run_signer("batch", "sign", "ra1-1", *pin, "--at", LATER, home=copy_home, check=True)
    shown = json.loads(run_signer("batch", "show", "ra1-1", "--json", home=copy_home).stdout)
    serial = shown["requests"][0]["serial"]
    run_signer("revoke", "class1", serial, "--reason", "keyCompromise", *pin, "--at", LATER,
               home=copy_home, check=True)
    out1, out2 = tmp_path / "c1.crl", tmp_path / "c2.crl"
    run_signer("crl", "issue", "class1", "--out", out1, *pin, "--at", LATER, home=copy_home,
               check=True)
    run_signer("crl", "issue", "class1", "--out", out2, *pin, "--at", LATER, home=copy_home,
               check=True)
    c1 = x509.load_pem_x509_crl(out1.read_bytes())
    c2 = x509.load_pem_x509_crl(out2.read_bytes())
    n1 = c1.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    n2 = c2.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert n2 == n1 + 1  # I4
    entry = c2.get_revoked_certificate_by_serial_number(int(serial, 16))
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == \
        x509.ReasonFlags.key_compromise
    v = subprocess.run(["openssl", "crl", "-in", out2, "-noout", "-verify", "-CAfile",
                        copy_home / "certs" / "class1.pem"], capture_output=True, text=True)
    assert "verify OK" in v.stdout + v.stderr
    assert pkilint_errors(out2.read_bytes(), "lint_crl", "-t", "CRL", "-p", "PKIX") == []
    r = run_signer("revoke", "class1", serial, "--reason", "keyCompromise", *pin, "--at", LATER,
                   home=copy_home, check=False)
    assert "already revoked" in r.stderr


def test_parallel_signing_workers(online, copy_home, hierarchy, tmp_path, monkeypatch):
    """Above the worker threshold, worker processes sign with their own sessions."""
    from signer.service.signing import WORKER_THRESHOLD

    n = WORKER_THRESHOLD + 12
    reqs = []
    for i in range(n):
        make_csr(online / f"w{i}.csr", dns=[f"w{i}.example.org"])
        reqs.append({"id": f"w{i}", "ca": "class1", "profile": "server", "csr": f"w{i}.csr",
                     "subscriber": f"s{i}", "verified": facts(dns=[f"w{i}.example.org"])})
    pin = ("--pin-file", hierarchy.pin_file, "--at", LATER)
    run_signer("batch", "import", pack(online, 1, reqs), *pin, home=copy_home, check=True)
    monkeypatch.setenv("SIGNER_WORKERS", "2")
    r = json.loads(run_signer("batch", "sign", "ra1-1", "--json", *pin, home=copy_home,
                              check=True).stdout)
    assert r["issued"] == n
    shown = json.loads(run_signer("batch", "show", "ra1-1", "--json", home=copy_home).stdout)
    serials = [q["serial"] for q in shown["requests"]]
    assert all(serials) and len(set(serials)) == n
    run_signer("audit", "verify", home=copy_home, check=True)
    pin_text = hierarchy.pin_file.read_text()
    assert pin_text not in (copy_home / "log" / "ceremony.jsonl").read_text()  # I10


def test_root_signs_an_external_subca_only_with_custodian_approval(online, copy_home, hierarchy,
                                                                     tmp_path):
    """DESIGN §4: profile subca, issued by the root, after an explicit --approve-ca."""
    from cryptography.hazmat.primitives.asymmetric import ec as _ec

    make_csr(online / "sub.csr", cn="Online Issuing CA", key=_ec.generate_private_key(_ec.SECP384R1()),
             ca=True)
    req = {"id": "sub1", "ca": "root", "profile": "subca", "csr": "sub.csr", "subscriber": "org-1",
           "verified": facts(name="Online Issuing CA", points=100)}
    pin = ("--pin-file", hierarchy.pin_file, "--at", LATER)
    run_signer("batch", "import", pack(online, 1, [req]), *pin, home=copy_home, check=True)
    first = json.loads(run_signer("batch", "sign", "ra1-1", "--json", *pin, home=copy_home,
                                  check=True).stdout)
    assert first["issued"] == 0 and first["awaiting_approval"] == ["sub1"]
    r = run_signer("batch", "sign", "ra1-1", "--approve-ca", "nope", *pin, home=copy_home)
    assert r.returncode == 1 and "no such request" in r.stderr
    run_signer("batch", "sign", "ra1-1", "--approve-ca", "sub1", *pin, home=copy_home, check=True)
    shown = json.loads(run_signer("batch", "show", "ra1-1", "--json", home=copy_home).stdout)
    assert shown["requests"][0]["approved"] and shown["requests"][0]["serial"]
    log = (copy_home / "log" / "ceremony.jsonl").read_text()
    assert '"type":"approval"' in log
    out = tmp_path / "res"
    run_signer("batch", "export", "ra1-1", "--out", out, *pin, home=copy_home, check=True)
    pub = tmp_path / "pub"
    pub.write_text(run_signer("audit", "pubkey", home=copy_home, check=True).stdout)
    run_signer("result", "verify", out, "--trust", pub, "--out", tmp_path / "u", check=True)
    cert = x509.load_pem_x509_certificate((tmp_path / "u" / "certs" / "sub1.pem").read_bytes())
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert bc.ca and bc.path_length == 0
    assert cert.issuer == x509.load_pem_x509_certificate(
        (copy_home / "certs" / "root.pem").read_bytes()).subject
    assert pkilint_errors(cert.public_bytes(serialization.Encoding.PEM)) == []
