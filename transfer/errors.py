"""Errors raised by the transfer package; each carries a one-line message.

`details` optionally holds machine-readable facts about the failure (progress of a transfer,
pictures skipped) for `--json` output; the message alone must still say what and why.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class TransferError(Exception):
    """Base of every error transfer/ raises on bad input or failed I/O."""

    def __init__(self, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details: dict[str, Any] = dict(details or {})


class BundleError(TransferError):
    """A request or result bundle is malformed, oversized, or fails verification."""


class MediaError(TransferError):
    """Removable media could not be read or written safely."""


class FrameError(TransferError):
    """A QR frame or a QR transfer is malformed, foreign or incomplete."""
