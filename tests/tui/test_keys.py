"""What the screens say to press is what they react to, and at 80x24 every screen's footer shows
all its keys (Log and Quit on the overview among them). Fixed facts, no token: layout only."""

from __future__ import annotations

import re

import pytest
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from signer.errors import SignerError
from signer.service.signing import SignReport
from signer.tui.screens.export import ExportScreen
from signer.tui.screens.log import LogScreen
from signer.tui.screens.overview import OverviewScreen
from signer.tui.screens.review import ReviewScreen, render_detail
from signer.tui.screens.sign import SignScreen, render_sign
from tests.tui.pilots import run
from tests.tui.test_snapshots import _app, _Facts, _settle


class _NoJobs(_Facts):
    """The fixed facts; any other job is refused, as a locked appliance would."""

    async def call(self, what, fn, *args):
        raise SignerError("not in this test")


def _footer_keys(screen) -> list[tuple[str, int]]:
    """(description, right edge) of each key the footer lays out."""
    footer = screen.query_one(Footer)
    return [(k.description, k.region.right) for k in footer.query(FooterKey)]


@pytest.mark.parametrize("name", ["", "import", "review", "sign", "export", "crl", "log"])
def test_every_footer_fits_80_columns(name):
    async def scenario():
        app = _app()
        app.jobs = _NoJobs()
        async with app.run_test(size=(80, 24)) as pilot:
            await _settle(pilot)
            if name:
                app.action_open(name)
                await pilot.pause()
            screen = app.screen
            shown = [b.binding.description for b in screen.active_bindings.values()
                     if b.binding.show]
            keys = _footer_keys(screen)
            assert sorted(d for d, _ in keys) == sorted(set(shown)), (name, keys)
            assert all(0 < right <= 80 for _, right in keys), (name, keys)
            if isinstance(screen, OverviewScreen):
                assert {"Log", "Quit"} <= {d for d, _ in keys}
    run(scenario())


def test_the_keys_the_screens_name_are_their_bindings():
    rep = SignReport(batch="ra1-7", issued=2, already=0, revoked=0, awaiting_approval=[],
                     crls=[], failed=[])
    hint = re.search(r"\n(\S+): export the result bundle", str(render_sign(rep)))
    assert hint is not None
    bound = {b.key: b.action for b in SignScreen.BINDINGS}
    assert bound[hint[1]] == "app.open('export')"  # ctrl+e, as the footer says, not "e"
    assert any(b.key == "qr" or b.action == "qr" for b in ExportScreen.BINDINGS)
    assert any(b.action == "verify" and b.key == "v" for b in LogScreen.BINDINGS)
    approve = render_detail({"id": "ca1", "ca": "root", "profile": "subca", "verdict": "accept",
                             "needs_approval": True, "names": []}, approved=False)
    key = re.search(r"press (\S+) and type the id", str(approve))
    assert key is not None and {b.key: b.action for b in ReviewScreen.BINDINGS}[key[1]] == \
        "approve"


@pytest.mark.parametrize("verdict, label", [
    ("accept", "names (verified): www.example.org"),
    ("reject", "names asked for (not verified, not certified): www.example.org, "
               "bank.example.com"),
])
def test_a_refused_requests_names_are_not_called_verified(verdict, label):
    r = {"id": "r", "ca": "class1", "profile": "server", "verdict": verdict,
         "names": ["www.example.org"] + (["bank.example.com"] if verdict == "reject" else []),
         "reasons": [{"code": "name.unverified", "message": "bank.example.com: not verified"}]
         if verdict == "reject" else []}
    text = str(render_detail(r, approved=False))
    assert label in text
    if verdict == "reject":
        assert "names (verified)" not in text
