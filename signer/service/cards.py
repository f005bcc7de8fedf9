"""Printable share cards, one page per custodian, and the check before sealing.

``write_share_cards`` writes, for each share, ``card-I-of-N.html`` and ``card-I-of-N.pdf``: the
share's words in a numbered grid, the set identifier, the share number (I of N, threshold M),
the home's fingerprint as hex and words, and a QR code of that fingerprint. ``signer init
--share-cards DIR`` calls it, and so can any later re-sharing (``quorum rotate``). The files
hold a secret: they are written 0600, never over an existing file (I11), and are destroyed once
the cards are printed, checked and sealed.

The QR code is of the fingerprint, never of the share. A QR code of the secret would be read by
any phone in a glance, at an angle, through an envelope's window or from a photograph of the
room, and most phone readers keep a history (some sync it); twenty-odd words need a close,
deliberate reading. The words on the card are what the appliance takes anyway, word by word. The
fingerprint's QR code lets anyone check which home a sealed card belongs to (it matches `signer
audit pubkey`, the RA's pinned key and each result bundle's ``key_id``) without opening it.

The check before sealing (``check_card``) compares a share read back from the printed card
(typed, or a share file) with the card file's own words: a wrong word is named by its position
(``signer.core.share_words``), and a card that differs names the positions, never the words.

Deliberately not done: no card holds more than one share (a custodian never sees another's), and
the PDF is made with the built-in fonts (``signer.service.printed``), so the appliance needs no
browser and no fonts to print.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from signer.core import quorum, share_words
from signer.core.clock import format_time
from signer.errors import SignerError
from signer.service.printed import (
    Fingerprint,
    draw_qr,
    home_fingerprint,
    new_pdf,
    pdf_safe,
    qr_svg,
    render_html,
)
from signer.store.files import OutputError, check_new_output, write_new

_CARD_NAME = re.compile(r"card-(\d+)-of-(\d+)\.html")
_WORD = re.compile(r'<span class="w">([a-z]+)</span>')
MAX_CARD = 1 << 20


@dataclass(frozen=True)
class ShareCard:
    """One custodian's card: public facts and the files written (the words are not kept)."""

    index: int  # 1-based, as SLIP-39 member index + 1
    count: int
    threshold: int
    identifier: int  # the SLIP-39 set identifier, the same on every card of a set
    html: Path
    pdf: Path


def card_paths(out_dir: Path, index: int, count: int) -> tuple[Path, Path]:
    stem = f"card-{index}-of-{count}"
    return out_dir / f"{stem}.html", out_dir / f"{stem}.pdf"


def write_share_cards(out_dir: Path, shares: Sequence[str], *, appliance: str,
                      log_public_key: bytes, made_at: dt.datetime,
                      rehearsal: bool) -> list[ShareCard]:
    """Write one card (HTML and PDF) per share into ``out_dir``; returns them in share order.

    ``shares`` are the N mnemonics of one set, as ``quorum.split_secret`` returns them;
    ``appliance`` is the home's name (its log origin), ``log_public_key`` the raw 32 bytes of
    its log key, ``made_at`` the confirmed ceremony time. Every path is checked before anything
    is written; a card is never written over an existing file.
    """
    cards: list[tuple[ShareCard, list[str]]] = []
    for text in shares:
        info, normalised = quorum.inspect_share(text)
        html, pdf = card_paths(out_dir, info.index, len(shares))
        cards.append((ShareCard(info.index, len(shares), info.threshold, info.identifier,
                                html, pdf), normalised.split()))
    if len({c.identifier for c, _ in cards}) > 1 or len({c.index for c, _ in cards}) != len(cards):
        raise SignerError("share cards: the shares are not one set (foreign or repeated shares)")
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for card, _ in cards:
        check_new_output(card.html)
        check_new_output(card.pdf)
    fp = home_fingerprint(log_public_key)
    made = format_time(made_at)
    for card, words in cards:
        write_new(card.html, card_html(card, words, appliance=appliance, fingerprint=fp,
                                       made=made, rehearsal=rehearsal).encode(), mode=0o600)
        write_new(card.pdf, card_pdf(card, words, appliance=appliance, fingerprint=fp,
                                     made_at=made_at, rehearsal=rehearsal), mode=0o600)
    return [card for card, _ in cards]


def card_html(card: ShareCard, words: list[str], *, appliance: str, fingerprint: Fingerprint,
              made: str, rehearsal: bool) -> str:
    return render_html("share_card.html.j2", card=card, words=words, appliance=appliance,
                       fingerprint=fingerprint, made=made, rehearsal=rehearsal,
                       qr=qr_svg(fingerprint.qr_text, 35, "the home's fingerprint"))


def card_pdf(card: ShareCard, words: list[str], *, appliance: str, fingerprint: Fingerprint,
             made_at: dt.datetime, rehearsal: bool) -> bytes:
    """One A4 page: the same facts as the HTML card, drawn with fpdf2's built-in fonts."""
    pdf = new_pdf(f"Share card {card.index} of {card.count}", made=made_at)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    _line(pdf, "Custodian share card", 10)
    if rehearsal:
        pdf.set_font("Helvetica", "B", 12)
        pdf.cell(0, 9, "REHEARSAL: a share of a rehearsal home, not for production use",
                 border=1, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(2)
    pdf.set_font("Helvetica", "", 11)
    for label, value in (
            ("Appliance", appliance),
            ("Share", f"{card.index} of {card.count}: any {card.threshold} shares unlock the "
                      "token"),
            ("Set identifier", f"{card.identifier} (the same on every card of this set)"),
            ("Made", format_time(made_at))):
        pdf.set_font("Helvetica", "B", 11)
        pdf.cell(32, 6, label)
        pdf.set_font("Helvetica", "", 11)
        _para(pdf, 0, 6, value)
    pdf.ln(3)
    _words_grid(pdf, words)
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 13)
    _line(pdf, "The home's fingerprint", 8)
    top = pdf.get_y()
    pdf.set_font("Helvetica", "", 9)
    _para(pdf, 130, 4.5, "SHA-256 of the appliance's log public key (as in every result "
                         "bundle's signature and in `signer audit pubkey`):")
    pdf.set_font("Courier", "B", 11)
    h = fingerprint.grouped
    for half in (h[:39], h[40:]):
        _line(pdf, half, 6)
    pdf.set_font("Courier", "", 11)
    _para(pdf, 130, 6, fingerprint.words)
    pdf.set_font("Helvetica", "", 9)
    _para(pdf, 130, 4.5, "The QR code holds this fingerprint only, which is public. "
                         "The share's words are never in a QR code: a camera could read "
                         "them through a window or across a room.")
    draw_qr(pdf, fingerprint.qr_text, pdf.w - pdf.r_margin - 40, top, 40)
    pdf.set_y(max(pdf.get_y(), top + 42))
    pdf.set_font("Helvetica", "B", 13)
    _line(pdf, "Check before sealing", 8)
    pdf.set_font("Helvetica", "", 9)
    _para(pdf, 0, 4.5, "Print this card, then type the words back from the paper: "
                       "`signer cards check DIR`. Seal the card only when it says the card "
                       "matches; then destroy the card files.")
    pdf.ln(8)
    pdf.set_font("Helvetica", "", 11)
    _line(pdf, "Custodian ______________________      Witness ______________________", 12)
    _line(pdf, "Date ______________                   Envelope no. __________", 8)
    return bytes(pdf.output())


def _para(pdf: FPDF, width: float, height: float, text: str) -> None:
    pdf.multi_cell(width, height, pdf_safe(text), align="L", new_x=XPos.LMARGIN,
                   new_y=YPos.NEXT)


def _line(pdf: FPDF, text: str, height: float) -> None:
    pdf.cell(0, height, pdf_safe(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _words_grid(pdf: FPDF, words: list[str]) -> None:
    """The words in three numbered columns, read down each column, inside a frame."""
    rows = -(-len(words) // 3)
    left, top, width = pdf.l_margin, pdf.get_y(), pdf.epw
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 8, f"  SECRET: the share's {len(words)} words, in this order",
             new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    col_w, row_h = width / 3, 8.2
    grid_top = pdf.get_y()
    for i, word in enumerate(words):
        col, row = divmod(i, rows)
        pdf.set_xy(left + col * col_w, grid_top + row * row_h)
        pdf.set_font("Helvetica", "", 10)
        pdf.set_text_color(90, 90, 90)
        pdf.cell(12, row_h, f"{i + 1}", align="R")
        pdf.set_text_color(0, 0, 0)
        pdf.set_font("Courier", "B", 14)
        pdf.cell(col_w - 12, row_h, f" {pdf_safe(word)}")
    bottom = grid_top + rows * row_h + 2
    pdf.set_line_width(0.6)
    pdf.rect(left, top, width, bottom - top)
    pdf.set_line_width(0.2)
    pdf.set_xy(left, bottom)


# -- the check before sealing ----------------------------------------------------------------

def find_cards(out_dir: Path) -> list[Path]:
    """The HTML cards in ``out_dir``, by share number."""
    found = [(int(m[1]), p) for p in out_dir.glob("card-*-of-*.html")
             if (m := _CARD_NAME.fullmatch(p.name))]
    if not found:
        raise SignerError(f"{out_dir}: no share cards (card-I-of-N.html)")
    return [p for _, p in sorted(found)]


def card_words(card: Path) -> list[str]:
    """The words a card file holds (it was written by ``write_share_cards``)."""
    try:
        with open(card, "rb") as f:
            text = f.read(MAX_CARD + 1).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise OutputError(f"{card}: cannot read the card ({exc})") from None
    words = _WORD.findall(text)
    if len(text) > MAX_CARD or not words:
        raise SignerError(f"{card}: not a share card written by this appliance")
    return words


def check_card(card: Path, typed: str) -> int:
    """Compare a share read back from a printed card with the card file; returns its number.

    Raises with the wrong word's position (``share_words``) or the positions that differ from
    the card; never quotes the card's words (I10)."""
    words = typed.lower().split()
    problem = share_words.find_problem(words)
    if problem is not None:
        raise SignerError(f"{card.name}: the words typed are not a valid share: "
                          f"{problem.message()}")
    expected = card_words(card)
    info, _ = quorum.inspect_share(" ".join(words))
    m = _CARD_NAME.fullmatch(card.name)
    if m and info.index != int(m[1]):
        raise SignerError(f"{card.name}: the words typed are share {info.index}, not share "
                          f"{m[1]}: is this the right card?")
    if words == expected:
        return info.index
    try:  # the card file is a share too, unless it was damaged (never quote its words)
        card_set: int | None = quorum.inspect_share(" ".join(expected))[0].identifier
    except quorum.ShareError:
        card_set = None
    if card_set is not None and info.identifier != card_set:
        raise SignerError(f"{card.name}: the words typed are a share of set {info.identifier}, "
                          f"not of this card's set {card_set}")
    diff = [str(i + 1) for i, (a, b) in enumerate(zip(words, expected, strict=False))
            if a != b] or ["the count"]
    raise SignerError(f"{card.name}: the words typed differ from the card file at word "
                      f"{', '.join(diff[:8])}: do not seal it; print the card again")


def card_for(out_dir: Path, typed: str) -> Path:
    """The card in ``out_dir`` that a share read back belongs to (by its share number)."""
    problem = share_words.find_problem(typed.lower().split())
    if problem is not None:
        raise SignerError(f"the words are not a valid share: {problem.message()}")
    index = quorum.inspect_share(typed)[0].index
    for card in find_cards(out_dir):
        m = _CARD_NAME.fullmatch(card.name)
        if m and int(m[1]) == index:
            return card
    raise SignerError(f"{out_dir}: no card for share {index}")
