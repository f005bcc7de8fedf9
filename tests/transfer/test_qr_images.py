"""QR pictures: rendering, the real decoders (zxing-cpp, zbar, zbarimg), and simulated camera
captures made in the test (perspective, blur, JPEG, glare, noise, tearing, cropping)."""

from __future__ import annotations

import io
import random
import shutil
import statistics
import subprocess
from pathlib import Path

import pytest
import qrcode
import qrcode.constants
import qrcode.util
from PIL import Image

from tests.transfer.capture import EASY_720, HARD_720, Conditions, capture
from transfer.errors import FrameError
from transfer.qr import (
    FrameSource,
    Receiver,
    decode_image,
    encode_file,
    parse_frame,
    qr_image,
    qr_modules,
    render_terminal,
)
from transfer.qr.decode import decode_zbar, decode_zxing, load_gray
from transfer.qr.gif import GifWriter

# ---- rendering ---------------------------------------------------------------------------------


def test_a_full_v20_frame_is_an_alphanumeric_v20_code(rng: random.Random) -> None:
    frame = FrameSource(rng.randbytes(8 * 800 - 32), version=20).frame(0)
    assert len(frame) == 1247
    assert len(qr_modules(frame)) == 17 + 4 * 20 + 8  # in byte mode 1247 chars need v27
    with pytest.raises(FrameError, match="alphanumeric"):
        qr_modules("lowercase is not alphanumeric")
    with pytest.raises(FrameError, match="does not fit"):
        qr_modules(frame, version=15)


def test_every_frame_renders_and_reads_back_with_an_independent_encoder(
        rng: random.Random) -> None:
    # zxing-cpp renders; python-qrcode (another encoder) and both decoders cross-check it.
    # Payload padding is 0xFF because qrcode 8.2 cannot encode an all-zero RS block (#330).
    for size in (5, 900, 1700):
        for text in encode_file(rng.randbytes(size)):
            img = qr_image(text)
            assert decode_zxing(img) == [text] and decode_zbar(img) == [text]
            q = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_L, border=4)
            q.add_data(qrcode.util.QRData(text.encode(), mode=qrcode.util.MODE_ALPHA_NUM))
            other = q.make_image().get_image().convert("L")
            assert decode_zxing(other) == [text]


def test_render_terminal_halfblock_and_wide() -> None:
    frame = encode_file(b"hello")[0]
    m = qr_modules(frame)
    half = render_terminal(frame).split("\n")
    assert len(half) == (len(m) + 1) // 2 and all(len(x) == len(m) for x in half)
    assert set("".join(half)) <= set("█▀▄ ")
    assert half[0].strip() == "" and half[2].startswith("    █▀▀▀▀▀█")  # quiet zone, finder
    wide = render_terminal(frame, "wide").split("\n")
    assert len(wide) == len(m) and all(len(x) == 2 * len(m) for x in wide)
    assert wide[4][8:22] == "#" * 14
    assert render_terminal(frame, ansi=True).startswith("\x1b[30;107m")
    with pytest.raises(ValueError):
        render_terminal(frame, "sixel")


def test_gif_is_written_frame_by_frame(rng: random.Random) -> None:
    frames = encode_file(rng.randbytes(3000))
    buf = io.BytesIO()
    gif = GifWriter(buf, 200)
    for text in frames:
        gif.add(qr_image(text))
    gif.close()
    buf.seek(0)
    with Image.open(buf) as anim:
        assert anim.n_frames == len(frames) and anim.info["loop"] == 0
        for i, text in enumerate(frames):
            anim.seek(i)
            assert anim.info["duration"] == 200
            assert decode_zxing(anim.convert("L")) == [text]
    with pytest.raises(FrameError, match="differs"):
        GifWriter(io.BytesIO(), 200).add(qr_image(frames[0])) or gif.add(qr_image("AGS1:X"))


# ---- decoders on files -------------------------------------------------------------------------


def test_frames_decode_with_zxing_zbar_and_zbarimg(tmp_path: Path, rng: random.Random) -> None:
    frames = encode_file(rng.randbytes(3000))[:3]
    paths = []
    for i, text in enumerate(frames):
        paths.append(tmp_path / f"{i}.png")
        qr_image(text).convert("1").save(paths[-1])
        gray = load_gray(paths[-1])
        assert decode_zxing(gray) == [text] and decode_zbar(gray) == [text]
        assert decode_image(paths[-1]) == [text]
    zbarimg = shutil.which("zbarimg")
    assert zbarimg, "zbar-tools must be installed"
    out = subprocess.run([zbarimg, "--raw", "-q", "-Sdisable", "-Sqrcode.enable", *map(str, paths)],
                         capture_output=True, text=True, timeout=30, check=True)
    assert out.stdout.splitlines() == frames


@pytest.mark.parametrize(("content", "why"), [
    (b"not an image", "cannot identify"), (b"\xff\xd8\xff\xe0" + b"\x00" * 50, "cannot read"),
])
def test_unreadable_pictures_are_named(tmp_path: Path, content: bytes, why: str) -> None:
    bad = tmp_path / "x.jpg"
    bad.write_bytes(content)
    with pytest.raises(FrameError, match=why) as exc:
        decode_image(bad)
    assert "x.jpg" in str(exc.value) and "\n" not in str(exc.value)


def test_truncated_jpeg_is_refused_not_half_read(tmp_path: Path, rng: random.Random) -> None:
    buf = io.BytesIO()
    qr_image(encode_file(rng.randbytes(500))[0]).save(buf, format="JPEG")
    bad = tmp_path / "cut.jpg"
    bad.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(FrameError, match="truncated"):
        decode_image(bad)


# ---- simulated camera captures ----------------------------------------------------------------


def _read_rates(frames: list[str], cond: Conditions, rnd: random.Random) -> dict[str, int]:
    got = {"zxing-cpp": 0, "zbar": 0, "both": 0}
    for text in frames:
        pic = capture(qr_image(text), rnd, cond).convert("L")
        zx, zb = text in decode_zxing(pic), text in decode_zbar(pic)
        got["zxing-cpp"] += zx
        got["zbar"] += zb
        got["both"] += text in decode_image(pic)
        assert (zx or zb) == (text in decode_image(pic))  # zbar runs when zxing-cpp misses
    return got


def test_hard_720p_captures_read_side_by_side(rng: random.Random) -> None:
    frames = encode_file(rng.randbytes(30_000), version=20)[:24]
    got = _read_rates(frames, HARD_720, random.Random(1))
    assert got["both"] >= 23, got  # zxing-cpp first, zbar for the rest


def test_screen_seen_at_an_angle(rng: random.Random) -> None:
    # The case: right edge 10% shorter, blur 0.7. zxing-cpp must read every frame.
    angle = Conditions(fill=(0.6, 0.7), keystone=0.10, roll=0.0, blur=(0.7, 0.7),
                       jpeg=(90, 90), glare=0.0, noise=0.0, contrast=(20, 235))
    frames = encode_file(rng.randbytes(12_000), version=20)[:12]
    rnd = random.Random(2)
    for text in frames:
        pic = capture(qr_image(text), rnd, angle).convert("L")
        assert decode_zxing(pic) == [text]


def test_torn_and_cropped_captures_never_yield_a_wrong_frame(rng: random.Random) -> None:
    frames = encode_file(rng.randbytes(20_000), version=20)
    rnd = random.Random(3)
    read = 0
    for a, b in zip(frames[:10], frames[1:11], strict=True):
        torn = capture(qr_image(a), rnd, EASY_720, torn_with=qr_image(b))
        cropped = capture(qr_image(a), rnd, EASY_720, cropped=True)
        for pic in (torn, cropped):
            for text in decode_image(pic):
                try:
                    parse_frame(text)
                except FrameError:
                    continue  # a blend that fails the CRC is rejected, as it must be
                assert text in (a, b)
                read += 1
    assert read < 20  # most torn or cropped pictures hold no whole code


def _frames_captured_until_complete(seed: int, size: int) -> tuple[int, int, int]:
    """(k, frames shown, frames captured) at 30% loss with hard 720p captures."""
    rnd = random.Random(seed)
    src = FrameSource(rnd.randbytes(size), version=20)
    rcv = Receiver()
    shown = captured = 0
    for esi in range(3 * src.k):
        shown += 1
        if rnd.random() < 0.30:
            continue  # missed: the camera never saw this frame
        captured += 1
        for text in decode_image(capture(qr_image(src.frame(esi)), rnd, HARD_720)):
            rcv.feed(text)
        if rcv.complete:
            break
    assert rcv.complete and rcv.transfer_id == src.transfer_id
    return src.k, shown, captured


@pytest.mark.slow
def test_hard_720p_captures_at_30_percent_loss_complete_within_1_1_k() -> None:
    # Done-when of issue 16: median of 20 seeds, frames reaching the camera <= 1.1 k, for a
    # result of the demo's size (k = 12 at v20). bench/bench_qr.py runs k = 26 and k = 76.
    runs = [_frames_captured_until_complete(seed, 9_000) for seed in range(20)]
    k = runs[0][0]
    captured = statistics.median(c for _, _, c in runs)
    assert k == 12
    assert captured <= 1.1 * k, runs
