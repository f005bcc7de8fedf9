"""The ceremony report for auditors (issue 5): one self-contained, printable page, as HTML
(a Jinja2 template) or PDF (fpdf2; it prints on the appliance, which has no browser).

``collect`` (``report_facts``) reads the ceremony log's facts; ``report_view`` decides what the
report shows, once, for both renderings: the audit's result first (a report of a log that does
not verify says so at the top, and its facts are unverified), then the sessions with the
software's lock digest and the custodians' share indices, CAs, batches with digests, verdicts
and their codes, CRLs, checkpoints and recoveries. Fingerprints are shown as hex and PGP words,
and two as QR codes: the appliance's log key and the latest signed checkpoint note (which an
auditor can scan and pass to ``audit verify --checkpoint``).

Deliberately not done: no scripts, no external styles, fonts or images, no links to anything
(the page is read on an offline machine and printed; QR codes are inline SVG); every logged
value is untrusted: autoescaped in HTML, printed as text (escaped outside Latin-1) in the PDF.
The report never repeats certificates or CRLs: the log's digests are the evidence, the bundles
and HOME hold the objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from signer.core.checkpoint import checkpoint_of_note_unverified
from signer.errors import LogError, UsageError
from signer.service.audit import AuditReport
from signer.service.printed import digest_words, qr_svg, render_html
from signer.service.report_facts import Facts, collect
from signer.service.report_pdf import render_pdf
from signer.service.report_view import ReportView, report_view
from signer.store.files import check_new_output, write_new

__all__ = ["FORMATS", "Facts", "check_outputs", "checkpoint_summary", "collect", "digest_words",
           "render_report", "render_report_pdf", "write_report"]

# The format of each output is its file name's extension.
FORMATS = {".html": "html", ".htm": "html", ".pdf": "pdf"}


def checkpoint_summary(note: str) -> str:
    """Two lines for witnesses: size and root hex, and the root's words."""
    try:
        cp = checkpoint_of_note_unverified(note)
    except LogError:
        return "checkpoint: (unreadable)"
    return (f"checkpoint: size {cp.size}, root {cp.root.hex()}\n"
            f"  words: {digest_words(cp.root.hex())}")


def _view(facts: Facts, audit: AuditReport, appliance: str, rehearsal: bool, log_name: str,
          log_public_key: bytes | None) -> ReportView:
    return report_view(facts, audit, appliance=appliance, rehearsal=rehearsal,
                       log_name=log_name, log_public_key=log_public_key)


def render_report(facts: Facts, audit: AuditReport, *, appliance: str, rehearsal: bool,
                  log_name: str, log_public_key: bytes | None = None) -> str:
    """The report as one self-contained HTML page."""
    return _html(_view(facts, audit, appliance, rehearsal, log_name, log_public_key))


def _html(view: ReportView) -> str:
    scans = [(s, qr_svg(s.text, 38, s.label)) for s in view.scans]
    return render_html("report.html.j2", view=view, scans=scans)


def render_report_pdf(facts: Facts, audit: AuditReport, *, appliance: str, rehearsal: bool,
                      log_name: str, log_public_key: bytes | None = None) -> bytes:
    """The report as a PDF document (A4 landscape)."""
    return render_pdf(_view(facts, audit, appliance, rehearsal, log_name, log_public_key))


def check_outputs(outs: Path | Sequence[Path]) -> list[Path]:
    """Refuse an unknown format or a taken file before any work (a big log's audit is long)."""
    paths = [outs] if isinstance(outs, Path) else list(outs)
    for out in paths:
        if out.suffix.lower() not in FORMATS:
            raise UsageError(f"{out}: the report is written as .html or .pdf (by the file "
                             "name's extension)")
        check_new_output(out)
    return paths


def write_report(outs: Path | Sequence[Path], log_path: Path, audit: AuditReport, *,
                 appliance: str, rehearsal: bool,
                 log_public_key: bytes | None = None) -> Facts:
    """Collect, render and write the report to each of ``outs``, in the format its extension
    names (.html, .htm or .pdf); every output is checked before any is written, and none is
    ever overwritten (I11)."""
    paths = check_outputs(outs)
    facts = collect(log_path)
    view = _view(facts, audit, appliance, rehearsal, log_path.name, log_public_key)
    for out in paths:
        if FORMATS[out.suffix.lower()] == "pdf":
            data = render_pdf(view)
        else:
            data = _html(view).encode("utf-8")
        write_new(out, data, mode=0o644)
    return facts
