"""Signing the batch: progress with rate and ETA; cancelling stops between chunks and the
service records the cancellation itself."""

from __future__ import annotations

import asyncio
import threading
import time

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import ProgressBar, Static

from signer.service.signing import SignReport, sign_batch
from signer.tui.screens.base import CeremonyScreen
from signer.tui.screens.overview import no_batch
from signer.tui.widgets import key_of

EXPORT = "app.open('export')"


def rate_eta(done: int, total: int, elapsed: float) -> str:
    if done <= 0 or elapsed <= 0:
        return f"{done} of {total}"
    rate = done / elapsed
    eta = (total - done) / rate
    return f"{done} of {total}  {rate:.1f} certificates/s  ETA {eta:.0f} s"


def render_sign(rep: SignReport) -> Text:
    t = Text(f"batch {rep.batch}: {rep.issued} issued now, {rep.already} issued before, "
             f"{rep.revoked} revocations", style="bold")
    if rep.awaiting_approval:
        t.append(f"\nawaiting custodian approval: {', '.join(rep.awaiting_approval)}")
    if rep.crls:
        t.append(f"\nCRLs issued: {', '.join(rep.crls)}")
    t.append(f"\n{key_of(SignScreen, EXPORT)}: export the result bundle")
    return t


class SignScreen(CeremonyScreen):
    TITLE = "Sign the batch"
    BINDINGS = [
        Binding("enter", "start", "Start signing"),
        Binding("x", "cancel_sign", "Cancel"),
        Binding("ctrl+e", EXPORT, "Export"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.cancel = threading.Event()
        self.running = False
        self.report: SignReport | None = None
        self._t0 = 0.0

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        with Vertical():
            yield Static("", id="sign-what", classes="panel")
            yield ProgressBar(id="sign-bar", show_eta=False)
            yield Static("", id="sign-rate")
            yield Static("", id="sign-result", classes="panel")
        yield from self.compose_footer()

    def on_mount(self) -> None:
        c = self.ceremony
        self.query_one("#sign-what", Static).update(
            f"batch {c.batch_id or '(none: import one first)'}; approved sub-CA requests: "
            f"{', '.join(c.approvals) or 'none'}\n{key_of(SignScreen, 'start')}: sign "
            f"everything policy accepted.  {key_of(SignScreen, 'cancel_sign')}: cancel (stops "
            "between chunks)")

    def progress(self, done: int, total: int) -> bool:
        """Called on the appliance thread after each chunk; False stops the batch."""
        self._loop.call_soon_threadsafe(self._show_progress, done, total)
        return not self.cancel.is_set()

    def _show_progress(self, done: int, total: int) -> None:
        self.query_one(ProgressBar).update(total=total, progress=done)
        self.query_one("#sign-rate", Static).update(
            rate_eta(done, total, time.monotonic() - self._t0))

    def action_start(self) -> None:
        c = self.ceremony
        if self.running or c.batch_id is None or not c.require_session(self):
            if c.batch_id is None:
                self.error_line().show_error(no_batch())
            return
        self.running = True
        self.cancel.clear()
        self._loop = asyncio.get_running_loop()
        self._t0 = time.monotonic()
        self.query_one("#sign-result", Static).update("signing...")
        job = c.jobs.call("batch sign", sign_batch, c.batch_id, list(c.approvals), self.progress)

        def done(rep: SignReport) -> None:
            self.report = rep
            bar = self.query_one(ProgressBar)
            if bar.total is None:
                bar.update(total=max(rep.issued, 1), progress=max(rep.issued, 1))
            self.query_one("#sign-result", Static).update(render_sign(rep))

        async def run() -> None:
            try:
                if not await self.guarded(job, done):
                    self.query_one("#sign-result", Static).update("signing stopped")
            finally:
                self.running = False

        self.run_worker(run(), exclusive=True, group="sign")

    def action_cancel_sign(self) -> None:
        if self.running:
            self.cancel.set()
            self.query_one("#sign-result", Static).update("cancelling after this chunk...")
