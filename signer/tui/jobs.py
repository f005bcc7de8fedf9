"""The one thread that owns the session: its token login, its ledger and its log.

python-pkcs11 keeps login state per process and is not thread-safe, and the ledger's SQLite
connection belongs to the thread that opened it, so every call that touches the `Session`
runs on a single-worker executor (DESIGN §2, STYLE "HSM and threads"). Screens await
``HsmJobs.call(what, fn, *args)``, which runs ``fn(session, *args)`` there through
``Session.run``: a refusal is logged exactly as the command line logs it.

This module holds no ceremony logic. Secrets pass through ``unlock`` only, inside a
`Credentials` object that the session wipes whatever the outcome (I10).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from signer.service import overview
from signer.service.session import Credentials, Session

T = TypeVar("T")


class HsmJobs:
    """A single-worker executor that owns the `Session` of one home."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hsm")
        self._session: Session | None = None
        self._closed = False

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.wrap_future(self._pool.submit(fn, *args))

    def _get(self) -> Session:
        if self._session is None:
            self._session = Session(self.home)
        return self._session

    async def call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(session, *args)`` on the session's thread, its refusal logged."""
        return await self._run(lambda: self._get().run(what, fn, *args, **kwargs))

    async def overview(self) -> overview.Overview:
        return await self._run(lambda: overview.gather(self._get()))

    async def unlock(self, creds: Credentials, at: dt.datetime | None) -> None:
        def run() -> None:
            try:
                self._get().unlock(creds, at)
            finally:
                creds.wipe()

        await self._run(run)

    def interrupt(self) -> None:
        """Ask the running job to stop at its next safe point (any thread, a signal handler)."""
        if self._session is not None:
            self._session.interrupt()

    def close(self) -> None:
        """Close the session (logged, a signed checkpoint) and stop the thread; idempotent.

        Waits for the job in progress: a signing run stops at its next chunk once
        ``interrupt`` was called."""
        if self._closed:
            return
        self._closed = True

        def run() -> None:
            if self._session is not None:
                self._session.close()
                self._session = None

        try:
            self._pool.submit(run).result(timeout=600)
        finally:
            self._pool.shutdown(wait=True)
