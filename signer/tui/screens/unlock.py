"""The custodians' unlock: shares typed word by word (``signer.tui.share_entry``), or a PIN,
into a modal screen; nothing typed reaches a log (I10)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from signer.core import quorum
from signer.core.config import parse_quorum
from signer.service.session import Credentials
from signer.tui.share_entry import ShareEntry
from signer.tui.widgets import ERRORS, ErrorLine, one_line

if TYPE_CHECKING:
    from signer.tui.app import CeremonyApp


class UnlockScreen(ModalScreen[bool]):
    """Custodians type their shares one after another, word by word (or an operator the PIN).

    A share is taken once its checksum is right; its words then leave the entry widget.
    Collected shares go to the appliance thread in one `Credentials`, which the login job
    wipes whatever happens.
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
                yield Label("Each custodian types the words of one share, in order.")
                yield Label(self._progress(), id="unlock-progress")
                yield ShareEntry()
            else:
                yield Label("Unlock the token with its user PIN.", classes="title")
                yield Label("", id="unlock-progress")
                yield Input(password=True, placeholder="PIN (not shown)", id="secret")
            yield Label(f"Ceremony time {self.ceremony.confirmed_time} (confirmed)")
            yield ErrorLine()

    def _progress(self) -> str:
        return f"{len(self._shares)} of {self.need} shares entered"

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """The PIN (shares come from the entry widget)."""
        event.stop()
        value = event.value
        event.input.value = ""  # out of the widget at once (I10)
        if self.busy or not value.strip() or self.need:
            return
        self._start(Credentials(pin=value))

    def on_share_entry_verdict(self, event: ShareEntry.Verdict) -> None:
        event.stop()
        errors = self.query_one(ErrorLine)
        if event.text:
            errors.show_error(event.text)
        else:
            errors.clear()

    def on_share_entry_complete(self, event: ShareEntry.Complete) -> None:
        event.stop()
        errors = self.query_one(ErrorLine)
        value = " ".join(event.words)
        self.query_one(ShareEntry).clear()  # the words leave the widget at once
        if self.busy:
            return
        try:  # the checksum is right; the share's own facts too (a foreign or repeated
            info, _ = quorum.inspect_share(value)  # share is found when they combine)
        except quorum.ShareError as exc:
            errors.show_error(one_line(exc))
            return
        self._shares.append(value)
        errors.show_note(f"share {info.index} taken: its checksum is right")
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
            await self.ceremony.jobs.unlock(creds, self.ceremony.confirmed_datetime())
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
        if self.need:
            self.query_one(ShareEntry).clear()
        self.dismiss(False)
