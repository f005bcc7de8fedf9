"""Multi-frame QR transfer: a file becomes self-describing Base45 frames and back (DESIGN §6).

Frame text = "AGS1:" + Base45(binary frame). Binary frame (big-endian; docs/TRANSFER.md):

    0   u8   format (2)             18  u16  symbol size S
    1   8    transfer id            20  4    RaptorQ payload id (SBN, ESI)
    9   u32  original length        24  S    symbol
    13  u32  transmitted length     24+S 4   CRC-32 of bytes 0..24+S-1
    17  u8   flags (bit 0: zlib)

The transmitted payload is the (maybe compressed) file followed by the original file's
32-byte SHA-256: the digest travels once, fountain-coded, not in every frame (4 points of
density at QR version 20). The transfer id is the first 8 bytes of SHA-256 of that payload.
Before fountain coding the payload is padded to k*S bytes with 0xFF, never zeros: qrcode 8.2
cannot render a QR whose Reed-Solomon block is all zero (lincolnloop/python-qrcode#330).
Any k frames (k = source symbols, rarely one or two more) rebuild it, in any order.

This module is pure apart from qr_send/qr_receive/receive_images at the bottom; rendering and
image decoding live in transfer/qrproc.py. It never trusts a frame beyond its CRC: the rebuilt
file is released only after its length and full SHA-256 match the header.
"""

from __future__ import annotations

import hashlib
import math
import os
import struct
import zlib
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from PIL import Image

from transfer import fountain
from transfer.base45 import b45_decoded_length, b45decode, b45encode
from transfer.errors import FrameError
from transfer.qrproc import decode_image, frames_to_png, render_terminal
from transfer.words import fingerprint

__all__ = [
    "PREFIX", "PROFILES", "Frame", "FeedStatus", "FeedResult", "Receiver", "ReceiveReport",
    "SendReport", "encode_file", "parse_frame", "symbol_size_for", "frames_to_png",
    "decode_image", "render_terminal", "receive_images", "qr_send", "qr_receive",
]

PREFIX = "AGS1:"
FORMAT = 2
DIGEST_LEN = 32
FLAG_ZLIB = 0x01
PAD = b"\xff"
_HEAD = struct.Struct(">B8sIIBH")
HEADER_LEN = _HEAD.size  # 20
OVERHEAD = HEADER_LEN + fountain.PAYLOAD_ID_LEN + 4  # 28 bytes per frame besides the symbol
MAX_FILE = 64 * 1024 * 1024  # hard cap on the rebuilt (decompressed) file
MAX_TEXT = 4296  # the most characters any QR code can hold; longer text is rejected unparsed

# ISO/IEC 18004 Table 7, error correction L: (alphanumeric chars, byte-mode bytes).
QR_CAPACITY_L: dict[int, tuple[int, int]] = {
    10: (395, 271), 15: (758, 520), 20: (1249, 858), 25: (1853, 1273),
}
PROFILES = tuple(QR_CAPACITY_L)


def symbol_size_for(version: int) -> int:
    """Largest RaptorQ symbol whose frame text fills QR `version`-L in alphanumeric mode."""
    if version not in QR_CAPACITY_L:
        raise FrameError(f"QR version {version} is not a profile ({', '.join(map(str, PROFILES))})")
    frame_bytes = b45_decoded_length(QR_CAPACITY_L[version][0] - len(PREFIX))
    size = frame_bytes - OVERHEAD
    return size - size % fountain.SYMBOL_ALIGN


@dataclass(frozen=True)
class Frame:
    """One parsed, CRC-checked, sanity-checked frame."""

    transfer_id: bytes
    original_length: int
    transmitted_length: int
    compressed: bool
    symbol_size: int
    packet: bytes

    @property
    def params(self) -> tuple[bytes, int, int, bool, int]:
        """Everything that must be identical in every frame of one transfer."""
        return (self.transfer_id, self.original_length, self.transmitted_length,
                self.compressed, self.symbol_size)

    @property
    def esi(self) -> int:
        return int.from_bytes(self.packet[1:4], "big")


def _build_frame(head: bytes, packet: bytes) -> str:
    body = head + packet
    return PREFIX + b45encode(body + zlib.crc32(body).to_bytes(4, "big"))


def encode_file(data: bytes, version: int = 20, repair_percent: int = 50) -> list[str]:
    """Frames for `data`: all source frames first, then ceil(k * repair_percent / 100) repair."""
    if not data:
        raise FrameError("refusing to send an empty file")
    if len(data) > MAX_FILE:
        raise FrameError(f"file of {len(data)} bytes exceeds the {MAX_FILE}-byte QR limit")
    if not 0 <= repair_percent <= 1000:
        raise FrameError(f"repair_percent {repair_percent} outside 0..1000")
    packed = zlib.compress(data, 9)
    compressed = len(packed) < len(data)
    payload = (packed if compressed else data) + hashlib.sha256(data).digest()
    if len(payload) > fountain.MAX_PAYLOAD:
        raise FrameError(f"payload of {len(payload)} bytes exceeds {fountain.MAX_PAYLOAD}")
    # Small payloads get a smaller symbol (and so a smaller QR code) instead of padding.
    size = min(symbol_size_for(version), -(-len(payload) // 8) * 8)
    k = fountain.source_symbol_count(len(payload), size)
    enc = fountain.RaptorQEncoder(payload + PAD * (k * size - len(payload)), size)
    head = _HEAD.pack(FORMAT, hashlib.sha256(payload).digest()[:8], len(data), len(payload),
                      FLAG_ZLIB if compressed else 0, size)
    repair = math.ceil(enc.source_symbols * repair_percent / 100)
    return [_build_frame(head, p) for p in enc.packets(repair)]


def parse_frame(text: str) -> Frame:
    """Strict parse in a fixed order: prefix, Base45, length, CRC, header sanity."""
    text = text.strip("\r\n")  # keyboard-wedge scanners end each frame with Enter
    if len(text) > MAX_TEXT:
        raise FrameError(f"text of {len(text)} chars is longer than any QR code")
    if not text.startswith(PREFIX):
        raise FrameError("not an airgap-signer frame (prefix missing)")
    raw = b45decode(text[len(PREFIX):])
    if len(raw) < OVERHEAD + fountain.SYMBOL_ALIGN:
        raise FrameError(f"frame of {len(raw)} bytes is too short")
    body, crc = raw[:-4], int.from_bytes(raw[-4:], "big")
    if zlib.crc32(body) != crc:
        raise FrameError("frame CRC-32 mismatch")
    fmt, tid, orig, tx, flags, size = _HEAD.unpack_from(body)
    if fmt != FORMAT:
        raise FrameError(f"unsupported frame format {fmt}")
    if flags & ~FLAG_ZLIB:
        raise FrameError(f"unknown frame flags 0x{flags:02x}")
    if size == 0 or size % fountain.SYMBOL_ALIGN or len(body) != HEADER_LEN + 4 + size:
        raise FrameError(f"symbol size {size} does not match frame length {len(raw)}")
    if not DIGEST_LEN < tx <= fountain.MAX_PAYLOAD or not 0 < orig <= MAX_FILE:
        raise FrameError(f"frame declares lengths {orig}/{tx} outside the limits")
    compressed = bool(flags & FLAG_ZLIB)
    body_len = tx - DIGEST_LEN
    if (compressed and body_len >= orig) or (not compressed and body_len != orig):
        raise FrameError(f"frame lengths {orig}/{tx} contradict its compression flag")
    if size > -(-tx // 8) * 8:
        raise FrameError(f"symbol size {size} exceeds the payload length {tx}")
    packet = body[HEADER_LEN:]
    if packet[0] != 0:
        raise FrameError(f"source block number {packet[0]} != 0")
    return Frame(tid, orig, tx, compressed, size, packet)


def _inflate(frame: Frame, padded: bytes) -> bytes:
    payload = padded[: frame.transmitted_length]
    if padded[frame.transmitted_length :].strip(PAD):
        raise FrameError("payload padding is not 0xFF")
    if hashlib.sha256(payload).digest()[:8] != frame.transfer_id:
        raise FrameError("rebuilt payload does not match the transfer id")
    payload, digest = payload[:-DIGEST_LEN], payload[-DIGEST_LEN:]
    data = payload
    if frame.compressed:
        d = zlib.decompressobj()
        try:
            # max_length caps memory at the declared size; a bomb leaves an unconsumed tail.
            data = d.decompress(payload, frame.original_length)
        except zlib.error as exc:
            raise FrameError(f"payload does not decompress: {exc}") from exc
        if d.unconsumed_tail or d.unused_data or not d.eof:
            raise FrameError("payload decompresses to more or less than the declared length")
    if len(data) != frame.original_length or hashlib.sha256(data).digest() != digest:
        raise FrameError("rebuilt file does not match its SHA-256 digest")
    return data


class FeedStatus(StrEnum):
    ACCEPTED = "accepted"  # a new frame of the current transfer
    COMPLETE = "complete"  # the file is rebuilt and verified (also for frames after that)
    DUPLICATE = "duplicate"  # a frame already counted
    FOREIGN = "foreign"  # a valid frame of another transfer: counted, not used
    REJECTED = "rejected"  # not a frame, damaged, inconsistent, or over the symbol cap


@dataclass(frozen=True)
class FeedResult:
    status: FeedStatus
    message: str
    transfer_id: str | None = None
    received: int = 0
    needed: int = 0

    @property
    def progress(self) -> str:
        return f"{self.received} of {self.needed}"


class Receiver:
    """Collects frames of one transfer; feed() never raises on bad input, it reports.

    Locks onto the first valid frame's transfer (or the one given), counts frames of other
    transfers without using them, and changes transfer only on switch_to(), an operator decision.
    """

    def __init__(self, transfer_id: str | None = None, max_extra: int = 64) -> None:
        self._max_extra = max_extra  # symbols kept beyond 2k; RaptorQ needs ~k+2 at worst
        self.foreign: dict[str, int] = {}
        self.rejected = 0
        self._reset(transfer_id)

    def _reset(self, transfer_id: str | None) -> None:
        try:
            self._want = bytes.fromhex(transfer_id) if transfer_id else None
        except ValueError:
            raise FrameError(f"transfer id {transfer_id!r} is not hex") from None
        if self._want is not None and len(self._want) != 8:
            raise FrameError(f"transfer id {transfer_id!r} is not 16 hex digits")
        self._frame: Frame | None = None
        self._decoder: fountain.FountainDecoder | None = None
        self._seen: set[int] = set()
        self._data: bytes | None = None
        self._failed: str | None = None

    def switch_to(self, transfer_id: str) -> None:
        """Drop the current transfer's progress and collect `transfer_id` instead."""
        self._reset(transfer_id)
        self.foreign.pop(transfer_id, None)

    @property
    def transfer_id(self) -> str | None:
        locked = self._frame.transfer_id if self._frame else self._want
        return locked.hex() if locked else None

    @property
    def received(self) -> int:
        return len(self._seen)

    @property
    def needed(self) -> int:
        return self._decoder.source_symbols if self._decoder else 0

    @property
    def complete(self) -> bool:
        return self._data is not None

    def _result(self, status: FeedStatus, message: str) -> FeedResult:
        if status is FeedStatus.REJECTED:
            self.rejected += 1
        return FeedResult(status, message, self.transfer_id, self.received, self.needed)

    def feed(self, text: str) -> FeedResult:
        try:
            frame = parse_frame(text)
        except FrameError as exc:
            return self._result(FeedStatus.REJECTED, str(exc))
        if self._frame is None and self._want in (None, frame.transfer_id):
            try:
                k = fountain.source_symbol_count(frame.transmitted_length, frame.symbol_size)
                self._decoder = fountain.RaptorQDecoder(k * frame.symbol_size, frame.symbol_size)
            except FrameError as exc:
                return self._result(FeedStatus.REJECTED, str(exc))
            self._frame = frame
        if self._frame is None or frame.transfer_id != self._frame.transfer_id:
            tid = frame.transfer_id.hex()
            if tid in self.foreign or len(self.foreign) < 256:  # bounded bookkeeping
                self.foreign[tid] = self.foreign.get(tid, 0) + 1
            return self._result(FeedStatus.FOREIGN, f"frame of another transfer {tid} ignored")
        if frame.params != self._frame.params:
            return self._result(FeedStatus.REJECTED, "frame header contradicts earlier frames")
        if self._data is not None:
            return self._result(FeedStatus.COMPLETE, "transfer already complete")
        if self._failed is not None:
            return self._result(FeedStatus.REJECTED, self._failed)
        if frame.esi in self._seen:
            return self._result(FeedStatus.DUPLICATE, f"frame {frame.esi} already received")
        assert self._decoder is not None
        if self.received >= 2 * self.needed + self._max_extra:
            return self._result(FeedStatus.REJECTED, "symbol cap reached without decoding")
        self._seen.add(frame.esi)
        try:
            payload = self._decoder.add(frame.packet)
            if payload is not None:
                self._data = _inflate(self._frame, payload)
        except FrameError as exc:
            self._failed = f"transfer failed verification: {exc}"
            return self._result(FeedStatus.REJECTED, self._failed)
        if self._data is not None:
            return self._result(FeedStatus.COMPLETE, "file rebuilt and SHA-256 verified")
        return self._result(FeedStatus.ACCEPTED, f"frame {frame.esi} accepted")

    def result(self) -> bytes:
        """The verified file; raises FrameError until the digest has been checked."""
        if self._data is None:
            why = self._failed or f"transfer incomplete: {self.received} of {self.needed} frames"
            raise FrameError(why)
        return self._data


# ---- file and image edges --------------------------------------------------------------------


@dataclass(frozen=True)
class SendReport:
    src: Path
    out_dir: Path
    transfer_id: str
    size: int
    sha256: str
    words: str
    frames: int
    source_frames: int
    version: int
    pngs: tuple[Path, ...]
    gif: Path

    def summary(self) -> str:
        return (f"{self.src.name}: {self.size} bytes -> {self.frames} frames "
                f"({self.source_frames} needed, QR v{self.version}-L) in {self.out_dir}, "
                f"transfer {self.transfer_id}, SHA-256 {self.sha256[:16]}… ({self.words})")


@dataclass(frozen=True)
class ReceiveReport:
    transfer_id: str
    data: bytes = field(repr=False)
    sha256: str
    words: str
    frames_used: int
    needed: int
    images: int
    foreign_codes: int
    incomplete: tuple[tuple[str, int, int], ...] = ()
    out: Path | None = None

    def summary(self) -> str:
        extra = "".join(f"; incomplete {t}: {r} of {n}" for t, r, n in self.incomplete)
        dest = f" -> {self.out}" if self.out else ""
        return (f"transfer {self.transfer_id}: {len(self.data)} bytes from {self.frames_used} "
                f"frames ({self.needed} needed) in {self.images} images, SHA-256 "
                f"{self.sha256[:16]}… ({self.words}){dest}; {self.foreign_codes} foreign codes"
                f"{extra}")


def receive_images(
    paths: list[Path] | list[Image.Image], transfer_id: str | None = None
) -> ReceiveReport:
    """Rebuild a file from images; frames are grouped by transfer, never mixed."""
    groups: dict[str, Receiver] = {}
    foreign = 0
    for item in paths:
        for text in decode_image(item):
            try:
                tid = parse_frame(text).transfer_id.hex()
            except FrameError:
                foreign += 1
                continue
            groups.setdefault(tid, Receiver(tid)).feed(text)
    done = {t: r for t, r in groups.items() if r.complete}
    counts = tuple((t, r.received, r.needed) for t, r in groups.items() if not r.complete)
    listing = "; ".join(f"{t}: {r} of {n} frames" for t, r, n in counts) or "no frames found"
    if transfer_id is not None:
        if transfer_id not in done:
            raise FrameError(f"transfer {transfer_id} is not complete ({listing})")
        chosen = transfer_id
    elif len(done) > 1:
        raise FrameError(f"{len(done)} complete transfers ({', '.join(done)}); name one")
    elif not done:
        raise FrameError(f"no complete transfer ({listing})")
    else:
        chosen = next(iter(done))
    rcv = done[chosen]
    data = rcv.result()
    hexd, words = fingerprint(data)
    others = tuple(c for c in counts if c[0] != chosen) + tuple(
        (t, r.received, r.needed) for t, r in done.items() if t != chosen)
    return ReceiveReport(chosen, data, hexd.replace(" ", "").lower(), words, rcv.received,
                         rcv.needed, len(paths), foreign, others)


def qr_send(src: Path, out_dir: Path, repair_percent: int = 50, version: int = 20) -> SendReport:
    """Write NNNN.png frames and frames.gif for `src` into a new or empty `out_dir`."""
    try:
        if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
            raise FrameError(f"output directory {out_dir} exists and is not empty")
        if src.stat().st_size > MAX_FILE:
            raise FrameError(f"{src} is larger than {MAX_FILE} bytes")
        data = src.read_bytes()
        frames = encode_file(data, version, repair_percent)
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FrameError(f"cannot prepare QR frames for {src}: {exc.strerror or exc}") from exc
    pngs = frames_to_png(frames, out_dir)
    first = parse_frame(frames[0])
    hexd, words = fingerprint(data)
    k = fountain.source_symbol_count(first.transmitted_length, first.symbol_size)
    return SendReport(src, out_dir, first.transfer_id.hex(), len(data),
                      hexd.replace(" ", "").lower(), words, len(frames), k, version,
                      tuple(pngs), out_dir / "frames.gif")


def write_received(out: Path, data: bytes) -> None:
    """Write a rebuilt file atomically (temp, fsync, link, fsync dir), never overwriting."""
    if out.exists() or out.is_symlink():
        raise FrameError(f"refusing to overwrite existing {out}")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "xb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, out)  # fails with EEXIST instead of replacing a file that appeared
        except FileExistsError:
            raise FrameError(f"refusing to overwrite existing {out}") from None
        finally:
            tmp.unlink(missing_ok=True)
        dfd = os.open(out.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise FrameError(f"cannot write {out}: {exc.strerror or exc}") from exc


def qr_receive(images: list[Path], out: Path, transfer_id: str | None = None) -> ReceiveReport:
    """Rebuild a file from frame images and write it atomically to `out`, never overwriting."""
    if out.exists() or out.is_symlink():
        raise FrameError(f"refusing to overwrite existing {out}")
    report = receive_images(images, transfer_id)
    write_received(out, report.data)
    return ReceiveReport(**{**report.__dict__, "out": out})
