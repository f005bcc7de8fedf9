"""The ceremony TUI driven by real key presses, against a real SoftHSM token and home.

Each test reads like a ceremony step: the operator confirms the clock, custodians unlock,
the bundle is imported and its digest read out, the batch reviewed, signed, exported, a CRL
issued and the log verified. No sleeps: workers are awaited.
"""

from __future__ import annotations

import json
import re

from textual.widgets import DataTable

from signer.service.overview import words8
from signer.tui.app import CeremonyApp
from signer.tui.screens.crl import CrlScreen
from signer.tui.screens.export import ExportScreen
from signer.tui.screens.log import LogScreen
from signer.tui.screens.overview import OverviewScreen
from signer.tui.screens.review import ReviewScreen
from signer.tui.screens.sign import SignScreen
from signer.tui.screens.unlock import UnlockScreen
from tests.conftest import run_signer
from tests.factories import pack
from tests.tui.conftest import LATER, paste_text, replace_input, settle, text_of, type_text
from tests.tui.pilots import REQUESTS, error_text, import_bundle, run, started, unlock_with_pin


def test_overview_shows_cas_rehearsal_and_checkpoint(copy_home):
    async def scenario():
        app = CeremonyApp(copy_home)
        async with app.run_test(size=(80, 24)) as pilot:
            await started(pilot)
            assert "REHEARSAL" in str(pilot.app.screen.query_one("Banner").content)
            cas = text_of(pilot, "#ov-cas")
            for name in ("root", "class1", "class3"):
                assert name in cas
            log = text_of(pilot, "#ov-log")
            assert "root" in log and "words" in log
            assert "locked" in text_of(pilot, "#ov-token")
            assert "press c to confirm" in text_of(pilot, "#ov-clock")
            # Every flow screen carries the banner too.
            await pilot.press("l")
            await settle(pilot)
            assert "REHEARSAL" in str(pilot.app.screen.query_one("Banner").content)
    run(scenario())


def test_wrong_pin_is_one_line_and_right_pin_unlocks(copy_home, hierarchy):
    async def scenario():
        app = CeremonyApp(copy_home)
        async with app.run_test(size=(80, 24)) as pilot:
            await started(pilot)
            await unlock_with_pin(pilot, "000000")
            assert isinstance(pilot.app.screen, UnlockScreen)
            err = error_text(pilot)
            assert "wrong PIN" in err and "Traceback" not in err and "000000" not in err
            assert pilot.app.screen.query_one("#secret").value == ""  # I10: not kept
            await type_text(pilot, hierarchy.pin_file.read_text().strip())
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(pilot.app.screen, OverviewScreen)
            assert "unlocked" in text_of(pilot, "#ov-token")
            assert "2026-11-29T11:00:00Z" in text_of(pilot, "#ov-clock")
        log = (copy_home / "log" / "ceremony.jsonl").read_text()
        assert hierarchy.pin_file.read_text().strip() not in log
        assert log.rstrip().splitlines()[-1].count('"checkpoint"')  # closed with a checkpoint
    run(scenario())


def test_import_and_review_with_refused_filter(ra_home):
    bundle = pack(ra_home.online, 1, REQUESTS)

    async def scenario():
        app = CeremonyApp(ra_home.home)
        async with app.run_test(size=(100, 30)) as pilot:
            await started(pilot)
            await unlock_with_pin(pilot, ra_home.pin)
            await import_bundle(pilot, bundle)
            result = text_of(pilot, "#import-result")
            digest = json.loads(run_signer("batch", "list", "--json",
                                           home=ra_home.home).stdout)["batches"][0]["digest"]
            assert words8(digest) in result
            assert digest.upper()[:4] in result and "2 accepted, 2 refused" in result
            await pilot.press("ctrl+r")
            await settle(pilot)
            screen = pilot.app.screen
            assert isinstance(screen, ReviewScreen)
            table = screen.query_one(DataTable)
            assert table.row_count == 4
            verdicts = {table.get_row_at(i)[0]: table.get_row_at(i)[4] for i in range(4)}
            assert verdicts == {"good": "accept", "mail": "accept", "unverified": "REFUSED",
                                "garbage": "REFUSED"}
            await pilot.press("f")
            assert table.row_count == 2
            assert "showing refused only" in text_of(pilot, "#counts")
            detail = text_of(pilot, "#detail")
            assert "name.unverified" in detail and "bank.example.com" in detail
            assert "names (verified)" not in detail  # refused: its names were not all verified
            await pilot.press("down")
            assert "csr.parse" in text_of(pilot, "#detail")
            await pilot.press("f")
            assert table.row_count == 4
    run(scenario())


def test_sign_export_and_log_verification(ra_home, tmp_path):
    bundle = pack(ra_home.online, 1, REQUESTS)
    out = tmp_path / "stick"
    out.mkdir()

    async def scenario():
        app = CeremonyApp(ra_home.home)
        async with app.run_test(size=(80, 24)) as pilot:
            await started(pilot)
            await unlock_with_pin(pilot, ra_home.pin)
            await import_bundle(pilot, bundle)
            await pilot.press("escape", "s")
            assert isinstance(pilot.app.screen, SignScreen)
            await pilot.press("enter")
            await settle(pilot)
            result = text_of(pilot, "#sign-result")
            assert "2 issued now" in result
            assert "2 of 2" in text_of(pilot, "#sign-rate")
            # The key the screen names is the key it reacts to (it said "e" for ctrl+e).
            key = re.search(r"\n(\S+): export the result bundle", result)
            assert key is not None and key[1] == "ctrl+e"
            await pilot.press(key[1])
            assert isinstance(pilot.app.screen, ExportScreen)
            await pilot.press("home", "ctrl+k")
            await paste_text(pilot, str(out))
            await pilot.press("enter")
            await settle(pilot)
            exported = text_of(pilot, "#export-result")
            assert "read it back: identical" in exported, error_text(pilot)
            qr_key = re.search(r"(\S+): show as QR frames", exported)
            assert qr_key is not None
            await pilot.press(qr_key[1])
            await settle(pilot)
            assert "QR v20" in text_of(pilot, "#qr-caption")  # more in tests/tui/test_tui_qr.py
            await pilot.press("escape", "escape", "l")
            assert isinstance(pilot.app.screen, LogScreen)
            await settle(pilot)
            assert pilot.app.screen.query_one(DataTable).row_count > 10
            await pilot.press("v")
            await settle(pilot)
            assert "RESULT: OK" in text_of(pilot, "#audit")
        shown = json.loads(run_signer("batch", "show", "ra1-1", "--json",
                                      home=ra_home.home).stdout)
        serials = {r["id"]: r["serial"] for r in shown["requests"]}
        assert serials["good"] and serials["mail"] and not serials["garbage"]
        assert (out / "ra1-1.res").exists()
    run(scenario())


def test_crl_issue_shows_next_update(copy_home, hierarchy):
    async def scenario():
        app = CeremonyApp(copy_home)
        async with app.run_test(size=(80, 24)) as pilot:
            await started(pilot)
            await pilot.press("k")
            assert isinstance(pilot.app.screen, CrlScreen)
            await pilot.press("down", "enter")  # class1, while still locked: refused
            assert "locked" in error_text(pilot)
            await pilot.press("escape")
            await unlock_with_pin(pilot, hierarchy.pin_file.read_text().strip())
            await pilot.press("k", "down", "enter")
            await settle(pilot)
            result = text_of(pilot, "#crl-result")
            assert "CRL 1 of class1" in result and "nextUpdate 2026-" in result
        assert (copy_home / "crls" / "class1-1.crl").exists()
    run(scenario())


def test_unlock_with_custodian_shares(quorum_home):
    home = quorum_home.home
    one, two = quorum_home.shares[:2]

    async def scenario():
        app = CeremonyApp(home)
        async with app.run_test(size=(80, 24)) as pilot:
            await started(pilot)
            await pilot.press("u")
            await replace_input(pilot, LATER)
            await pilot.press("enter")
            screen = pilot.app.screen
            assert isinstance(screen, UnlockScreen)
            assert "0 of 2 shares" in str(screen.query_one("#unlock-progress").content)
            await type_text(pilot, "not ")
            assert "no SLIP-39 word starts with 'not'" in error_text(pilot)
            await pilot.press("ctrl+u")  # clear the field
            for _ in range(2):  # the same custodian twice (pasted, as a scanner types)
                await paste_text(pilot, one + " ")
            await settle(pilot)
            assert isinstance(pilot.app.screen, UnlockScreen)
            assert "given twice" in error_text(pilot)
            assert one.split()[0] not in error_text(pilot)  # I10
            await paste_text(pilot, one + " ")
            assert "1 of 2 shares" in str(screen.query_one("#unlock-progress").content)
            await paste_text(pilot, two + " ")
            await settle(pilot)
            assert isinstance(pilot.app.screen, OverviewScreen), error_text(pilot)
            token = text_of(pilot, "#ov-token")
            assert "unlocked" in token and "shares 1, 2 took part" in token
        log = (home / "log" / "ceremony.jsonl").read_text()
        assert '"share_indices":[1,2]' in log and one.split()[3] not in log
    run(scenario())
