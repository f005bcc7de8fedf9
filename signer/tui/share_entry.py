"""One custodian's share, typed one word at a time with completion from the SLIP-39 list.

The custodian reads the card and types each word's first letters; four always suffice, and
Space or Enter takes the word the letters stand for (an unknown start is refused at once).
Taken words are shown only as marks in a row of positions, never as text; the word being typed
is visible, as completion needs. When the last word is in, the checksum is checked there and
then (``signer.core.share_words``): a right share is handed to the screen, a wrong one names
the word and moves to it, so the custodian types that word again from the card. Up and Down
move to any word to correct it; Backspace in an empty field goes back one word.

Nothing here writes a word anywhere but into this widget's list, which the screen clears when
the share is handed on (I10): no notification, no log line, no message text but the checksum's
verdict, which names the wrong word by position (and its fix, inside this dialog only).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Static

from signer.core.share_words import (
    APPLIANCE_SHARE_WORDS,
    ShareProblem,
    complete,
    find_problem,
    word_for,
)

HELP = "a word's first letters (4 do), then Space or Enter; \u2191\u2193 corrects"


class WordInput(Input):
    """The word field: Backspace when it is empty steps back a word."""

    class BackWord(Message):
        pass

    def action_delete_left(self) -> None:
        if not self.value:
            self.post_message(self.BackWord())
            return
        super().action_delete_left()


class ShareEntry(Vertical):
    """The words of one share, by position; posts ``Complete`` once the checksum is right."""

    BINDINGS = [
        Binding("up", "move(-1)", "Previous word", show=False),
        Binding("down", "move(1)", "Next word", show=False),
    ]

    class Complete(Message):
        """A share whose checksum is right: its words, for the screen to hand on."""

        def __init__(self, words: list[str]) -> None:
            super().__init__()
            self.words = words

    class Verdict(Message):
        """One line for the error line: a refused word or a wrong share; empty when a word
        was taken."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, length: int = APPLIANCE_SHARE_WORDS) -> None:
        super().__init__(id="share-entry")
        self.length = length
        self.words: list[str] = []
        self.cursor = 0  # the position the next word goes to (0-based)

    def compose(self) -> ComposeResult:
        yield Static(self._positions(), id="share-positions")
        yield WordInput(placeholder="word 1: its first letters", id="word")
        yield Static(HELP, id="share-hint")

    # -- what the custodian sees -------------------------------------------------------------

    def _positions(self) -> Text:
        t = Text()
        for i in range(self.length):
            mark = "\u25a0" if i < len(self.words) else "\u00b7"
            t.append(mark, style="reverse" if i == self.cursor else "")
        t.append(f"  word {min(self.cursor, self.length - 1) + 1} of {self.length}, "
                 f"{len(self.words)} entered")
        return t

    def _refresh(self) -> None:
        self.query_one("#share-positions", Static).update(self._positions())
        field = self.query_one(WordInput)
        n = min(self.cursor, self.length - 1) + 1
        field.placeholder = (f"word {n} again (correcting)" if self.cursor < len(self.words)
                             else f"word {n}: its first letters")

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        value = event.value.lower()
        if any(c.isspace() for c in value):
            self._take_typed(value)
            return
        hint = self.query_one("#share-hint", Static)
        if not value:
            hint.update(HELP)
            return
        found = complete(value)
        word = word_for(value)
        if word:
            hint.update(Text(f"\u2192 {word}  (Space or Enter takes it)", style="bold"))
        elif found:
            more = f" \u2026 ({len(found)} words)" if len(found) > 6 else ""
            hint.update(" ".join(found[:6]) + more)
        else:
            hint.update(Text(f"no SLIP-39 word starts with '{value[:12]}'", style="bold"))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip():
            self._take_typed(event.value.lower() + " ")

    def on_word_input_back_word(self, event: WordInput.BackWord) -> None:
        event.stop()
        if self.cursor > 0:
            self.cursor -= 1
            if self.cursor == len(self.words) - 1:
                self.words.pop()  # back from the end: that word is typed again
            self._refresh()

    def action_move(self, delta: int) -> None:
        self.cursor = max(0, min(len(self.words), self.cursor + delta, self.length - 1))
        self._refresh()

    # -- taking words --------------------------------------------------------------------------

    def _take_typed(self, value: str) -> None:
        """Whole tokens (followed by a space) are taken; a last, partial one stays."""
        field = self.query_one(WordInput)
        tokens = value.split()
        rest = "" if value[-1:].isspace() or not tokens else tokens.pop()
        pasted = len(tokens) > 1
        for i, token in enumerate(tokens):
            word = word_for(token)
            if word is None and not pasted:
                # Typed: refused at once, left in the field to correct.
                field.value = token
                field.cursor_position = len(token)
                self.post_message(self.Verdict(self._refusal(token)))
                return
            self._put(word or token)  # pasted: kept as given, the checksum step names it
            if len(self.words) >= self.length and i < len(tokens) - 1:
                rest = ""  # a longer paste: the rest is not this share
                self.post_message(self.Verdict(
                    f"more than {self.length} words: the rest were left out"))
                break
        field.value = rest
        self._refresh()
        if len(self.words) == self.length and self.cursor >= len(self.words):
            self._check()
        elif tokens:
            self.post_message(self.Verdict(""))

    def _refusal(self, token: str) -> str:
        n = min(self.cursor, self.length - 1) + 1
        if complete(token):
            return (f"word {n}: '{token[:12]}' starts {len(complete(token))} words; "
                    "type more letters")
        return f"word {n}: no SLIP-39 word starts with '{token[:12]}'"

    def _put(self, word: str) -> None:
        if self.cursor < len(self.words):
            self.words[self.cursor] = word  # a correction: then back to the end
            self.cursor = len(self.words)
        elif len(self.words) < self.length:
            self.words.append(word)
            self.cursor = len(self.words)

    def _check(self) -> None:
        problem = find_problem(self.words)
        if problem is None:
            self.post_message(self.Complete(list(self.words)))
            return
        text = problem.message(suggest=True)
        if not problem.position:  # nothing to point at: the custodian reads the card again
            text += "; \u2191 goes back to a word to correct it"
        self.post_message(self.Verdict(text))
        self._go_to(problem)

    def _go_to(self, problem: ShareProblem) -> None:
        if problem.position:
            self.cursor = problem.position - 1
            self._refresh()

    def clear(self) -> None:
        """Forget the words (after the share is handed on, or on cancel)."""
        self.words.clear()
        self.cursor = 0
        self.query_one(WordInput).value = ""
        self._refresh()
