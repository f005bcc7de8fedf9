"""Issuing the next CRL of a CA (I4)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from signer.service.revocation import issue_crl
from signer.tui.screens.base import CeremonyScreen
from signer.tui.widgets import grouped_hex


class CrlScreen(CeremonyScreen):
    TITLE = "Issue a CRL"
    BINDINGS = [Binding("escape", "back", "Back")]

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        yield Label("Pick the CA whose next CRL to issue, then Enter:")
        yield OptionList(id="crl-cas")
        yield Static("", id="crl-result", classes="panel")
        yield from self.compose_footer()

    def on_mount(self) -> None:
        ov = self.ceremony.overview
        self.cas = [c.name for c in ov.cas] if ov else []
        self.query_one(OptionList).add_options(
            [Option(f"{c.name} ({c.kind}, until {c.not_after})") for c in ov.cas] if ov else [])
        picker = self.query_one(OptionList)
        if self.cas:
            picker.highlighted = 0  # Enter works without touching an arrow key first
        picker.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if not self.ceremony.require_session(self):
            return
        ca = self.cas[event.option_index]

        def done(res: Any) -> None:
            noun = "entry" if res.entries == 1 else "entries"
            t = Text(f"CRL {res.number} of {res.ca}: {res.entries} {noun}\n", style="bold")
            t.append(f"thisUpdate {res.this_update}\nnextUpdate {res.next_update}  "
                     "(plan the next CRL ceremony before this)\n")
            t.append(f"kept in {res.path}\nsha256 {grouped_hex(res.sha256)}")
            if res.warning:
                t.append(f"\nWARNING: {res.warning}", style="bold reverse")
            self.query_one("#crl-result", Static).update(t)

        self.run_worker(self.guarded(self.ceremony.jobs.call("crl issue", issue_crl, ca), done),
                        exclusive=True, group="crl")
