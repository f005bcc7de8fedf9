"""Layout snapshots of the overview at the pinned sizes (pytest-textual-snapshot).

The facts are fixed (a stand-in for the appliance thread), so the pictures change only when
the layout does; the real token is exercised by the Pilot tests in test_tui.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from signer.service.overview import CAFact, Overview
from signer.tui.app import CeremonyApp

pytest.importorskip("pytest_textual_snapshot")

FACTS = Overview(
    home="/srv/signer-home", name="airgap-signer/rehearsal", rehearsal=True,
    module="/usr/lib/softhsm/libsofthsm2.so", token_label="rehearsal", quorum="2/3",
    logged_in=False, token_line="rehearsal: locked", share_indices=[],
    cas=[CAFact("root", "root", "root", "ec-p384", "2046-11-24"),
         CAFact("class1", "sub", "root", "ec-p256", "2036-11-26"),
         CAFact("class3", "sub", "root", "ec-p384", "2036-11-26")],
    log_size=42, checkpoint_size=42,
    checkpoint_root="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    checkpoint_words="quadrant stethoscope tempest paperweight hazardous ravenous topmost Wichita",
    last_time="2026-11-29T10:00:00Z", interfaces_up=["eth0"], ceremony_time=None,
    batches=[{"id": "ra1-7", "ra": "ra1", "state": "imported"}],
)


class _Facts:
    """Stands in for HsmJobs: returns fixed facts, owns no token."""

    async def open(self) -> Overview:
        return FACTS

    async def overview(self) -> Overview:
        return FACTS

    def close(self) -> None:
        pass


def _app() -> CeremonyApp:
    app = CeremonyApp(Path("/srv/signer-home"))
    app.jobs = _Facts()  # type: ignore[assignment]
    app.confirmed_time = "2026-11-29T11:00:00Z"
    return app


async def _settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_overview_layout(snap_compare, size):
    assert snap_compare(_app(), terminal_size=size, run_before=_settle)


def test_unlock_dialog_layout(snap_compare):
    async def open_unlock(pilot) -> None:
        await _settle(pilot)
        await pilot.press("u")
        await pilot.pause()

    assert snap_compare(_app(), terminal_size=(80, 24), run_before=open_unlock)
