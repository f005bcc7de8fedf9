"""The ceremony time dialog (I9) comes pre-filled with the proposed time: the custodians
confirm it with Enter, or change it; nothing is taken without a key press."""

from __future__ import annotations

from textual.widgets import Label

from signer.core.clock import format_time, utc_now
from signer.tui.app import CeremonyApp
from signer.tui.screens.clock import ClockScreen
from signer.tui.screens.unlock import UnlockScreen
from tests.conftest import AT
from tests.tui.conftest import replace_input, text_of
from tests.tui.pilots import run, started


def test_the_time_dialog_proposes_the_command_lines_time(copy_home):
    at = "2026-12-01T08:00:00Z"

    async def scenario():
        app = CeremonyApp(copy_home, at=at)
        async with app.run_test(size=(80, 24)) as pilot:
            await started(pilot)
            assert "press c to confirm" in text_of(pilot, "#ov-clock")  # not taken silently
            await pilot.press("c")
            assert isinstance(pilot.app.screen, ClockScreen)
            assert pilot.app.screen.query_one("#clock-input").value == at
            await pilot.press("enter")  # confirmed as proposed
            assert f"{at} (confirmed" in text_of(pilot, "#ov-clock")
            await pilot.press("c")  # proposed again: the confirmed time, to change
            assert pilot.app.screen.query_one("#clock-input").value == at
            await replace_input(pilot, "2026-12-01T09:30:00Z")
            await pilot.press("enter")
            assert "2026-12-01T09:30:00Z (confirmed" in text_of(pilot, "#ov-clock")
    run(scenario())


def test_without_a_time_it_proposes_now_never_before_the_last_ceremony(copy_home):
    async def scenario():
        app = CeremonyApp(copy_home)
        async with app.run_test(size=(80, 24)) as pilot:
            await started(pilot)
            before = format_time(utc_now())
            await pilot.press("u")  # unlocking asks for the time first
            after = format_time(utc_now())
            assert isinstance(pilot.app.screen, ClockScreen)
            proposed = pilot.app.screen.query_one("#clock-input").value
            assert max(before, AT) <= proposed <= max(after, AT)  # now, or the last if later
            await pilot.press("enter")  # confirmed as proposed, then the unlock dialog
            assert isinstance(pilot.app.screen, UnlockScreen)
            assert f"Ceremony time {proposed} (confirmed)" in "".join(
                str(w.content) for w in pilot.app.screen.query(Label))
    run(scenario())
