"""Live reception: frame texts, one a line, from a reader program, a scanner or any iterable.

The reader is a separate process (a crash in a camera driver or decoder cannot take the
receiver with it): by default `python -m transfer.qr.camera` (V4L2 capture, zxing-cpp, then
zbar), or zbarcam as a fallback (`zbarcam --nodisplay --raw`). Every line goes through
Receiver.feed; kept frames are appended to a journal next to the output, so a restart resumes
where the last run stopped. Switching to another transfer is the operator's decision: an
explicit transfer id, or `on_foreign` answering True; it is never automatic.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from transfer.errors import FrameError
from transfer.qr.files import write_received
from transfer.qr.journal import Journal, journal_path
from transfer.qr.receiver import FeedResult, FeedStatus, Progress, Receiver

DEFAULT_DEVICE = "/dev/video0"
ZBARCAM = "zbarcam --nodisplay --raw --prescale=1280x720"
MAX_LINE = 8192
FOREIGN_GRACE_S = 3.0  # only frames of other transfers for this long: tell the operator


def default_reader(device: str = DEFAULT_DEVICE) -> list[str]:
    return [sys.executable, "-m", "transfer.qr.camera", "--device", device]


@dataclass(frozen=True)
class LiveReport:
    transfer_id: str
    progress: Progress
    resumed: int  # frames replayed from the journal of an earlier run
    out: Path

    def summary(self) -> str:
        again = f", {self.resumed} of them kept from an earlier run" if self.resumed else ""
        return (f"transfer {self.transfer_id} received into {self.out} ({self.progress.useful} "
                f"frames used{again}; {self.progress.line().split('; ', 1)[1]})")

    def to_json(self) -> dict[str, Any]:
        return {"transfer": self.transfer_id, "out": str(self.out), "resumed": self.resumed,
                "progress": self.progress.to_json()}


class ReaderStopped(FrameError):
    """The lines ran out before the transfer was complete."""


def receive_lines(
    lines: Iterable[str], out: Path, *, transfer_id: str | None = None, journal: bool = True,
    progress: Callable[[FeedResult], None] | None = None,
    on_foreign: Callable[[str, int], bool] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> LiveReport:
    """Feed frame lines until the transfer is complete, then write it (never overwriting)."""
    if out.exists() or out.is_symlink():
        raise FrameError(f"refusing to overwrite existing {out}")
    rcv = Receiver(transfer_id)
    jr = Journal(journal_path(out)) if journal else None
    resumed = 0
    try:
        for text in jr.replay() if jr else ():
            resumed += rcv.feed(text).stored
        only_foreign_since: float | None = None
        for line in _prepend_none(lines):
            if line is not None:
                res = rcv.feed(line[:MAX_LINE])
                if res.stored and jr is not None:
                    jr.append(line[:MAX_LINE])
                if progress is not None:
                    progress(res)
                if res.status is FeedStatus.FAILED:
                    if jr is not None:
                        jr.remove()
                    raise FrameError(res.message, {"progress": res.progress.to_json()})
                if res.status is FeedStatus.FOREIGN:
                    now = clock()
                    only_foreign_since = now if only_foreign_since is None else only_foreign_since
                    if (on_foreign is not None and rcv.last_foreign is not None
                            and now - only_foreign_since >= FOREIGN_GRACE_S):
                        tid = rcv.last_foreign
                        if on_foreign(tid, rcv.foreign.get(tid, 0)):
                            rcv.switch_to(tid)
                        only_foreign_since = None
                elif res.status in (FeedStatus.ACCEPTED, FeedStatus.COMPLETE):
                    only_foreign_since = None
            if rcv.complete:
                write_received(out, rcv.result())
                if jr is not None:
                    jr.remove()
                return LiveReport(rcv.transfer_id or "", rcv.progress(), resumed, out)
    finally:
        if jr is not None:
            jr.close()
    p = rcv.progress()
    kept = f"; progress kept in {jr.path}: run again to resume" if jr and p.useful else ""
    raise ReaderStopped(f"the reader stopped before the transfer was complete ({p.line()}){kept}",
                        {"progress": p.to_json()})


def _prepend_none(lines: Iterable[str]) -> Iterator[str | None]:
    """None first (a transfer the journal completed is written before any line is read)."""
    yield None
    yield from lines


class ReaderProcess:
    """A reader program's stdout as lines; its stderr kept (bounded) to explain a stop."""

    def __init__(self, command: str | list[str]) -> None:
        argv = shlex.split(command) if isinstance(command, str) else list(command)
        if not argv:
            raise FrameError("empty reader command")
        self._err: IO[bytes] = tempfile.TemporaryFile()  # closed when collected
        try:
            self._proc = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=self._err, stdin=subprocess.DEVNULL,
                text=True, errors="replace", bufsize=1, env={**os.environ, "LC_ALL": "C"})
        except OSError as exc:
            self._err.close()
            raise FrameError(f"cannot start the reader {argv[0]!r}: {exc.strerror}") from None
        self.name = argv[0]

    def lines(self) -> Iterator[str]:
        """Lines until the reader's output ends (or stop() ends the reader)."""
        out = self._proc.stdout
        if out is None:  # started with stdout=PIPE: never None
            raise FrameError(f"the reader {self.name!r} has no output")
        try:
            while True:
                line = out.readline(MAX_LINE + 1)  # bounded: a longer line is split
                if not line:
                    return
                yield line
        finally:
            out.close()

    def why_stopped(self) -> str:
        """The reader's last line on stderr, or its exit status."""
        try:
            code = self._proc.wait(timeout=2)  # its output ended: it is exiting
        except subprocess.TimeoutExpired:
            code = None
        self._err.seek(max(0, self._err.seek(0, os.SEEK_END) - 4096))
        tail = self._err.read().decode("utf-8", errors="replace").strip().splitlines()
        last = tail[-1].strip() if tail else ""
        return last or (f"exit status {code}" if code else "end of its output")

    def stop(self) -> None:
        """End the reader; a thread reading lines() then sees the end of its output."""
        self._proc.kill()
        self._proc.wait()


def run_reader(command: str | list[str], out: Path, **kwargs: Any) -> LiveReport:
    """Run a reader program (the camera module, zbarcam, a stand-in) and receive its lines."""
    reader = ReaderProcess(command)
    try:
        return receive_lines(reader.lines(), out, **kwargs)
    except ReaderStopped as exc:
        raise ReaderStopped(f"{exc} [{reader.name}: {reader.why_stopped()}]",
                            exc.details) from None
    finally:
        reader.stop()
