"""Live reception: reader programs (the built-in camera reader fed real pictures, stand-ins
for zbarcam), the journal that lets a restart resume, choosing a transfer, hostile frames."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tests.transfer.capture import EASY_720, HARD_720, capture
from tests.transfer.hostile import forged
from transfer.errors import FrameError
from transfer.qr import FrameSource, Header, build_frame, encode_file, parse_frame, qr_image
from transfer.qr.journal import journal_path
from transfer.qr.live import ReaderStopped, receive_lines, run_reader

ROOT = Path(__file__).resolve().parents[2]


def _standin(tmp_path: Path, lines: list[str], exit_message: str = "") -> list[str]:
    """A program that prints lines the way zbarcam --raw does, then exits."""
    data = tmp_path / "frames.txt"
    data.write_text("\n".join(lines) + "\n")
    script = tmp_path / "fake_zbarcam.py"
    script.write_text("import sys\nsys.stdout.write(open(sys.argv[1]).read())\nsys.stdout.flush()\n"
                      f"print({exit_message!r}, file=sys.stderr)\n")
    return [sys.executable, str(script), str(data)]


def tid(frames: list[str]) -> str:
    return parse_frame(frames[0]).header.tid


def test_reader_process_with_noise_loss_and_another_transfer(tmp_path: Path) -> None:
    rng = random.Random(3)
    data = os.urandom(30_000)
    frames = encode_file(data)
    other = encode_file(os.urandom(5000))
    kept = rng.sample(frames, int(len(frames) * 0.7))
    lines = ["https://example.org/not-ours", *kept[:2], *other[:2], *kept[2:], "AGS1:garbage"]
    out = tmp_path / "got.bin"
    seen = []
    rep = run_reader(_standin(tmp_path, lines), out, progress=seen.append)
    assert out.read_bytes() == data
    assert rep.progress.foreign == 2 and seen[-1].status == "complete"
    assert not journal_path(out).exists()  # progress is dropped once the file is written


def test_foreign_only_asks_the_operator_and_never_switches_silently(tmp_path: Path) -> None:
    ours, theirs = encode_file(os.urandom(3000)), encode_file(os.urandom(3000))
    ticks = iter(range(1000))
    asked = []
    with pytest.raises(ReaderStopped, match="before the transfer was complete"):
        receive_lines([ours[0], ours[1], *theirs], tmp_path / "o",
                      clock=lambda: float(next(ticks)),
                      on_foreign=lambda t, n: asked.append(t) or False)
    assert asked == [tid(theirs)] * len(asked) and asked
    assert not (tmp_path / "o").exists()


def test_operator_may_switch_and_frames_kept_aside_count(tmp_path: Path) -> None:
    ours, data = encode_file(os.urandom(3000)), os.urandom(3000)
    theirs = encode_file(data)
    ticks = iter(range(1000))
    out = tmp_path / "o"
    receive_lines([ours[0], ours[1], *theirs], out, clock=lambda: float(next(ticks)),
                  on_foreign=lambda t, n: True)
    assert out.read_bytes() == data


def test_told_which_transfer_a_stale_one_cannot_capture_it(tmp_path: Path) -> None:
    stale, data = encode_file(os.urandom(8000)), os.urandom(8000)
    fresh = encode_file(data)
    out = tmp_path / "o"
    rep = receive_lines([*stale[:5], *fresh], out, transfer_id=tid(fresh))
    assert out.read_bytes() == data and rep.transfer_id == tid(fresh)


def test_a_restart_resumes_from_the_journal(tmp_path: Path) -> None:
    data = os.urandom(20_000)
    src = FrameSource(data)
    frames = [src.frame(i) for i in range(2 * src.k)]
    out = tmp_path / "o"
    with pytest.raises(ReaderStopped, match="run again to resume") as exc:
        receive_lines(frames[:15], out)  # the reader is stopped half way
    assert exc.value.details["progress"]["useful"] == 15
    journal = journal_path(out)
    assert journal.exists() and not out.exists()
    with open(journal, "a") as fh:
        fh.write(frames[15][:100])  # torn last line: a crash mid-append
    rep = receive_lines(frames[src.k:], out)  # only repair frames this time
    assert out.read_bytes() == data and rep.resumed == 15
    assert rep.progress.useful <= src.k + 1
    assert not journal.exists()


def test_a_forged_first_frame_no_longer_stalls_live_reception(tmp_path: Path) -> None:
    rng = random.Random(5)
    data = rng.randbytes(20_000)
    frames = encode_file(data)
    out = tmp_path / "o"
    receive_lines([forged(frames[0], 0, rng), *frames], out)
    assert out.read_bytes() == data


def test_a_frame_claiming_a_million_symbols_is_not_locked_onto(tmp_path: Path) -> None:
    big = Header(bytes(8), 8 * 1024 * 1024 - 32, 8 * 1024 * 1024, False, 8)
    data = os.urandom(5000)
    out = tmp_path / "o"
    receive_lines([build_frame(big, bytes(12)), *encode_file(data)], out)
    assert out.read_bytes() == data


def test_a_transfer_given_up_ends_the_run_with_the_reason(tmp_path: Path) -> None:
    rng = random.Random(6)
    frames = encode_file(rng.randbytes(5000), repair_percent=0)
    lines = [forged(frames[0], esi, rng) for esi in range(200)]
    out = tmp_path / "o"
    with pytest.raises(FrameError, match="forged or misread") as exc:
        receive_lines(lines, out)
    assert not isinstance(exc.value, ReaderStopped)
    assert not out.exists() and not journal_path(out).exists()


def test_missing_reader_program(tmp_path: Path) -> None:
    with pytest.raises(FrameError, match="cannot start the reader"):
        run_reader("/nonexistent/zbarcam --raw", tmp_path / "o")


def test_the_readers_last_words_explain_a_stop(tmp_path: Path) -> None:
    frames = encode_file(os.urandom(5000))
    with pytest.raises(ReaderStopped, match=r"camera unplugged\]"):
        run_reader(_standin(tmp_path, frames[:2], "camera unplugged"), tmp_path / "o")


# ---- the built-in camera reader, fed real pictures -------------------------------------------


def _camera(*args: str) -> list[str]:
    return [sys.executable, "-m", "transfer.qr.camera", *args]


def test_camera_reader_decodes_raw_frames_from_a_grabber(tmp_path: Path) -> None:
    rng = random.Random(7)
    data = rng.randbytes(6000)
    src = FrameSource(data)
    raw = tmp_path / "grab.gray"
    with open(raw, "wb") as fh:  # what `ffmpeg -f rawvideo -pix_fmt gray -` would pipe
        for esi in range(src.k + 3):
            if esi == 1:
                continue  # a frame the camera missed
            for cond in (HARD_720, EASY_720):  # each frame seen twice: printed once
                fh.write(capture(qr_image(src.frame(esi)), rng, cond).convert("L").tobytes())
    cmd = f"sh -c '{sys.executable} -m transfer.qr.camera --raw 1280x720 < {raw}'"
    out = tmp_path / "got"
    seen: list[str] = []
    rep = run_reader(cmd, out, progress=lambda r: seen.append(r.status))
    assert out.read_bytes() == data and rep.transfer_id == src.transfer_id
    assert seen.count("duplicate") <= 2  # repeats are mostly dropped by the reader


def test_camera_reader_on_picture_files_and_its_errors(tmp_path: Path) -> None:
    frames = encode_file(os.urandom(3000))
    paths = []
    for i, text in enumerate(frames):
        paths.append(str(tmp_path / f"{i}.png"))
        qr_image(text).save(paths[-1])
    (tmp_path / "junk.png").write_bytes(b"junk")
    res = subprocess.run(_camera("--images", str(tmp_path / "junk.png"), *paths),
                         capture_output=True, text=True, cwd=ROOT, check=True)
    assert res.stdout.splitlines() == frames
    assert "skipped" in res.stderr and "junk.png" in res.stderr
    with pytest.raises(ReaderStopped, match="cannot open camera /nonexistent/video9"):
        run_reader(_camera("--device", "/nonexistent/video9"), tmp_path / "o")
    bad = subprocess.run(_camera("--raw", "12x"), capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 1 and "WIDTHxHEIGHT" in bad.stderr
