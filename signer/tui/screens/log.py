"""The ceremony log: the latest entries, the signed checkpoints, and the auditor's check.

Verifying reads only: it never signs anything. An unlocked session's newest entries are not
yet under a signed checkpoint; the custodians may ask for one (`c`), which is logged.
"""

from __future__ import annotations

import json

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from signer.service import auditing
from signer.service.audit import AuditReport
from signer.service.overview import words8
from signer.tui.screens.base import CeremonyScreen
from signer.tui.widgets import key_of


class LogScreen(CeremonyScreen):
    TITLE = "Ceremony log"
    BINDINGS = [
        Binding("v", "verify", "Verify"),
        Binding("c", "checkpoint", "Sign a checkpoint"),
        Binding("escape", "back", "Back"),
    ]

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        yield Static(f"{key_of(LogScreen, 'verify')}: verify the whole log, the checkpoints and "
                     "the ledger (reads only)",
                     id="audit", classes="panel")
        yield DataTable(id="log-table", cursor_type="row")
        yield Static(id="checkpoints", classes="panel")
        yield from self.compose_footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("seq", "time", "type", "data")
        self.load()

    def load(self) -> None:
        self.run_worker(self.guarded(self.ceremony.jobs.call("log", auditing.log_view),
                                     self.show), exclusive=True, group="log")

    def show(self, view: auditing.LogView) -> None:
        table = self.query_one(DataTable)
        table.clear()
        table.add_rows(
            (str(e.get("seq")), str(e.get("time", "")), str(e.get("type", "")),
             json.dumps(e.get("data", {}), sort_keys=True)[:120])
            for e in reversed(view.entries))
        n = len(view.checkpoints)
        text = Text("Checkpoints  ", style="bold")
        text.append(f"{n} signed")
        for seq, size, root in view.checkpoints[-3:]:
            text.append(f"\n  entry {seq}: size {size}, root {root[:16]}... ({words8(root)})")
        self.query_one("#checkpoints", Static).update(text)

    def action_verify(self) -> None:
        self.query_one("#audit", Static).update("verifying...")
        self.run_worker(self.guarded(
            self.ceremony.jobs.call("audit verify", auditing.verify_session_home),
            self.show_report), exclusive=True, group="verify")

    def show_report(self, report: AuditReport) -> None:
        text = report.text()
        if report.ok and report.log.unsigned_tail:
            text += (f"\n{report.log.unsigned_tail} entries of this open session are signed "
                     "when it closes; c signs a checkpoint now")
        self.query_one("#audit", Static).update(Text(text, style="bold" if not report.ok
                                                     else ""))

    def action_checkpoint(self) -> None:
        if not self.ceremony.require_session(self):
            return

        def done(note: str) -> None:
            self.error_line().show_note("checkpoint signed and logged")
            self.load()

        self.run_worker(self.guarded(
            self.ceremony.jobs.call("audit checkpoint", auditing.sign_checkpoint), done),
            exclusive=True, group="checkpoint")
