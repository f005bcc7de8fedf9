"""Exporting the result bundle to a removable medium (written, then read back and compared by
the one output writer), and showing it as QR frames."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Label, Static

from signer.service.export import export_to_directory
from signer.service.overview import words8
from signer.tui.screens.base import CeremonyScreen
from signer.tui.screens.overview import no_batch
from signer.tui.screens.qr import QRScreen
from signer.tui.widgets import ERRORS, grouped_hex, key_of
from transfer import qr, usb


class ExportScreen(CeremonyScreen):
    TITLE = "Export the result bundle"
    BINDINGS = [
        Binding("ctrl+o", "qr", "QR frames"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.data: bytes | None = None

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        with Vertical():
            yield Label("Directory to write to (a removable medium), then Enter:")
            yield Input(id="export-dir")
            yield Static("", id="export-result", classes="panel")
        yield from self.compose_footer()

    def on_mount(self) -> None:
        try:
            media = [m for m in usb.find_removable_media() if not m.read_only]
        except ERRORS:
            media = []
        if media:
            self.query_one(Input).value = str(media[0].mount_point)
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        c = self.ceremony
        if c.batch_id is None:
            self.error_line().show_error(no_batch())
            return
        if not event.value.strip() or not c.require_session(self):
            return
        directory = Path(event.value.strip()).expanduser()

        def done(result: tuple[dict[str, Any], bytes]) -> None:
            res, self.data = result
            t = Text(f"wrote {res['out']} and read it back: identical\n", style="bold")
            t.append(f"sha256 {grouped_hex(res['sha256'])}\nwords  {words8(res['sha256'])}\n")
            t.append(f"{res['certificates']} certificates, {res['crls']} CRLs, log checkpoint "
                     f"size {res['checkpoint_size']}.  {key_of(ExportScreen, 'qr')}: show as QR "
                     "frames")
            self.query_one("#export-result", Static).update(t)

        self.run_worker(self.guarded(c.jobs.call("batch export", export_to_directory, c.batch_id,
                                                directory), done),
                        exclusive=True, group="export")

    def action_qr(self) -> None:
        if self.data is None:
            self.error_line().show_error("export the bundle first")
            return
        self.app.push_screen(QRScreen(qr.FrameSource(self.data, qr.TERMINAL_VERSION)))
