"""The administrator confirms the ceremony time (I9): proposed, never taken silently."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from signer.core.clock import parse_time
from signer.tui.widgets import ERRORS, ErrorLine, one_line


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
