"""QR frames shown full-screen: an endless fountain at a steady rate the operator can change.

Frames are made on demand from a `transfer.qr.FrameSource` (QR version 20: 105 terminal
columns with the quiet zone) and shown at 5 frames/s by default, the rate docs/TRANSFER.md
measures; `+`/`-` change it, stepping by hand pauses. After the k source frames come new
repair frames rather than repeats, so a receiver that missed some needs only k + 1 of
whatever it sees, up to 2k + 64 (what a receiver keeps), then the cycle starts again.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from transfer.qr import FrameSource, render_terminal
from transfer.qr.assembly import EXTRA

FPS_STEPS = (1, 2, 3, 4, 5, 6, 8, 10)
DEFAULT_FPS = 5


class QRScreen(ModalScreen[None]):
    """Frames of one file; the receiver takes them in any order."""

    BINDINGS = [
        Binding("right,space,n", "step(1)", "Next"),
        Binding("left,p", "step(-1)", "Previous"),
        Binding("a", "animate", "Play/pause"),
        Binding("plus,equals_sign", "speed(1)", "Faster"),
        Binding("minus", "speed(-1)", "Slower"),
        Binding("escape", "close", "Close"),
    ]

    def __init__(self, source: FrameSource, fps: int = DEFAULT_FPS, play: bool = True) -> None:
        super().__init__()
        self.source = source
        self.fps = fps
        self.cycle = 2 * source.k + EXTRA
        self.index = 0
        self.timer: Any = None
        self._play = play

    def compose(self) -> ComposeResult:
        yield Static("", id="qr-caption")
        with VerticalScroll():
            yield Static("", id="qr-code")

    def on_mount(self) -> None:
        if self._play:
            self._start()
        self.show()

    @property
    def playing(self) -> bool:
        return self.timer is not None

    def caption(self) -> str:
        state = f"{self.fps} frames/s" if self.playing else "paused"
        return (f"frame {self.index + 1} · any {self.source.k} rebuild it · QR "
                f"v{self.source.version} · {state}   a play/pause  +/- speed  "
                "→/space next  ← previous  Esc close")

    def show(self) -> None:
        self.query_one("#qr-caption", Static).update(self.caption())
        code = render_terminal(self.source.frame(self.index), mode="halfblock")
        self.query_one("#qr-code", Static).update(Text(code, style="black on white"))

    def _start(self) -> None:
        self.timer = self.set_interval(1 / self.fps, self._tick)

    def _stop(self) -> None:
        if self.timer is not None:
            self.timer.stop()
            self.timer = None

    def _tick(self) -> None:
        self.index = (self.index + 1) % self.cycle
        self.show()

    def action_step(self, delta: int) -> None:
        self._stop()  # a hand on the keys takes over from the timer
        self.index = (self.index + delta) % self.cycle
        self.show()

    def action_animate(self) -> None:
        if self.playing:
            self._stop()
        else:
            self._start()
        self.show()

    def action_speed(self, delta: int) -> None:
        pos = min(range(len(FPS_STEPS)), key=lambda i: abs(FPS_STEPS[i] - self.fps))
        self.fps = FPS_STEPS[max(0, min(len(FPS_STEPS) - 1, pos + delta))]
        if self.playing:
            self._stop()
            self._start()
        self.show()

    def action_close(self) -> None:
        self._stop()
        self.dismiss(None)
