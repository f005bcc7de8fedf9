"""Batch ceremony screens: import, review, sign, export (file or QR), and CRL issuance.

Each screen calls one service function (`signer.batch`, `signer.export`, `signer.revocation`)
through the appliance thread and renders its result; verdicts, approvals' validity, signing
order and every check stay in the service (DESIGN §2). Signing progress comes back from the
appliance thread through the event loop; cancelling makes the progress callback answer
False, so `sign_batch` stops between chunks and records the cancellation itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Label, OptionList, ProgressBar, Static
from textual.widgets.option_list import Option

from signer.batch import ImportResult, import_batch, show_batch
from signer.ceremony import Appliance
from signer.errors import SignerError
from signer.export import export_batch
from signer.revocation import issue_crl
from signer.signing import SignReport, sign_batch
from signer.tui.jobs import words8
from signer.tui.qr_screen import QRScreen
from signer.tui.screens import CeremonyScreen
from signer.tui.widgets import ERRORS, ErrorLine, grouped_hex, one_line
from transfer import qr, usb
from transfer.qr.live import ReaderProcess, default_reader

MAX_BUNDLE = 64 * 1024 * 1024  # DESIGN §5: a request bundle is at most 64 MiB


# -- import ---------------------------------------------------------------------------------


def _import_file(app: Appliance, path: Path) -> ImportResult:
    return import_batch(app, usb.read_file(path, MAX_BUNDLE))


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
                        "or ctrl+g for the camera", id="qr")
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
            line += f"; ctrl+t takes transfer {self.receiver.last_foreign}"
        self.query_one("#qr-progress", Static).update(line)
        self._import_if_complete()

    def _import_if_complete(self) -> None:
        if self.receiver.complete and not self._qr_done:
            self._qr_done = True
            if self.reader is not None:
                self.reader.stop()
                self.reader = None
            raw = self.receiver.result()
            self._run_import(self.ceremony.jobs.call(import_batch, raw))

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
        self._run_import(self.ceremony.jobs.call(_import_file, path))

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


# -- review ---------------------------------------------------------------------------------


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
                                 "press a and type the id to approve"))
    t.append("\nnames (verified): " + (", ".join(r.get("names") or []) or "(none)"))
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
            self.error_line().show_error("no batch: import one first (i)")
            return

        def got(data: dict[str, Any]) -> None:
            self.data = data
            self.populate()

        await self.guarded(self.ceremony.jobs.call(show_batch, batch_id), got)

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


# -- sign -----------------------------------------------------------------------------------


def rate_eta(done: int, total: int, elapsed: float) -> str:
    if done <= 0 or elapsed <= 0:
        return f"{done} of {total}"
    rate = done / elapsed
    eta = (total - done) / rate
    return f"{done} of {total}  {rate:.1f} certificates/s  ETA {eta:.0f} s"


def render_sign(rep: SignReport) -> Text:
    t = Text(f"batch {rep.batch}: {rep.issued} issued now, {rep.already} issued before, "
             f"{rep.revoked} revocations", style="bold")
    if rep.awaiting_approval:
        t.append(f"\nawaiting custodian approval: {', '.join(rep.awaiting_approval)}")
    if rep.crls:
        t.append(f"\nCRLs issued: {', '.join(rep.crls)}")
    t.append("\ne: export the result bundle")
    return t


class SignScreen(CeremonyScreen):
    TITLE = "Sign the batch"
    BINDINGS = [
        Binding("enter", "start", "Start signing"),
        Binding("x", "cancel_sign", "Cancel"),
        Binding("ctrl+e", "app.open('export')", "Export"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.cancel = threading.Event()
        self.running = False
        self.report: SignReport | None = None
        self._t0 = 0.0

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        with Vertical():
            yield Static("", id="sign-what", classes="panel")
            yield ProgressBar(id="sign-bar", show_eta=False)
            yield Static("", id="sign-rate")
            yield Static("", id="sign-result", classes="panel")
        yield from self.compose_footer()

    def on_mount(self) -> None:
        c = self.ceremony
        self.query_one("#sign-what", Static).update(
            f"batch {c.batch_id or '(none: import one first)'}; approved sub-CA requests: "
            f"{', '.join(c.approvals) or 'none'}\nEnter: sign everything policy accepted.  "
            "x: cancel (stops between chunks)")

    def progress(self, done: int, total: int) -> bool:
        """Called on the appliance thread after each chunk; False stops the batch."""
        self._loop.call_soon_threadsafe(self._show_progress, done, total)
        return not self.cancel.is_set()

    def _show_progress(self, done: int, total: int) -> None:
        self.query_one(ProgressBar).update(total=total, progress=done)
        self.query_one("#sign-rate", Static).update(
            rate_eta(done, total, time.monotonic() - self._t0))

    def action_start(self) -> None:
        c = self.ceremony
        if self.running or c.batch_id is None or not c.require_session(self):
            if c.batch_id is None:
                self.error_line().show_error("no batch: import one first (i)")
            return
        self.running = True
        self.cancel.clear()
        self._loop = asyncio.get_running_loop()
        self._t0 = time.monotonic()
        self.query_one("#sign-result", Static).update("signing...")
        job = c.jobs.call(sign_batch, c.batch_id, list(c.approvals), self.progress)

        def done(rep: SignReport) -> None:
            self.report = rep
            bar = self.query_one(ProgressBar)
            if bar.total is None:
                bar.update(total=max(rep.issued, 1), progress=max(rep.issued, 1))
            self.query_one("#sign-result", Static).update(render_sign(rep))

        async def run() -> None:
            try:
                if not await self.guarded(job, done):
                    self.query_one("#sign-result", Static).update("signing stopped")
            finally:
                self.running = False

        self.run_worker(run(), exclusive=True, group="sign")

    def action_cancel_sign(self) -> None:
        if self.running:
            self.cancel.set()
            self.query_one("#sign-result", Static).update("cancelling after this chunk...")


# -- export and QR --------------------------------------------------------------------------


def _export(app: Appliance, batch_id: str, directory: Path) -> tuple[dict[str, Any], bytes]:
    """Export, then read the file back and compare, as a pulled stick must be noticed."""
    out = directory / f"{batch_id}.res"
    res = export_batch(app, batch_id, out)
    data = usb.read_file(out, MAX_BUNDLE)
    if hashlib.sha256(data).hexdigest() != res["sha256"]:
        raise SignerError(f"{out}: read-back differs from what was written; use another medium")
    return res, data


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
            self.error_line().show_error("no batch: import one first (i)")
            return
        if not event.value.strip() or not c.require_session(self):
            return
        directory = Path(event.value.strip()).expanduser()

        def done(result: tuple[dict[str, Any], bytes]) -> None:
            res, self.data = result
            t = Text(f"wrote {res['out']} and read it back: identical\n", style="bold")
            t.append(f"sha256 {grouped_hex(res['sha256'])}\nwords  {words8(res['sha256'])}\n")
            t.append(f"{res['certificates']} certificates, {res['crls']} CRLs, log checkpoint "
                     f"size {res['checkpoint_size']}.  ctrl+o: show as QR frames")
            self.query_one("#export-result", Static).update(t)

        self.run_worker(self.guarded(c.jobs.call(_export, c.batch_id, directory), done),
                        exclusive=True, group="export")

    def action_qr(self) -> None:
        if self.data is None:
            self.error_line().show_error("export the bundle first")
            return
        self.app.push_screen(QRScreen(qr.FrameSource(self.data, qr.TERMINAL_VERSION)))


# -- CRL ------------------------------------------------------------------------------------


class CrlScreen(CeremonyScreen):
    TITLE = "Issue a CRL"
    BINDINGS = [Binding("escape", "back", "Back")]

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        yield Label("Pick the CA whose next CRL to issue, then Enter:")
        yield OptionList(id="crl-cas")
        yield Static("", id="crl-result", classes="panel")
        yield from self.compose_footer()

    def on_mount(self) -> None:
        ov = self.ceremony.overview
        self.cas = [c.name for c in ov.cas] if ov else []
        self.query_one(OptionList).add_options(
            [Option(f"{c.name} ({c.kind}, until {c.not_after})") for c in ov.cas] if ov else [])
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if not self.ceremony.require_session(self):
            return
        ca = self.cas[event.option_index]

        def done(res: Any) -> None:
            t = Text(f"CRL {res.number} of {res.ca}: {res.entries} entries\n", style="bold")
            t.append(f"thisUpdate {res.this_update}\nnextUpdate {res.next_update}  "
                     "(plan the next CRL ceremony before this)\n")
            t.append(f"kept in {res.path}\nsha256 {grouped_hex(res.sha256)}")
            if res.warning:
                t.append(f"\nWARNING: {res.warning}", style="bold reverse")
            self.query_one("#crl-result", Static).update(t)

        self.run_worker(self.guarded(self.ceremony.jobs.call(issue_crl, ca), done),
                        exclusive=True, group="crl")


__all__ = ["ImportScreen", "ReviewScreen", "SignScreen", "ExportScreen", "QRScreen",
           "CrlScreen", "ApproveScreen", "one_line"]
