"""The ceremony overview: token, CAs, log and checkpoint words, air gap, clock, batches."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from signer.service.overview import Overview, proposed_time
from signer.tui.screens.base import CeremonyScreen
from signer.tui.widgets import grouped_hex, key_of


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
        clock.append(f"{proposed_time(ov.last_time)} proposed: press "
                     f"{key_of(OverviewScreen, 'app.clock')} to confirm", style="bold")
    if ov.last_time:
        clock.append(f"\n         last recorded ceremony time {ov.last_time}")
    batches = Text("Batches  ", style="bold")
    if not ov.batches:
        batches.append("(none)")
    for i, b in enumerate(ov.batches[-4:]):
        batches.append(("\n         " if i else "") + f"{b['id']:<16} {b['ra']:<8} {b['state']}")
    return {"token": token, "cas": cas, "log": log, "airgap": gap, "clock": clock,
            "batches": batches}


IMPORT = "app.open('import')"


def no_batch() -> str:
    """The refusal of a step that needs a batch: it says which key imports one."""
    return f"no batch: import one first ({key_of(OverviewScreen, IMPORT)})"


class OverviewScreen(CeremonyScreen):
    TITLE = "Ceremony overview"
    BINDINGS = [
        Binding("c", "app.clock", "Clock"),
        Binding("u", "app.unlock", "Unlock"),
        Binding("i", IMPORT, "Import"),
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
        self.refresh_facts()

    @work(exclusive=True, group="overview")
    async def refresh_facts(self) -> None:
        await self.guarded(self.ceremony.jobs.overview(), self.show)

    def show(self, ov: Overview) -> None:
        self.ceremony.overview = ov
        for part, text in render_overview(ov, self.ceremony.confirmed_time).items():
            self.query_one(f"#ov-{part}", Static).update(text)
