"""Printable share cards (issue 15): one page per custodian, read back as paper is read.

The PDF is checked as a printout: its text by pdftotext (every word in its numbered place),
its page rasterised by pdftoppm and the QR code read by zxing-cpp and zbar (the fingerprint,
never the share). The check before sealing compares a share read back with the card file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image, ImageDraw

from signer.core import quorum
from signer.errors import SignerError
from signer.service.cards import card_for, card_words, check_card, find_cards, write_share_cards
from signer.service.printed import FINGERPRINT_QR_PREFIX, home_fingerprint
from tests.pdf_pages import needs_poppler, pdf_pages, pdf_text, qr_texts, rasterise

LOG_KEY = bytes(range(32))
MADE = dt.datetime(2026, 11, 29, 10, 0, tzinfo=dt.UTC)
HOSTILE = "evil<script>alert(1)</script>\u202egnp.exe"


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> tuple[Path, list[str], list]:
    out = tmp_path_factory.mktemp("cards") / "cards"
    _, shares = quorum.split_secret(2, 3)
    cards = write_share_cards(out, shares, appliance=HOSTILE, log_public_key=LOG_KEY,
                              made_at=MADE, rehearsal=True)
    return out, shares, cards


def test_one_card_per_custodian_secret_files(made):
    out, shares, cards = made
    assert [(c.index, c.count, c.threshold) for c in cards] == [(1, 3, 2), (2, 3, 2), (3, 3, 2)]
    assert len({c.identifier for c in cards}) == 1
    assert sorted(p.name for p in out.iterdir()) == [
        f"card-{i}-of-3.{ext}" for i in (1, 2, 3) for ext in ("html", "pdf")]
    for p in out.iterdir():
        assert p.stat().st_mode & 0o777 == 0o600  # they hold a secret
    for card, share in zip(cards, shares, strict=True):  # each card holds its own share only
        html = card.html.read_text()
        assert card_words(card.html) == share.split()
        for other in shares:
            if other != share:
                assert " ".join(other.split()[2:5]) not in html


def test_cards_are_never_overwritten(made):
    out, shares, _ = made
    before = {p: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(SignerError, match="already exists"):
        write_share_cards(out, shares, appliance="x", log_public_key=LOG_KEY, made_at=MADE,
                          rehearsal=False)
    assert {p: p.read_bytes() for p in out.iterdir()} == before


@needs_poppler
def test_the_pdf_card_reads_back_words_facts_and_fingerprint(made, tmp_path):
    _, shares, cards = made
    fp = home_fingerprint(LOG_KEY)
    assert fp.hex == hashlib.sha256(LOG_KEY).hexdigest()
    for card, share in zip(cards, shares, strict=True):
        assert pdf_pages(card.pdf) == 1
        text = pdf_text(card.pdf)
        # Every word at its number, as the custodian reads it: "12 change".
        found = dict(re.findall(r"\b(\d{1,2})\s+([a-z]{4,8})\b", text))
        assert [found[str(i)] for i in range(1, 34)] == share.split()
        assert f"{card.index} of 3: any 2 shares unlock the token" in text
        assert f"Set identifier {card.identifier}" in " ".join(text.split())
        assert "REHEARSAL" in text
        flat = " ".join(text.split())
        assert fp.grouped in flat and fp.words in flat
        assert "\\u202e" in text and "\u202e" not in text  # a hostile name is shown escaped


@needs_poppler
def test_the_pdf_cards_qr_code_is_the_fingerprint_never_the_share(made, tmp_path):
    _, shares, cards = made
    fp = home_fingerprint(LOG_KEY)
    for card, share in zip(cards, shares, strict=True):
        pages = rasterise(card.pdf, tmp_path)
        assert len(pages) == 1
        zx, zb = qr_texts(pages[0])
        assert zx == [fp.qr_text] and zb == [fp.qr_text]  # one code, read by both decoders
        assert zx[0].startswith(FINGERPRINT_QR_PREFIX) and share.split()[0] not in zx[0].lower()
        pages[0].unlink()


def test_the_html_card_is_self_contained_escaped_and_its_qr_reads(made):
    _, _, cards = made
    html = cards[0].html.read_text()
    lower = html.lower()
    assert "<script" not in lower and "&lt;script&gt;" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", lower)
    assert "url(" not in lower and "<img" not in lower
    # The inline SVG, drawn as its path says, decodes to the fingerprint.
    svg = re.search(r'viewBox="0 0 (\d+) \1".*?<path fill="#000" d="([^"]+)"', html)
    assert svg is not None
    n, scale = int(svg[1]), 8
    img = Image.new("L", (n * scale, n * scale), 255)
    draw = ImageDraw.Draw(img)
    for x, y, w in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\3z", svg[2]):
        x0, y0 = int(x) * scale, int(y) * scale
        draw.rectangle([x0, y0, x0 + int(w) * scale - 1, y0 + scale - 1], fill=0)
    found = zxingcpp.read_barcodes(img)
    assert [b.text for b in found] == [home_fingerprint(LOG_KEY).qr_text]


def test_check_before_sealing(made):
    out, shares, cards = made
    assert [p.name for p in find_cards(out)] == [c.html.name for c in cards]
    for card, share in zip(cards, shares, strict=True):
        assert check_card(card.html, share.upper()) == card.index
        assert card_for(out, share) == card.html
    words = shares[0].split()
    right = words[8]
    words[8] = "academic" if right != "academic" else "acid"
    with pytest.raises(SignerError, match="word 9 .* looks wrong") as err:
        check_card(cards[0].html, " ".join(words))
    assert f"'{right}'" not in str(err.value)  # the right word is never shown (I10)
    with pytest.raises(SignerError, match="are share 2, not share 1"):
        check_card(cards[0].html, shares[1])
    _, foreign = quorum.split_secret(2, 3)
    with pytest.raises(SignerError, match="a share of set"):
        check_card(cards[0].html, foreign[0])


def test_a_card_file_that_differs_is_not_sealed(made, tmp_path):
    # A card file that no longer holds the share (damaged, or from another printing):
    # the positions are named, never the words.
    _, shares, cards = made
    html = cards[1].html.read_text()
    words = shares[1].split()
    damaged = tmp_path / "card-2-of-3.html"
    damaged.write_text(html.replace(f'<span class="w">{words[30]}</span>',
                                    f'<span class="w">{words[29]}</span>', 1))
    with pytest.raises(SignerError, match="differ from the card file at word 31") as err:
        check_card(damaged, shares[1])
    assert words[29] not in str(err.value) and words[30] not in str(err.value)
