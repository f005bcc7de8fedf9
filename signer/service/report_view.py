"""What the ceremony report shows, once, for both renderings: the HTML page (a Jinja2
template) and the PDF (``report_pdf``). ``report_view`` turns the log's facts and the audit's
result into sections of rows of cells; a cell is plain text (escaped by whoever renders it) and
digests shown as hex and PGP words. Nothing here renders or writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from signer.service.audit import AuditReport
from signer.service.printed import Fingerprint, digest_words, home_fingerprint
from signer.service.report_facts import Facts


@dataclass(frozen=True)
class Digest:
    hex: str
    words: str


@dataclass(frozen=True)
class Cell:
    text: str = ""
    digests: tuple[Digest, ...] = ()
    id: str | None = None  # for readers of the HTML (tests, scripts): "issued", "refused"
    cls: str | None = None  # "hex", "issued", "refused"


@dataclass(frozen=True)
class Section:
    title: str
    headers: tuple[str, ...]
    rows: list[tuple[Cell, ...]]
    empty: str  # said when there are no rows ("" leaves the section out)
    widths: tuple[float, ...]  # relative column widths, for the PDF
    note: str = ""  # a line after the table


@dataclass(frozen=True)
class Scan:
    """A QR code on the page, with what it holds in words for a person."""

    label: str
    text: str  # what the code holds
    caption: str


@dataclass
class ReportView:
    appliance: str
    log_name: str
    rehearsal: bool
    ok: bool
    result: str  # the first line: OK with counts, or FAILED with the first problem
    problems: list[str]
    meta: list[tuple[str, Cell]]
    sections: list[Section]
    scans: list[Scan] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"Ceremony report: {self.appliance}"


def text(value: Any) -> str:
    """A logged value as the report prints it (every value is untrusted and only text)."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def digest(hexdigest: Any) -> Digest:
    return Digest(text(hexdigest), digest_words(text(hexdigest)))


def d(value: Any) -> Cell:
    return Cell(digests=(digest(value),))


def report_view(facts: Facts, audit: AuditReport, *, appliance: str, rehearsal: bool,
                log_name: str, log_public_key: bytes | None = None) -> ReportView:
    """The report's content: the audit's result first, then what the log says."""

    lg = audit.log
    if audit.ok:
        result = (f"Verification: OK. {lg.entries} entries, {lg.checkpoints} signed "
                  f"checkpoints, {audit.certificates} certificates and {audit.crls} CRLs "
                  "checked against the ledger and their CA keys.")
        problems: list[str] = []
    else:
        first = (f"entry {lg.error_seq} (line {lg.error_line}): {lg.first_error}" if not lg.ok
                 else audit.problems[0])
        result = f"Verification FAILED: {first}"
        problems = list(audit.problems[1 if lg.ok else 0:])

    last_cp = facts.checkpoints[-1] if facts.checkpoints else {}
    meta: list[tuple[str, Cell]] = [
        ("Appliance (log origin)", Cell(appliance)), ("Ceremony log", Cell(log_name)),
        ("Entries", Cell(text(facts.entries))), ("Sessions", Cell(text(len(facts.sessions)))),
        ("Certificates issued", Cell(text(facts.issued), id="issued")),
        ("Requests refused", Cell(text(facts.refused), id="refused")),
        ("Revocations recorded", Cell(text(facts.revocations))),
        ("Latest checkpoint", Cell(f"size {text(last_cp.get('size'))}",
                                   (digest(last_cp.get("root")),))
         if last_cp else Cell("none")),
    ]
    fp: Fingerprint | None = home_fingerprint(log_public_key) if log_public_key else None
    if fp is not None:
        meta.insert(1, ("Appliance log key (SHA-256)", Cell(digests=(Digest(fp.hex, fp.words),))))
    if facts.unreadable:
        meta.append(("Unreadable lines", Cell(text(facts.unreadable))))

    sections = [
        Section("Recoveries", ("seq", "time", "found", "bytes removed", "damaged copy",
                               "SHA-256 of the copy"),
                [(Cell(text(r["seq"])), Cell(text(r["time"])), Cell(text(r.get("found"))),
                  Cell(text(r.get("bytes_removed"))), Cell(text(r.get("damaged_copy"))),
                  d(r.get("damaged_sha256"))) for r in facts.recoveries], "",
                (1, 2, 3, 1.2, 3, 4)),
        Section("Timeline of sessions", (
            "seq", "time", "software", "dependency lock (SHA-256)", "token", "interfaces up",
            "custodians' share indices"),
                [(Cell(text(s["seq"])), Cell(text(s["time"])), Cell(text(s.get("version"))),
                  # signer --version: the lock file the appliance was installed from
                  d(s["lock_sha256"]) if s.get("lock_sha256") else Cell("not recorded"),
                  Cell(_token(s.get("token"))), Cell(text(s.get("interfaces_up") or "none")),
                  Cell(text(s.get("share_indices") or "PIN (no shares)")))
                 for s in facts.sessions], "No sessions.", (0.8, 2.2, 1, 4, 2.5, 1.4, 1.6),
                ("Approvals by share index: " + text(
                    [f"{k}: {v}" for k, v in sorted(facts.approvals.items())]))
                if facts.approvals else ""),
        Section("Certificate authorities", (
            "time", "CA", "kind", "issuer", "serial", "key", "certificate SHA-256"),
                [(Cell(text(c["time"])), Cell(text(c.get("ca"))), Cell(text(c.get("kind"))),
                  Cell(text(c.get("issuer"))), Cell(text(c.get("serial")), cls="hex"),
                  Cell(f"{c.get('key')} ({c.get('key_algorithm')})"), d(c.get("cert_sha256")))
                 for c in facts.cas], "No CAs created.", (2.2, 1.2, 0.8, 1.2, 2.4, 2, 4)),
        Section("Batches", (
            "batch", "imported", "RA / sequence", "request bundle digest", "requests",
            "issued", "refused", "reasons refused", "exported result SHA-256"),
                [(Cell(text(b.id)), Cell(text(b.time)), Cell(f"{b.ra} / {b.sequence}"),
                  d(b.digest), Cell(text(b.requests)), Cell(text(b.issued), cls="issued"),
                  Cell(text(b.rejected + b.refused), cls="refused"),
                  Cell(text([f"{code} \u00d7{n}" for code, n in sorted(b.reasons.items())])),
                  Cell(digests=tuple(digest(x) for x in b.exported)))
                 for b in facts.batches.values()], "No batches.",
                (1.2, 2.2, 1.2, 3.5, 0.9, 0.8, 0.8, 2.2, 3.5)),
        Section("CRLs", ("time", "CA", "number", "entries", "this update", "next update",
                         "CRL SHA-256"),
                [(Cell(text(c["time"])), Cell(text(c.get("ca"))), Cell(text(c.get("number"))),
                  Cell(text(c.get("entries"))), Cell(text(c.get("this_update"))),
                  Cell(text(c.get("next_update"))), d(c.get("crl_sha256")))
                 for c in facts.crls], "No CRLs issued.", (2.2, 1.2, 1, 1, 2.2, 2.2, 4)),
        Section("Checkpoints", ("seq", "time", "tree size", "root hash (hex and words)"),
                [(Cell(text(c["seq"])), Cell(text(c["time"])), Cell(text(c.get("size"))),
                  d(c.get("root"))) for c in facts.checkpoints], "No signed checkpoints.",
                (1, 2.5, 1, 6)),
        Section("Refusals and errors", ("seq", "time", "what", "why"),
                [(Cell(text(r["seq"])), Cell(text(r["time"])),
                  Cell(text(r.get("command") or r.get("batch") or r.get("reason"))),
                  Cell(text(r.get("error") or r.get("code") or r.get("interfaces_up"))))
                 for r in facts.refusals], "", (0.8, 2, 2.5, 7)),
    ]
    scans = []
    if fp is not None:
        scans.append(Scan("The appliance's log key", fp.qr_text,
                          f"SHA-256 {fp.grouped}; {fp.words}"))
    note = last_cp.get("note") if last_cp else None
    if isinstance(note, str) and 0 < len(note) <= 1000:
        scans.append(Scan("The latest signed checkpoint", note,
                          "the whole signed note, for `signer audit verify --checkpoint FILE`"))
    return ReportView(appliance, log_name, rehearsal or facts.rehearsal, audit.ok, result,
                      problems, meta, [s for s in sections if s.rows or s.empty], scans)


def _token(token: Any) -> str:
    if isinstance(token, dict):
        return f"{token.get('label')} (serial {token.get('serial')}, {token.get('model')})"
    return str(token or "")
