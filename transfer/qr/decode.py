"""Picture -> QR texts: zxing-cpp first, zbar (pyzbar) when zxing-cpp finds no frame.

zxing-cpp reads screens seen at an angle where zbar reads nothing (a frame whose right edge is
10% shorter, blur 0.7: 0 of 39 with zbar, 39 of 39 with zxing-cpp) and is several times faster;
zbar still catches the odd capture zxing-cpp misses, so it runs only on pictures where
zxing-cpp found no airgap-signer frame. Errors from Pillow and the decoders become FrameError
naming the picture. This module does not parse frames; it moves text out of pictures.
"""

from __future__ import annotations

from pathlib import Path

import zxingcpp
from PIL import Image

from transfer.errors import FrameError
from transfer.qr.frame import PREFIX

MAX_IMAGE_PIXELS = 40_000_000  # a 4K photo is ~8 Mpx; anything far larger is not a frame
DECODERS = ("zxing-cpp", "zbar")
_QR = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


def load_gray(image: Path | str | Image.Image) -> Image.Image:
    """An 8-bit grayscale copy of a picture, with a size cap checked before decoding it."""
    if isinstance(image, Image.Image):
        return image if image.mode == "L" else image.convert("L")
    try:
        with Image.open(image) as img:
            if img.width * img.height > MAX_IMAGE_PIXELS:
                raise FrameError(f"image {image} is too large ({img.width}x{img.height})")
            return img.convert("L")
    except FrameError:
        raise
    except (OSError, ValueError, TypeError, SyntaxError, Image.DecompressionBombError) as exc:
        # OSError covers "cannot identify image file" and "image file is truncated".
        reason = str(exc).replace(str(image), "").strip(" '") or type(exc).__name__
        raise FrameError(f"cannot read image {image}: {reason}") from exc


def decode_zxing(gray: Image.Image) -> list[str]:
    """Texts of the QR codes zxing-cpp finds in an 8-bit grayscale picture."""
    try:
        found = zxingcpp.read_barcodes(gray, formats=_QR,
                                       text_mode=zxingcpp.TextMode.Plain)
    except (ValueError, RuntimeError) as exc:
        raise FrameError(f"zxing-cpp cannot decode the picture: {exc}") from exc
    return [b.text for b in found if b.valid]


def decode_zbar(gray: Image.Image) -> list[str]:
    """Texts of the QR codes zbar finds (via pyzbar, loaded only when needed)."""
    from pyzbar import pyzbar

    try:
        symbols = pyzbar.decode(gray, symbols=[pyzbar.ZBarSymbol.QRCODE])
    except (ValueError, TypeError, OSError) as exc:
        raise FrameError(f"zbar cannot decode the picture: {exc}") from exc
    # zbar hands back bytes; alphanumeric QR content is ASCII, anything else is foreign anyway.
    return [s.data.decode("utf-8", errors="replace") for s in symbols]


def decode_image(image: Path | str | Image.Image) -> list[str]:
    """Texts of all QR codes found (any content, not only frames): zxing-cpp, then zbar."""
    gray = load_gray(image)
    texts = decode_zxing(gray)
    if not any(t.startswith(PREFIX) for t in texts):
        texts += [t for t in decode_zbar(gray) if t not in texts]
    return texts
