"""Small widgets shared by the ceremony screens: the rehearsal banner, the one-line error,
and the text formats that witnesses read aloud (grouped hex, PGP words).

Nothing here decides anything: widgets render what the service layer returned.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.widgets import Static

from hsm.errors import HSMError
from signer.errors import SignerError
from transfer.errors import TransferError

# The package error bases (STYLE "Errors"): shown in one line; anything else is a bug.
ERRORS = (SignerError, HSMError, TransferError)


def one_line(exc: BaseException) -> str:
    """An error as one short line; the services never put a secret in a message (I10), and
    a message-less error is named by what failed, never by its Python class name."""
    text = " ".join(str(exc).split()) or (
        "the token failed (it gave no reason)" if isinstance(exc, HSMError) else
        "the transfer failed (it gave no reason)" if isinstance(exc, TransferError) else
        "refused (no reason was given)")
    return text if len(text) <= 300 else text[:297] + "..."


_SHOWN = {"enter": "Enter", "escape": "Esc"}


def key_of(screen: Any, action: str) -> str:
    """The key bound to ``action`` on ``screen`` (a class), as a hint names it: hints are
    made from the bindings, so what a screen says to press is what it reacts to."""
    for b in screen.BINDINGS:
        if isinstance(b, Binding) and b.action == action:
            key = b.key.split(",")[0]
            return _SHOWN.get(key, key)
    raise LookupError(f"{screen.__name__} binds no key to {action}")


def grouped_hex(hexdigest: str, group: int = 4) -> str:
    """Hex in groups of four, upper case, as read aloud at a ceremony."""
    h = hexdigest.upper()
    return " ".join(h[i:i + group] for i in range(0, len(h), group))


class Banner(Static):
    """The title line of every screen; says REHEARSAL loudly when the home is one (I12)."""

    def __init__(self, title: str, rehearsal: bool) -> None:
        self.rehearsal = rehearsal
        text = Text()
        if rehearsal:
            # Reverse video survives NO_COLOR's monochrome filter; the words carry it anyway.
            text.append(" *** REHEARSAL: not for production use *** ", style="bold reverse")
            text.append("  ")
        text.append(title, style="bold")
        super().__init__(text, classes="rehearsal" if rehearsal else "")


class ErrorLine(Static):
    """One line for the last refusal or error; empty when there is none."""

    def __init__(self) -> None:
        super().__init__("", classes="error-line")

    def show_error(self, message: str) -> None:
        self.update(Text("ERROR: " + message, style="bold"))
        self.add_class("has-error")

    def show_note(self, message: str) -> None:
        self.update(Text(message))
        self.remove_class("has-error")

    def clear(self) -> None:
        self.update("")
        self.remove_class("has-error")
