"""Progress of long work, told to whichever shell asked for it, and to nobody otherwise.

The loops that can take minutes (judging a bundle's requests, signing, exporting, a CRL's
entries, reading and verifying a big ceremony log) call ``report(what, done, total)``. Nothing
listens by default, so the code that reports stays shell-agnostic and no signature changes to
carry a callback through the layers. A shell that shows progress installs a ``Progress`` for
one command with ``reporting(...)``: the CLI's draws a bar on stderr (``signer.cli.progress``).

It lives in core, not in service, because two of those loops are below the service layer:
policy (core) and the log's reader and verifier (store). Pure: no I/O, no clock; a listener
decides how often to draw, so reporting every item is cheap (a context-variable lookup).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol


class Progress(Protocol):
    """Told ``done`` of ``total`` (None: not known) for the work named ``what``; ``unit`` is
    "" for items, "B" for bytes."""

    def __call__(self, what: str, done: int, total: int | None, unit: str) -> None: ...


def _nobody(what: str, done: int, total: int | None, unit: str) -> None:
    return None


_listener: ContextVar[Progress] = ContextVar("signer_progress", default=_nobody)


def report(what: str, done: int, total: int | None = None, unit: str = "") -> None:
    _listener.get()(what, done, total, unit)


@contextmanager
def reporting(progress: Progress) -> Iterator[None]:
    """``progress`` hears every report made in this context (this thread, this command)."""
    token = _listener.set(progress)
    try:
        yield
    finally:
        _listener.reset(token)
