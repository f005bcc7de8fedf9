"""The TUI drives the same session as the command line: its refusals are logged, and however
it ends (a lost terminal: SIGHUP) the session closes with a signed checkpoint, so the next
ceremony needs no `audit recover` (issue 11)."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from signer.tui.app import CeremonyApp
from signer.tui.screens.import_bundle import ImportScreen
from tests.conftest import ROOT, run_signer
from tests.factories import pack
from tests.tui.conftest import paste_text, settle, text_of
from tests.tui.pilots import REQUESTS, error_text, run, started, unlock_with_pin

DEADLINE = 120  # seconds: a bound on waiting for the real process, not a timing assertion


def _entries(home: Path) -> list[dict]:
    return [json.loads(x) for x in (home / "log" / "ceremony.jsonl").read_bytes().splitlines()]


def test_a_refusal_in_the_tui_is_logged(ra_home, tmp_path):
    bundle = pack(ra_home.online, 1, REQUESTS)
    raw = bytearray(bundle.read_bytes())
    raw[len(raw) // 2] ^= 1  # a tampered bundle: the service refuses it
    tampered = tmp_path / "tampered.req"
    tampered.write_bytes(bytes(raw))

    async def scenario():
        app = CeremonyApp(ra_home.home)
        async with app.run_test(size=(100, 30)) as pilot:
            await started(pilot)
            await unlock_with_pin(pilot, ra_home.pin)
            await pilot.press("i")
            assert isinstance(pilot.app.screen, ImportScreen)
            pilot.app.screen.query_one("#path").focus()
            await paste_text(pilot, str(tampered))
            await pilot.press("enter")
            await settle(pilot)
            assert "nothing was staged" in text_of(pilot, "#import-result")
            assert error_text(pilot)
    run(scenario())
    refused = [e for e in _entries(ra_home.home) if e["type"] == "refused"]
    assert refused and refused[-1]["data"]["command"] == "batch import"
    run_signer("audit", "verify", home=ra_home.home, check=True)  # closed, signed


class _Terminal:
    """The TUI in a real pseudo-terminal, as an operator's terminal runs it."""

    def __init__(self, args: list[str]) -> None:
        self.master, slave = pty.openpty()
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"}
        self.proc = subprocess.Popen([sys.executable, "-m", "signer.cli", *args], cwd=ROOT,
                                     stdin=slave, stdout=slave, stderr=slave, env=env,
                                     start_new_session=True)
        os.close(slave)
        self.seen = b""

    def wait_for(self, text: bytes) -> None:
        end = time.monotonic() + DEADLINE
        while text not in self.seen:
            if time.monotonic() > end or self.proc.poll() is not None:
                raise AssertionError(f"never showed {text!r}: {self.seen[-2000:]!r}")
            ready, _, _ = select.select([self.master], [], [], 1)
            if ready:
                try:
                    self.seen += os.read(self.master, 65536)
                except OSError:
                    break

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def drain_until_exit(self) -> int:
        end = time.monotonic() + DEADLINE
        while self.proc.poll() is None and time.monotonic() < end:
            ready, _, _ = select.select([self.master], [], [], 1)
            if ready:
                try:
                    os.read(self.master, 65536)
                except OSError:
                    pass
        return self.proc.wait(timeout=5)


def test_a_tui_killed_by_sighup_leaves_a_signed_log(ra_home, tmp_path):
    term = _Terminal(["--home", str(ra_home.home), "tui", "--at", "2026-11-29T11:00:00Z"])
    try:
        term.wait_for(b"Ceremony overview")
        term.type("u")
        term.wait_for(b"Confirm the ceremony time")
        term.type("\r")
        term.wait_for(b"Unlock the token")
        term.type(ra_home.pin + "\r")
        end = time.monotonic() + DEADLINE
        while not any(e["type"] == "session.open" for e in _entries(ra_home.home)[-3:]):
            assert time.monotonic() < end and term.proc.poll() is None, "never unlocked"
            select.select([term.master], [], [], 0.5)
            try:
                os.read(term.master, 65536)
            except OSError:
                pass
        os.killpg(term.proc.pid, signal.SIGHUP)  # the terminal went away
        term.drain_until_exit()
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
        os.close(term.master)
    entries = _entries(ra_home.home)
    assert [e["type"] for e in entries[-3:]] == ["session.close", "log.state", "checkpoint"]
    pub = tmp_path / "pub.pem"
    pub.write_text(run_signer("audit", "pubkey", home=ra_home.home, check=True).stdout)
    run_signer("audit", "verify", "--log", ra_home.home / "log" / "ceremony.jsonl", "--pubkey",
               pub, check=True)
    # The next ceremony starts at once: no crash tail, no `audit recover`.
    pin = tmp_path / "pin"
    pin.write_text(ra_home.pin)
    run_signer("key", "list", "--pin-file", pin, "--at", "2026-11-29T12:00:00Z",
               home=ra_home.home, check=True)
