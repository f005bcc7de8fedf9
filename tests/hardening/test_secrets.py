"""Secrets stay in the process that holds them (I10): no core dump of a session, bounded reads
of secret files whatever they claim to be, a home that only its owner can read.

The core-dump test aborts a real `batch sign` at its first token signature (it holds the PIN
then) with core dumps switched on by the parent, next to a control process that shows this
machine does write core files; the signer must leave none.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import AT, Hierarchy, run_signer
from tests.hardening.killharness import DRIVER, LATER, Prepared, _env, prepare


@pytest.fixture(scope="module")
def prepared(hierarchy: Hierarchy, tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    return prepare(hierarchy.home, hierarchy.pin_file, tmp_path_factory.mktemp("sec"), 2, AT)


def _cores_on() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def _core_files(d: Path) -> list[Path]:
    return [p for p in d.iterdir() if p.name.startswith("core")]


def test_a_session_that_aborts_leaves_no_core_file(prepared, tmp_path):
    control = tmp_path / "control"
    control.mkdir()
    p = subprocess.run([sys.executable, "-c", "import os; os.abort()"], cwd=control,
                       preexec_fn=_cores_on, capture_output=True)
    assert p.returncode == -signal.SIGABRT
    assert _core_files(control), "this machine writes no core files: the test would prove nothing"

    home = tmp_path / "home"
    shutil.copytree(prepared.template, home)
    cwd = tmp_path / "run"
    cwd.mkdir()
    p = subprocess.run([sys.executable, str(DRIVER), "--home", str(home), "batch", "sign",
                        prepared.batch, "--pin-file", str(prepared.pin_file), "--at", LATER],
                       cwd=cwd, preexec_fn=_cores_on, capture_output=True, text=True,
                       env=_env({"KILLPOINT": "abort:1"}))
    assert p.returncode == -signal.SIGABRT, p.stderr  # it did abort while holding the PIN
    assert _core_files(cwd) == []


def test_signing_workers_turn_core_dumps_off_too(tmp_path):
    code = ("from signer.store.secrets import harden_process; import resource, subprocess, sys; "
            "harden_process(); print(resource.getrlimit(resource.RLIMIT_CORE)); "
            "print(subprocess.run([sys.executable, '-c', 'import resource; "
            "print(resource.getrlimit(resource.RLIMIT_CORE))'], capture_output=True, "
            "text=True).stdout.strip())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         preexec_fn=_cores_on, check=True).stdout.split("\n")
    assert out[0] == "(0, 0)" and out[1] == "(0, 0)"  # inherited by what it starts


@pytest.mark.parametrize("option", ["--pin-file", "--share"])
def test_a_device_as_a_secret_file_is_refused_at_once(prepared, tmp_path, option):
    p = subprocess.run([sys.executable, "-m", "signer.cli", "--home", str(prepared.template),
                        "key", "list", option, "/dev/zero", "--at", LATER],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1
    assert "not a regular file" in p.stderr and "Traceback" not in p.stderr


def test_an_oversized_secret_file_is_refused(prepared, tmp_path):
    big = tmp_path / "pin"
    big.write_bytes(b"1" * 100_000)
    r = run_signer("key", "list", "--pin-file", big, "--at", LATER, home=prepared.template,
                   check=False)
    assert "larger than 4096 bytes" in r.stderr


def test_audit_of_a_device_is_refused(prepared, tmp_path):
    pub = tmp_path / "appliance.pub"
    pub.write_text(run_signer("audit", "pubkey", home=prepared.template, check=True).stdout)
    r = run_signer("audit", "verify", "--log", "/dev/zero", "--pubkey", pub, check=False)
    assert "not a regular file" in r.stderr


def test_request_pack_of_a_directory_is_one_clear_line(tmp_path):
    run_signer("request", "keygen", "--out", tmp_path / "ra.key", check=True)
    r = run_signer("request", "pack", tmp_path, "--ra-key", tmp_path / "ra.key", "--seq", "1",
                   "--out", tmp_path / "b.req", check=False)
    assert r.returncode == 1 and "not a regular file" in r.stderr


def test_home_is_private(token_env, tmp_path):
    pin = token_env.new_token("private")
    home = tmp_path / "home"
    run_signer("init", "--module", token_env.module, "--token", "private", "--rehearsal",
               "--pin-file", pin, "--at", AT, home=home, check=True)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for f in ("signer.toml", "ledger.sqlite", "log/ceremony.jsonl"):
        mode = stat.S_IMODE((home / f).stat().st_mode)
        assert mode & 0o077 == 0, f"{f}: {oct(mode)}"
    for d in ("log", "certs", "crls", "results"):
        assert stat.S_IMODE((home / d).stat().st_mode) & 0o077 == 0
    # Outputs meant to leave the appliance are readable by others; nothing in HOME is.
    assert os.stat(home).st_uid == os.getuid()
