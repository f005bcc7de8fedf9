"""Progress bars for long work on the command line: on stderr, with the count, the rate and
the time left, and only when stderr is a terminal and ``--json`` is off (a script, a pipe or a
log file gets nothing, and stdout is never touched).

The work reports through ``signer.core.progress``; ``bars`` listens for one command. Each
piece of work (judging the requests, signing, reading the log, ...) gets its own bar, drawn
while it runs and left as one finished line; nothing is drawn between pieces, so a prompt for
a PIN or a share never fights a live display. Redraws are throttled to ten a second.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich import filesize
from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskID, TextColumn
from rich.progress import TimeRemainingColumn as EtaColumn
from rich.text import Text

from signer.core import progress

REDRAW = 0.1  # seconds between redraws of a bar that is not finished


class _Count(ProgressColumn):
    """12/40, or 1.2/4.0 MB for bytes."""

    def render(self, task: Task) -> Text:
        done, total = int(task.completed), task.total
        if task.fields.get("unit") == "B":
            size = f"{filesize.decimal(done)}" + (f"/{filesize.decimal(int(total))}"
                                                   if total else "")
            return Text(size, style="progress.download")
        return Text(f"{done}/{int(total)}" if total else f"{done}", style="progress.download")


class _Rate(ProgressColumn):
    """Items or bytes a second: rich's recent speed, else the average since the start (a
    short piece of work is drawn once or twice, too few for rich to tell)."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        speed = task.finished_speed or task.speed or (
            task.completed / elapsed if elapsed > 0 else None)
        if not speed:
            return Text("")
        if task.fields.get("unit") == "B":
            return Text(f"{filesize.decimal(int(speed))}/s", style="progress.data.speed")
        return Text(f"{speed:,.1f}/s", style="progress.data.speed")


class Bars:
    """A ``signer.core.progress.Progress`` that draws rich bars on ``console``."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._what: str | None = None
        self._drawn = 0.0

    def __call__(self, what: str, done: int, total: int | None, unit: str) -> None:
        if what != self._what:
            self.finish()
            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), _Count(),
                                 _Rate(), EtaColumn(), console=self.console,
                                 auto_refresh=False, transient=False,
                                 redirect_stdout=False, redirect_stderr=False)
            self._bar.start()
            self._task = self._bar.add_task(what, total=total, unit=unit)
            self._what = what
        assert self._bar is not None and self._task is not None
        now = time.monotonic()
        final = total is not None and done >= total
        if not final and now - self._drawn < REDRAW:
            return
        self._bar.update(self._task, completed=done, total=total)
        self._bar.refresh()
        self._drawn = now
        if final:
            self.finish()

    def finish(self) -> None:
        """Leave the current bar as a finished line (or as it stopped, on an error)."""
        if self._bar is not None:
            self._bar.stop()
        self._bar, self._task, self._what = None, None, None


def wanted(args: argparse.Namespace) -> bool:
    return not getattr(args, "json", False) and sys.stderr.isatty()


@contextmanager
def bars(args: argparse.Namespace) -> Iterator[None]:
    """Progress bars on stderr for this command, if it is run at a terminal without --json."""
    if not wanted(args):
        yield
        return
    listener = Bars(Console(file=sys.stderr))
    try:
        with progress.reporting(listener):
            yield
    finally:
        listener.finish()


def keep_signing(done: int, total: int) -> bool:
    """``sign_batch``'s callback: report the count (stopping is the session's signals' job)."""
    progress.report("signing", done, total)
    return True
