"""The auditor's toolkit through the CLI: verify, tampering, ledger and bundles, the login
guard and `audit recover`, witnesses' checkpoints, and `audit report` on a real rehearsal home.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import shutil
import sqlite3
from pathlib import Path

import pytest

from signer.core.canonical import canonical_json
from signer.errors import SignerError
from signer.service.audit import verify_bundle_proofs
from signer.service.report import digest_words
from signer.store.log.recovery import CONFIRMATION
from tests.conftest import AT, run_signer
from tests.factories import GOOD, HOSTILE, make_csr, pack
from transfer import bundle as tb

LATER = "2026-11-29T11:00:00Z"
LATEST = "2026-11-29T12:00:00Z"


class Ceremony:
    def __init__(self, base: Path, home: Path, pin: Path) -> None:
        self.base, self.home, self.pin = base, home, pin
        self.log = home / "log" / "ceremony.jsonl"
        self.result = base / "result.res"
        self.pub = base / "appliance.pub"
        self.anchor = base / "anchor.checkpoint"
        self.digest = ""

    def copy(self, dst: Path) -> Path:
        shutil.copytree(self.home, dst)
        return dst

    def auth(self, at: str = LATEST) -> tuple[str | Path, ...]:
        return ("--pin-file", self.pin, "--at", at)


@pytest.fixture(scope="module")
def ceremony(hierarchy, tmp_path_factory) -> Ceremony:
    """A rehearsal home with one batch (accepted and refused requests), an export and a CRL."""
    base = tmp_path_factory.mktemp("audit")
    c = Ceremony(base, base / "home", hierarchy.pin_file)
    shutil.copytree(hierarchy.home, c.home)
    o = base / "online"
    o.mkdir()
    run_signer("request", "keygen", "--out", o / "ra.key", check=True)
    run_signer("ra", "trust", "ra1", o / "ra.key.pub", *c.auth(AT), home=c.home, check=True)
    make_csr(o / "good.csr", cn="www.example.org", dns=["www.example.org", "example.org"])
    make_csr(o / "unverified.csr", dns=["www.example.org", "bank.example.com"])
    make_csr(o / "ca.csr", dns=["evil.example.org"], ca=True)
    (o / "garbage.csr").write_bytes(b"\x30\x82garbage")
    imp = run_signer("batch", "import", pack(o, 1, GOOD[:1] + HOSTILE[:3]), *c.auth(LATER),
                     "--json", home=c.home, check=True)
    c.digest = json.loads(imp.stdout)["digest"]
    run_signer("batch", "sign", "ra1-1", *c.auth(LATER), home=c.home, check=True)
    run_signer("batch", "export", "ra1-1", "--out", c.result, *c.auth(LATER), home=c.home,
               check=True)
    c.anchor.write_text((c.home / "log" / "checkpoint").read_text())  # held by the online side
    run_signer("crl", "issue", "class1", "--out", base / "class1.crl", *c.auth(LATER),
               home=c.home, check=True)
    c.pub.write_text(run_signer("audit", "pubkey", home=c.home, check=True).stdout)
    return c


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def seq_of(line: bytes) -> int:
    return int(json.loads(line)["seq"])


def test_verify_ok_with_bundle_and_json(ceremony):
    r = run_signer("audit", "verify", "--bundle", ceremony.result, "--json",
                   home=ceremony.home, check=True)
    rep = json.loads(r.stdout)
    assert rep["ok"] is True and rep["problems"] == []
    assert rep["bundles"] == 1 and rep["inclusion_proofs"] >= 1
    assert rep["certificates_checked"] == 4 and rep["crls_checked"] == 1  # 3 CAs + 1 leaf
    assert rep["log"]["entries"] == len(lines(ceremony.log))
    text = run_signer("audit", "verify", home=ceremony.home, check=True).stdout
    assert "RESULT: OK" in text


def test_auditor_needs_only_the_log_the_key_and_an_anchor(ceremony, tmp_path):
    log = tmp_path / "copy.jsonl"
    shutil.copy(ceremony.log, log)
    r = run_signer("audit", "verify", "--log", log, "--pubkey", ceremony.pub, "--checkpoint",
                   ceremony.anchor, "--bundle", ceremony.result, "--json", home=tmp_path / "none",
                   check=True)
    assert json.loads(r.stdout)["ok"] is True


def _edit(ls: list[bytes]) -> tuple[list[bytes], int]:
    i = next(i for i, x in enumerate(ls) if b'"type":"batch.imported"' in x)
    ls[i] = ls[i].replace(b'"accepted":1', b'"accepted":4')
    return ls, next(seq_of(x) for x in ls[i:] if b'"type":"checkpoint"' in x)


def _reorder(ls: list[bytes]) -> tuple[list[bytes], int]:
    i = next(i for i, x in enumerate(ls) if b'"type":"verdict"' in x)
    ls[i], ls[i + 1] = ls[i + 1], ls[i]
    return ls, i


def _extend(ls: list[bytes]) -> tuple[list[bytes], int]:
    last = json.loads(ls[-1])
    ls.append(json.dumps({"data": {"command": "batch", "error": "invented"}, "seq": last["seq"] + 1,
                          "time": last["time"], "type": "refused"},
                         separators=(",", ":"), sort_keys=True).encode() + b"\n")
    return ls, last["seq"] + 1


@pytest.mark.parametrize(("tamper", "why"), [
    (_edit, "checkpoint root is not the tree's root"),
    (_reorder, "expected"),
    (_extend, "not covered by a signature"),
])
def test_tampering_is_named(ceremony, tmp_path, tamper, why):
    log = tmp_path / "t.jsonl"
    ls, bad = tamper(lines(ceremony.log))
    log.write_bytes(b"".join(ls))
    r = run_signer("audit", "verify", "--log", log, "--pubkey", ceremony.pub, "--json",
                   check=False)
    assert r.returncode == 1
    rep = json.loads(r.stdout)
    assert why in rep["log"]["first_error"] and rep["log"]["error_seq"] == bad
    assert why in r.stderr and "audit failed" in r.stderr


def test_truncation_is_caught_by_the_anchor(ceremony, tmp_path):
    anchor_size = int(ceremony.anchor.read_text().splitlines()[1])
    ls = lines(ceremony.log)
    cut = max(i for i, x in enumerate(ls[:anchor_size]) if b'"type":"checkpoint"' in x)
    log = tmp_path / "short.jsonl"
    log.write_bytes(b"".join(ls[:cut + 1]))  # still ends with a valid signed checkpoint
    args = ("audit", "verify", "--log", log, "--pubkey", ceremony.pub)
    run_signer(*args, check=True)  # alone it looks fine ...
    r = run_signer(*args, "--checkpoint", ceremony.anchor, check=False)  # ... not to the anchor
    assert r.returncode == 1 and "truncated" in r.stderr
    assert f"log has {cut + 1} entries but the anchor checkpoint covers {anchor_size}" in r.stderr


def test_splice_from_two_homes(ceremony, hierarchy, tmp_path):
    other = shutil.copytree(hierarchy.home, tmp_path / "other")
    run_signer("ra", "trust", "ra2", ceremony.pub, *ceremony.auth(AT), home=other, check=True)
    mine, theirs = lines(ceremony.log), lines(other / "log" / "ceremony.jsonl")
    common = len(lines(hierarchy.home / "log" / "ceremony.jsonl"))
    spliced = tmp_path / "spliced.jsonl"
    assert mine[common + 1] != theirs[common + 1]  # ra1 here, ra2 there
    spliced.write_bytes(b"".join(mine[:common + 2] + theirs[common + 2:]))
    r = run_signer("audit", "verify", "--log", spliced, "--pubkey", ceremony.pub, check=False)
    assert r.returncode == 1
    assert f"seq {len(theirs) - 1}" in r.stdout and "checkpoint root is not" in r.stderr


def test_ledger_and_log_must_match(ceremony, tmp_path):
    home = ceremony.copy(tmp_path / "home")
    db = sqlite3.connect(home / "ledger.sqlite")
    with db:
        db.execute("DELETE FROM certificates")
    db.close()
    r = run_signer("audit", "verify", home=home, check=False)
    assert r.returncode == 1
    assert "not in the ledger with these bytes" in r.stdout
    assert re.search(r"the certificate of CA 'root' \(entry \d+\) is not in the ledger",
                     r.stderr)


def test_tampered_bundle_certificate_is_reported(ceremony, tmp_path):
    env = json.loads(ceremony.result.read_bytes())
    body = json.loads(base64.b64decode(env["body"]))
    issued = next(o for o in body["outcomes"] if o["status"] == "issued")
    issued["certificate"] = (ceremony.home / "certs" / "class3.pem").read_text()  # swapped
    env["body"] = base64.b64encode(canonical_json(body)).decode()
    bad = tmp_path / "bad.res"
    bad.write_bytes(canonical_json(env))
    r = run_signer("audit", "verify", "--bundle", bad, "--json", home=ceremony.home, check=False)
    assert r.returncode == 1
    problems = json.loads(r.stdout)["problems"]
    assert len(problems) == 1 and problems[0].startswith("bundle bad.res:")
    assert "bad.res" in r.stderr


def test_bundle_certificate_without_inclusion_proof(ceremony):
    """Past the envelope (as if the appliance key had signed it): the log evidence decides."""
    key = bytes.fromhex(json.loads(run_signer("audit", "pubkey", "--json", home=ceremony.home,
                                              check=True).stdout)["raw"])
    res = tb.parse_result_bundle(ceremony.result.read_bytes(), key)
    assert verify_bundle_proofs(res.body, key) == 1  # the one certificate (no CRL in it)
    other = (ceremony.home / "certs" / "class3.pem").read_text()
    outcomes = tuple(dataclasses.replace(o, certificate=other) if o.status == "issued" else o
                     for o in res.body.outcomes)
    forged = dataclasses.replace(res.body, outcomes=outcomes)
    with pytest.raises(SignerError, match="certificate good has no inclusion proof"):
        verify_bundle_proofs(forged, key)


def test_crash_tail_blocks_ceremonies_until_recovered(ceremony, tmp_path):
    home = ceremony.copy(tmp_path / "home")
    log = home / "log" / "ceremony.jsonl"
    ls = lines(log)
    ls, _ = _extend(ls)  # a session that never closed (power cut) ...
    torn = b'{"data":{"batch":"ra1-1","id":"good"'
    log.write_bytes(b"".join(ls) + torn)  # ... killed mid-append
    r = run_signer("key", "list", *ceremony.auth(), home=home, check=False)
    assert r.returncode == 1 and "truncated" in r.stderr and "audit recover" in r.stderr
    r = run_signer("audit", "recover", *ceremony.auth(), home=home, check=False)
    assert r.returncode == 1 and CONFIRMATION in r.stderr  # nothing done without the sentence
    assert log.read_bytes().endswith(torn)
    wrong = tmp_path / "wrong.pin"
    wrong.write_text("not-the-pin-9999")
    r = run_signer("audit", "recover", "--confirm", CONFIRMATION, "--pin-file", wrong, "--at",
                   LATEST, home=home, check=False)
    assert r.returncode == 1 and log.read_bytes().endswith(torn)  # a wrong PIN changes nothing
    r = run_signer("audit", "recover", "--confirm", CONFIRMATION, *ceremony.auth(), "--json",
                   home=home, check=True)
    rec = json.loads(r.stdout)["recovered"]
    assert rec["bytes_removed"] == len(torn) and rec["unsigned_entries"] == 1
    copy = home / "log" / rec["damaged_copy"]
    assert copy.read_bytes().endswith(torn) and rec["damaged_copy"].endswith(".damaged-2")
    entries = [json.loads(x) for x in lines(log)]
    recovery = [e for e in entries if e["type"] == "recovery"]
    assert len(recovery) == 1 and recovery[0]["data"]["damaged_sha256"] == rec["damaged_sha256"]
    assert entries[-1]["type"] == "checkpoint"
    assert "checkpoint: size" in r.stderr and "words:" in r.stderr  # shown to witnesses
    run_signer("audit", "verify", home=home, check=True)
    run_signer("key", "list", *ceremony.auth(), home=home, check=True)


def test_tampered_log_is_never_recovered(ceremony, tmp_path):
    home = ceremony.copy(tmp_path / "home")
    log = home / "log" / "ceremony.jsonl"
    ls, _ = _edit(lines(log))
    log.write_bytes(b"".join(ls))
    r = run_signer("key", "list", *ceremony.auth(), home=home, check=False)
    assert r.returncode == 1 and "auditors" in r.stderr
    r = run_signer("audit", "recover", "--confirm", CONFIRMATION, *ceremony.auth(), home=home,
                   check=False)
    assert r.returncode == 1 and "refusing to recover" in r.stderr and "auditors" in r.stderr
    assert log.read_bytes() == b"".join(ls)
    assert not list((home / "log").glob("*.damaged-*"))
    out = tmp_path / "report.html"
    r = run_signer("audit", "report", "--out", out, home=home, check=False)
    assert r.returncode == 1 and "report written, but the audit failed" in r.stderr
    assert "Verification FAILED" in out.read_text(encoding="utf-8")


def test_witnesses_see_checkpoint_hex_and_words(ceremony):
    r = run_signer("audit", "checkpoint", "--json", home=ceremony.home, check=True)
    out = json.loads(r.stdout)
    last = json.loads(lines(ceremony.log)[-1])
    # One list of words only, the root's (issue 15: two lists let a witness copy the wrong one).
    assert out["words"] == digest_words(last["data"]["root"]) and len(out["sha256"]) == 64
    text = run_signer("audit", "checkpoint", home=ceremony.home, check=True).stdout
    assert last["data"]["root"] in text and digest_words(last["data"]["root"]) in text


def test_audit_report(ceremony, tmp_path):
    out, pdf = tmp_path / "report.html", tmp_path / "report.pdf"
    r = run_signer("audit", "report", "--out", out, "--out", pdf, "--json", home=ceremony.home,
                   check=True)
    assert json.loads(r.stdout)["ok"] is True
    assert json.loads(r.stdout)["out"] == [str(out), str(pdf)]
    assert pdf.read_bytes().startswith(b"%PDF-")  # tests/signer/test_report.py reads it back
    bad = run_signer("audit", "report", "--out", tmp_path / "report.txt", home=ceremony.home,
                     check=False)
    assert bad.returncode == 2 and ".html or .pdf" in bad.stderr
    html = out.read_text(encoding="utf-8")
    assert "Verification: OK" in html and "REHEARSAL" in html
    assert ceremony.digest in html and digest_words(ceremony.digest) in html
    assert "name.unverified" in html and "ext.ca" in html and "csr.parse" in html
    assert 'id="issued">1<' in html and 'id="refused">3<' in html
    last = json.loads(lines(ceremony.log)[-1])
    assert digest_words(last["data"]["root"]) in html
    assert "<script" not in html.lower() and "http://" not in html and "https://" not in html
    again = run_signer("audit", "report", "--out", out, home=ceremony.home, check=False)
    assert again.returncode == 1 and "already exists" in again.stderr
