"""Atomic, never-overwriting file output (I11): temp file, fsync, link into place, fsync dir."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from signer.errors import SignerError


class OutputError(SignerError):
    """An output file could not be written, or would overwrite an existing file."""


def check_new_output(path: Path) -> None:
    """Refuse up front when ``path`` exists or its directory is missing (checked before signing)."""
    if path.exists() or path.is_symlink():
        raise OutputError(f"{path}: already exists; outputs are never overwritten")
    if not path.parent.is_dir():
        raise OutputError(f"{path.parent}: no such directory")


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_new(path: Path, data: bytes, *, replace: bool = False, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` atomically. Without ``replace``, an existing file is an error.

    ``mode`` is applied exactly (whatever the umask): 0600 for what stays in HOME, 0644 for
    outputs meant to leave the appliance (result bundles, CRLs, certificates).

    The bytes go to a temp file in the same directory, are fsynced, and are then hard-linked
    (no overwrite possible: link fails with EEXIST) or renamed (``replace``) into place; the
    directory is fsynced last. A crash leaves either no file or the whole file.
    """
    directory = path.parent
    tmp = directory / f".{path.name}.tmp-{os.getpid()}-{os.urandom(4).hex()}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        finally:
            os.close(fd)
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise OutputError(f"{path}: already exists; outputs are never overwritten") from None
            os.unlink(tmp)
        fsync_dir(directory)
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        # Best effort: on a read-only file system unlink fails with EROFS even when there is
        # no temp file, and must not replace the error being raised (or a success).
        with contextlib.suppress(OSError):
            os.unlink(tmp)
