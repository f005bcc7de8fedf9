"""`signer transfer qr-send` / `qr-receive` / `qr-live`: the CLI contract (DESIGN §5).

Exit 0 done, 1 refused or failed with one line on stderr, 2 usage; never a traceback;
--json prints machine-readable output on stdout for every outcome, errors included.
"""

from __future__ import annotations

import json
import os
import random
import sys

import pytest
from PIL import Image

from tests.conftest import run_signer
from tests.transfer.hostile import forged
from transfer.qr import FrameSource, encode_file, parse_frame


def one_line(stderr: str) -> str:
    lines = [x for x in stderr.splitlines() if x.startswith("signer:")]
    assert len(lines) == 1, stderr
    return lines[0]


def test_qr_round_trip_through_the_cli_with_lost_and_shuffled_frames(tmp_path):
    data = os.urandom(20_000)
    src = tmp_path / "result.res"
    src.write_bytes(data)
    frames = tmp_path / "frames"
    r = run_signer("transfer", "qr-send", src, "--out", frames, "--fps", "4", "--json",
                   check=True)
    sent = json.loads(r.stdout)
    assert sent["fps"] == 4 and sent["version"] == 25 and sent["frames"] > sent["source_frames"]
    pngs = sorted(frames.glob("*.png"))
    assert (frames / "frames.gif").exists() and len(pngs) == sent["frames"]
    with Image.open(frames / "frames.gif") as gif:
        assert gif.info["duration"] == 250
    rng = random.Random(7)
    kept = rng.sample(pngs, int(len(pngs) * 0.7))  # exactly 30% lost, in random order
    out = tmp_path / "received.res"
    r = run_signer("transfer", "qr-receive", *kept, "--out", out, "--json", check=True)
    assert out.read_bytes() == data
    got = json.loads(r.stdout)
    assert got["transfer"] == sent["transfer"] and got["sha256"] == sent["sha256"]
    assert got["images"]["images"] == len(kept)
    again = run_signer("transfer", "qr-receive", *kept, "--out", out, check=False)
    assert again.returncode == 1 and "overwrite" in one_line(again.stderr)


def test_qr_receive_with_too_few_frames_says_how_many_more_also_in_json(tmp_path):
    src = tmp_path / "f.bin"
    src.write_bytes(os.urandom(5000))
    run_signer("transfer", "qr-send", src, "--out", tmp_path / "fr", "--repair", "0",
               "--version", "20", check=True)
    pngs = sorted((tmp_path / "fr").glob("*.png"))
    (tmp_path / "notes.txt").write_text("not a picture")
    r = run_signer("transfer", "qr-receive", *pngs[:-2], tmp_path / "notes.txt",
                   "--out", tmp_path / "o", "--json", check=False)
    assert r.returncode == 1 and not (tmp_path / "o").exists()
    line = one_line(r.stderr)
    assert f"{len(pngs) - 2} of {len(pngs)} frames, any 2 more" in line
    assert "1 unreadable" in line and "notes.txt" in line
    err = json.loads(r.stdout)
    assert err["error"] in line and err["transfers"][0]["remaining"] == 2
    assert err["images"]["unreadable"][0]["image"] == "notes.txt"


def test_qr_receive_survives_a_forged_first_frame(tmp_path):
    rng = random.Random(8)
    data = rng.randbytes(20_000)
    src = FrameSource(data, version=20)
    from transfer.qr import qr_image

    paths = []
    for i, text in enumerate([forged(src.frame(0), 0, rng),
                              *(src.frame(e) for e in range(src.k + 2))]):
        paths.append(tmp_path / f"{i:03d}.png")
        qr_image(text).save(paths[-1])
    run_signer("transfer", "qr-receive", *paths, "--out", tmp_path / "o", check=True)
    assert (tmp_path / "o").read_bytes() == data


@pytest.mark.parametrize(("args", "why"), [
    (["qr-send", "F", "--out", "D", "--fps", "0"], "--fps"),
    (["qr-send", "F", "--out", "D", "--repair", "-1"], "--repair"),
    (["qr-receive", "x.png", "--out", "O", "--transfer", "nothex"], "--transfer"),
    (["qr-live", "--out", "O", "--transfer", "abcd"], "16 hex digits"),
])
def test_usage_errors_exit_2_with_json_too(tmp_path, args, why):
    r = run_signer("transfer", *args, "--json", check=False)
    assert r.returncode == 2 and why in r.stderr
    assert why in json.loads(r.stdout)["error"]


def test_qr_send_refusals_exit_1(tmp_path):
    r = run_signer("transfer", "qr-send", tmp_path / "missing", "--out", tmp_path / "d",
                   "--json", check=False)
    assert r.returncode == 1 and "cannot open" in one_line(r.stderr)
    assert "cannot open" in json.loads(r.stdout)["error"]


def test_qr_live_from_a_scanner_on_stdin_with_a_chosen_transfer(tmp_path):
    stale = encode_file(os.urandom(4000))
    data = os.urandom(6000)
    fresh = encode_file(data)
    tid = parse_frame(fresh[0]).header.tid
    lines = "\r\n".join([*stale[:3], "garbage", *fresh]) + "\r\n"  # a wedge scanner's Enter
    out = tmp_path / "o"
    r = run_signer("transfer", "qr-live", "--reader", "-", "--transfer", tid, "--out", out,
                   "--json", input=lines, check=True)
    assert out.read_bytes() == data
    rep = json.loads(r.stdout)
    assert rep["transfer"] == tid and rep["progress"]["foreign"] == 3
    assert rep["progress"]["rejected"] == 1


def test_qr_live_stopped_keeps_progress_and_resumes(tmp_path):
    data = os.urandom(20_000)
    src = FrameSource(data, version=20)
    out = tmp_path / "o"
    first = "\n".join(src.frame(i) for i in range(10)) + "\n"
    r = run_signer("transfer", "qr-live", "--reader", "-", "--out", out, "--json",
                   input=first, check=False)
    assert r.returncode == 1
    line = one_line(r.stderr)
    assert f"10 of {src.k} frames" in line and "run again to resume" in line
    assert json.loads(r.stdout)["progress"]["remaining"] == src.k - 10
    rest = "\n".join(src.frame(i) for i in range(src.k, 2 * src.k)) + "\n"
    r = run_signer("transfer", "qr-live", "--reader", "-", "--out", out, "--json",
                   input=rest, check=True)
    assert out.read_bytes() == data and json.loads(r.stdout)["resumed"] == 10
    assert not any(p.name.endswith(".qr-live") for p in tmp_path.iterdir())


def test_qr_live_reader_that_cannot_start_or_stops(tmp_path):
    r = run_signer("transfer", "qr-live", "--reader", "/nonexistent/zbarcam", "--out",
                   tmp_path / "o", check=False)
    assert r.returncode == 1 and "cannot start the reader" in one_line(r.stderr)
    r = run_signer("transfer", "qr-live", "--device", "/nonexistent/video7", "--out",
                   tmp_path / "o", "--no-journal", check=False)
    assert r.returncode == 1 and "cannot open camera /nonexistent/video7" in one_line(r.stderr)
    script = tmp_path / "reader.py"
    script.write_text("import sys; print('AGS1:NOT A FRAME'); sys.exit(3)\n")
    r = run_signer("transfer", "qr-live", "--reader", f"{sys.executable} {script}", "--out",
                   tmp_path / "o", check=False)
    assert r.returncode == 1 and "exit status 3" in one_line(r.stderr)
