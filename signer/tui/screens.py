"""Session screens: the ceremony overview, the clock, the custodians' unlock, and the log.

Secrets are typed into password inputs of the modal `UnlockScreen` only; each value is
cleared from its input at once and handed to the appliance thread inside a `Credentials`
object that the login job wipes (I10). No screen decides anything: they call the service
(through `HsmJobs`) and render what it returned.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Input, Label, Static

from signer import quorum
from signer.audit import AuditReport, audit_verify
from signer.ceremony import Appliance, Credentials, parse_time
from signer.config import parse_quorum
from signer.tui.jobs import Overview, proposed_time, words8
from signer.tui.widgets import ERRORS, Banner, ErrorLine, grouped_hex, one_line

if TYPE_CHECKING:
    from signer.tui.app import CeremonyApp

T = TypeVar("T")


class CeremonyScreen(Screen[None]):
    """A full screen with the banner, a one-line error, and the key footer."""

    TITLE = ""
    BINDINGS = [Binding("escape", "back", "Back", show=False)]

    @property
    def ceremony(self) -> CeremonyApp:
        return self.app  # type: ignore[return-value]

    def compose_header(self) -> ComposeResult:
        yield Banner(self.TITLE, self.ceremony.rehearsal)

    def compose_footer(self) -> ComposeResult:
        yield ErrorLine()
        yield Footer()

    def error_line(self) -> ErrorLine:
        return self.query_one(ErrorLine)

    async def guarded(self, job: Awaitable[T], done: Callable[[T], None]) -> bool:
        """Await a service job; a refusal goes to the error line, in one line."""
        try:
            result = await job
        except ERRORS as exc:
            self.error_line().show_error(one_line(exc))
            return False
        self.error_line().clear()
        done(result)
        return True

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()


# -- overview --------------------------------------------------------------------------------


def render_overview(ov: Overview, confirmed: str | None) -> dict[str, Text]:
    """The overview's panels as text (pure: used by the screen and by the bench)."""
    token = Text()
    token.append("Token    ", style="bold")
    token.append(ov.token_line)
    if ov.quorum:
        token.append(f"   quorum {ov.quorum}")
        if ov.share_indices:
            token.append(f" (shares {', '.join(map(str, ov.share_indices))} took part)")
    cas = Text("CAs      ", style="bold")
    if not ov.cas:
        cas.append("(none yet)")
    for i, c in enumerate(ov.cas):
        cas.append(("\n         " if i else "") +
                   f"{c.name:<10} {c.kind:<5} issuer {c.issuer:<10} {c.algorithm:<9} until {c.not_after}")
    log = Text("Log      ", style="bold")
    log.append(f"{ov.log_size} entries")
    if ov.checkpoint_root:
        log.append(f"; last checkpoint: size {ov.checkpoint_size}\n         root  ")
        root = grouped_hex(ov.checkpoint_root)
        log.append(root[:39] + "\n               " + root[40:])
        log.append(f"\n         words {ov.checkpoint_words}")
    else:
        log.append("; no checkpoint yet")
    gap = Text("Air gap  ", style="bold")
    if ov.interfaces_up:
        gap.append(f"NETWORK UP: {', '.join(ov.interfaces_up)}", style="bold reverse")
        gap.append(" (allowed: rehearsal home)" if ov.rehearsal else " (signing will be refused, I12)")
    else:
        gap.append("closed: no network interface is up")
    clock = Text("Clock    ", style="bold")
    if ov.ceremony_time:
        clock.append(f"{ov.ceremony_time} (confirmed; the session is open)")
    elif confirmed:
        clock.append(f"{confirmed} (confirmed; used at unlock)")
    else:
        clock.append(f"{proposed_time(ov.last_time)} proposed: press c to confirm", style="bold")
    if ov.last_time:
        clock.append(f"\n         last recorded ceremony time {ov.last_time}")
    batches = Text("Batches  ", style="bold")
    if not ov.batches:
        batches.append("(none)")
    for i, b in enumerate(ov.batches[-4:]):
        batches.append(("\n         " if i else "") + f"{b['id']:<16} {b['ra']:<8} {b['state']}")
    return {"token": token, "cas": cas, "log": log, "airgap": gap, "clock": clock,
            "batches": batches}


class OverviewScreen(CeremonyScreen):
    TITLE = "Ceremony overview"
    BINDINGS = [
        Binding("c", "app.clock", "Clock"),
        Binding("u", "app.unlock", "Unlock"),
        Binding("i", "app.open('import')", "Import"),
        Binding("r", "app.open('review')", "Review"),
        Binding("s", "app.open('sign')", "Sign"),
        Binding("e", "app.open('export')", "Export"),
        Binding("k", "app.open('crl')", "CRL"),
        Binding("l", "app.open('log')", "Log"),
        Binding("q", "app.quit", "Quit"),
    ]

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        with VerticalScroll(id="overview"):
            for part in ("token", "cas", "log", "airgap", "clock", "batches"):
                yield Static(id=f"ov-{part}", classes="panel")
        yield from self.compose_footer()

    def on_mount(self) -> None:
        if self.ceremony.overview is not None:
            self.show(self.ceremony.overview)

    def on_screen_resume(self) -> None:
        self.run_worker(self.refresh_facts, exclusive=True, group="overview")

    async def refresh_facts(self) -> None:
        await self.guarded(self.ceremony.jobs.overview(), self.show)

    def show(self, ov: Overview) -> None:
        self.ceremony.overview = ov
        for part, text in render_overview(ov, self.ceremony.confirmed_time).items():
            self.query_one(f"#ov-{part}", Static).update(text)


# -- clock (I9) and unlock (I10) -------------------------------------------------------------


class ClockScreen(ModalScreen[str | None]):
    """The operator confirms the ceremony time; it never comes from the online side (I9)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, proposed: str, last: str | None) -> None:
        super().__init__()
        self.proposed = proposed
        self.last = last

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Confirm the ceremony time (UTC, ISO 8601), then Enter.", classes="title")
            yield Label(f"It may not be earlier than the last recorded time ({self.last})."
                        if self.last else "This is the first ceremony of this home.")
            yield Input(value=self.proposed, id="clock-input")
            yield ErrorLine()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            at = parse_time(event.value.strip())
        except ERRORS as exc:
            self.query_one(ErrorLine).show_error(one_line(exc))
            return
        self.dismiss(at.strftime("%Y-%m-%dT%H:%M:%SZ"))

    def action_cancel(self) -> None:
        self.dismiss(None)


class UnlockScreen(ModalScreen[bool]):
    """Custodians type their shares one at a time (or an operator the PIN); never echoed.

    Each value leaves its input as soon as it is submitted; collected shares go to the
    appliance thread in one `Credentials`, which the login job wipes whatever happens.
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, quorum_spec: str | None) -> None:
        super().__init__()
        self.need = parse_quorum(quorum_spec, "quorum")[0] if quorum_spec else 0
        self.quorum_spec = quorum_spec
        self._shares: list[str] = []
        self.busy = False

    @property
    def ceremony(self) -> CeremonyApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            if self.need:
                yield Label(f"Unlock with custodian shares (quorum {self.quorum_spec}).",
                            classes="title")
                yield Label("Each custodian types the words of one share, then Enter.")
                yield Label(self._progress(), id="unlock-progress")
                yield Input(password=True, placeholder="share words (not shown)", id="secret")
            else:
                yield Label("Unlock the token with its user PIN.", classes="title")
                yield Label("", id="unlock-progress")
                yield Input(password=True, placeholder="PIN (not shown)", id="secret")
            yield Label(f"Ceremony time {self.ceremony.confirmed_time} (confirmed)")
            yield ErrorLine()

    def _progress(self) -> str:
        return f"{len(self._shares)} of {self.need} shares entered"

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        value = event.value
        event.input.value = ""  # out of the widget at once (I10)
        if self.busy or not value.strip():
            return
        errors = self.query_one(ErrorLine)
        if not self.need:
            self._start(Credentials(pin=value))
            return
        try:
            quorum.inspect_share(value)  # a mistyped word is caught before the next custodian
        except quorum.ShareError as exc:
            errors.show_error(one_line(exc))
            return
        self._shares.append(value)
        errors.clear()
        self.query_one("#unlock-progress", Label).update(self._progress())
        if len(self._shares) >= self.need:
            creds = Credentials(shares=self._shares)
            self._shares = []
            self._start(creds)

    def _start(self, creds: Credentials) -> None:
        self.busy = True
        self.query_one("#unlock-progress", Label).update("unlocking the token...")
        self.run_worker(self._login(creds), exclusive=True, group="login")

    async def _login(self, creds: Credentials) -> None:
        try:
            await self.ceremony.jobs.login(creds, self.ceremony.confirmed_datetime())
        except ERRORS as exc:
            self.query_one(ErrorLine).show_error(one_line(exc))
            self.query_one("#unlock-progress", Label).update(
                self._progress() + " (start again)" if self.need else "")
            return
        finally:
            creds.wipe()
            self.busy = False
        self.dismiss(True)

    def action_cancel(self) -> None:
        self._shares.clear()
        self.dismiss(False)


# -- log ------------------------------------------------------------------------------------

LOG_ROWS = 500


def recent_entries(path: Path, n: int = LOG_ROWS) -> list[dict[str, Any]]:
    """The last n entries of the ceremony log, parsed for display only."""
    tail: deque[bytes] = deque(maxlen=n)
    with open(path, "rb") as f:
        for line in f:
            tail.append(line)
    out = []
    for line in tail:
        try:
            out.append(json.loads(line))
        except ValueError:
            out.append({"seq": "?", "time": "", "type": "(unreadable line)", "data": {}})
    return out


def _log_facts(app: Appliance) -> tuple[list[dict[str, Any]], list[tuple[int, int, str]]]:
    cps = [(seq, cp.size, cp.root.hex()) for seq, cp, _ in app.log.checkpoints()]
    return recent_entries(app.paths.log), cps


def _verify(app: Appliance) -> AuditReport:
    # An open session's entries are not yet under a signed checkpoint; sign one first so the
    # auditor's check covers everything up to now (a checkpoint event, like export or CRL).
    if app.token is not None and app.token.logged_in:
        app.checkpoint()
    return audit_verify(app.paths.log, app.log_public_key(), origin=app.config.appliance_name,
                        ledger=app.ledger)


class LogScreen(CeremonyScreen):
    TITLE = "Ceremony log"
    BINDINGS = [
        Binding("v", "verify", "Verify"),
        Binding("escape", "back", "Back"),
    ]

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        yield Static("v: verify the whole log, the checkpoints and the ledger", id="audit",
                     classes="panel")
        yield DataTable(id="log-table", cursor_type="row")
        yield Static(id="checkpoints", classes="panel")
        yield from self.compose_footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("seq", "time", "type", "data")
        self.run_worker(self.guarded(self.ceremony.jobs.call(_log_facts), self.show))

    def show(self, facts: tuple[list[dict[str, Any]], list[tuple[int, int, str]]]) -> None:
        entries, cps = facts
        table = self.query_one(DataTable)
        table.clear()
        table.add_rows(
            (str(e.get("seq")), str(e.get("time", "")), str(e.get("type", "")),
             json.dumps(e.get("data", {}), sort_keys=True)[:120]) for e in reversed(entries))
        text = Text("Checkpoints  ", style="bold")
        text.append(f"{len(cps)} signed")
        for seq, size, root in cps[-3:]:
            text.append(f"\n  entry {seq}: size {size}, root {root[:16]}... ({words8(root)})")
        self.query_one("#checkpoints", Static).update(text)

    def action_verify(self) -> None:
        self.query_one("#audit", Static).update("verifying...")
        self.run_worker(self.guarded(self.ceremony.jobs.call(_verify), self.show_report),
                        exclusive=True, group="verify")

    def show_report(self, report: AuditReport) -> None:
        self.query_one("#audit", Static).update(
            Text(report.text(), style="bold" if not report.ok else ""))
