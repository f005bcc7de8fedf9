"""The receiver: round trips, progress, locking and switching, and frames meant to poison it.

Every hostile case ends with the right file or a clear reason, never a wrong file.
"""

from __future__ import annotations

import random
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.transfer.hostile import forged
from transfer.base45 import b45encode
from transfer.errors import FrameError
from transfer.qr import (
    PREFIX,
    FeedStatus,
    FrameSource,
    Receiver,
    encode_file,
    parse_frame,
)
from transfer.qr.assembly import Assembly


def feed_all(rcv: Receiver, frames: list[str]) -> list[FeedStatus]:
    return [rcv.feed(f).status for f in frames]


def tid_of(frames: list[str]) -> str:
    return parse_frame(frames[0]).header.tid


# ---- round trips and progress ------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 1000, 100_000])
def test_round_trip_shuffled_duplicated_dropped(size: int, rng: random.Random) -> None:
    data = rng.randbytes(size)
    frames = encode_file(data)
    k = parse_frame(frames[0]).header.k
    kept = [f for f in frames if rng.random() > 0.3] or frames
    mixed = kept + rng.sample(kept, len(kept) // 3)  # duplicates
    rng.shuffle(mixed)
    rcv = Receiver()
    statuses = feed_all(rcv, mixed)
    assert FeedStatus.COMPLETE in statuses
    assert rcv.result() == data
    assert rcv.needed == k


def test_compressible_file_is_compressed_and_verified() -> None:
    data = b"-----BEGIN CERTIFICATE REQUEST-----\n" * 3000
    frames = encode_file(data)
    first = parse_frame(frames[0]).header
    assert first.compressed and first.transmitted_length < len(data) // 10
    rcv = Receiver()
    feed_all(rcv, frames)
    assert rcv.result() == data


def test_one_mebibyte_through_the_fountain_under_loss(rng: random.Random) -> None:
    data = rng.randbytes(1 << 20)
    src = FrameSource(data)
    rcv = Receiver()
    for esi in range(3 * src.k):
        if rng.random() < 0.3:
            continue
        if rcv.feed(src.frame(esi)).status is FeedStatus.COMPLETE:
            break
    assert rcv.result() == data
    assert rcv.received <= rcv.needed + 3


def test_default_repair_lets_one_pass_at_30_percent_loss_complete(rng: random.Random) -> None:
    for size in (400, 5_000, 60_000):
        frames = encode_file(rng.randbytes(size))
        completed = 0
        for trial in range(40):
            rnd = random.Random(trial)
            rcv = Receiver()
            feed_all(rcv, [f for f in frames if rnd.random() >= 0.3])
            completed += rcv.complete
        assert completed >= 38, (size, completed)  # 99% by design


def test_progress_says_how_many_more(rng: random.Random) -> None:
    frames = encode_file(rng.randbytes(8000), repair_percent=0)
    rcv = Receiver()
    r = rcv.feed(frames[3])
    k = parse_frame(frames[0]).header.k
    assert r.status is FeedStatus.ACCEPTED or r.status is FeedStatus.DUPLICATE
    r = rcv.feed(frames[4])
    assert r.progress.useful == 2 and r.progress.needed == k
    assert r.progress.remaining == k - 2
    assert f"2 of {k} frames" in r.progress.line() and f"any {k - 2} more" in r.progress.line()
    assert rcv.feed(frames[4]).status is FeedStatus.DUPLICATE
    assert rcv.feed("not a frame").progress.rejected == 1
    with pytest.raises(FrameError, match=f"2 of {k} frames, any {k - 2} more"):
        rcv.result()


# ---- locking and switching --------------------------------------------------------------------


def test_second_transfer_is_kept_aside_not_mixed(rng: random.Random) -> None:
    a, b = rng.randbytes(20_000), rng.randbytes(20_000)
    fa, fb = encode_file(a), encode_file(b)
    stream = fa[:2] + [*fa[2:], *fb]
    rng.shuffle(stream)
    rcv = Receiver()
    feed_all(rcv, fa[:2] + stream)  # two frames of a first: a is taken
    assert rcv.transfer_id == tid_of(fa) and rcv.result() == a
    assert rcv.foreign == {tid_of(fb): len(fb)}
    rcv.switch_to(tid_of(fb))  # the operator's decision; b's frames were kept aside
    assert rcv.transfer_id == tid_of(fb) and rcv.complete and rcv.result() == b


def test_a_single_stale_frame_does_not_capture_the_receiver(rng: random.Random) -> None:
    stale, fresh = encode_file(rng.randbytes(5_000)), encode_file(rng.randbytes(5_000))
    rcv = Receiver()
    res = rcv.feed(stale[0])  # left on screen from an earlier transfer
    assert res.status is FeedStatus.ACCEPTED and "waiting for a second frame" in res.message
    assert rcv.transfer_id is None
    feed_all(rcv, fresh)
    assert rcv.transfer_id == tid_of(fresh) and rcv.complete
    assert rcv.foreign == {tid_of(stale): 1}


def test_receiver_told_which_transfer(rng: random.Random) -> None:
    fa, fb = encode_file(rng.randbytes(3000)), encode_file(rng.randbytes(3000))
    rcv = Receiver(tid_of(fb))
    assert rcv.feed(fa[0]).status is FeedStatus.FOREIGN
    assert rcv.feed(fa[1]).status is FeedStatus.FOREIGN  # two frames of a: still not a
    feed_all(rcv, fb)
    assert rcv.complete and rcv.transfer_id == tid_of(fb)
    for bad in ("xyz", "00" * 7):
        with pytest.raises(FrameError, match="transfer id"):
            Receiver(bad)


def test_a_one_frame_transfer_completes_at_once() -> None:
    rcv = Receiver()
    frames = encode_file(b"tiny")
    assert rcv.feed(frames[0]).status is FeedStatus.COMPLETE
    assert rcv.result() == b"tiny"


def test_many_stale_transfers_cannot_crowd_out_the_real_one(rng: random.Random) -> None:
    rcv = Receiver()
    for _ in range(100):  # one frame each of 100 transfers, more than are kept
        rcv.feed(encode_file(rng.randbytes(2000), repair_percent=0)[0])
    data = rng.randbytes(4000)
    feed_all(rcv, encode_file(data))
    assert rcv.result() == data


# ---- poisoned transfers ----------------------------------------------------------------------


@pytest.mark.parametrize("esi", ["same as a source frame", "a source frame that is lost",
                                 "a repair number never sent"])
def test_forged_first_frame_is_worked_around(esi: str, rng: random.Random) -> None:
    data = rng.randbytes(20_000)  # k = 26 at v20
    src = FrameSource(data, version=20)
    frames = [src.frame(i) for i in range(2 * src.k)]
    number = {"same as a source frame": 0, "a source frame that is lost": 1,
              "a repair number never sent": 5000}[esi]
    real = [f for i, f in enumerate(frames) if i != 1 or number != 1]
    rng.shuffle(real)
    rcv = Receiver()
    rcv.feed(forged(frames[0], number, rng))
    used = 0
    for f in real:
        used += 1
        if rcv.feed(f).status is FeedStatus.COMPLETE:
            break
    assert rcv.result() == data
    assert used <= src.k + 3  # the retries need two or three frames beyond k


def test_same_transfer_id_other_length_first_cannot_shut_out_real_frames(rng: random.Random) -> None:
    data = rng.randbytes(20_000)
    frames = encode_file(data)
    h = parse_frame(frames[0]).header
    rcv = Receiver()
    rcv.feed(forged(frames[0], 0, rng, original_length=h.original_length + 8,
                    transmitted_length=h.transmitted_length + 8))
    rcv.feed(forged(frames[0], 1, rng, original_length=h.original_length + 8,
                    transmitted_length=h.transmitted_length + 8))
    statuses = feed_all(rcv, frames)
    assert FeedStatus.COMPLETE in statuses and rcv.result() == data
    assert rcv.progress().suspect == 2  # the forged header variant, kept apart


def test_scattered_forged_frames_are_worked_around(rng: random.Random) -> None:
    data = rng.randbytes(60_000)  # k = 76
    src = FrameSource(data, version=20)
    stream = [src.frame(i) for i in range(3 * src.k)]
    rng.shuffle(stream)
    for pos in (0, 10, 40):  # three forged frames with fresh repair numbers
        stream.insert(pos, forged(stream[0], 200_000 + pos, rng))
    rcv = Receiver()
    for f in stream:
        if rcv.feed(f).status is FeedStatus.COMPLETE:
            break
    assert rcv.result() == data
    assert rcv.received <= 2 * src.k  # several scattered forgeries cost more frames


def test_a_flood_of_forged_frames_ends_with_a_reason_never_a_file(rng: random.Random) -> None:
    frames = encode_file(rng.randbytes(5_000), version=20, repair_percent=0)  # k = 7
    rcv = Receiver()
    last = None
    statuses = set()
    for esi in range(100):
        last = rcv.feed(forged(frames[0], esi, rng))
        statuses.add(last.status)
    assert FeedStatus.COMPLETE not in statuses and last is not None
    assert last.status is FeedStatus.FAILED and "forged or misread" in last.message
    with pytest.raises(FrameError, match="forged or misread"):
        rcv.result()
    assert rcv.progress().failure


def test_conflicting_contents_for_one_number_are_kept_and_tried(rng: random.Random) -> None:
    data = rng.randbytes(8_000)
    src = FrameSource(data)
    asm = Assembly(src.header)
    asm.add(parse_frame(forged(src.frame(0), 0, rng)))
    for esi in range(1, src.k):
        asm.add(parse_frame(src.frame(esi)))
    assert asm.data is None and "verification" in (asm.failure or "")
    asm.add(parse_frame(src.frame(0)))  # the real frame 0: a conflict, tried at once
    assert asm.data == data and asm.conflicts == 1


# ---- never raises, never a wrong file --------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(st.one_of(
    st.text(max_size=200),
    st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:", max_size=300).map(
        lambda s: PREFIX + s),
    st.binary(min_size=28, max_size=200).map(
        lambda b: PREFIX + b45encode(b + zlib.crc32(b).to_bytes(4, "big"))),
))
def test_feed_never_raises(text: str) -> None:
    r = Receiver().feed(text)
    assert r.status in set(FeedStatus)


_DATA = bytes(range(256)) * 12
_VALID = encode_file(_DATA, repair_percent=200)


@settings(max_examples=120, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(_VALID) - 1), st.booleans(),
                          st.integers(0, 300), st.binary(min_size=1, max_size=4)),
                min_size=1, max_size=12),
       st.randoms(use_true_random=False))
def test_mixed_real_and_forged_frames_never_release_a_wrong_file(ops, rnd) -> None:
    rcv = Receiver()
    for idx, forge, esi, junk in ops:
        text = _VALID[idx]
        if forge:
            text = forged(text, esi, random.Random(junk))
        rcv.feed(text)
    for f in _VALID:
        rcv.feed(f)
    if rcv.complete:
        assert rcv.result() == _DATA
    else:
        with pytest.raises(FrameError):
            rcv.result()
