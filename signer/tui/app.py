"""``signer tui``: the ceremony terminal UI (textual).

The app owns the session state a ceremony needs between screens: the confirmed clock (I9),
the current batch, and the custodians' approvals. The token and the ledger live on the one
session thread (`HsmJobs`). However the app ends (quit, Ctrl-C, SIGTERM, SIGHUP when the
terminal goes away, or an exception), the session is closed the same way: a logged close and
a signed checkpoint, after the job in progress stops at its next safe point. Keyboard only;
NO_COLOR gives textual's monochrome rendering.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static

from signer.core.clock import parse_time
from signer.service.overview import Overview, proposed_time
from signer.tui.jobs import HsmJobs
from signer.tui.screens.clock import ClockScreen
from signer.tui.screens.crl import CrlScreen
from signer.tui.screens.export import ExportScreen
from signer.tui.screens.import_bundle import ImportScreen
from signer.tui.screens.log import LogScreen
from signer.tui.screens.overview import OverviewScreen
from signer.tui.screens.review import ReviewScreen
from signer.tui.screens.sign import SignScreen
from signer.tui.screens.unlock import UnlockScreen
from signer.tui.widgets import ERRORS, ErrorLine, key_of, one_line

SCREENS = ("import", "review", "sign", "export", "crl", "log")
NEEDS_SESSION = ("import", "sign", "export", "crl")


class CeremonyApp(App[None]):
    CSS_PATH = "signer.tcss"
    TITLE = "airgap-signer"
    # Every ceremony action has its key in the footer; the palette (themes, screenshots) would
    # only take the footer's room at 80 columns (Log and Quit fell off).
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [Binding("ctrl+c", "quit", "Quit", show=False, priority=True)]

    def __init__(self, home: Path, at: str | None = None) -> None:
        super().__init__()
        self.home = home
        self.jobs = HsmJobs(home)
        self.overview: Overview | None = None
        self.rehearsal = False
        self.confirmed_time: str | None = None
        self.proposed_at = at  # a --at given on the command line is still confirmed by hand
        self.batch_id: str | None = None
        self.approvals: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static(f"opening {self.home} ...", id="starting")

    def on_mount(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, self.hang_up)
        self.run_worker(self._start(), exclusive=True, group="start")

    def hang_up(self) -> None:
        """SIGTERM, or SIGHUP (the terminal went away): stop the job at its next safe point,
        then leave; ``run`` closes the session, signed."""
        self.jobs.interrupt()
        self.exit()

    async def _start(self) -> None:
        try:
            ov = await self.jobs.overview()
        except ERRORS as exc:
            self.query_one("#starting", Static).update(
                f"ERROR: {one_line(exc)}\n\nctrl+c to quit")
            return
        self.overview = ov
        self.rehearsal = ov.rehearsal
        if ov.batches:
            waiting = [b for b in ov.batches if b["state"] != "exported"]
            self.batch_id = (waiting or ov.batches)[-1]["id"]
        await self.push_screen(OverviewScreen())

    # -- state shared by screens ------------------------------------------------------------

    def confirmed_datetime(self) -> dt.datetime | None:
        return parse_time(self.confirmed_time) if self.confirmed_time else None

    @property
    def logged_in(self) -> bool:
        return self.overview is not None and self.overview.logged_in

    def select_batch(self, batch_id: str) -> None:
        if batch_id != self.batch_id:
            self.approvals = []
        self.batch_id = batch_id

    def require_session(self, screen: Screen[None]) -> bool:
        """Screens that sign or log need an unlocked token; say so in the error line."""
        if self.logged_in:
            return True
        unlock = key_of(OverviewScreen, "app.unlock")
        screen.query_one(ErrorLine).show_error(
            f"the token is locked: go back (Esc) and unlock ({unlock})")
        return False

    # -- actions ----------------------------------------------------------------------------

    def action_clock(self, then_unlock: bool = False) -> None:
        last = self.overview.last_time if self.overview else None
        proposal = self.confirmed_time or self.proposed_at or proposed_time(last)

        def confirmed(value: str | None) -> None:
            if value is None:
                return
            self.confirmed_time = value
            self._refresh_overview()
            if then_unlock:
                self.action_unlock()

        self.push_screen(ClockScreen(proposal, last), confirmed)

    def action_unlock(self) -> None:
        if self.logged_in:
            self.notify("the token is already unlocked")
            return
        if self.confirmed_time is None:
            self.action_clock(then_unlock=True)
            return

        def unlocked(ok: bool | None) -> None:
            if ok:
                self._refresh_overview()

        quorum = self.overview.quorum if self.overview else None
        self.push_screen(UnlockScreen(quorum), unlocked)

    def _refresh_overview(self) -> None:
        if isinstance(self.screen, OverviewScreen):
            self.screen.refresh_facts()

    def action_open(self, name: str) -> None:
        factories: dict[str, type[Screen[None]]] = {
            "import": ImportScreen, "review": ReviewScreen, "sign": SignScreen,
            "export": ExportScreen, "crl": CrlScreen, "log": LogScreen}
        if len(self.screen_stack) > 2:  # one flow at a time, on top of the overview
            self.pop_screen()
        self.push_screen(factories[name]())

    async def action_quit(self) -> None:
        self.exit()

    def on_unmount(self) -> None:
        self.jobs.close()


def run(home: Path, at: str | None = None) -> None:
    app = CeremonyApp(home, at=at)
    try:
        app.run()
    finally:  # whatever ended the app (a lost terminal included), the session closes signed
        app.jobs.interrupt()
        app.jobs.close()
