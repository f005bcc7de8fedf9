"""Errors raised by the transfer package; each carries a one-line message."""


class TransferError(Exception):
    """Base of every error transfer/ raises on bad input or failed I/O."""


class BundleError(TransferError):
    """A request or result bundle is malformed, oversized, or fails verification."""


class MediaError(TransferError):
    """Removable media could not be read or written safely."""


class FrameError(TransferError):
    """A QR frame or a QR transfer is malformed, foreign or incomplete."""
