"""SIGKILL at chosen and random points of import, sign, CRL issue and export; then resume (I2-I4).

Each trial runs the whole batch ceremony on a fresh copy of a home with one step killed, retries
that step as an operator would, and checks the state with tests/hardening/killharness.py:
every accepted request has exactly one certificate, rejected ones none; ledger and log name the
same certificates and CRLs (I2), every certificate's intent precedes it (I2), serials are
unique and >= 64 bits (I3), CRL numbers strictly increase (I4), outputs are whole or absent
(I11), and `signer audit verify` passes. bench/soak_kill.py runs the same with many more trials.
"""

from __future__ import annotations

import random
import shutil
import sqlite3
import subprocess
import sys
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from signer.errors import LedgerError
from signer.store.ledger import CertRow, Ledger
from tests.conftest import AT, Hierarchy
from tests.hardening.killharness import (
    CONFIRMATION,
    DRIVER,
    Prepared,
    Trial,
    _env,
    prepare,
    run_trial,
    signer,
)

BATCH = 30


@pytest.fixture(scope="module")
def prepared(hierarchy: Hierarchy, tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    return prepare(hierarchy.home, hierarchy.pin_file, tmp_path_factory.mktemp("kill"), BATCH, AT)


def _trial(prepared: Prepared, tmp_path: Path, step: str, how: str) -> Trial:
    trial = run_trial(prepared, tmp_path, Trial(step, how, chunk=8), full=False)
    assert trial.killed, f"{step} {how}: the kill point was never reached"
    assert trial.problems == []
    return trial


def test_kill_between_ledger_insert_and_log_is_completed_on_resume(prepared, tmp_path):
    # Regression: certificates committed to the ledger, killed before `cert.issued` was logged.
    # Resume used to skip them as issued, leaving them out of the log for ever (export and
    # audit refused); now `batch sign` logs them first, marked recovered.
    _trial(prepared, tmp_path, "sign", "commit:1")
    lines = (tmp_path / "home" / "log" / "ceremony.jsonl").read_text().splitlines()
    assert sum('"recovered":true' in x and '"cert.issued"' in x for x in lines) == 8


def test_torn_log_tail_is_refused_with_a_clear_message_then_recovered(prepared, tmp_path):
    trial = _trial(prepared, tmp_path, "sign", "torn:3")
    message = trial.refused_first.splitlines()[-1]  # after the rehearsal banner
    assert message.startswith("signer: error:") and "truncated" in message
    assert "audit recover" in message
    assert trial.recovered


def test_kill_after_staging_before_logging_the_import(prepared, tmp_path):
    # Regression: the batch was staged (a re-import is refused, I7) but the log never said so.
    _trial(prepared, tmp_path, "import", "commit:1")


def test_kill_between_crl_ledger_insert_and_log(prepared, tmp_path):
    # Regression: CRL number used in the ledger (never reissued, I4) but never logged.
    _trial(prepared, tmp_path, "crl", "commit:1")
    assert (tmp_path / "home" / "crls" / "class1-1.crl").exists()


def test_kill_before_the_result_file_is_linked_leaves_no_partial_file(prepared, tmp_path):
    _trial(prepared, tmp_path, "export", "write:1")
    assert not (tmp_path / "result-0.res").exists()
    assert (tmp_path / "result-1.res").exists()


def test_kill_sign_after_a_random_number_of_log_lines(prepared, tmp_path):
    grow = random.Random(1).randint(3, 2 * BATCH)
    _trial(prepared, tmp_path, "sign", f"lines:{grow}")


def test_ledger_refuses_a_second_certificate_for_one_request(tmp_path):
    # I3 / "nothing doubled" as a constraint, not a hope.
    ledger = Ledger(tmp_path / "ledger.sqlite")
    row = CertRow("class1", "01", "server", "m1", "b1", "r1", "spki", "nb", "na", b"der", "sha",
                  "t")
    ledger.add_certificates([row])
    with pytest.raises(LedgerError, match="UNIQUE"):
        ledger.add_certificates([replace(row, serial="02", cert_sha256="sha2")])
    # CA certificates carry no batch: many are allowed
    ledger.add_certificates([replace(row, serial="02", cert_sha256="sha2", batch_id=None)])
    ledger.add_certificates([replace(row, serial="03", cert_sha256="sha3", batch_id=None)])
    ledger.close()
    db = sqlite3.connect(tmp_path / "ledger.sqlite")
    assert db.execute("SELECT COUNT(*) FROM certificates").fetchone()[0] == 3


def test_killpoint_driver_without_a_killpoint_is_the_plain_cli():
    p = signer(None, "--help")
    assert p.returncode == 0 and "batch" in p.stdout


def test_kill_between_ca_ledger_insert_and_log_is_completed_at_next_login(hierarchy, tmp_path):
    # Regression: a sub-CA recorded in the ledger, killed before `ca.created` was logged: the
    # retry says the CA exists and `audit verify` failed for ever. The next login completes it.
    home = tmp_path / "home"
    shutil.copytree(hierarchy.home, home)
    auth = ("--pin-file", hierarchy.pin_file, "--at", AT)
    label = f"k-{uuid.uuid4().hex[:8]}"
    assert signer(home, "key", "generate", label, "--algorithm", "ec-p256", *auth).returncode == 0
    args = ["--home", str(home), "ca", "sub", "class9", "--issuer", "root", "--key", label,
            "--subject", "CN=Class 9,O=Community CA,C=AU", "--profile", "subca", *auth]
    p = subprocess.run([sys.executable, str(DRIVER), *args], capture_output=True, text=True,
                       env=_env({"KILLPOINT": "commit:1"}))
    assert p.returncode == -9, p.stderr
    assert not (home / "certs" / "class9.pem").exists()
    r = signer(home, "audit", "recover", "--confirm", CONFIRMATION, *auth)
    assert r.returncode == 0, r.stderr
    r = signer(home, *args[2:])
    assert r.returncode == 1 and "already exists" in r.stderr
    assert (home / "certs" / "class9.pem").exists()
    v = signer(home, "audit", "verify")
    assert v.returncode == 0, v.stdout + v.stderr
