"""Progress of a live reception kept on disk, so stopping the reader loses nothing.

The journal is a text file next to the output (`.NAME.qr-live`), one kept frame text a line,
appended as frames arrive and replayed through a fresh Receiver on the next run. It holds
only frame texts, which are checked again on replay exactly as if a camera had read them: a
torn last line or a tampered journal can cost progress, never release a wrong file. It is
removed once the file is written, or when the transfer is given up.
"""

from __future__ import annotations

import os
from pathlib import Path

from transfer.errors import FrameError
from transfer.qr.frame import MAX_TEXT

MAX_JOURNAL = 256 * 1024 * 1024  # far above what the receiver's caps let it keep
SYNC_EVERY = 16  # frames between fsyncs; a crash loses at most these (a flush loses none)
HEADER = "# airgap-signer qr-live journal 1"


def journal_path(out: Path) -> Path:
    return out.with_name(f".{out.name}.qr-live")


class Journal:
    """Append-only frame log for one output file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._size = 0
        self._unsynced = 0

    def replay(self) -> list[str]:
        """Frame texts kept by an earlier run (none if there is no journal)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise FrameError(f"cannot read the journal {self.path}: {exc.strerror}") from exc
        with os.fdopen(fd, "rb") as fh:
            raw = fh.read(MAX_JOURNAL + 1)
        if len(raw) > MAX_JOURNAL:
            raise FrameError(f"journal {self.path} is larger than {MAX_JOURNAL} bytes; "
                             "remove it to start again")
        lines = raw.decode("ascii", errors="replace").split("\n")
        return [x for x in lines if x and not x.startswith("#") and len(x) <= MAX_TEXT]

    def append(self, text: str) -> None:
        """Keep one frame text (flushed at once; fsynced every SYNC_EVERY frames)."""
        line = (text.strip("\r\n") + "\n").encode("ascii", errors="replace")
        if self._size + len(line) > MAX_JOURNAL:
            return  # the receiver's caps make this unreachable; never grow without bound
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT
                                   | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
                self._size = os.fstat(self._fd).st_size
                if self._size == 0:
                    os.write(self._fd, (HEADER + "\n").encode())
            os.write(self._fd, line)
            self._size += len(line)
            self._unsynced += 1
            if self._unsynced >= SYNC_EVERY:
                self.sync()
        except OSError as exc:
            raise FrameError(f"cannot keep progress in {self.path}: {exc.strerror}") from exc

    def sync(self) -> None:
        if self._fd is not None and self._unsynced:
            os.fsync(self._fd)
            self._unsynced = 0

    def close(self) -> None:
        if self._fd is not None:
            try:
                self.sync()
            finally:
                os.close(self._fd)
                self._fd = None

    def remove(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)
