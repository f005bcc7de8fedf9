"""The QR frame format (format 2): text <-> header + RaptorQ packet, and payload verification.

Frame text = "AGS1:" + Base45(binary frame). Binary frame (big-endian; docs/TRANSFER.md):

    0   u8   format (2)             18  u16  symbol size S
    1   8    transfer id            20  4    RaptorQ payload id (SBN, ESI)
    9   u32  original length        24  S    symbol
    13  u32  transmitted length     24+S 4   CRC-32 of bytes 0..24+S-1
    17  u8   flags (bit 0: zlib)

The transmitted payload is the (maybe compressed) file followed by the original file's
32-byte SHA-256: the digest travels once, fountain-coded, not in every frame. The transfer id
is the first 8 bytes of SHA-256 of that payload. Before fountain coding the payload is padded
to k*S bytes with 0xFF, never zeros (qrcode 8.2 could not render an all-zero Reed-Solomon
block, lincolnloop/python-qrcode#330; kept so frames stay byte-identical to earlier senders).

Pure: no I/O. It never trusts a frame beyond its CRC and header sanity; a rebuilt payload is
released only by verify_payload, after its transfer id, length and full SHA-256 match.
"""

from __future__ import annotations

import hashlib
import math
import struct
import zlib
from dataclasses import dataclass

from transfer import fountain
from transfer.base45 import b45_decoded_length, b45decode, b45encode
from transfer.errors import FrameError

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
# RFC 6330 §5.1.2 Table 2: K'max, the most source symbols one source block may have. A frame
# claiming more (e.g. 8 MiB in 8-byte symbols: 1,048,576) is refused before anything locks on.
MAX_SOURCE_SYMBOLS = 56403

# ISO/IEC 18004 Table 7, error correction L: (alphanumeric chars, byte-mode bytes).
QR_CAPACITY_L: dict[int, tuple[int, int]] = {
    10: (395, 271), 15: (758, 520), 20: (1249, 858), 25: (1853, 1273), 30: (2520, 1732),
}
PROFILES = tuple(QR_CAPACITY_L)


def symbol_size_for(version: int) -> int:
    """Largest RaptorQ symbol whose frame text fills QR `version`-L in alphanumeric mode."""
    if version not in QR_CAPACITY_L:
        raise FrameError(f"QR version {version} is not a profile ({', '.join(map(str, PROFILES))})")
    frame_bytes = b45_decoded_length(QR_CAPACITY_L[version][0] - len(PREFIX))
    size = frame_bytes - OVERHEAD
    return size - size % fountain.SYMBOL_ALIGN


def _ceil8(n: int) -> int:
    return -(-n // fountain.SYMBOL_ALIGN) * fountain.SYMBOL_ALIGN


def plan_symbols(payload_length: int, version: int) -> tuple[int, int]:
    """(symbol size S, source symbols k) for a payload: as few frames as the version allows,
    with the payload spread evenly over them, so a 900-byte file is two half-size frames
    (smaller codes, easier to read) rather than two full v20 frames that are mostly padding."""
    k = math.ceil(payload_length / symbol_size_for(version))
    size = _ceil8(math.ceil(payload_length / k))
    return size, fountain.source_symbol_count(payload_length, size)


@dataclass(frozen=True)
class Header:
    """Everything that must be identical in every frame of one transfer."""

    transfer_id: bytes
    original_length: int
    transmitted_length: int
    compressed: bool
    symbol_size: int

    @property
    def k(self) -> int:
        """Source symbols: the floor of frames needed to rebuild the payload."""
        return fountain.source_symbol_count(self.transmitted_length, self.symbol_size)

    @property
    def tid(self) -> str:
        return self.transfer_id.hex()

    def pack(self) -> bytes:
        return _HEAD.pack(FORMAT, self.transfer_id, self.original_length,
                          self.transmitted_length, FLAG_ZLIB if self.compressed else 0,
                          self.symbol_size)


@dataclass(frozen=True)
class Frame:
    """One parsed, CRC-checked, sanity-checked frame."""

    header: Header
    packet: bytes  # RFC 6330 FEC payload id (SBN, ESI) + symbol

    @property
    def transfer_id(self) -> bytes:
        return self.header.transfer_id

    @property
    def esi(self) -> int:
        return int.from_bytes(self.packet[1:4], "big")


def build_frame(header: Header, packet: bytes) -> str:
    body = header.pack() + packet
    return PREFIX + b45encode(body + zlib.crc32(body).to_bytes(4, "big"))


def make_payload(data: bytes) -> tuple[bytes, bool]:
    """(transmitted payload, compressed): the file or its zlib stream, then its SHA-256."""
    if not data:
        raise FrameError("refusing to send an empty file")
    if len(data) > MAX_FILE:
        raise FrameError(f"file of {len(data)} bytes exceeds the {MAX_FILE}-byte QR limit")
    packed = zlib.compress(data, 9)
    compressed = len(packed) < len(data)
    payload = (packed if compressed else data) + hashlib.sha256(data).digest()
    if len(payload) > fountain.MAX_PAYLOAD:
        raise FrameError(f"payload of {len(payload)} bytes exceeds {fountain.MAX_PAYLOAD}")
    return payload, compressed


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
    if size > _ceil8(tx):
        raise FrameError(f"symbol size {size} exceeds the payload length {tx}")
    header = Header(tid, orig, tx, compressed, size)
    if header.k > MAX_SOURCE_SYMBOLS:
        raise FrameError(f"frame claims {header.k} source frames, beyond RFC 6330's "
                         f"{MAX_SOURCE_SYMBOLS} per source block")
    packet = body[HEADER_LEN:]
    if packet[0] != 0:
        raise FrameError(f"source block number {packet[0]} != 0")
    return Frame(header, packet)


def verify_payload(header: Header, padded: bytes) -> bytes:
    """The file inside a rebuilt (padded) payload, or FrameError naming what did not match."""
    payload = padded[: header.transmitted_length]
    if len(payload) != header.transmitted_length:
        raise FrameError("rebuilt payload is shorter than its header says")
    if padded[header.transmitted_length :].strip(PAD):
        raise FrameError("payload padding is not 0xFF")
    if hashlib.sha256(payload).digest()[:8] != header.transfer_id:
        raise FrameError("rebuilt payload does not match the transfer id")
    body, digest = payload[:-DIGEST_LEN], payload[-DIGEST_LEN:]
    data = body
    if header.compressed:
        d = zlib.decompressobj()
        try:
            # max_length caps memory at the declared size; a bomb leaves an unconsumed tail.
            data = d.decompress(body, header.original_length)
        except zlib.error as exc:
            raise FrameError(f"payload does not decompress: {exc}") from exc
        if d.unconsumed_tail or d.unused_data or not d.eof:
            raise FrameError("payload decompresses to more or less than the declared length")
    if len(data) != header.original_length or hashlib.sha256(data).digest() != digest:
        raise FrameError("rebuilt file does not match its SHA-256 digest")
    return data
