"""Reading printed pages back as a person or a phone would: the PDF's text (poppler's
`pdftotext`), its pages rasterised (`pdftoppm`, 150 dpi, like a scan) and the QR codes on them
decoded by both zxing-cpp and zbar. poppler-utils is a test-only package (Makefile)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from pyzbar import pyzbar

POPPLER = shutil.which("pdftoppm") and shutil.which("pdftotext") and shutil.which("pdfinfo")
needs_poppler = pytest.mark.skipif(not POPPLER, reason="Debian package poppler-utils is missing")


def pdf_text(pdf: Path, layout: bool = True) -> str:
    args = ["pdftotext", *(["-layout"] if layout else []), str(pdf), "-"]
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=60).stdout


def pdf_pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True,
                          timeout=60).stdout
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))


def rasterise(pdf: Path, out_dir: Path, dpi: int = 150) -> list[Path]:
    prefix = out_dir / pdf.stem
    subprocess.run(["pdftoppm", "-r", str(dpi), "-gray", "-png", str(pdf), str(prefix)],
                   check=True, capture_output=True, timeout=120)
    return sorted(out_dir.glob(f"{pdf.stem}-*.png"))


def qr_texts(png: Path) -> tuple[list[str], list[str]]:
    """The QR codes on a page, as (zxing-cpp's reading, zbar's reading), their bytes taken
    as UTF-8."""
    img = Image.open(png).convert("L")
    zx = [b.bytes.decode("utf-8") for b in zxingcpp.read_barcodes(
        img, formats=zxingcpp.BarcodeFormat.QRCode)]
    zb = [d.data.decode("utf-8") for d in pyzbar.decode(img) if d.type == "QRCODE"]
    return sorted(zx), sorted(zb)


def shows(text: str, phrase: str, gap: int = 40) -> bool:
    """Whether the words of ``phrase`` appear in ``text`` in order, each within ``gap`` words
    of the one before. Text extraction interleaves the lines of neighbouring table cells, so a
    value wrapped inside its cell comes back with other cells' words between its lines."""
    tokens, want = text.split(), phrase.split()
    for start, token in enumerate(tokens):
        if token != want[0]:
            continue
        at, ok = start, True
        for w in want[1:]:
            window = tokens[at + 1:at + 1 + gap]
            if w not in window:
                ok = False
                break
            at = at + 1 + window.index(w)
        if ok:
            return True
    return False
