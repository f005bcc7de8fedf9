"""Live reception: a stand-in for `zbarcam --raw` prints frame lines, foreign ones mixed in."""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest

from transfer.errors import FrameError
from transfer.live import receive_lines, run_reader
from transfer.qr import encode_file


def _standin(tmp_path: Path, lines: list[str]) -> str:
    """A program that prints lines the way zbarcam --raw does, then exits."""
    data = tmp_path / "frames.txt"
    data.write_text("\n".join(lines) + "\n")
    script = tmp_path / "fake_zbarcam.py"
    script.write_text("import sys\nsys.stdout.write(open(sys.argv[1]).read())\n")
    return f"{sys.executable} {script} {data}"


def test_reader_process_with_noise_loss_and_another_transfer(tmp_path):
    rng = random.Random(3)
    data = os.urandom(30_000)
    frames = encode_file(data, repair_percent=60)
    other = encode_file(os.urandom(5000))
    kept = rng.sample(frames, int(len(frames) * 0.7))
    # The receiver locks onto the first valid frame's transfer: ours here.
    lines = ["https://example.org/not-ours", kept[0], *other[:2], *kept[1:], "AGS1:garbage"]
    out = tmp_path / "got.bin"
    seen = []
    rep = run_reader(_standin(tmp_path, lines), out, progress=seen.append)
    assert out.read_bytes() == data
    assert rep.foreign == 2 and seen[-1].status == "complete"


def test_foreign_only_asks_the_operator_and_never_switches_silently(tmp_path):
    ours, theirs = encode_file(os.urandom(3000)), encode_file(os.urandom(3000))
    ticks = iter(range(1000))
    asked = []
    with pytest.raises(FrameError, match="before the transfer was complete"):
        receive_lines([ours[0], *theirs], tmp_path / "o", clock=lambda: float(next(ticks)),
                      on_foreign=lambda tid, n: asked.append(tid) or False)
    assert asked and not (tmp_path / "o").exists()


def test_operator_may_switch(tmp_path):
    ours, theirs = encode_file(os.urandom(3000)), encode_file(os.urandom(3000))
    ticks = iter(range(1000))
    out = tmp_path / "o"
    receive_lines([ours[0], *theirs, *theirs], out, clock=lambda: float(next(ticks)),
                  on_foreign=lambda tid, n: True)
    assert out.exists()


def test_missing_reader_program(tmp_path):
    with pytest.raises(FrameError, match="cannot start the reader"):
        run_reader("/nonexistent/zbarcam --raw", tmp_path / "o")
