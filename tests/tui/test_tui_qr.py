"""QR in the TUI: the export screen sends v20 at 5 frames/s (faster, slower, by hand), and
the import screen reads frames from the camera reader, switching transfer on a key."""

from __future__ import annotations

import asyncio
import os
import random
import sys
from pathlib import Path

from signer.tui.app import CeremonyApp
from signer.tui.screens.import_bundle import ImportScreen
from signer.tui.screens.qr import QRScreen
from tests.factories import pack
from tests.tui.conftest import settle, text_of
from tests.tui.pilots import REQUESTS, started, unlock_with_pin
from transfer.qr import FrameSource, Receiver, encode_file, qr_image


def test_qr_screen_sends_v20_at_5_fps_with_speed_keys() -> None:
    data = random.Random(4).randbytes(9_000)  # a demo-sized result: 12 frames at v20
    from textual.app import App

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(QRScreen(FrameSource(data, 20)))

    async def scenario() -> None:
        async with Host().run_test(size=(120, 60)) as pilot:
            await pilot.pause()
            screen = pilot.app.screen
            assert isinstance(screen, QRScreen) and screen.playing
            assert (screen.fps, screen.source.version, screen.source.k) == (5, 20, 12)
            caption = text_of(pilot, "#qr-caption")
            assert "5 frames/s" in caption and "QR v20" in caption and "any 12" in caption
            await pilot.press("plus")
            assert screen.fps == 6 and "6 frames/s" in text_of(pilot, "#qr-caption")
            await pilot.press("minus", "minus", "minus")
            assert screen.fps == 3 and screen.playing
            await pilot.press("a")
            assert not screen.playing and "paused" in text_of(pilot, "#qr-caption")
            n = screen.index
            await pilot.press("right")
            assert screen.index == n + 1 and f"frame {n + 2} " in text_of(pilot, "#qr-caption")
            await pilot.press("left", "left")
            assert screen.index == (n - 1) % screen.cycle
            code = text_of(pilot, "#qr-code").split("\n")
            assert len(code) == (17 + 4 * 20 + 8 + 1) // 2  # one v20 code, quiet zone included
    asyncio.run(scenario())
    # What the screen shows is the file: any k of its frames rebuild it.
    src = FrameSource(data, 20)
    rcv = Receiver()
    for esi in range(src.k, 2 * src.k + 1):  # repair frames only
        rcv.feed(src.frame(esi))
    assert rcv.result() == data


def test_import_from_the_camera_and_take_the_transfer_in_view(ra_home, tmp_path: Path,
                                                              monkeypatch) -> None:
    bundle = pack(ra_home.online, 1, REQUESTS)
    stale = encode_file(os.urandom(3000))  # an earlier transfer still on screen
    pictures = []
    for i, text in enumerate([*stale[:2], *encode_file(bundle.read_bytes())]):
        pictures.append(tmp_path / f"{i:03d}.png")
        qr_image(text).save(pictures[-1])
    reader = [sys.executable, "-m", "transfer.qr.camera", "--images", *map(str, pictures)]
    monkeypatch.setenv("SIGNER_QR_READER", " ".join(reader))

    async def scenario() -> None:
        app = CeremonyApp(ra_home.home)
        async with app.run_test(size=(100, 30)) as pilot:
            await started(pilot)
            await unlock_with_pin(pilot, ra_home.pin)
            await pilot.press("i")
            assert isinstance(pilot.app.screen, ImportScreen)
            await pilot.press("ctrl+g")
            await settle(pilot)  # the reader has read every picture
            progress = text_of(pilot, "#qr-progress")
            assert "ctrl+t takes transfer" in progress, progress
            await pilot.press("ctrl+t")
            await settle(pilot)
            result = text_of(pilot, "#import-result")
            assert "Imported batch ra1-1" in result and "2 accepted, 2 refused" in result
    asyncio.run(scenario())
