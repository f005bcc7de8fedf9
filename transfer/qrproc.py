"""QR rendering and image decoding for transfer frames: the I/O edge of transfer/qr.py.

Rendering always uses error correction L and alphanumeric mode (the frame text is uppercase
Base45 plus the `AGS1:` prefix, all in the QR alphanumeric set), with a 4-module quiet zone
(ISO/IEC 18004 §6.3.8). Decoding uses zbar (pyzbar) on a grayscale image; its exceptions are
translated to FrameError. This module does not parse frames; it only moves text in and out of
pictures.
"""

from __future__ import annotations

import os
from pathlib import Path

import qrcode  # type: ignore[import-untyped]
import qrcode.constants  # type: ignore[import-untyped]
import qrcode.util  # type: ignore[import-untyped]
from PIL import Image

from transfer.errors import FrameError

QUIET_ZONE = 4
MAX_IMAGE_PIXELS = 40_000_000  # a 4K photo is ~8 Mpx; anything far larger is not a frame


def qr_modules(text: str, version: int | None = None) -> list[list[bool]]:
    """Module matrix (True = dark) including the quiet zone, alphanumeric mode, EC L."""
    try:
        data = qrcode.util.QRData(text.encode("ascii"), mode=qrcode.util.MODE_ALPHA_NUM)
    except (UnicodeEncodeError, ValueError) as exc:
        raise FrameError("frame text is not in the QR alphanumeric character set") from exc
    qr = qrcode.QRCode(
        version=version, error_correction=qrcode.constants.ERROR_CORRECT_L, border=QUIET_ZONE
    )
    qr.add_data(data)
    try:
        qr.make(fit=version is None)
    except qrcode.exceptions.DataOverflowError as exc:
        raise FrameError(f"frame text of {len(text)} chars does not fit QR version {version}") from exc
    except ValueError as exc:  # qrcode 8.2 "glog(0)" on an all-zero RS block (#330)
        raise FrameError(f"qrcode cannot render this text: {exc}") from exc
    return [list(row) for row in qr.get_matrix()]


def qr_image(text: str, box_size: int = 4) -> Image.Image:
    """Grayscale image of the frame's QR code, `box_size` pixels per module."""
    matrix = qr_modules(text)
    n = len(matrix)
    img = Image.new("L", (n, n), 255)
    img.putdata([0 if dark else 255 for row in matrix for dark in row])
    return img.resize((n * box_size, n * box_size), Image.Resampling.NEAREST)


def _write_new(path: Path, img: Image.Image, **save_args: object) -> None:
    # "xb": an existing file is never overwritten (STYLE: outputs created exclusively).
    with open(path, "xb") as fh:
        img.save(fh, **save_args)  # type: ignore[arg-type]
        fh.flush()
        os.fsync(fh.fileno())


def frames_to_png(
    frames: list[str], out_dir: Path, box_size: int = 4, gif_ms: int = 200
) -> list[Path]:
    """Write 0001.png.. and an animated frames.gif (one frame per `gif_ms`); returns PNG paths."""
    if not frames:
        raise FrameError("no frames to render")
    names = [out_dir / f"{i:04d}.png" for i in range(1, len(frames) + 1)]
    gif = out_dir / "frames.gif"
    clash = [p.name for p in [*names, gif] if p.exists() or p.is_symlink()]
    if clash:
        raise FrameError(f"refusing to overwrite existing {clash[0]} in {out_dir}")
    images = [qr_image(text, box_size) for text in frames]
    try:
        for path, img in zip(names, images, strict=True):
            _write_new(path, img, format="PNG")
        _write_new(
            gif, images[0], format="GIF", save_all=True, append_images=images[1:],
            duration=gif_ms, loop=0,
        )
    except OSError as exc:
        raise FrameError(f"cannot write frames to {out_dir}: {exc.strerror or exc}") from exc
    return names


def decode_image(image: Path | str | Image.Image) -> list[str]:
    """Texts of all QR codes zbar finds in the image (any content, not only our frames)."""
    # Imported late: loading libzbar is only needed when decoding.
    from pyzbar import pyzbar  # type: ignore[import-untyped]

    try:
        if isinstance(image, Image.Image):
            img = image
        else:
            img = Image.open(image)
            if img.width * img.height > MAX_IMAGE_PIXELS:
                raise FrameError(f"image {image} is too large ({img.width}x{img.height})")
        gray = img.convert("L")
        symbols = pyzbar.decode(gray, symbols=[pyzbar.ZBarSymbol.QRCODE])
    except FrameError:
        raise
    except (OSError, ValueError, TypeError, Image.DecompressionBombError) as exc:
        raise FrameError(f"cannot decode image {image}: {exc}") from exc
    # zbar hands back bytes; alphanumeric QR content is ASCII, anything else is foreign anyway.
    return [s.data.decode("utf-8", errors="replace") for s in symbols]


def render_terminal(frame_text: str, mode: str = "halfblock", ansi: bool = False) -> str:
    """QR as text lines, quiet zone included.

    halfblock: two module rows per line; '█' both dark, '▀' top dark, '▄' bottom dark, ' ' none.
    Glyphs mark DARK modules, so the text must be shown dark-on-light: `ansi=True` wraps each
    line in black-on-white SGR codes so it reads correctly on a dark terminal too.
    wide: one line per module row, two cells per module, '##' dark and '  ' light; markers for
    the TUI to replace with coloured cells (no block glyphs, so no font dependence).
    """
    m = qr_modules(frame_text)
    lines: list[str] = []
    if mode == "halfblock":
        if len(m) % 2:
            m.append([False] * len(m[0]))
        glyph = {(True, True): "█", (True, False): "▀", (False, True): "▄", (False, False): " "}
        for top, bottom in zip(m[0::2], m[1::2], strict=True):
            lines.append("".join(glyph[t, b] for t, b in zip(top, bottom, strict=True)))
    elif mode == "wide":
        lines = ["".join("##" if dark else "  " for dark in row) for row in m]
    else:
        raise ValueError(f"unknown terminal mode {mode!r}")
    if ansi:
        lines = [f"\x1b[30;107m{line}\x1b[0m" for line in lines]
    return "\n".join(lines)
