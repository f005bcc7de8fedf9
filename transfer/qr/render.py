"""Frame text -> QR code: module matrix, image, terminal text. Writes nothing.

Codes are made by zxing-cpp's writer (zint inside) with error correction L. Frame text is
uppercase Base45 plus "AGS1:", all in the QR alphanumeric set, so the code is alphanumeric
mode (zint may switch to numeric mode for a run of digits, which is denser; never byte mode,
which zbar mangles). The quiet zone is 4 modules (ISO/IEC 18004 §6.3.8). zxing-cpp renders a
v20 frame in ~3 ms, where python-qrcode took ~80 ms (its mask search is pure Python).
"""

from __future__ import annotations

import zxingcpp
from PIL import Image

from transfer.base45 import ALPHABET
from transfer.errors import FrameError

QUIET_ZONE = 4
_ALNUM = frozenset(ALPHABET)  # RFC 9285's alphabet is the QR alphanumeric set


def _barcode(text: str, version: int | None) -> zxingcpp.Barcode:
    if not set(text) <= _ALNUM:
        raise FrameError("frame text is not in the QR alphanumeric character set")
    try:
        if version is None:
            return zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level="L")
        return zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level="L",
                                       version=version)
    except ValueError as exc:  # zint: "Input too long ..."
        raise FrameError(f"frame text of {len(text)} chars does not fit a QR code"
                         f"{f' of version {version}' if version else ''}: {exc}") from exc


def qr_modules(text: str, version: int | None = None) -> list[list[bool]]:
    """Module matrix (True = dark) including the quiet zone, EC level L."""
    img = Image.fromarray(_barcode(text, version).to_image(scale=1, add_quiet_zones=False))
    n = img.width
    raw = img.tobytes()
    light = [False] * (n + 2 * QUIET_ZONE)
    rows = [list(light) for _ in range(QUIET_ZONE)]
    for y in range(n):
        row = [px == 0 for px in raw[y * n:(y + 1) * n]]
        rows.append([False] * QUIET_ZONE + row + [False] * QUIET_ZONE)
    rows += [list(light) for _ in range(QUIET_ZONE)]
    return rows


def qr_image(text: str, box_size: int = 4, version: int | None = None) -> Image.Image:
    """Grayscale image of the frame's QR code, `box_size` pixels per module, quiet zone included."""
    img = _barcode(text, version).to_image(scale=box_size, add_quiet_zones=True)
    return Image.fromarray(img)


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
