"""The ceremony report as PDF, drawn with fpdf2 from the same view as the HTML page: it prints
on the appliance, which has no browser. A4 landscape; tables break across pages with their
headings repeated; QR codes (the log key's fingerprint, the latest signed checkpoint) are drawn
as vectors. Digests are printed in groups of 16 hex digits so a table column can wrap them,
and every logged value goes through ``pdf_safe`` (the built-in fonts print Latin-1 only; the
rest shows as escapes).
"""

from __future__ import annotations

import datetime as dt

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

from signer.service.printed import draw_qr, new_pdf, pdf_safe
from signer.service.report_view import Cell, ReportView, Section

MONO = FontFace(family="Courier", size_pt=7)
HEADINGS = FontFace(emphasis="BOLD", fill_color=(230, 230, 230))
QR_SIZE = 38.0  # mm: a checkpoint note is a version 8-10 code; modules stay above 0.6 mm


def grouped(hexdigest: str, group: int = 16) -> str:
    return " ".join(hexdigest[i:i + group] for i in range(0, len(hexdigest), group))


def cell_text(c: Cell) -> str:
    parts = [c.text] if c.text else []
    for d in c.digests:
        parts += [grouped(d.hex), d.words]
    return pdf_safe("\n".join(parts))


def render_pdf(view: ReportView, made: dt.datetime | None = None) -> bytes:
    pdf = new_pdf(view.title, landscape=True, made=made)
    pdf.alias_nb_pages()
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    _para(pdf, view.title, 8)
    if view.rehearsal:
        pdf.set_font("Helvetica", "B", 12)
        pdf.set_fill_color(255, 224, 138)
        pdf.multi_cell(0, 8, "REHEARSAL: this log records a rehearsal ceremony, not for "
                       "production use", border=1, align="C", fill=True,
                       new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(2)
    pdf.set_font("Helvetica", "B", 12)
    pdf.set_fill_color(*((223, 245, 223) if view.ok else (251, 220, 220)))
    result = view.result if view.ok else (
        view.result + "\nThe facts below are read from an unverified log.")
    pdf.set_line_width(0.8)
    pdf.multi_cell(0, 6.5, pdf_safe(result), border=1, fill=True, align="L", padding=2,
                   new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_line_width(0.2)
    pdf.set_font("Helvetica", "", 9)
    for problem in view.problems:
        _para(pdf, "- " + problem, 5)
    pdf.ln(3)
    _table(pdf, ("", ""), [(Cell(label), value) for label, value in view.meta], (1, 3),
           headings=False)
    if view.scans:
        _scans(pdf, view)
    for section in view.sections:
        _section(pdf, section)
    return bytes(pdf.output())


def _para(pdf: FPDF, text: str, height: float) -> None:
    pdf.multi_cell(0, height, pdf_safe(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _scans(pdf: FPDF, view: ReportView) -> None:
    pdf.ln(3)
    if pdf.will_page_break(QR_SIZE + 12):
        pdf.add_page()
    top = pdf.get_y()
    width = pdf.epw / len(view.scans)
    for i, scan in enumerate(view.scans):
        x = pdf.l_margin + i * width
        draw_qr(pdf, scan.text, x, top, QR_SIZE)
        pdf.set_xy(x + QR_SIZE + 3, top + 2)
        pdf.set_font("Helvetica", "B", 10)
        pdf.multi_cell(width - QR_SIZE - 8, 5, pdf_safe(scan.label), align="L",
                       new_x=XPos.LEFT, new_y=YPos.NEXT)
        pdf.set_font("Helvetica", "", 8)
        pdf.multi_cell(width - QR_SIZE - 8, 4, pdf_safe(scan.caption), align="L",
                       new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_xy(pdf.l_margin, top + QR_SIZE + 3)


def _section(pdf: FPDF, section: Section) -> None:
    pdf.ln(2)
    if pdf.will_page_break(20):
        pdf.add_page()
    pdf.set_font("Helvetica", "B", 12)
    _para(pdf, section.title, 8)
    pdf.set_font("Helvetica", "", 8)
    if section.rows:
        _table(pdf, section.headers, section.rows, section.widths)
    else:
        _para(pdf, section.empty, 5)
    if section.note:
        _para(pdf, section.note, 5)


def _table(pdf: FPDF, headers: tuple[str, ...], rows: list[tuple[Cell, ...]],
           widths: tuple[float, ...], headings: bool = True) -> None:
    pdf.set_font("Helvetica", "", 8)
    with pdf.table(col_widths=widths, text_align="LEFT", first_row_as_headings=headings,
                   headings_style=HEADINGS, line_height=4, padding=1,
                   width=pdf.epw) as table:
        if headings:
            table.row([pdf_safe(h) for h in headers])
        for r in rows:
            row = table.row()
            for c in r:
                row.cell(cell_text(c), style=MONO if c.digests or c.cls == "hex" else None)
