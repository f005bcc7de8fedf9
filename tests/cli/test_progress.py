"""Progress on long CLI work (issue 15): a bar with count, rate and time left on stderr when it
is a terminal (a real pty, the command's controlling terminal); nothing with --json, whose
stdout stays pure JSON, and nothing when stderr is piped."""

from __future__ import annotations

import json
import re

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich import filesize

from signer.store.log import CeremonyLog
from tests.conftest import AT, run_signer
from tests.factories import facts, make_csr, pack
from tests.terminal import run_in_pty

ORIGIN = "progress.example/airgap-signer"
SK = Ed25519PrivateKey.from_private_bytes(b"\x09" * 32)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
BAR = "\u2501"  # the bar's line


@pytest.fixture(scope="module")
def big_log(tmp_path_factory):
    """A log of 6,000 entries and its key: long enough to be read in many steps."""
    d = tmp_path_factory.mktemp("biglog")
    log = CeremonyLog.open(d / "ceremony.jsonl", ORIGIN, create=True)
    pub = SK.public_key().public_bytes_raw()
    for chunk in range(6):
        log.append_many("rehearsal.note", [{"n": f"r{chunk}-{i}", "serial": f"{i:x}"}
                                        for i in range(1000)], AT)
        log.checkpoint(AT, ORIGIN, pub, SK.sign)
    key = d / "appliance.pub"
    key.write_bytes(SK.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return log.path, key


def _screen(output: str) -> str:
    """What the terminal shows in the end: escapes dropped, each line's last redraw kept."""
    text = ANSI.sub("", output).replace("\r\n", "\n")
    return "\n".join(line.split("\r")[-1] for line in text.split("\n"))


def test_audit_verify_shows_its_bars_at_a_terminal(big_log, tmp_path):
    log, key = big_log
    out = tmp_path / "stdout.txt"
    run = run_in_pty(["audit", "verify", "--log", log, "--pubkey", key], stdout_to=out)
    assert run.status == 0, run.output
    screen = _screen(run.output)
    size = filesize.decimal(log.stat().st_size)
    for what in ("verifying the ceremony log", "reading the ceremony log"):
        line = next(x for x in screen.splitlines() if x.startswith(what))
        # finished: the full bar, bytes done of the total, a rate, no time left
        assert BAR * 10 in line and f" {size}/{size} " in line, line
        assert re.search(r"B/s 0:00:00$", line), line
    assert "RESULT: OK" in out.read_text() and "\x1b" not in out.read_text()  # stdout untouched


def test_json_stays_pure_and_silent(big_log, tmp_path):
    log, key = big_log
    out = tmp_path / "stdout.json"
    run = run_in_pty(["audit", "verify", "--log", log, "--pubkey", key, "--json"],
                     stdout_to=out)
    assert run.status == 0, run.output
    assert json.loads(out.read_text())["ok"] is True
    assert BAR not in run.output and "ceremony log" not in _screen(run.output)


def test_no_bar_when_stderr_is_piped(big_log):
    log, key = big_log
    r = run_signer("audit", "verify", "--log", log, "--pubkey", key, check=True)
    assert BAR not in r.stderr and "\x1b" not in r.stderr + r.stdout


def test_a_batch_shows_judging_signing_and_exporting(copy_home, hierarchy, tmp_path):
    o = tmp_path / "online"
    o.mkdir()
    run_signer("request", "keygen", "--out", o / "ra.key", check=True)
    auth = ["--pin-file", hierarchy.pin_file, "--at", AT]
    run_signer("ra", "trust", "ra1", o / "ra.key.pub", *auth, home=copy_home, check=True)
    requests = []
    for i in range(3):
        make_csr(o / f"m{i}.csr", cn=f"m{i}.example.org", dns=[f"m{i}.example.org"])
        requests.append({"id": f"m{i}", "ca": "class1", "profile": "server", "csr": f"m{i}.csr",
                         "subscriber": f"s{i}", "verified": facts(dns=[f"m{i}.example.org"])})
    bundle = pack(o, 1, requests)
    steps = [(["batch", "import", bundle], "judging the requests", "3/3"),
             (["batch", "sign", "ra1-1"], "signing", "3/3"),
             (["batch", "export", "ra1-1", "--out", tmp_path / "r.res"], "exporting the outcomes",
              "3/3"),
             (["crl", "issue", "class1"], "CRL 1 of class1: lint, sign, verify", "3/3")]
    for args, what, count in steps:
        run = run_in_pty([*args, *auth], home=copy_home, stdout_to=tmp_path / "out.txt")
        assert run.status == 0, run.output
        line = next((x for x in _screen(run.output).splitlines() if x.startswith(what)), "")
        assert BAR * 10 in line and f" {count} " in line, (what, _screen(run.output))
