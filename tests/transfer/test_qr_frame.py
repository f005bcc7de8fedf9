"""QR frame format 2: capacities, symbol planning, strict parsing, and wire compatibility."""

from __future__ import annotations

import hashlib
import os
import random
import zlib
from pathlib import Path

import pytest
import qrcode
import qrcode.constants
import qrcode.util

from transfer import fountain
from transfer.base45 import b45decode, b45encode
from transfer.errors import FrameError
from transfer.qr import (
    MAX_SOURCE_SYMBOLS,
    PREFIX,
    PROFILES,
    QR_CAPACITY_L,
    FrameSource,
    Header,
    Receiver,
    encode_file,
    parse_frame,
    qr_modules,
    symbol_size_for,
)
from transfer.qr.frame import PAD, build_frame, plan_symbols, verify_payload

DATA = Path(__file__).parent / "data"


def reframe(text: str, mutate) -> str:
    """Re-encode a frame after `mutate(bytearray)` with a fresh CRC, to reach header checks."""
    raw = bytearray(b45decode(text[len(PREFIX):])[:-4])
    mutate(raw)
    return PREFIX + b45encode(bytes(raw) + zlib.crc32(raw).to_bytes(4, "big"))


# ---- profiles and capacity ---------------------------------------------------------------------


@pytest.mark.parametrize("version", PROFILES)
def test_capacity_table_and_full_frame_fits_version(version: int) -> None:
    alnum, byte = QR_CAPACITY_L[version]
    for mode, cap in ((qrcode.util.MODE_ALPHA_NUM, alnum), (qrcode.util.MODE_8BIT_BYTE, byte)):
        q = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_L)
        q.add_data(qrcode.util.QRData(b"A" * cap, mode=mode))
        q.make(fit=True)
        assert q.version == version
        q = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_L)
        q.add_data(qrcode.util.QRData(b"A" * (cap + 1), mode=mode))
        q.make(fit=True)
        assert q.version == version + 1
    # A payload of exactly 5 full symbols: every frame fills version V, no padding.
    frame = encode_file(os.urandom(5 * symbol_size_for(version) - 32), version=version)[0]
    assert len(frame) <= alnum
    assert len(qr_modules(frame)) == 17 + 4 * version + 8  # fills exactly version V (+ quiet)


def test_symbol_sizes() -> None:
    assert symbol_size_for(20) == 800  # 93% of the 858-byte binary capacity of v20-L
    assert symbol_size_for(25) == 1200
    assert symbol_size_for(30) == 1648  # 95% of 1732
    with pytest.raises(FrameError, match="profile"):
        symbol_size_for(11)


@pytest.mark.parametrize(("length", "size", "k"), [
    (33, 40, 1), (800, 800, 1), (801, 408, 2),  # just over one frame: two half frames
    (932, 472, 2), (8_000, 800, 10), (8_001, 728, 11),
])
def test_small_files_are_spread_not_padded(length: int, size: int, k: int) -> None:
    assert plan_symbols(length, 20) == (size, k)
    assert size * k - length < 8 * k  # padding below one alignment unit per frame


def test_tiny_file_is_one_small_frame() -> None:
    src = FrameSource(b"hello")
    assert src.k == 1 and src.header.symbol_size == 40
    assert len(qr_modules(src.frame(0))) < 17 + 4 * 10 + 8  # far below a v20 code


# ---- wire compatibility ------------------------------------------------------------------------


def test_frames_are_byte_identical_to_the_format_2_sender_for_full_symbols() -> None:
    # Pinned from the sender before this package (commit 22dfa02): same format byte, same frames.
    rng = random.Random(2)
    frames = encode_file(rng.randbytes(3 * 800 - 32), version=20, repair_percent=50)
    digest = hashlib.sha256("\n".join(frames).encode()).hexdigest()
    assert digest == "01247d6f1c3eb50352af99d097e392a9d943778314a31f8151ee5ec39258cd18"


def test_frames_of_the_earlier_sender_are_received() -> None:
    # The earlier sender padded a 1,000-byte file to two full 800-byte symbols.
    rng = random.Random(2)
    rng.randbytes(3 * 800 - 32)
    data = rng.randbytes(1000)
    old = (DATA / "format2-sender-v1.txt").read_text().split("\n")
    assert parse_frame(old[0]).header.symbol_size == 800
    rcv = Receiver()
    for text in old[1:]:
        rcv.feed(text)
    assert rcv.result() == data


# ---- parsing -----------------------------------------------------------------------------------


def test_flipped_character_is_rejected_by_crc(rng: random.Random) -> None:
    frame = encode_file(rng.randbytes(2000))[0]
    crc = 0
    for i in rng.sample(range(len(PREFIX), len(frame)), 30):
        ch = "0" if frame[i] != "0" else "1"
        with pytest.raises(FrameError) as exc:
            parse_frame(frame[:i] + ch + frame[i + 1 :])
        crc += "CRC" in str(exc.value)
    assert crc >= 25  # the rest fail earlier, as an out-of-range Base45 group


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("hello", "prefix"),
        ("https://example.com/", "prefix"),
        ("AGS1:", "too short"),
        ("AGS1:abc", "character"),
        ("AGS1:" + "0" * 5000, "longer than any QR"),
    ],
)
def test_foreign_and_malformed_text(text: str, why: str) -> None:
    with pytest.raises(FrameError, match=why):
        parse_frame(text)


@pytest.mark.parametrize(
    ("mutate", "why"),
    [
        (lambda b: b.__setitem__(0, 3), "format"),
        (lambda b: b.__setitem__(17, 0x82), "flags"),
        (lambda b: b.__setitem__(slice(13, 17), (2**31).to_bytes(4, "big")), "limits"),
        (lambda b: b.__setitem__(slice(18, 20), (16).to_bytes(2, "big")), "symbol size"),
        (lambda b: b.__setitem__(20, 1), "source block"),
        (lambda b: b.__setitem__(17, 1), "contradict"),  # "compressed" but body == original
    ],
)
def test_header_sanity_after_valid_crc(mutate, why: str, rng: random.Random) -> None:
    frame = encode_file(rng.randbytes(2000))[0]
    with pytest.raises(FrameError, match=why):
        parse_frame(reframe(frame, mutate))


def test_a_frame_beyond_rfc_6330_block_size_is_refused() -> None:
    # 8 MiB in 8-byte symbols would need 1,048,576 frames; RFC 6330 allows 56,403 per block.
    tid = bytes(8)
    big = Header(tid, 8 * 1024 * 1024 - 32, 8 * 1024 * 1024, False, 8)
    with pytest.raises(FrameError, match="56403"):
        parse_frame(build_frame(big, bytes(4) + bytes(8)))
    edge = Header(tid, MAX_SOURCE_SYMBOLS * 8 - 32, MAX_SOURCE_SYMBOLS * 8, False, 8)
    assert parse_frame(build_frame(edge, bytes(12))).header.k == MAX_SOURCE_SYMBOLS
    over = Header(tid, MAX_SOURCE_SYMBOLS * 8 - 31, MAX_SOURCE_SYMBOLS * 8 + 1, False, 8)
    with pytest.raises(FrameError, match="beyond RFC 6330"):
        parse_frame(build_frame(over, bytes(12)))


def test_encode_refuses_bad_input() -> None:
    with pytest.raises(FrameError, match="empty"):
        encode_file(b"")
    with pytest.raises(FrameError, match="profile"):
        encode_file(b"x", version=11)
    with pytest.raises(FrameError, match="repair"):
        encode_file(b"x", repair_percent=1001)


# ---- verification of a rebuilt payload ---------------------------------------------------------


def _payload_frames(data: bytes, payload: bytes, compressed: bool = False) -> tuple[Header, bytes]:
    size, k = plan_symbols(len(payload), 20)
    head = Header(hashlib.sha256(payload).digest()[:8], len(data), len(payload), compressed, size)
    return head, payload + PAD * (k * size - len(payload))


@pytest.mark.parametrize(("case", "why"), [
    ("digest", "SHA-256"), ("padding", "padding"), ("tid", "transfer id"),
    ("bomb", "more or less"), ("corrupt", "decompress"),
])
def test_verify_payload_refuses(case: str, why: str, rng: random.Random) -> None:
    data = rng.randbytes(3000)
    if case == "digest":
        head, padded = _payload_frames(data, data + bytes(32))
    elif case == "padding":
        head, padded = _payload_frames(data, data + hashlib.sha256(data).digest())
        padded = padded[:-1] + b"\x00"
    elif case == "tid":
        head, padded = _payload_frames(data, data + hashlib.sha256(data).digest())
        head = Header(bytes(8), head.original_length, head.transmitted_length, False,
                      head.symbol_size)
    elif case == "bomb":  # inflates past the declared length
        big = bytes(100_000)
        payload = zlib.compress(big) + hashlib.sha256(big).digest()
        head, padded = _payload_frames(big[:50_000], payload, compressed=True)
    else:
        payload = b"\x78\x9c" + rng.randbytes(100) + hashlib.sha256(data).digest()
        head, padded = _payload_frames(data, payload, compressed=True)
    with pytest.raises(FrameError, match=why):
        verify_payload(head, padded)


def test_forged_digest_is_caught_before_release(rng: random.Random) -> None:
    # A sender whose payload carries a wrong SHA-256 (the transfer id still matches it).
    data = rng.randbytes(3000)
    head, padded = _payload_frames(data, data + bytes(32))
    enc = fountain.RaptorQEncoder(padded, head.symbol_size)
    rcv = Receiver()
    for p in enc.packets(8):
        rcv.feed(build_frame(head, p))
    assert not rcv.complete
    with pytest.raises(FrameError, match="SHA-256"):
        rcv.result()
