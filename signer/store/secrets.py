"""Keeping secrets in the process that holds them (I10): no core dumps, bounded secret files.

A core dump of a session would hold the token PIN, and on a quorum home the share words and
the derived PIN. ``harden_process`` turns core dumps off for this process and everything it
starts: ``RLIMIT_CORE`` 0 (inherited across fork and exec) and ``PR_SET_DUMPABLE`` 0 (which
also keeps other users' debuggers out; exec resets it, so worker processes call this again).

``read_secret_file`` reads at most a fixed number of bytes whatever the file claims to be:
``st_size`` of a character device such as /dev/zero is 0 and its content endless.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
import stat
from pathlib import Path

from signer.errors import SignerError

PR_SET_DUMPABLE = 4  # <linux/prctl.h>
MAX_SECRET_FILE = 4096


def harden_process() -> None:
    """Core dumps off for this process and its children (best effort where not Linux)."""
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):  # pragma: no cover - only lowering is ever asked
        pass
    name = ctypes.util.find_library("c")
    if name is None:  # pragma: no cover - every Linux has a libc
        return
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


def secure_process() -> None:
    """What every entry point (CLI, TUI) does first: no core dumps, and files made by this
    process readable by its owner only unless a writer says otherwise (HOME, the ledger)."""
    harden_process()
    os.umask(0o077)


def read_secret_file(path: Path, what: str, limit: int = MAX_SECRET_FILE) -> str:
    """A PIN or share file: a regular file, read with a hard cap, one line of text."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise SignerError(f"{what} file {path}: not found") from None
    except OSError as exc:
        raise SignerError(f"{what} file {path}: cannot read ({exc.strerror or exc})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SignerError(f"{what} file {path}: not a regular file")
        data = b""
        while len(data) <= limit:
            chunk = os.read(fd, limit + 1 - len(data))
            if not chunk:
                break
            data += chunk
    except OSError as exc:
        raise SignerError(f"{what} file {path}: cannot read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise SignerError(f"{what} file {path}: larger than {limit} bytes")
    try:
        return data.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise SignerError(f"{what} file {path}: not UTF-8 text") from None
