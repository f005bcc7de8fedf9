"""A request that fails on its own does not block its batch; a CA outside its validity is a
clear refusal with the log closed and verifying (issue 10, items 7 and 9).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from signer.cli import main
from signer.core import issuance, lint
from signer.errors import LintError
from tests.conftest import AT, run_signer
from tests.factories import GOOD, facts, make_csr, pack

LATER = "2026-11-29T11:00:00Z"
AFTER_SHORT_CA = "2027-01-15T10:00:00Z"  # the 30-day CA below has expired by then


@pytest.fixture
def short_home(copy_home, hierarchy, tmp_path) -> tuple[Path, Path]:
    """A home with a sub-CA valid for 30 days, an RA, and a batch with a request for it (its
    server certificate of 180 days would outlast it) and a good request for class1."""
    auth = ("--pin-file", hierarchy.pin_file, "--at", AT)
    label = f"short-{uuid.uuid4().hex[:8]}"
    run_signer("key", "generate", label, "--algorithm", "ec-p256", *auth, home=copy_home,
               check=True)
    run_signer("ca", "sub", "shortca", "--issuer", "root", "--key", label, "--subject",
               "CN=Short CA,O=Community CA,C=AU", "--days", "30", *auth, home=copy_home,
               check=True)
    o = tmp_path / "online"
    o.mkdir()
    run_signer("request", "keygen", "--out", o / "ra.key", check=True)
    run_signer("ra", "trust", "ra1", o / "ra.key.pub", *auth, home=copy_home, check=True)
    make_csr(o / "good.csr", cn="www.example.org", dns=["www.example.org", "example.org"])
    make_csr(o / "short.csr", dns=["short.example.org"])
    short = {"id": "short", "ca": "shortca", "profile": "server", "csr": "short.csr",
             "subscriber": "m7", "verified": facts(dns=["short.example.org"])}
    bundle = pack(o, 1, [GOOD[0], short])
    run_signer("batch", "import", bundle, *auth, home=copy_home, check=True)
    return copy_home, o


def test_a_request_outlasting_its_ca_fails_alone(short_home, hierarchy, tmp_path):
    home, _ = short_home
    auth = ("--pin-file", hierarchy.pin_file, "--at", LATER)
    r = run_signer("batch", "sign", "ra1-1", *auth, "--json", home=home, check=True)
    rep = json.loads(r.stdout)
    assert rep["issued"] == 1
    assert [(f["id"], f["code"]) for f in rep["failed"]] == [("short", "issue.validity")]
    again = json.loads(run_signer("batch", "sign", "ra1-1", *auth, "--json", home=home,
                                  check=True).stdout)
    assert again["issued"] == 0 and again["failed"] == []  # a logged failure is not retried
    out = tmp_path / "r.res"
    run_signer("batch", "export", "ra1-1", "--out", out, *auth, home=home, check=True)
    pub = tmp_path / "pub.pem"
    pub.write_text(run_signer("audit", "pubkey", home=home, check=True).stdout)
    summary = json.loads(run_signer("result", "verify", out, "--trust", pub, "--out",
                                    tmp_path / "u", "--json", check=True).stdout)
    by_id = {o["id"]: o for o in summary["outcomes"]}
    assert by_id["good"]["status"] == "issued"
    assert by_id["short"]["status"] == "rejected"
    assert by_id["short"]["reasons"][0]["code"] == "issue.validity"
    run_signer("audit", "verify", home=home, check=True)


def test_signing_after_the_ca_expired_is_a_clear_refusal(short_home, hierarchy, tmp_path):
    home, _ = short_home
    log = home / "log" / "ceremony.jsonl"
    r = run_signer("batch", "sign", "ra1-1", "--pin-file", hierarchy.pin_file, "--at",
                   AFTER_SHORT_CA, home=home, check=False)
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert "CA 'shortca' is not valid at the ceremony time" in last and "nothing was signed" in last
    entries = [json.loads(x) for x in log.read_bytes().splitlines()]
    assert [e["type"] for e in entries[-3:]] == ["session.close", "log.state", "checkpoint"]
    assert any(e["type"] == "refused" for e in entries[-5:])
    assert not any(e["type"] == "issue.intent" for e in entries)
    pub = tmp_path / "pub.pem"
    pub.write_text(run_signer("audit", "pubkey", home=home, check=True).stdout)
    run_signer("audit", "verify", "--log", log, "--pubkey", pub, check=True)
    # The next ceremony needs no `audit recover`.
    run_signer("key", "list", "--pin-file", hierarchy.pin_file, "--at", AFTER_SHORT_CA,
               home=home, check=True)


def test_a_request_the_linter_refuses_at_signing_fails_alone(copy_home, hierarchy, tmp_path,
                                                           monkeypatch, capsys):
    """Fault injection at the lint step (in this process, the real token): one request's TBS
    is refused by the linter; the others are signed, the failure is logged and exported."""
    o = tmp_path / "online"
    o.mkdir()
    auth = ["--pin-file", str(hierarchy.pin_file), "--at", LATER, "--home", str(copy_home)]
    run_signer("request", "keygen", "--out", o / "ra.key", check=True)
    run_signer("ra", "trust", "ra1", o / "ra.key.pub", *auth[:4], home=copy_home, check=True)
    make_csr(o / "good.csr", cn="www.example.org", dns=["www.example.org", "example.org"])
    make_csr(o / "mail.csr", emails=["bob@example.net"])
    run_signer("batch", "import", pack(o, 1, [GOOD[0], GOOD[2]]), *auth[:4], home=copy_home,
               check=True)
    real = lint.lint_certificate

    def refuse_mail(builder, issuer_public, kind, what, *rest):  # noqa: ANN001, ANN002, ANN202
        if what == "request mail":
            raise LintError(f"{what}: pkilint ERROR injected.refusal at certificate")
        return real(builder, issuer_public, kind, what, *rest)

    monkeypatch.setattr(issuance, "lint_certificate", refuse_mail)
    assert main(["batch", "sign", "ra1-1", "--json", *auth]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["issued"] == 1 and rep["failed"][0]["id"] == "mail"
    assert rep["failed"][0]["code"] == "issue.lint"
    shown = json.loads(run_signer("batch", "show", "ra1-1", "--json", home=copy_home,
                                  check=True).stdout)
    mail = next(q for q in shown["requests"] if q["id"] == "mail")
    assert mail["failure"]["code"] == "issue.lint" and mail["serial"] is None
