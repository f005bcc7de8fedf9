"""TUI fixtures: a private rehearsal home with a trusted RA, and key-press helpers.

The TUI runs in this process against the session's SoftHSM token (label ``hier``, made up
front in PRECREATED); request bundles are packed by the real CLI in subprocesses.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from textual import events
from textual.pilot import Pilot
from textual.widgets import Static

from signer.core.clock import parse_time
from signer.service.session import Credentials
from signer.service.setup import InitOptions, init_home
from tests.conftest import AT, run_signer
from tests.factories import make_csr

LATER = "2026-11-29T11:00:00Z"


@dataclass(frozen=True)
class RAHome:
    home: Path
    online: Path
    pin: str


@pytest.fixture
def ra_home(tmp_path: Path, copy_home: Path, hierarchy) -> RAHome:  # noqa: ANN001
    o = tmp_path / "online"
    o.mkdir()
    run_signer("request", "keygen", "--out", o / "ra.key", check=True)
    run_signer("ra", "trust", "ra1", o / "ra.key.pub", "--pin-file", hierarchy.pin_file,
               "--at", AT, home=copy_home, check=True)
    make_csr(o / "good.csr", cn="www.example.org", dns=["www.example.org", "example.org"])
    make_csr(o / "mail.csr", emails=["bob@example.net"])
    make_csr(o / "unverified.csr", dns=["www.example.org", "bank.example.com"])
    (o / "garbage.csr").write_bytes(b"\x30\x82garbage")
    return RAHome(copy_home, o, hierarchy.pin_file.read_text().strip())


def text_of(pilot: Pilot, selector: str) -> str:
    return str(pilot.app.screen.query_one(selector, Static).content)


async def type_text(pilot: Pilot, text: str) -> None:
    await pilot.press(*text)


async def paste_text(pilot: Pilot, text: str) -> None:
    """As a terminal delivers pasted or scanner-typed text: one bracketed paste."""
    pilot.app.post_message(events.Paste(text))
    await pilot.pause()


async def settle(pilot: Pilot) -> None:
    """Let workers (and the appliance thread behind them) finish; no sleeps."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def replace_input(pilot: Pilot, text: str) -> None:
    await pilot.press("home", "ctrl+k")
    await type_text(pilot, text)


@dataclass(frozen=True)
class QuorumHome:
    home: Path
    shares: list[str]


@pytest.fixture(scope="session")
def _quorum_home(token_env, tmp_path_factory: pytest.TempPathFactory) -> QuorumHome:  # noqa: ANN001
    """A rehearsal home on the `tuiquorum` token, unlocked by 2 of 3 shares.

    `init --quorum` re-keys the token PIN. SoftHSM reads a token's PIN once per process, so a
    re-key done by a subprocess is invisible here: the same service runs in-process."""
    pin = token_env.new_token("tuiquorum")
    base = tmp_path_factory.mktemp("tuiquorum")
    home, shares = base / "qhome", base / "shares"
    init_home(home, module=token_env.module, token_label="tuiquorum",
              creds=Credentials(pin=pin.read_text()), at=parse_time(AT),
              options=InitOptions(rehearsal=True, quorum="2/3", shares_out=shares))
    return QuorumHome(home, [p.read_text().strip() for p in sorted(shares.iterdir())])


@pytest.fixture
def quorum_home(_quorum_home: QuorumHome, tmp_path: Path) -> QuorumHome:
    """A private copy of the quorum home (same token) for a test that changes it."""
    dst = tmp_path / "qhome"
    shutil.copytree(_quorum_home.home, dst)
    return QuorumHome(dst, _quorum_home.shares)
