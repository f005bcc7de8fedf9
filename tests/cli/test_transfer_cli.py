"""`signer transfer qr-send` / `qr-receive`: a result-sized file through PNG frames and back."""

from __future__ import annotations

import os
import random

from tests.conftest import run_signer


def test_qr_round_trip_through_the_cli_with_lost_and_shuffled_frames(tmp_path):
    data = os.urandom(20_000)
    src = tmp_path / "result.res"
    src.write_bytes(data)
    frames = tmp_path / "frames"
    r = run_signer("transfer", "qr-send", src, "--out", frames, "--repair", "60", check=True)
    assert r.stdout.strip()
    pngs = sorted(frames.glob("*.png"))
    assert (frames / "frames.gif").exists() and len(pngs) > 3
    rng = random.Random(7)
    kept = rng.sample(pngs, int(len(pngs) * 0.7))  # exactly 30% lost, in random order
    out = tmp_path / "received.res"
    run_signer("transfer", "qr-receive", *kept, "--out", out, check=True)
    assert out.read_bytes() == data
    again = run_signer("transfer", "qr-receive", *kept, "--out", out, check=False)
    assert again.returncode == 1 and "overwrite" in again.stderr  # never overwrites


def test_qr_receive_with_too_few_frames_says_how_many(tmp_path):
    src = tmp_path / "f.bin"
    src.write_bytes(os.urandom(5000))
    run_signer("transfer", "qr-send", src, "--out", tmp_path / "fr", "--repair", "0", check=True)
    pngs = sorted((tmp_path / "fr").glob("*.png"))
    r = run_signer("transfer", "qr-receive", *pngs[:-1], "--out", tmp_path / "o", check=False)
    assert r.returncode == 1
    assert not (tmp_path / "o").exists()
