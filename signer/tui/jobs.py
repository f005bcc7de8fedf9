"""The one thread that owns the appliance: its token session, its ledger and its log.

python-pkcs11 keeps login state per process and is not thread-safe, and the ledger's SQLite
connection belongs to the thread that opened it, so every call that touches the `Appliance`
runs on a single-worker executor (DESIGN §2, STYLE "HSM and threads"). TUI workers await
`HsmJobs.call(fn, *args)`, which runs ``fn(appliance, *args)`` on that thread.

This module holds no ceremony logic: it opens and closes the appliance, forwards calls to
the service functions, and gathers read-only facts for the overview. Secrets pass through
`login` only, inside a `Credentials` object that is wiped whatever the outcome (I10).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from signer import airgap, ceremony
from signer.ceremony import Appliance, Credentials, format_time, utc_now
from transfer.words import pgp_words

T = TypeVar("T")


@dataclass(frozen=True)
class CAFact:
    name: str
    kind: str
    issuer: str
    algorithm: str
    not_after: str


@dataclass(frozen=True)
class Overview:
    """What the first screen shows; gathered on the appliance thread, rendered on the UI's."""

    home: str
    name: str
    rehearsal: bool
    module: str
    token_label: str
    quorum: str | None
    logged_in: bool
    token_line: str
    share_indices: list[int]
    cas: list[CAFact]
    log_size: int
    checkpoint_size: int | None
    checkpoint_root: str | None
    checkpoint_words: str | None
    last_time: str | None
    interfaces_up: list[str]
    ceremony_time: str | None
    batches: list[dict[str, Any]] = field(default_factory=list)


def words8(hexdigest: str) -> str:
    """PGP words of a digest's first 8 bytes, as the CLI prints them for witnesses."""
    return " ".join(pgp_words(bytes.fromhex(hexdigest)[:8]))


def proposed_time(last: str | None) -> str:
    """The clock to propose: now, or the last recorded ceremony time if that is later (I9)."""
    now = format_time(utc_now())
    return max(now, last) if last else now


class HsmJobs:
    """A single-worker executor that owns the `Appliance` of one home."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hsm")
        self._app: Appliance | None = None
        self._closed = False

    # -- plumbing ----------------------------------------------------------------------------

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the appliance thread and await its result."""
        return await asyncio.wrap_future(self._pool.submit(fn, *args))

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(appliance, *args, **kwargs)`` on the appliance thread."""
        return await self.run(lambda: fn(self._appliance(), *args, **kwargs))

    def _appliance(self) -> Appliance:
        if self._app is None:
            self._app = Appliance(self.home)
        return self._app

    # -- session -----------------------------------------------------------------------------

    async def open(self) -> Overview:
        return await self.call(_overview)

    async def overview(self) -> Overview:
        return await self.call(_overview)

    async def login(self, creds: Credentials, at: dt.datetime | None) -> None:
        def run(app: Appliance) -> None:
            try:
                app.login(creds, at)
            finally:
                creds.wipe()

        await self.call(run)

    def close(self) -> None:
        """Close the session (logs it and signs a checkpoint) and stop the thread; idempotent."""
        if self._closed:
            return
        self._closed = True

        def run() -> None:
            if self._app is not None:
                self._app.close()
                self._app = None

        try:
            self._pool.submit(run).result(timeout=60)
        finally:
            self._pool.shutdown(wait=True)


def _overview(app: Appliance) -> Overview:
    logged_in = app.token is not None and app.token.logged_in
    if logged_in:
        st = app.token_status()
        token_line = f"{st.label} (serial {st.serial}, {st.manufacturer} {st.model}): unlocked"
        interfaces = list(app.interfaces)
    else:
        token_line = f"{app.config.token_label}: locked"
        interfaces = airgap.interfaces_up(ceremony._sys_net())
    cp = app.log.last_checkpoint
    root = cp.root.hex() if cp else None
    return Overview(
        home=str(app.paths.root), name=app.config.appliance_name, rehearsal=app.rehearsal,
        module=app.config.module, token_label=app.config.token_label, quorum=app.config.quorum,
        logged_in=logged_in, token_line=token_line, share_indices=list(app.share_indices),
        cas=[CAFact(c.name, c.kind, c.issuer, c.key_algorithm, c.not_after[:10])
             for c in app.list_cas()],
        log_size=app.log.size, checkpoint_size=cp.size if cp else None, checkpoint_root=root,
        checkpoint_words=words8(root) if root else None, last_time=app.log.last_time,
        interfaces_up=interfaces,
        ceremony_time=format_time(app.time) if app.time and logged_in else None,
        batches=[dataclasses.asdict(r) for r in app.ledger.list_batches()],
    )
