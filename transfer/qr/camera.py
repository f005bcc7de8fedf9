"""Reader program: pictures in, QR texts out, one a line (what `zbarcam --raw` prints).

    python -m transfer.qr.camera [--device /dev/video0] [--size 1280x720]
    python -m transfer.qr.camera --raw 1280x720 < frames.gray   (8-bit gray frames back to back)
    python -m transfer.qr.camera --images a.jpg b.png ...

Pictures come from a V4L2 camera through libv4l2 (installed with zbar; it converts any camera
format to planar YUV 4:2:0, whose first plane is the grayscale picture), from raw frames on
standard input (any grabber: `ffmpeg ... -f rawvideo -pix_fmt gray -`), or from files. Each is
decoded with zxing-cpp, then zbar (transfer.qr.decode). A text printed within the last 64 is
not printed again, since a camera sees each frame on screen several times. It runs as its own
process so that qr-live and the TUI survive a crash in a driver or a decoder.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import errno
import os
import struct
import sys
from collections import deque
from collections.abc import Iterator
from typing import BinaryIO

from PIL import Image

from transfer.errors import FrameError
from transfer.qr.decode import decode_image

_VIDIOC_S_FMT = 0xC0D05605  # _IOWR('V', 5, struct v4l2_format), 208 bytes on 64-bit Linux
_FMT_SIZE = 208
_PIX_OFFSET = 8  # the format union is 8-byte aligned (it holds pointers)
_CAPTURE = 1  # V4L2_BUF_TYPE_VIDEO_CAPTURE
_YU12 = int.from_bytes(b"YU12", "little")  # V4L2_PIX_FMT_YUV420
RECENT = 64


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise FrameError(f"size {text!r} is not WIDTHxHEIGHT") from None
    if not (16 <= w <= 7680 and 16 <= h <= 4320):
        raise FrameError(f"size {text!r} outside 16x16..7680x4320")
    return w, h


def v4l2_frames(device: str, width: int, height: int) -> Iterator[Image.Image]:
    """Grayscale pictures from a V4L2 device via libv4l2's read() emulation."""
    name = ctypes.util.find_library("v4l2") or "libv4l2.so.0"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError as exc:
        raise FrameError(f"cannot load libv4l2 ({exc}); use --reader zbarcam") from None
    lib.v4l2_open.argtypes = [ctypes.c_char_p, ctypes.c_int]
    lib.v4l2_ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
    lib.v4l2_read.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
    lib.v4l2_read.restype = ctypes.c_ssize_t
    lib.v4l2_close.argtypes = [ctypes.c_int]
    fd = lib.v4l2_open(device.encode(), os.O_RDWR)
    if fd < 0:
        raise FrameError(f"cannot open camera {device}: {os.strerror(ctypes.get_errno())}")
    try:
        fmt = (ctypes.c_ubyte * _FMT_SIZE)()
        struct.pack_into("<I", fmt, 0, _CAPTURE)
        struct.pack_into("<IIII", fmt, _PIX_OFFSET, width, height, _YU12, 0)
        if lib.v4l2_ioctl(fd, _VIDIOC_S_FMT, ctypes.byref(fmt)) < 0:
            raise FrameError(f"camera {device} refuses {width}x{height} YUV 4:2:0: "
                             f"{os.strerror(ctypes.get_errno())}")
        w, h, _, _, stride, size = struct.unpack_from("<IIIIII", fmt, _PIX_OFFSET)
        stride = stride or w
        buf = ctypes.create_string_buffer(size)
        while True:
            n = lib.v4l2_read(fd, buf, size)
            if n < 0:
                err = ctypes.get_errno()
                if err in (errno.EAGAIN, errno.EINTR):
                    continue
                raise FrameError(f"camera {device}: {os.strerror(err)}")
            if n < stride * h:
                continue  # a short read is not a whole picture
            yield Image.frombuffer("L", (w, h), buf.raw[: stride * h], "raw", "L", stride, 1)
    finally:
        lib.v4l2_close(fd)


def raw_frames(stream: BinaryIO, width: int, height: int) -> Iterator[Image.Image]:
    """8-bit grayscale pictures of width x height, back to back, until end of input."""
    size = width * height
    while True:
        chunk = stream.read(size)
        if len(chunk) < size:
            return
        yield Image.frombytes("L", (width, height), chunk)


def run(pictures: Iterator[Image.Image | str], out: BinaryIO) -> int:
    """Decode each picture and print texts not printed recently; returns texts printed."""
    recent: deque[str] = deque(maxlen=RECENT)
    printed = 0
    for pic in pictures:
        try:
            texts = decode_image(pic)
        except FrameError as exc:
            print(f"camera: skipped: {exc}", file=sys.stderr)
            continue
        for text in texts:
            if text in recent or "\n" in text or "\r" in text:
                continue  # a frame never holds a line break; such a code is not ours
            recent.append(text)
            out.write(text.encode("utf-8", errors="replace") + b"\n")
            out.flush()
            printed += 1
    return printed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m transfer.qr.camera", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--device", default="/dev/video0", help="V4L2 camera (default /dev/video0)")
    src.add_argument("--raw", metavar="WxH", help="raw 8-bit gray frames on standard input")
    src.add_argument("--images", nargs="+", metavar="FILE", help="picture files")
    ap.add_argument("--size", default="1280x720", help="camera picture size (default 1280x720)")
    args = ap.parse_args(argv)
    try:
        pictures: Iterator[Image.Image | str]
        if args.images:
            pictures = iter(args.images)
        elif args.raw:
            pictures = raw_frames(sys.stdin.buffer, *parse_size(args.raw))
        else:
            pictures = v4l2_frames(args.device, *parse_size(args.size))
        run(pictures, sys.stdout.buffer)
    except FrameError as exc:
        print(f"camera: {exc}", file=sys.stderr)
        return 1
    except (BrokenPipeError, KeyboardInterrupt):
        return 0  # the receiver is done with us
    return 0


if __name__ == "__main__":
    sys.exit(main())
