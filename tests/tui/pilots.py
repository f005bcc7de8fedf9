"""Pilot helpers shared by the TUI tests: the standard requests, starting, unlocking and
importing as an operator would, and the error line."""

from __future__ import annotations

import asyncio
from pathlib import Path

from signer.tui.screens.clock import ClockScreen
from signer.tui.screens.import_bundle import ImportScreen
from signer.tui.screens.overview import OverviewScreen
from signer.tui.screens.unlock import UnlockScreen
from signer.tui.widgets import ErrorLine
from tests.factories import facts
from tests.tui.conftest import LATER, paste_text, replace_input, settle, type_text

REQUESTS = [
    {"id": "good", "ca": "class1", "profile": "server", "csr": "good.csr", "subscriber": "m1",
     "verified": facts(dns=["www.example.org", "example.org"], points=10)},
    {"id": "mail", "ca": "class1", "profile": "email", "csr": "mail.csr", "subscriber": "m3",
     "verified": facts(email=["bob@example.net"])},
    {"id": "unverified", "ca": "class1", "profile": "server", "csr": "unverified.csr",
     "subscriber": "m4", "verified": facts(dns=["www.example.org"], points=10)},
    {"id": "garbage", "ca": "class1", "profile": "server", "csr": "garbage.csr",
     "subscriber": "m6", "verified": facts(dns=["x.example.org"])},
]


def run(coro) -> None:
    asyncio.run(coro)


def error_text(pilot) -> str:
    return str(pilot.app.screen.query_one(ErrorLine).content)


async def started(pilot) -> None:
    await settle(pilot)
    assert isinstance(pilot.app.screen, OverviewScreen)


async def unlock_with_pin(pilot, pin: str, at: str = LATER) -> None:
    await pilot.press("u")
    assert isinstance(pilot.app.screen, ClockScreen)
    await replace_input(pilot, at)
    await pilot.press("enter")
    assert isinstance(pilot.app.screen, UnlockScreen)
    await type_text(pilot, pin)
    await pilot.press("enter")
    await settle(pilot)


async def import_bundle(pilot, bundle: Path) -> None:
    await pilot.press("i")
    assert isinstance(pilot.app.screen, ImportScreen)
    pilot.app.screen.query_one("#path").focus()
    await paste_text(pilot, str(bundle))
    await pilot.press("enter")
    await settle(pilot)


