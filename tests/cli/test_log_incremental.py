"""A login verifies what is new since the log's last verified state, and still refuses a log
truncated or rewritten before it, or a state file swapped (the real CLI and token; T10)."""

from __future__ import annotations

import json
import re
import shutil

from tests.conftest import AT, run_signer

LATER = "2026-11-29T11:00:00Z"


def _login(home, hierarchy, check):
    return run_signer("key", "list", "--pin-file", hierarchy.pin_file, "--at", LATER,
                      home=home, check=check)


def _lines(home):
    return (home / "log" / "ceremony.jsonl").read_bytes().splitlines(keepends=True)


def test_sessions_keep_a_verified_state_and_resume_from_it(copy_home, hierarchy):
    _login(copy_home, hierarchy, True)
    state = json.loads((copy_home / "log" / "state.json").read_bytes())
    types = [json.loads(x)["type"] for x in _lines(copy_home)]
    assert types[-2:] == ["log.state", "checkpoint"]
    # The state file is the one the log recorded, signed by the checkpoint after it.
    logged = json.loads(_lines(copy_home)[state["size"]])
    assert logged["type"] == "log.state" and logged["data"]["size"] == state["size"]
    _login(copy_home, hierarchy, True)  # and the next login resumes from it
    assert run_signer("ca", "list", home=copy_home, check=True).stdout.count("until") == 3


def test_a_log_truncated_at_an_earlier_checkpoint_is_refused_at_login(copy_home, hierarchy):
    _login(copy_home, hierarchy, True)
    _login(copy_home, hierarchy, True)
    lines = _lines(copy_home)
    cut = max(i for i, x in enumerate(lines[:-2]) if b'"type":"checkpoint"' in x) + 1
    (copy_home / "log" / "ceremony.jsonl").write_bytes(b"".join(lines[:cut]))
    r = _login(copy_home, hierarchy, False)
    assert r.returncode == 1 and "truncated" in r.stderr and "auditors" in r.stderr


def test_a_rewritten_log_prefix_is_refused_at_login(copy_home, hierarchy):
    _login(copy_home, hierarchy, True)
    log = copy_home / "log" / "ceremony.jsonl"
    raw = log.read_bytes()  # the first entry's time moved an hour back, same length
    log.write_bytes(raw.replace(AT.encode(), b"2026-11-29T09:00:00Z", 1))
    r = _login(copy_home, hierarchy, False)
    assert r.returncode == 1 and "rewritten" in r.stderr, r.stderr


def test_a_swapped_state_file_is_refused_at_login(copy_home, hierarchy, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(copy_home, other)
    _login(other, hierarchy, True)
    run_signer("ra", "trust", "ra9", *_ra_key(tmp_path), "--pin-file", hierarchy.pin_file,
               "--at", LATER, home=other, check=True)
    _login(copy_home, hierarchy, True)
    shutil.copy(other / "log" / "state.json", copy_home / "log" / "state.json")
    r = _login(copy_home, hierarchy, False)
    assert r.returncode == 1 and "auditors" in r.stderr, r.stderr
    assert re.search("swapped or edited|rewritten|truncated", r.stderr), r.stderr


def _ra_key(tmp_path):
    key = tmp_path / "ra.key"
    run_signer("request", "keygen", "--out", key, check=True)
    return [str(key) + ".pub"]
