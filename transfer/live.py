"""Live QR reception from a camera: `zbarcam --nodisplay --raw` prints one decoded frame a line.

The reader program is a separate process (libzbar has had CVEs; a crash there cannot take
the receiver with it), its output is read line by line with a length cap, and every line goes
through ``Receiver.feed``, which locks onto one transfer and never mixes in another. Progress
and foreign frames are reported through a callback; switching to another transfer is an
operator decision (``on_foreign`` returns True), never automatic.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from transfer.errors import FrameError
from transfer.qr import FeedResult, FeedStatus, Receiver, write_received

DEFAULT_COMMAND = "zbarcam --nodisplay --raw --prescale=1280x720"
MAX_LINE = 8192
FOREIGN_GRACE_S = 3.0  # only foreign frames for this long: ask the operator


@dataclass(frozen=True)
class LiveReport:
    transfer_id: str
    frames_seen: int
    foreign: int
    rejected: int
    out: Path

    def summary(self) -> str:
        return (f"transfer {self.transfer_id} received ({self.frames_seen} frames read, "
                f"{self.foreign} foreign, {self.rejected} rejected) into {self.out}")


def receive_lines(
    lines: Iterable[str], out: Path, *,
    progress: Callable[[FeedResult], None] | None = None,
    on_foreign: Callable[[str, int], bool] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> LiveReport:
    """Feed frame lines until a transfer is complete, then write it (never overwriting)."""
    rcv = Receiver()
    seen = foreign_total = 0
    only_foreign_since: float | None = None
    for line in lines:
        seen += 1
        result = rcv.feed(line[:MAX_LINE])
        if progress is not None:
            progress(result)
        if result.status is FeedStatus.FOREIGN:
            foreign_total += 1
            now = clock()
            only_foreign_since = only_foreign_since if only_foreign_since is not None else now
            if on_foreign is not None and now - only_foreign_since >= FOREIGN_GRACE_S:
                tid = max(rcv.foreign, key=lambda t: rcv.foreign[t])
                if on_foreign(tid, rcv.foreign[tid]):
                    rcv.switch_to(tid)
                only_foreign_since = None
        elif result.status in (FeedStatus.ACCEPTED, FeedStatus.COMPLETE):
            only_foreign_since = None
        if rcv.complete:
            data = rcv.result()
            write_received(out, data)
            return LiveReport(rcv.transfer_id or "", seen, foreign_total, rcv.rejected, out)
    raise FrameError(f"the reader stopped before the transfer was complete "
                     f"({rcv.received} of {rcv.needed} frames)")


def run_reader(command: str, out: Path, **kwargs: object) -> LiveReport:
    """Run a reader program (zbarcam, or a stand-in) and receive from its output lines."""
    argv = shlex.split(command)
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True, errors="replace", bufsize=1,
                                env={**os.environ, "LC_ALL": "C"})
    except OSError as exc:
        raise FrameError(f"cannot start the reader {argv[0]!r}: {exc.strerror}") from None
    assert proc.stdout is not None
    try:
        return receive_lines(proc.stdout, out, **kwargs)  # type: ignore[arg-type]
    finally:
        proc.kill()
        proc.wait()
