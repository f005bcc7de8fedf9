"""The custodians' review: every request, its verdict and reasons (DESIGN §4); sub-CA
requests approved by typing their id (the approval is logged when signing starts)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Label, Static

from signer.service.batches import show_batch
from signer.tui.screens.base import CeremonyScreen
from signer.tui.screens.overview import no_batch
from signer.tui.widgets import ErrorLine, key_of


def _verdict(r: dict[str, Any]) -> str:
    if r["verdict"] != "accept":
        return "REFUSED"
    if r.get("serial"):
        return "signed"
    if r.get("needs_approval") and not r.get("approved"):
        return "accept (needs approval)"
    return "accept"


def _names(r: dict[str, Any]) -> str:
    names = r.get("names") or []
    return ", ".join(names[:2]) + (f" +{len(names) - 2}" if len(names) > 2 else "")


def render_detail(r: dict[str, Any], approved: bool) -> Text:
    t = Text(f"{r['id']}", style="bold")
    t.append(f"  {r['ca']}/{r['profile']}  subscriber {r.get('subscriber', '?')}  "
             f"key {r.get('key_type') or '?'}\n")
    t.append(f"verdict {_verdict(r)}")
    if r.get("serial"):
        t.append(f"  serial {r['serial']}")
    if r.get("needs_approval"):
        t.append("  sub-CA: " + ("approved" if approved or r.get("approved") else
                                 f"press {key_of(ReviewScreen, 'approve')} and type the id "
                                 "to approve"))
    names = ", ".join(r.get("names") or []) or "(none)"
    # Only an accepted request's names were all verified by the RA; a refused one's are what
    # its CSR asked for (an unverified name is often why it was refused).
    t.append(("\nnames (verified): " if r["verdict"] == "accept" else
              "\nnames asked for (not verified, not certified): ") + names)
    for reason in r.get("reasons") or []:
        t.append(f"\n  {reason['code']}: {reason['message']}")
    return t


class ReviewScreen(CeremonyScreen):
    """The custodians' review: every request, its verdict and reasons (DESIGN §4)."""

    TITLE = "Review the batch"
    BINDINGS = [
        Binding("f", "filter", "Refused only"),
        Binding("a", "approve", "Approve sub-CA"),
        Binding("ctrl+s", "app.open('sign')", "Sign"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.data = data
        self.refused_only = False

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        yield Static("", id="counts")
        yield DataTable(id="requests", cursor_type="row", zebra_stripes=True)
        yield Static("", id="detail", classes="panel")
        yield from self.compose_footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("id", "CA", "profile", "names", "verdict")
        if self.data is not None:
            self.populate()
        else:
            self.run_worker(self.load(), exclusive=True, group="review")

    async def load(self) -> None:
        batch_id = self.ceremony.batch_id
        if batch_id is None:
            self.error_line().show_error(no_batch())
            return

        def got(data: dict[str, Any]) -> None:
            self.data = data
            self.populate()

        await self.guarded(self.ceremony.jobs.call("batch show", show_batch, batch_id), got)

    def rows(self) -> list[dict[str, Any]]:
        reqs = self.data["requests"] if self.data else []
        return [r for r in reqs if r["verdict"] != "accept"] if self.refused_only else reqs

    def populate(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        shown = self.rows()
        table.add_rows((r["id"], r["ca"], r["profile"], _names(r), _verdict(r)) for r in shown)
        reqs = self.data["requests"] if self.data else []
        acc = sum(r["verdict"] == "accept" for r in reqs)
        signed = sum(bool(r.get("serial")) for r in reqs)
        waiting = sum(bool(r.get("needs_approval")) and not r.get("approved")
                      and r["id"] not in self.ceremony.approvals for r in reqs)
        self.query_one("#counts", Static).update(Text(
            f"batch {self.data['batch'] if self.data else '?'}: {len(reqs)} requests, "
            f"{acc} accepted, {len(reqs) - acc} refused, {signed} signed, "
            f"{waiting} awaiting approval"
            + (f"   [showing refused only: {len(shown)}]" if self.refused_only else "")))
        if shown:
            self.show_detail(0)
        else:
            self.query_one("#detail", Static).update("(no requests to show)")

    def show_detail(self, row: int) -> None:
        shown = self.rows()
        if 0 <= row < len(shown):
            r = shown[row]
            self.query_one("#detail", Static).update(
                render_detail(r, r["id"] in self.ceremony.approvals))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_detail(event.cursor_row)

    def action_filter(self) -> None:
        self.refused_only = not self.refused_only
        self.populate()

    def action_approve(self) -> None:
        shown = self.rows()
        row = self.query_one(DataTable).cursor_row
        if not 0 <= row < len(shown):
            return
        r = shown[row]
        if not r.get("needs_approval") or r["verdict"] != "accept":
            self.error_line().show_error(f"request {r['id']} is not a sub-CA request to approve")
            return

        def confirmed(ok: bool | None) -> None:
            if ok:
                self.ceremony.approvals.append(r["id"])
                self.error_line().show_note(
                    f"{r['id']} approved; the approval is logged when signing starts")
                self.populate()

        self.app.push_screen(ApproveScreen(r["id"]), confirmed)


class ApproveScreen(ModalScreen[bool]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, request_id: str) -> None:
        super().__init__()
        self.request_id = request_id

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Approve sub-CA request {self.request_id} for signing by the root?",
                        classes="title")
            yield Label("Type the request id to confirm, then Enter (Esc cancels).")
            yield Input(id="approve-input")
            yield ErrorLine()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip() == self.request_id:
            self.dismiss(True)
        else:
            self.query_one(ErrorLine).show_error("that is not the request id; nothing approved")

    def action_cancel(self) -> None:
        self.dismiss(False)
