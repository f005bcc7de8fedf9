"""HSM faults: the token fails mid-batch, the PIN is wrong or locked, the token is missing.

SoftHSM never locks a PIN and cannot be unplugged, so a thin fault-injecting layer wraps the
token's raw signing callback (``hsm.token.wrap_key``) and its flags; everything else is the real
CLI on the real token, in this process. Promise under test (issue 7): the batch stops between
certificates and says why, nothing is half-recorded (every certificate in the ledger is in the
log and the reverse, I2), and a later run completes with nothing lost or doubled.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pkcs11 import TokenFlag
from pkcs11 import exceptions as p11e

import hsm.token
from hsm.errors import DeviceError
from signer.cli import main
from signer.service import signing
from tests.conftest import AT, Hierarchy
from tests.hardening.killharness import (
    CONFIRMATION,
    LATER,
    Prepared,
    check_invariants,
    prepare,
    signer,
)

BATCH = 10


class FaultyToken:
    """Counts signatures by the token; from number ``after + 1`` on, the device has failed."""

    def __init__(self, after: int, labels: set[str] | None = None) -> None:
        self.after = after
        self.labels = labels  # None: every key (the session is lost); else only these keys
        self.count = 0

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        orig = hsm.token.wrap_key

        def wrap_key(label: str, public: Any, raw_sign: Callable[[Any, bytes], bytes]) -> Any:
            def faulty(mech: Any, data: bytes) -> bytes:
                if self.labels is None or label in self.labels:
                    self.count += 1
                    if self.count > self.after:
                        raise DeviceError(f"signing with key {label!r}: the token failed "
                                          "(SessionHandleInvalid)")
                return raw_sign(mech, data)

            return orig(label, public, faulty)

        monkeypatch.setattr(hsm.token, "wrap_key", wrap_key)


class _FlaggedToken:
    """A pkcs11 token whose flags say more than SoftHSM ever will."""

    def __init__(self, tok: Any, extra: TokenFlag, login_error: Exception | None) -> None:
        self._tok, self._extra, self._login_error = tok, extra, login_error

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tok, name)

    @property
    def flags(self) -> TokenFlag:
        return self._tok.flags | self._extra

    def open(self, **kw: Any) -> Any:
        if self._login_error is not None and "user_pin" in kw:
            raise self._login_error
        return self._tok.open(**kw)


class _FlaggedLib:
    def __init__(self, lib: Any, extra: TokenFlag) -> None:
        self._lib, self._extra = lib, extra

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lib, name)

    def get_token(self, **kw: Any) -> Any:
        return _FlaggedToken(self._lib.get_token(**kw), self._extra, None)


def flag_token(monkeypatch: pytest.MonkeyPatch, extra: TokenFlag,
               login_error: Exception | None = None) -> None:
    orig = hsm.token.Token.__init__

    def init(self: Any, *args: Any, **kw: Any) -> None:
        orig(self, *args, **kw)
        self._token = _FlaggedToken(self._token, extra, login_error)
        self._lib = _FlaggedLib(self._lib, extra)

    monkeypatch.setattr(hsm.token.Token, "__init__", init)


@pytest.fixture(scope="module")
def prepared(hierarchy: Hierarchy, tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    return prepare(hierarchy.home, hierarchy.pin_file, tmp_path_factory.mktemp("hsmf"), BATCH, AT)


@pytest.fixture
def staged(prepared: Prepared, tmp_path: Path) -> Path:
    """A fresh home with the batch imported (not signed)."""
    home = tmp_path / "home"
    shutil.copytree(prepared.template, home)
    p = signer(home, "batch", "import", prepared.bundle, "--pin-file", prepared.pin_file,
               "--at", LATER)
    assert p.returncode == 0, p.stderr
    return home


def cli(capsys: pytest.CaptureFixture[str], home: Path, *args: str | Path) -> tuple[int, str]:
    rc = main(["--home", str(home), *map(str, args)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return rc, err


def _ledger_and_log(home: Path) -> tuple[set[str], set[str], int]:
    db = sqlite3.connect(home / "ledger.sqlite")
    try:
        ledger = {r[0] for r in db.execute(
            "SELECT cert_sha256 FROM certificates WHERE batch_id IS NOT NULL")}
    finally:
        db.close()
    text = (home / "log" / "ceremony.jsonl").read_text()
    import json

    entries = [json.loads(x) for x in text.splitlines()]
    logged = {e["data"]["cert_sha256"] for e in entries if e["type"] == "cert.issued"}
    intents = sum(e["type"] == "issue.intent" for e in entries)
    return ledger, logged, intents


@pytest.mark.parametrize(("after", "labels", "chunk"), [
    (5, {"class1-key"}, 4),   # the CA key fails mid-chunk 2; the log key still signs
    (0, {"class1-key"}, 4),   # the very first signature fails
    (6, None, 3),             # the whole session is lost: the closing checkpoint fails too
])
def test_token_failure_mid_batch_stops_between_certificates(
        prepared, staged, capsys, monkeypatch, after, labels, chunk):
    monkeypatch.setenv("SIGNER_WORKERS", "0")
    monkeypatch.setattr(signing, "CHUNK", chunk)
    FaultyToken(after, labels).install(monkeypatch)
    rc, err = cli(capsys, staged, "batch", "sign", prepared.batch, "--pin-file",
                  prepared.pin_file, "--at", LATER)
    lines = [x for x in err.splitlines() if x.startswith("signer:")]
    assert rc == 1 and len(lines) == 1 and "token failed" in lines[0], err
    # Nothing half-recorded: whole chunks only, each in the ledger and the log (I2).
    ledger, logged, intents = _ledger_and_log(staged)
    assert ledger == logged
    assert len(ledger) == (after // chunk) * chunk
    assert intents >= len(ledger)
    monkeypatch.undo()
    # A later run completes: after `audit recover` when the session could not be closed.
    p = signer(staged, "batch", "sign", prepared.batch, "--pin-file", prepared.pin_file,
               "--at", LATER)
    if p.returncode != 0:
        assert labels is None and "audit recover" in p.stderr, p.stderr
        r = signer(staged, "audit", "recover", "--confirm", CONFIRMATION, "--pin-file",
                   prepared.pin_file, "--at", LATER)
        assert r.returncode == 0, r.stderr
        p = signer(staged, "batch", "sign", prepared.batch, "--pin-file", prepared.pin_file,
                   "--at", LATER)
    assert p.returncode == 0, p.stderr
    assert check_invariants(staged, prepared, staged.parent) == []


def test_pin_locked_by_the_token_flags_is_a_clear_message(prepared, staged, capsys, monkeypatch):
    before = (staged / "log" / "ceremony.jsonl").read_bytes()
    flag_token(monkeypatch, TokenFlag.USER_PIN_LOCKED)
    rc, err = cli(capsys, staged, "batch", "sign", prepared.batch, "--pin-file",
                  prepared.pin_file, "--at", LATER)
    assert rc == 1 and "the user PIN is locked" in err
    assert prepared.pin_file.read_text() not in err  # I10
    assert (staged / "log" / "ceremony.jsonl").read_bytes() == before  # nothing started


def test_pin_locked_at_login_is_a_clear_message(prepared, staged, capsys, monkeypatch):
    flag_token(monkeypatch, TokenFlag(0), login_error=p11e.PinLocked())
    rc, err = cli(capsys, staged, "batch", "sign", prepared.batch, "--pin-file",
                  prepared.pin_file, "--at", LATER)
    assert rc == 1 and "locked the user PIN" in err
    assert prepared.pin_file.read_text() not in err


@pytest.mark.parametrize(("flag", "note"), [
    (TokenFlag(0), ""),
    (TokenFlag.USER_PIN_COUNT_LOW, "few tries left"),
    (TokenFlag.USER_PIN_FINAL_TRY, "one try left"),
])
def test_wrong_pin_says_so_with_the_tries_left(prepared, staged, capsys, monkeypatch, tmp_path,
                                               flag, note):
    bad = tmp_path / "bad.pin"
    bad.write_text("9999-not-the-pin")
    flag_token(monkeypatch, flag)
    before = (staged / "log" / "ceremony.jsonl").read_bytes()
    rc, err = cli(capsys, staged, "batch", "sign", prepared.batch, "--pin-file", bad,
                  "--at", LATER)
    assert rc == 1 and "wrong PIN" in err and note in err
    assert "9999" not in err  # I10
    assert (staged / "log" / "ceremony.jsonl").read_bytes() == before


def test_token_missing_at_start_changes_nothing(prepared, staged):
    cfg = staged / "signer.toml"
    cfg.write_text(cfg.read_text().replace('label = "hier"', 'label = "not-plugged-in"'))
    assert "not-plugged-in" in cfg.read_text()
    before = (staged / "log" / "ceremony.jsonl").read_bytes()
    p = signer(staged, "batch", "sign", prepared.batch, "--pin-file", prepared.pin_file,
               "--at", LATER)
    assert p.returncode == 1 and "no token 'not-plugged-in'" in p.stderr
    assert (staged / "log" / "ceremony.jsonl").read_bytes() == before


def test_a_failed_closing_checkpoint_still_logs_out(prepared, staged, capsys, monkeypatch):
    # Regression: Appliance.close() skipped token.close() when the checkpoint failed, so the
    # process (the TUI, a long-lived one) stayed logged in: the next login failed with
    # "UserAlreadyLoggedIn" instead of proceeding or naming the real problem.
    monkeypatch.setenv("SIGNER_WORKERS", "0")
    with monkeypatch.context() as m:
        FaultyToken(0, {"appliance-log"}).install(m)
        rc, err = cli(capsys, staged, "batch", "sign", prepared.batch, "--pin-file",
                      prepared.pin_file, "--at", LATER)
        assert rc == 1 and "appliance-log" in err and "token failed" in err
    rc, err = cli(capsys, staged, "batch", "sign", prepared.batch, "--pin-file",
                  prepared.pin_file, "--at", LATER)
    assert "AlreadyLoggedIn" not in err
    # The unsigned tail held only the signing run's own records: the next login completed it.
    assert rc == 0, err
    log = (staged / "log" / "ceremony.jsonl").read_text()
    assert '"completed_at_login":true' in log and '"type":"recovery"' in log
