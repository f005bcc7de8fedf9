"""A tampered appliance clock (I9): ceremony time never goes back, never precedes a bundle.

The system clock is only a default: the operator confirms the time with --at, and the log is a
ratchet. These tests hold the line where the clock meets untrusted input.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from tests.conftest import AT, Hierarchy
from tests.hardening.killharness import DRIVER, LATER, Prepared, _env, prepare, signer

FUTURE = "2026-11-30T09:00:00Z"


@pytest.fixture(scope="module")
def prepared(hierarchy: Hierarchy, tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    return prepare(hierarchy.home, hierarchy.pin_file, tmp_path_factory.mktemp("clock"), 2, AT)


def test_a_bundle_from_the_future_is_refused_and_nothing_staged(prepared, tmp_path):
    # The online side's clock (or a forger) cannot pull the ceremony time forward (I9).
    home = tmp_path / "home"
    shutil.copytree(prepared.template, home)
    work = prepared.bundle.parent
    future = tmp_path / "future.req"
    p = subprocess.run([sys.executable, str(DRIVER), "request", "pack", str(work / "spec.json"),
                        "--ra-key", str(work / "ra.key"), "--seq", "1", "--out", str(future),
                        "--at", FUTURE], capture_output=True, text=True, env=_env(), cwd=work)
    assert p.returncode == 0, p.stderr
    auth = ("--pin-file", prepared.pin_file)
    r = signer(home, "batch", "import", future, *auth, "--at", LATER)
    assert r.returncode == 1 and "(I9)" in r.stderr and FUTURE in r.stderr
    assert signer(home, "batch", "show", "ra1-1").returncode == 1  # nothing staged
    r = signer(home, "batch", "import", future, *auth, "--at", FUTURE, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["batch"] == "ra1-1"


def test_a_clock_set_back_cannot_backdate(prepared, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(prepared.template, home)
    auth = ("--pin-file", prepared.pin_file)
    assert signer(home, "batch", "import", prepared.bundle, *auth, "--at", LATER).returncode == 0
    r = signer(home, "batch", "sign", "ra1-1", *auth, "--at", "2026-01-01T00:00:00Z")
    assert r.returncode == 1 and "earlier than the last recorded ceremony time" in r.stderr
