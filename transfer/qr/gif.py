"""An animated GIF written one frame at a time, in constant memory.

Pillow's save_all keeps every frame until the end (772 MB for a 1 MB file's 2,000 frames), so
each frame is encoded alone by Pillow (its LZW is in C) and its image block is spliced into one
GIF89a stream: a NETSCAPE2.0 loop extension, then per frame a graphic control extension with
the delay and the frame's own palette as a local colour table (Pillow may order palettes
differently per frame). The caller writes to a file it opened; nothing here touches paths.
"""

from __future__ import annotations

import io
import struct
from typing import BinaryIO

from PIL import Image

from transfer.errors import FrameError


def _split_single(gif: bytes) -> tuple[int, int, bytes, int, bytes]:
    """(width, height, colour table, table size bits, image data) of a one-frame GIF."""
    if gif[:6] not in (b"GIF87a", b"GIF89a"):
        raise FrameError("GIF encoder produced an unexpected header")
    width, height, packed = struct.unpack_from("<HHB", gif, 6)
    pos = 13
    table, bits = b"", packed & 7
    if packed & 0x80:
        size = 3 * (2 << bits)
        table, pos = gif[pos:pos + size], pos + size
    while gif[pos] == 0x21:  # extensions: label, then sub-blocks up to a zero length
        pos += 2
        while gif[pos]:
            pos += gif[pos] + 1
        pos += 1
    if gif[pos] != 0x2C:
        raise FrameError("GIF encoder produced no image block")
    fpacked = gif[pos + 9]
    pos += 10
    if fpacked & 0x80:  # a local table wins over the global one
        bits = fpacked & 7
        size = 3 * (2 << bits)
        table, pos = gif[pos:pos + size], pos + size
    if not table or not gif.endswith(b"\x3b"):
        raise FrameError("GIF encoder produced no colour table or no trailer")
    return width, height, table, bits, gif[pos:-1]


class GifWriter:
    """Append frames of one size to `out`; close() writes the trailer."""

    def __init__(self, out: BinaryIO, delay_ms: int) -> None:
        self._out = out
        self._delay_cs = max(2, round(delay_ms / 10))  # GIF delays are in 1/100 s
        self._size: tuple[int, int] | None = None
        self.frames = 0

    def add(self, img: Image.Image) -> None:
        buf = io.BytesIO()
        img.convert("L").save(buf, format="GIF")
        width, height, table, bits, data = _split_single(buf.getvalue())
        if self._size is None:
            self._size = (width, height)
            self._out.write(b"GIF89a" + struct.pack("<HHBBB", width, height, 0, 0, 0))
            self._out.write(b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00")  # loop for ever
        elif self._size != (width, height):
            raise FrameError(f"GIF frame of {width}x{height} differs from {self._size}")
        # Graphic control: disposal 1 (leave in place), the delay, no transparency.
        self._out.write(b"\x21\xf9\x04\x04" + struct.pack("<H", self._delay_cs) + b"\x00\x00")
        self._out.write(b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0x80 | bits))
        self._out.write(table)
        self._out.write(data)
        self.frames += 1

    def close(self) -> None:
        if self._size is None:
            raise FrameError("no frames to write to the GIF")
        self._out.write(b"\x3b")
