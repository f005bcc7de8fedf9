"""The ceremony report: one self-contained, printable HTML page for auditors (issue 5).

``collect`` reads the ceremony log's facts (sessions and custodians' share indices, CAs,
batches with digests, verdicts and their codes, issuance counts, CRLs, checkpoints, recoveries)
and ``render_report`` turns them and the ``audit_verify`` result into HTML. The result is shown
first: a report of a log that does not verify says so at the top, and its facts are unverified.

Deliberately not done: no scripts, no external styles, fonts or images, no links to anything
(the page is read on an offline machine and printed); every logged value is untrusted and
escaped with ``html.escape``. The page never repeats certificates or CRLs: the log's digests
are the evidence, the bundles and HOME hold the objects.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from signer.core.checkpoint import checkpoint_of_note_unverified
from signer.errors import LogError
from signer.service.audit import AuditReport
from signer.store.files import check_new_output, write_new
from transfer.words import pgp_words

MAX_LINE = 1 << 20


def digest_words(hexdigest: str, n: int = 8) -> str:
    """PGP words of the first ``n`` bytes of a hex digest (what witnesses read aloud)."""
    try:
        return " ".join(pgp_words(bytes.fromhex(hexdigest)[:n]))
    except (ValueError, TypeError):
        return "(not a digest)"


def checkpoint_summary(note: str) -> str:
    """Two lines for witnesses: size and root hex, and the root's words."""
    try:
        cp = checkpoint_of_note_unverified(note)
    except LogError:
        return "checkpoint: (unreadable)"
    return (f"checkpoint: size {cp.size}, root {cp.root.hex()}\n"
            f"  words: {digest_words(cp.root.hex())}")


@dataclass
class Batch:
    id: str
    seq: int
    time: str
    ra: str = ""
    sequence: Any = None
    digest: str = ""
    requests: int = 0
    accepted: int = 0
    rejected: int = 0
    issued: int = 0
    refused: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    exported: list[str] = field(default_factory=list)


@dataclass
class Facts:
    """What the log says, in log order; nothing here is trusted unless the audit is OK."""

    entries: int = 0
    unreadable: int = 0
    rehearsal: bool = False
    sessions: list[dict[str, Any]] = field(default_factory=list)
    cas: list[dict[str, Any]] = field(default_factory=list)
    keys: list[dict[str, Any]] = field(default_factory=list)
    batches: dict[str, Batch] = field(default_factory=dict)
    crls: list[dict[str, Any]] = field(default_factory=list)
    revocations: int = 0
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    recoveries: list[dict[str, Any]] = field(default_factory=list)
    refusals: list[dict[str, Any]] = field(default_factory=list)
    approvals: Counter[str] = field(default_factory=Counter)

    @property
    def issued(self) -> int:
        return sum(b.issued for b in self.batches.values())

    @property
    def refused(self) -> int:
        return sum(b.rejected + b.refused for b in self.batches.values())


def _batch(facts: Facts, data: dict[str, Any], seq: int, time: str) -> Batch:
    bid = str(data.get("batch"))
    if bid not in facts.batches:
        facts.batches[bid] = Batch(bid, seq, time)
    return facts.batches[bid]


def collect(log_path: Path) -> Facts:
    """Read the facts from the log, best effort: unreadable lines are counted, not trusted."""
    facts = Facts()
    with open(log_path, "rb") as f:
        while line := f.readline(MAX_LINE + 1):
            facts.entries += 1
            try:
                obj = json.loads(line)
                kind, data, seq, time = obj["type"], obj["data"], obj["seq"], obj["time"]
                if not isinstance(data, dict):
                    raise TypeError
            except (ValueError, KeyError, TypeError, RecursionError):
                facts.unreadable += 1
                continue
            _note(facts, str(kind), data, seq, str(time))
    return facts


def _note(facts: Facts, kind: str, data: dict[str, Any], seq: Any, time: str) -> None:
    row = {"seq": seq, "time": time, **data}
    if kind == "appliance.init" and data.get("rehearsal") is True:
        facts.rehearsal = True
    elif kind == "session.open":
        facts.sessions.append(row)
        if data.get("rehearsal") is True:
            facts.rehearsal = True
    elif kind == "ca.created":
        facts.cas.append(row)
    elif kind == "key.generated":
        facts.keys.append(row)
    elif kind == "batch.imported":
        b = _batch(facts, data, seq, time)
        b.ra, b.sequence, b.digest = str(data.get("ra")), data.get("sequence"), str(data.get("digest"))
        for name in ("requests", "accepted", "rejected"):
            if isinstance(data.get(name), int):
                setattr(b, name, data[name])
    elif kind == "verdict" and data.get("verdict") == "reject":
        codes = data.get("codes")
        _batch(facts, data, seq, time).reasons.update(
            str(c) for c in (codes if isinstance(codes, list) else ["(none)"]))
    elif kind == "cert.issued" and "batch" in data:
        _batch(facts, data, seq, time).issued += 1
    elif kind == "refused":
        facts.refusals.append(row)
        if "batch" in data and "id" in data:
            b = _batch(facts, data, seq, time)
            b.refused += 1
            b.reasons[str(data.get("code", "refused"))] += 1
    elif kind == "batch.exported":
        _batch(facts, data, seq, time).exported.append(str(data.get("sha256")))
    elif kind == "crl.issued":
        facts.crls.append(row)
    elif kind == "revoked":
        facts.revocations += 1
    elif kind == "approval":
        facts.approvals.update(str(i) for i in data.get("share_indices") or [])
    elif kind == "checkpoint":
        facts.checkpoints.append(row)
    elif kind == "recovery":
        facts.recoveries.append(row)


# -- rendering ---------------------------------------------------------------------------------

CSS = """
body { font: 11pt/1.4 "DejaVu Sans", Arial, sans-serif; margin: 2em; color: #111; }
h1 { font-size: 18pt; margin: 0 0 .2em; } h2 { font-size: 13pt; margin: 1.4em 0 .4em;
  border-bottom: 1px solid #999; }
table { border-collapse: collapse; width: 100%; font-size: 9.5pt; page-break-inside: auto; }
tr { page-break-inside: avoid; } th, td { border: 1px solid #bbb; padding: 3px 5px;
  text-align: left; vertical-align: top; } th { background: #eee; }
.hex, .words { font-family: "DejaVu Sans Mono", monospace; }
.hex { word-break: break-all; } .words { color: #333; } .rehearsal { background: #ffe08a; border: 3px solid #b38600;
  padding: .5em; font-weight: bold; font-size: 14pt; text-align: center; }
.result { padding: .6em; font-size: 14pt; font-weight: bold; border: 3px solid; }
.ok { background: #dff5df; border-color: #2a7a2a; } .bad { background: #fbdcdc;
  border-color: #a00; } .meta td:first-child { width: 14em; font-weight: bold; }
@media print { body { margin: 1cm; } .result, .rehearsal { -webkit-print-color-adjust: exact;
  print-color-adjust: exact; } }
"""


def _e(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return escape(", ".join(str(v) for v in value))
    if isinstance(value, dict):
        return escape(json.dumps(value, sort_keys=True))
    return escape(str(value))


def _digest(hexdigest: Any) -> str:
    text = str(hexdigest or "")
    return (f'<div class="hex">{_e(text)}</div>'
            f'<div class="words">{_e(digest_words(text))}</div>')


def _table(headers: list[str], rows: list[list[str]], empty: str) -> str:
    if not rows:
        return f"<p>{escape(empty)}</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _result(audit: AuditReport) -> str:
    lg = audit.log
    if audit.ok:
        return (f'<div class="result ok" id="result">Verification: OK. {lg.entries} entries, '
                f"{lg.checkpoints} signed checkpoints, {audit.certificates} certificates and "
                f"{audit.crls} CRLs checked against the ledger and their CA keys.</div>")
    first = (f"entry {lg.error_seq} (line {lg.error_line}): {lg.first_error}" if not lg.ok
             else audit.problems[0])
    rest = "".join(f"<li>{_e(p)}</li>" for p in audit.problems[1 if lg.ok else 0:])
    return (f'<div class="result bad" id="result">Verification FAILED: {_e(first)}'
            "<br>The facts below are read from an unverified log.</div>"
            + (f"<ul>{rest}</ul>" if rest else ""))


def render_report(facts: Facts, audit: AuditReport, *, appliance: str, rehearsal: bool,
                  log_name: str) -> str:
    rehearsal = rehearsal or facts.rehearsal
    parts = [f"<h1>Ceremony report: {_e(appliance)}</h1>"]
    if rehearsal:
        parts.append('<div class="rehearsal" id="rehearsal">REHEARSAL: this log records a '
                     "rehearsal ceremony, not for production use</div>")
    parts.append(_result(audit))
    last_cp = facts.checkpoints[-1] if facts.checkpoints else {}
    meta = [("Appliance (log origin)", _e(appliance)), ("Ceremony log", _e(log_name)),
            ("Entries", _e(facts.entries)), ("Sessions", _e(len(facts.sessions))),
            ("Certificates issued", f'<span id="issued">{facts.issued}</span>'),
            ("Requests refused", f'<span id="refused">{facts.refused}</span>'),
            ("Revocations recorded", _e(facts.revocations)),
            ("Latest checkpoint", f"size {_e(last_cp.get('size'))}"
             + _digest(last_cp.get("root")) if last_cp else "none")]
    if facts.unreadable:
        meta.append(("Unreadable lines", _e(facts.unreadable)))
    parts.append('<table class="meta">' + "".join(
        f"<tr><td>{escape(k)}</td><td>{v}</td></tr>" for k, v in meta) + "</table>")

    if facts.recoveries:
        parts.append("<h2>Recoveries</h2>" + _table(
            ["seq", "time", "found", "bytes removed", "damaged copy", "SHA-256 of the copy"],
            [[_e(r["seq"]), _e(r["time"]), _e(r.get("found")), _e(r.get("bytes_removed")),
              _e(r.get("damaged_copy")), _digest(r.get("damaged_sha256"))]
             for r in facts.recoveries], ""))

    parts.append("<h2>Timeline of sessions</h2>" + _table(
        ["seq", "time", "software", "dependency lock (SHA-256)", "token", "interfaces up",
         "custodians' share indices"],
        [[_e(s["seq"]), _e(s["time"]), _e(s.get("version")),
          # signer --version: the lock file the appliance was installed from (signer.version)
          _digest(s["lock_sha256"]) if s.get("lock_sha256") else "not recorded",
          _e(_token(s.get("token"))), _e(s.get("interfaces_up") or "none"),
          _e(s.get("share_indices") or "PIN (no shares)")] for s in facts.sessions],
        "No sessions."))
    if facts.approvals:
        parts.append("<p>Approvals by share index: " + _e(
            [f"{k}: {v}" for k, v in sorted(facts.approvals.items())]) + "</p>")

    parts.append("<h2>Certificate authorities</h2>" + _table(
        ["time", "CA", "kind", "issuer", "serial", "key", "certificate SHA-256"],
        [[_e(c["time"]), _e(c.get("ca")), _e(c.get("kind")), _e(c.get("issuer")),
          f'<span class="hex">{_e(c.get("serial"))}</span>',
          _e(f"{c.get('key')} ({c.get('key_algorithm')})"), _digest(c.get("cert_sha256"))]
         for c in facts.cas], "No CAs created."))

    parts.append("<h2>Batches</h2>" + _table(
        ["batch", "imported", "RA / sequence", "request bundle digest", "requests", "issued",
         "refused", "reasons refused", "exported result SHA-256"],
        [[_e(b.id), _e(b.time), _e(f"{b.ra} / {b.sequence}"), _digest(b.digest),
          _e(b.requests), f'<span class="issued">{b.issued}</span>',
          f'<span class="refused">{b.rejected + b.refused}</span>',
          _e([f"{code} \u00d7{n}" for code, n in sorted(b.reasons.items())]),
          "".join(_digest(d) for d in b.exported)] for b in facts.batches.values()],
        "No batches."))

    parts.append("<h2>CRLs</h2>" + _table(
        ["time", "CA", "number", "entries", "this update", "next update", "CRL SHA-256"],
        [[_e(c["time"]), _e(c.get("ca")), _e(c.get("number")), _e(c.get("entries")),
          _e(c.get("this_update")), _e(c.get("next_update")), _digest(c.get("crl_sha256"))]
         for c in facts.crls], "No CRLs issued."))

    parts.append("<h2>Checkpoints</h2>" + _table(
        ["seq", "time", "tree size", "root hash (hex and words)"],
        [[_e(c["seq"]), _e(c["time"]), _e(c.get("size")), _digest(c.get("root"))]
         for c in facts.checkpoints], "No signed checkpoints."))

    if facts.refusals:
        parts.append("<h2>Refusals and errors</h2>" + _table(
            ["seq", "time", "what", "why"],
            [[_e(r["seq"]), _e(r["time"]), _e(r.get("command") or r.get("batch") or r.get("reason")),
              _e(r.get("error") or r.get("code") or r.get("interfaces_up"))]
             for r in facts.refusals], ""))
    title = f"Ceremony report: {appliance}"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
            + "\n".join(parts) + "</body></html>\n")


def _token(token: Any) -> str:
    if isinstance(token, dict):
        return f"{token.get('label')} (serial {token.get('serial')}, {token.get('model')})"
    return str(token or "")


def write_report(out: Path, log_path: Path, audit: AuditReport, *, appliance: str,
                 rehearsal: bool) -> Facts:
    """Collect, render and write the report to ``out`` (never overwritten, I11)."""
    check_new_output(out)
    facts = collect(log_path)
    html = render_report(facts, audit, appliance=appliance, rehearsal=rehearsal,
                         log_name=log_path.name)
    write_new(out, html.encode("utf-8"), mode=0o644)
    return facts
