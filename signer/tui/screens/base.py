"""The frame every ceremony screen shares: the banner, a one-line error, the key footer, and
``guarded``, which awaits a service job and shows its refusal in one line.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer

from signer.tui.widgets import ERRORS, Banner, ErrorLine, one_line

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
