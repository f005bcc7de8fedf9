"""Atomic, never-overwriting file output (I11), through the one writer of every output.

``write_new`` is ``transfer.usb.write_output`` (free space, exclusive temp file, fsync, link,
fsync of the directory, read-back compare) with its errors named as the signer's own
(``OutputError``); ``check_new_output`` refuses a taken output before any work is done.
"""

from __future__ import annotations

import os
from pathlib import Path

from signer.errors import SignerError
from transfer.errors import MediaError
from transfer.usb import write_output


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
    """Write ``data`` to ``path`` atomically, verified by reading it back.

    ``mode`` is applied exactly (whatever the umask): 0600 for what stays in HOME, 0644 for
    outputs meant to leave the appliance (result bundles, CRLs, certificates). Without
    ``replace``, an existing file is an error. A crash leaves either no file or the whole file.
    """
    try:
        write_output(path, data, mode=mode, replace=replace)
    except MediaError as exc:
        raise OutputError(str(exc)) from None
