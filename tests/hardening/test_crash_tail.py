"""A crash tail completed at the next login (issue 15, DESIGN I2), and what still needs
`audit recover`: an insider's entries appended to the log between sessions are never signed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from signer.core.canonical import canonical_json
from tests.conftest import AT, Hierarchy
from tests.hardening.killharness import Prepared, Trial, prepare, run_trial, signer

LATER = "2026-11-29T13:00:00Z"


@pytest.fixture(scope="module")
def prepared(hierarchy: Hierarchy, tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    return prepare(hierarchy.home, hierarchy.pin_file, tmp_path_factory.mktemp("tail"), 12, AT)


def _entries(home: Path) -> list[dict]:
    return [json.loads(x) for x in (home / "log" / "ceremony.jsonl").read_text().splitlines()]


def test_a_kill_mid_sign_is_completed_by_the_next_login(prepared, tmp_path):
    # Killed after the 4th log append of `batch sign` was durable: whole lines, none signed.
    trial = run_trial(prepared, tmp_path, Trial("sign", "append:4:after", chunk=4), full=False)
    assert trial.killed and trial.problems == []
    # No custodians' `audit recover`: the retry's login completed the unsigned tail itself.
    assert not trial.recovered and trial.refused_first == ""
    done = [e for e in _entries(tmp_path / "home") if e["type"] == "recovery"]
    assert len(done) == 1 and done[0]["data"]["completed_at_login"] is True
    assert done[0]["data"]["unsigned_entries"] >= 1
    assert set(done[0]["data"]["types"]) <= {"session.open", "batch.sign", "issue.intent",
                                             "cert.issued", "issue.failed"}
    r = signer(tmp_path / "home", "audit", "verify", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["ok"], r.stdout + r.stderr


def _append(home: Path, type_: str, data: dict) -> None:
    """What an insider with file access can do between sessions: a well-formed next entry."""
    last = _entries(home)[-1]
    line = canonical_json({"data": data, "seq": last["seq"] + 1, "time": last["time"],
                           "type": type_})
    with open(home / "log" / "ceremony.jsonl", "ab") as f:
        f.write(line + b"\n")


CERT = {"batch": "b", "id": "r", "ca": "class1", "serial": "7f" * 9, "cert_sha256": "ab" * 32,
        "subscriber": "m", "spki_sha256": "cd" * 32, "not_after": "2027-01-01T00:00:00+00:00",
        "profile": "server", "tbs_sha256": "ef" * 32}
INTENT = {k: CERT[k] for k in ("batch", "id", "ca", "serial")}


@pytest.mark.parametrize(("entries", "named"), [
    ([("ra.trusted", {"ra": "evil", "key_id": "00" * 32, "public_key": "AA" * 22})],
     "1 ra.trusted, which custodians must review"),
    ([("approval", {"batch": "b", "id": "r", "share_indices": [1, 2]})],
     "1 approval, which custodians must review"),
    ([("cert.issued", CERT)], "(cert.issued): no intent to issue precedes it"),
    ([("issue.failed", {**INTENT, "code": "key.compromised", "message": "call evil"})],
     "(issue.failed): no intent to issue precedes it"),
    ([("issue.intent", INTENT), ("cert.issued", CERT)],
     "its certificate is not the ledger's for that request"),
], ids=["ra-key", "approval", "cert-alone", "failure-alone", "cert-not-in-ledger"])
def test_an_appended_entry_that_grants_something_is_never_signed(hierarchy, tmp_path, entries,
                                                                  named):
    home = tmp_path / "home"
    shutil.copytree(hierarchy.home, home)
    for type_, data in entries:
        _append(home, type_, data)
    before = (home / "log" / "ceremony.jsonl").read_bytes()
    r = signer(home, "key", "list", "--pin-file", hierarchy.pin_file, "--at", LATER)
    message = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 1 and named in message and "audit recover" in message, r.stderr
    assert (home / "log" / "ceremony.jsonl").read_bytes() == before  # nothing logged or signed


def test_a_forged_session_open_cannot_hide_a_policy_change(hierarchy, tmp_path):
    """The policy in force changes only with a logged `config` entry: an insider who edits
    signer.toml and appends a session.open naming its digest still has the change logged."""
    home = tmp_path / "home"
    shutil.copytree(hierarchy.home, home)
    cfg = home / "signer.toml"
    cfg.write_text(cfg.read_text() + "\n# an insider's edit\n")
    digest = hashlib.sha256(cfg.read_bytes()).hexdigest()
    _append(home, "session.open", {"config_sha256": digest})
    forged = _entries(home)[-1]["seq"]
    r = signer(home, "key", "list", "--pin-file", hierarchy.pin_file, "--at", LATER)
    assert r.returncode == 0, r.stderr
    after = _entries(home)
    configs = [e for e in after if e["type"] == "config"]
    assert configs[-1]["data"]["sha256"] == digest
    assert configs[-1]["seq"] > forged  # logged by the next login, then signed
