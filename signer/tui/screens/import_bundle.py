"""Importing a request bundle: from removable media, a path, QR frames typed by a scanner, or
the camera (zxing-cpp first, then zbar). The service verifies, judges and stages it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from signer.service.batches import ImportResult, import_batch, import_file
from signer.service.overview import words8
from signer.tui.screens.base import CeremonyScreen
from signer.tui.widgets import ERRORS, grouped_hex, key_of, one_line
from transfer import qr, usb
from transfer.qr.live import ReaderProcess, default_reader


def media_candidates() -> list[usb.Candidate]:
    """Request bundles on mounted removable media (an unreadable medium is skipped)."""
    found: list[usb.Candidate] = []
    try:
        media = usb.find_removable_media()
    except ERRORS:
        return found
    for m in media:
        try:
            found += usb.list_files(m.mount_point, (".req",))
        except ERRORS:
            continue
    return found


def render_import(res: ImportResult) -> Text:
    t = Text(f"Imported batch {res.batch} from RA {res.ra} (sequence {res.sequence})\n",
             style="bold")
    t.append("digest ")
    t.append(grouped_hex(res.digest))
    t.append("\nwords  ")
    t.append(words8(res.digest), style="bold")
    t.append(f"\n{res.accepted} accepted, {res.rejected} refused, {res.revocations} revocations."
             "  Witnesses: compare with the RA's digest.  r: review")
    return t


def reader_command() -> str | list[str]:
    """The camera reader: $SIGNER_QR_READER if set (e.g. zbarcam), else the built-in one."""
    return os.environ.get("SIGNER_QR_READER") or default_reader()


class ImportScreen(CeremonyScreen):
    TITLE = "Import a request bundle"
    BINDINGS = [Binding("escape", "back", "Back"), Binding("ctrl+r", "app.open('review')", "Review"),
                Binding("ctrl+g", "camera", "Camera on/off"),
                Binding("ctrl+t", "take", "Take the transfer in view")]

    def __init__(self) -> None:
        super().__init__()
        self.receiver = qr.Receiver()
        self.reader: ReaderProcess | None = None
        self._qr_done = False

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        with VerticalScroll():
            yield Label("Bundles on removable media (Enter to import):")
            yield OptionList(id="media")
            yield Input(placeholder="or a bundle file path, then Enter", id="path")
            yield Input(placeholder="or scan QR frames here (one frame per Enter), "
                        f"or {key_of(ImportScreen, 'camera')} for the camera", id="qr")
            yield Static("", id="qr-progress")
            yield Static("", id="import-result", classes="panel")
        yield from self.compose_footer()

    def on_mount(self) -> None:
        self.candidates = media_candidates()
        media = self.query_one("#media", OptionList)
        if self.candidates:
            media.add_options([Option(f"{c.display_name} ({c.size} bytes)") for c in self.candidates])
        else:
            media.add_option(Option("(no removable medium with a .req file)", disabled=True))
            self.query_one("#path", Input).focus()

    def on_unmount(self) -> None:
        if self.reader is not None:
            self.reader.stop()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self._import(self.candidates[event.option_index].path)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "path":
            if event.value.strip():
                self._import(Path(event.value.strip()).expanduser())
            return
        event.input.value = ""
        self.feed_frame(event.value.strip())

    def feed_frame(self, text: str) -> None:
        """One frame text, typed by a scanner or read by the camera."""
        res = self.receiver.feed(text)
        line = f"QR {res.progress.line()} ({res.status}: {res.message})"
        if res.status is qr.FeedStatus.FOREIGN:
            line += (f"; {key_of(ImportScreen, 'take')} takes transfer "
                     f"{self.receiver.last_foreign}")
        self.query_one("#qr-progress", Static).update(line)
        self._import_if_complete()

    def _import_if_complete(self) -> None:
        if self.receiver.complete and not self._qr_done:
            self._qr_done = True
            if self.reader is not None:
                self.reader.stop()
                self.reader = None
            raw = self.receiver.result()
            self._run_import(self.ceremony.jobs.call("batch import", import_batch, raw))

    def action_take(self) -> None:
        tid = self.receiver.last_foreign
        if tid is None or tid == self.receiver.transfer_id:
            self.error_line().show_error("no other transfer in view")
            return
        self.receiver.switch_to(tid)
        self.query_one("#qr-progress", Static).update(
            f"QR now taking transfer {tid}: {self.receiver.progress().line()}")
        self._import_if_complete()

    def action_camera(self) -> None:
        if self.reader is not None:
            self.reader.stop()
            self.reader = None
            self.query_one("#qr-progress", Static).update("camera stopped")
            return
        try:
            reader = self.reader = ReaderProcess(reader_command())
        except ERRORS as exc:
            self.error_line().show_error(one_line(exc))
            return
        self.query_one("#qr-progress", Static).update("camera on: show the frames")

        def pump() -> None:  # a worker thread; frames are fed on the UI thread
            for line in reader.lines():
                self.app.call_from_thread(self.feed_frame, line)

        self.run_worker(pump, thread=True, group="camera", exit_on_error=False)

    def _import(self, path: Path) -> None:
        self._run_import(self.ceremony.jobs.call("batch import", import_file, path))

    def _run_import(self, job: Any) -> None:
        if not self.ceremony.require_session(self):
            job.close()
            return
        self.query_one("#import-result", Static).update("verifying and judging the bundle...")

        def done(res: ImportResult) -> None:
            self.ceremony.select_batch(res.batch)
            self.query_one("#import-result", Static).update(render_import(res))

        async def run() -> None:
            if not await self.guarded(job, done):
                self.query_one("#import-result", Static).update("nothing was staged")

        self.run_worker(run(), exclusive=True, group="import")
