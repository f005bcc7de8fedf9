"""The CA lifecycle's records under crashes and ledger edits (issue 14; I2, T9, T10).

A re-certification or a pre-signed OCSP response killed between the ledger and the log is
completed at the next login only because its logged intent announced it; the same rows
written by someone else stop every ceremony; a CA's row pointed back at an earlier certificate
is refused before signing and reported by `audit verify`.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import uuid
from pathlib import Path

import pytest

from tests.conftest import Hierarchy
from tests.hardening.killharness import CONFIRMATION, signer

LATER = "2026-11-29T12:00:00Z"


@pytest.fixture
def home(hierarchy: Hierarchy, tmp_path: Path) -> Path:
    dst = tmp_path / "home"
    shutil.copytree(hierarchy.home, dst)
    return dst


def _auth(hierarchy: Hierarchy, at: str = LATER) -> tuple[str, ...]:
    return ("--pin-file", str(hierarchy.pin_file), "--at", at)


def _show(home: Path, name: str) -> dict:
    return json.loads(signer(home, "ca", "show", name, "--json").stdout)


def _recover_and_verify(home: Path, hierarchy: Hierarchy) -> None:
    r = signer(home, "audit", "recover", "--confirm", CONFIRMATION, *_auth(hierarchy))
    assert r.returncode == 0, r.stderr
    v = signer(home, "audit", "verify")
    assert v.returncode == 0 and "RESULT: OK" in v.stdout, v.stdout + v.stderr


def test_a_recertification_killed_after_the_ledger_is_completed_from_its_intent(home,
                                                                               hierarchy):
    before = _show(home, "class3")
    p = signer(home, "ca", "recertify", "class3", *_auth(hierarchy),
               env={"KILLPOINT": "commit:1"})
    assert p.returncode == -9, p.stderr
    _recover_and_verify(home, hierarchy)
    after = _show(home, "class3")
    assert [c["kind"] for c in after["certificates"]] == ["sub", "recertify"]
    assert after["pem"] != before["pem"] and after["certificates"][1]["current"]
    serial = after["certificates"][1]["serial"]
    assert (home / "certs" / f"class3-{serial}.pem").exists()
    log = (home / "log" / "ceremony.jsonl").read_text()
    assert '"recovered":true' in log and '"type":"ca.certified"' in log


def test_a_recertification_killed_after_the_token_signed_leaves_only_an_intent(home,
                                                                              hierarchy):
    p = signer(home, "ca", "recertify", "class3", *_auth(hierarchy),
               env={"KILLPOINT": "sign:1:after"})
    assert p.returncode == -9, p.stderr
    _recover_and_verify(home, hierarchy)
    assert [c["kind"] for c in _show(home, "class3")["certificates"]] == ["sub"]
    assert signer(home, "ca", "recertify", "class3", *_auth(hierarchy)).returncode == 0
    assert signer(home, "audit", "verify").returncode == 0


def test_an_ocsp_response_killed_after_the_ledger_is_completed(home, hierarchy):
    serial = _show(home, "class1")["certificates"][0]["serial"]
    args = ("ocsp", "sign", "root", "--serial", serial, "--status", "good", "--next-update",
            "2027-06-01T00:00:00Z")
    p = signer(home, *args, *_auth(hierarchy), env={"KILLPOINT": "commit:1"})
    assert p.returncode == -9, p.stderr
    _recover_and_verify(home, hierarchy)
    with sqlite3.connect(home / "ledger.sqlite") as db:
        rows = db.execute("SELECT status, log_seq FROM ocsp_responses").fetchall()
    assert len(rows) == 1 and rows[0][0] == "good" and rows[0][1] is not None


def _sql(home: Path, statement: str, *args: object) -> None:
    with sqlite3.connect(home / "ledger.sqlite") as db:
        db.execute(statement, args)


def test_a_ca_row_pointed_back_at_its_earlier_certificate_is_refused_and_reported(
        home, hierarchy):
    """T10: after a re-certification, an insider copies the old certificate back into the CA's
    row (to issue under the certificate with the longer life, say)."""
    first = _show(home, "class3")["certificates"][0]
    assert signer(home, "ca", "recertify", "class3", *_auth(hierarchy)).returncode == 0
    with sqlite3.connect(home / "ledger.sqlite") as db:
        der, = db.execute("SELECT cert_der FROM certificates WHERE ca = 'root' AND serial = ?",
                          (first["serial"],)).fetchone()
        db.execute("UPDATE cas SET serial = ?, cert_der = ?, cert_sha256 = ?, not_after = ? "
                   "WHERE name = 'class3'", (first["serial"], der, first["sha256"],
                                             first["not_after"]))
    r = signer(home, "ocsp", "sign", "class3", "--serial", "abc", "--status", "good",
               "--next-update", "2027-01-01T00:00:00Z", *_auth(hierarchy, "2026-11-29T13:00:00Z"))
    assert r.returncode == 1 and "disagrees with the ceremony log" in r.stderr, r.stderr
    assert "CA 'class3'" in r.stderr
    v = signer(home, "audit", "verify")
    assert v.returncode == 1 and "not the certificate the log made current" in v.stdout


def test_an_invented_ca_certificate_stops_every_ceremony(home, hierarchy):
    """A further certificate row no intent announced (copied from another CA's, say)."""
    with sqlite3.connect(home / "ledger.sqlite") as db:
        row = db.execute("SELECT * FROM certificates WHERE subscriber = 'ca:class1'").fetchone()
        db.execute("INSERT INTO certificates (ca, serial, profile, subscriber, spki_sha256, "
                   "not_before, not_after, cert_der, cert_sha256, issued_at) VALUES "
                   "(?,?,?,?,?,?,?,?,?,?)",
                   ("root", "1" + uuid.uuid4().hex[:15], "ca-recert", "ca:class1", row[6],
                    row[7], row[8], row[9], uuid.uuid4().hex * 2, row[11]))
    r = signer(home, "key", "list", *_auth(hierarchy))
    assert r.returncode == 1 and "no logged intent announced" in r.stderr, r.stderr
    v = signer(home, "audit", "verify")
    assert v.returncode == 1 and "is in the ledger but not in the log" in v.stdout
