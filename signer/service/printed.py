"""What the printed pages share (share cards, the audit report): the home's fingerprint, QR
codes drawn as vectors (an SVG path in HTML, filled rectangles in a PDF), text made safe for
the PDF's built-in fonts, and the Jinja2 templates.

PDFs are made with fpdf2 and its built-in fonts (Helvetica, Courier) only: the appliance has no
browser and no font packages, and a built-in font needs no file. They cover Latin-1; any other
character (and any control character) is printed as an escape such as ``\\u202e``, which is
what an auditor should see of a hostile string anyway. HTML is rendered by Jinja2 with
autoescape on, so no logged value can become markup.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jinja2
import zxingcpp
from fpdf import FPDF
from markupsafe import Markup
from PIL import Image

from signer.errors import SignerError
from transfer.words import pgp_words

TEMPLATES = Path(__file__).parent / "templates"
# Upper-case hex in the QR alphanumeric set: the densest mode, and read alike by every decoder.
FINGERPRINT_QR_PREFIX = "AIRGAP-SIGNER:LOGKEY:SHA256:"
QUIET = 4  # modules of white around a QR code (ISO/IEC 18004 §6.3.8)


@dataclass(frozen=True)
class Fingerprint:
    """The home's fingerprint: SHA-256 of the appliance's raw log public key (the ``key_id``
    of every result bundle's signature, docs/FORMATS.md), as hex, words and QR text."""

    hex: str
    words: str  # the first 8 bytes, as every digest is read aloud here

    @property
    def grouped(self) -> str:
        h = self.hex.upper()
        return " ".join(h[i:i + 4] for i in range(0, len(h), 4))

    @property
    def qr_text(self) -> str:
        return FINGERPRINT_QR_PREFIX + self.hex.upper()


def digest_words(hexdigest: str, n: int = 8) -> str:
    """PGP words of the first ``n`` bytes of a hex digest (what witnesses read aloud)."""
    try:
        return " ".join(pgp_words(bytes.fromhex(hexdigest)[:n]))
    except (ValueError, TypeError):
        return "(not a digest)"


def home_fingerprint(log_public_key: bytes) -> Fingerprint:
    digest = hashlib.sha256(log_public_key).digest()
    return Fingerprint(digest.hex(), " ".join(pgp_words(digest[:8])))


# -- QR codes ------------------------------------------------------------------------------

def qr_matrix(text: str) -> list[list[bool]]:
    """The QR code of ``text`` (error correction M, for paper), dark modules True, no quiet
    zone (the drawing functions leave it)."""
    # Non-ASCII text goes in as UTF-8 bytes: zint would otherwise pick a legacy code page
    # (a checkpoint note's em dash became cp1252 0x97), which readers take for Latin-1.
    content: str | bytes = text if text.isascii() else text.encode("utf-8")
    try:
        code = zxingcpp.create_barcode(content, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    except ValueError as exc:  # zint: too long
        raise SignerError(f"{len(text)} characters do not fit a QR code") from exc
    img = Image.fromarray(code.to_image(scale=1, add_quiet_zones=False))
    n, raw = img.width, img.tobytes()
    return [[px == 0 for px in raw[y * n:(y + 1) * n]] for y in range(img.height)]


def _runs(row: list[bool]) -> list[tuple[int, int]]:
    """(start, length) of each run of dark modules in a row: one rectangle per run."""
    runs, start = [], None
    for x, dark in enumerate([*row, False]):
        if dark and start is None:
            start = x
        elif not dark and start is not None:
            runs.append((start, x - start))
            start = None
    return runs


def qr_svg(text: str, size_mm: float = 35, label: str = "QR code") -> Markup:
    """An inline SVG (no image file, no link, not even a namespace URL: HTML5 needs none; the
    page stays self-contained)."""
    m = qr_matrix(text)
    n = len(m) + 2 * QUIET
    path = "".join(f"M{x + QUIET} {y + QUIET}h{w}v1h-{w}z"
                   for y, row in enumerate(m) for x, w in _runs(row))
    return Markup(
        f'<svg class="qr" role="img" aria-label="{Markup.escape(label)}" '
        f'viewBox="0 0 {n} {n}" width="{size_mm}mm" '
        f'height="{size_mm}mm" shape-rendering="crispEdges"><rect width="{n}" height="{n}" '
        f'fill="#fff"/><path fill="#000" d="{path}"/></svg>')


def draw_qr(pdf: FPDF, text: str, x: float, y: float, size: float) -> None:
    """Draw the QR code of ``text`` as filled rectangles, quiet zone included, ``size`` mm."""
    m = qr_matrix(text)
    unit = size / (len(m) + 2 * QUIET)
    pdf.set_fill_color(255, 255, 255)
    pdf.rect(x, y, size, size, style="F")
    pdf.set_fill_color(0, 0, 0)
    for row_y, row in enumerate(m):
        for col, width in _runs(row):
            pdf.rect(x + (col + QUIET) * unit, y + (row_y + QUIET) * unit, width * unit, unit,
                     style="F")


# -- text and documents --------------------------------------------------------------------

def pdf_safe(value: object) -> str:
    """Text the built-in fonts can print: Latin-1 printable as is, anything else escaped."""
    out = []
    for ch in str(value):
        code = ord(ch)
        if ch in "\n\t" or (0x20 <= code < 0x7F) or (0xA0 <= code <= 0xFF):
            out.append(ch)
        else:
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
                       if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out)


def new_pdf(title: str, *, landscape: bool = False, made: dt.datetime | None = None) -> FPDF:
    """An A4 document with the built-in fonts; its dates are the ceremony's when given."""
    pdf = FPDF(orientation="L" if landscape else "P", unit="mm", format="A4")
    pdf.set_title(pdf_safe(title))
    pdf.set_creator("airgap-signer")
    if made is not None:
        pdf.set_creation_date(made)
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(True, margin=15)
    return pdf


@cache
def templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True)


def render_html(name: str, **context: object) -> str:
    return templates().get_template(name).render(**context)
