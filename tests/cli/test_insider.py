"""The insider with file access between sessions: every ledger edit class stops the operation
that would act on it, or is reported by `audit verify` (issue 10; docs/THREAT-MODEL.md T10).

Two homes are prepared once: *staged* (an RA trusted, batch ra1-1 imported, not signed) and
*signed* (ra1-1 signed and exported; ra1-2 revoked one of its certificates and issued a CRL).
Each case copies one, edits `ledger.sqlite` with SQL as an insider would (no PIN needed),
runs the operation through the CLI and then `audit verify`. After every refusal the log must
still verify on its own, end in a signed checkpoint and hold the refusal.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from tests.conftest import AT, run_signer
from tests.factories import GOOD, HOSTILE, make_csr, pack

LATER = "2026-11-29T11:00:00Z"
LATEST = "2026-11-29T12:00:00Z"
DISAGREES = "the ledger disagrees with the ceremony log"


@dataclass(frozen=True)
class Homes:
    base: Path
    staged: Path
    signed: Path
    pin: Path
    online: Path
    pub: Path
    serials: dict[str, str]


@pytest.fixture(scope="module")
def homes(hierarchy, tmp_path_factory) -> Homes:
    base = tmp_path_factory.mktemp("insider")
    pin = hierarchy.pin_file
    o = base / "online"
    o.mkdir()
    run_signer("request", "keygen", "--out", o / "ra.key", check=True)
    make_csr(o / "good.csr", cn="www.example.org", dns=["www.example.org", "example.org"])
    make_csr(o / "mail.csr", emails=["bob@example.net"])
    make_csr(o / "unverified.csr", dns=["www.example.org", "bank.example.com"])
    make_csr(o / "ca.csr", dns=["evil.example.org"], ca=True)
    (o / "garbage.csr").write_bytes(b"\x30\x82garbage")
    home = base / "work"
    shutil.copytree(hierarchy.home, home)
    auth = ("--pin-file", pin, "--at", LATER)
    run_signer("ra", "trust", "ra1", o / "ra.key.pub", *auth, home=home, check=True)
    b1 = pack(o, 1, [GOOD[0], GOOD[2]] + HOSTILE[:2])
    run_signer("batch", "import", b1, *auth, home=home, check=True)
    staged = base / "staged"
    shutil.copytree(home, staged)
    run_signer("batch", "sign", "ra1-1", *auth, home=home, check=True)
    run_signer("batch", "export", "ra1-1", "--out", base / "r1.res", *auth, home=home, check=True)
    shown = json.loads(run_signer("batch", "show", "ra1-1", "--json", home=home).stdout)
    serials = {q["id"]: q["serial"] for q in shown["requests"] if q["serial"]}
    b2 = pack(o, 2, [], revocations=[{"ca": "class1", "serial": serials["good"],
                                      "reason": "keyCompromise"}])
    run_signer("batch", "import", b2, *auth, home=home, check=True)
    run_signer("batch", "sign", "ra1-2", *auth, home=home, check=True)
    run_signer("batch", "export", "ra1-2", "--out", base / "r2.res", *auth, home=home, check=True)
    pub = base / "appliance.pub"
    pub.write_text(run_signer("audit", "pubkey", home=home, check=True).stdout)
    assert run_signer("audit", "verify", home=home).returncode == 0
    return Homes(base, staged, home, pin, o, pub, serials)


def _sql(*statements: str) -> Callable[[sqlite3.Connection, Homes], None]:
    def run(db: sqlite3.Connection, h: Homes) -> None:
        for s in statements:
            db.execute(s.format(**h.serials))
    return run


def _flip_rejected(db: sqlite3.Connection, h: Homes) -> None:
    """Turn the refused request 'unverified' into an acceptance, as consistent as possible."""
    (text,) = db.execute("SELECT decision FROM requests WHERE id = 'unverified'").fetchone()
    d = json.loads(text)
    d.update(accepted=True, reasons=[], days=90, dns_names=["www.example.org", "bank.example.com"])
    db.execute("UPDATE requests SET verdict = 'accept', decision = ? WHERE id = 'unverified'",
               (json.dumps(d, sort_keys=True, separators=(",", ":")),))


def _swap_ra_key(db: sqlite3.Connection, h: Homes) -> None:
    """The insider pins their own key for ra1 and signs a bundle with it."""
    key = h.online / "evil.key"
    run_signer("request", "keygen", "--out", key, check=True)
    spec = h.online / "evil.json"
    spec.write_text(json.dumps({"ra": "ra1", "requests": [GOOD[0]], "revocations": []}))
    run_signer("request", "pack", spec, "--ra-key", key, "--seq", "3", "--out",
               h.online / "evil-3.req", "--at", AT, check=True)
    raw = serialization.load_pem_public_key((h.online / "evil.key.pub").read_bytes()
                                            ).public_bytes(serialization.Encoding.Raw,
                                                           serialization.PublicFormat.Raw)
    db.execute("UPDATE ra_keys SET public_key = ?, key_id = ? WHERE name = 'ra1'",
               (raw, hashlib.sha256(raw).hexdigest()))


def _swap_der(db: sqlite3.Connection, h: Homes) -> None:
    rows = db.execute("SELECT serial, cert_der FROM certificates WHERE batch_id = 'ra1-1'"
                      ).fetchall()
    (s1, d1), (s2, d2) = rows[0], rows[1]
    db.execute("UPDATE certificates SET cert_der = ? WHERE serial = ?", (d2, s1))
    db.execute("UPDATE certificates SET cert_der = ? WHERE serial = ?", (d1, s2))


def _swap_raw(db: sqlite3.Connection, h: Homes) -> None:
    other = pack(h.online, 7, GOOD[:1]).read_bytes()
    db.execute("UPDATE batches SET raw = ? WHERE id = 'ra1-1'", (other,))


SIGN = ("batch", "sign", "ra1-1")
CRL = ("crl", "issue", "class1")
LOGIN = ("key", "list")
EXPORT = ("batch", "export", "ra1-1", "--out", "{base}/again.res")
IMPORT = ("batch", "import", "{online}/evil-3.req")
REIMPORT = ("batch", "import", "{online}/batch-1.req")

# (case, home, edit, operation, refusal, what `audit verify` says)
CASES = [
    ("names added to a staged decision", "staged",
     _sql("UPDATE requests SET decision = replace(decision, '\"example.org\"]', "
          "'\"example.org\",\"bank.example.com\"]') WHERE id = 'good'"),
     SIGN, "staged decisions are not the ones logged", "decisions are not the ones logged"),
    ("a rejected request flipped to accepted", "staged", _flip_rejected,
     SIGN, "staged decisions are not the ones logged", "decisions are not the ones logged"),
    ("only the verdict column flipped", "staged",
     _sql("UPDATE requests SET verdict = 'accept' WHERE id = 'unverified'"),
     SIGN, "does not match its logged decision", None),
    ("an approval without a logged approval", "staged",
     _sql("UPDATE requests SET approved = 1 WHERE id = 'good'"),
     SIGN, "no custodian approval is logged", "without a logged approval"),
    ("the stored bundle swapped", "staged", _swap_raw,
     SIGN, "its bundle, RA or sequence is not the one logged", "stored bundle"),
    ("the RA key replaced by the insider's", "staged", _swap_ra_key,
     IMPORT, "not the key of any trusted RA", "RA 'ra1'"),
    ("the RA sequence rolled back", "signed",
     _sql("UPDATE ra_keys SET last_sequence = 0 WHERE name = 'ra1'"),
     REIMPORT, "last sequence is 0 in the ledger but 2 in the log", "RA 'ra1'"),
    ("an RA invented in the ledger", "staged",
     _sql("INSERT INTO ra_keys VALUES ('ra9', randomblob(32), lower(hex(randomblob(32))), 0, "
          "'2026-11-29T10:00:00Z', NULL)"),
     ("ra", "list"), None, "RA 'ra9' is in the ledger but was never trusted"),
    ("a revocation erased", "signed",
     _sql("UPDATE certificates SET revoked_at = NULL, revocation_reason = NULL, "
          "revoked_seq = NULL WHERE revoked_at IS NOT NULL"),
     CRL, "revocations of CA 'class1' are not the ones logged", "revocation"),
    ("a revocation invented", "signed",
     _sql("UPDATE certificates SET revoked_at = '2026-11-29T11:00:00Z', "
          "revocation_reason = 'keyCompromise' WHERE serial = '{mail}'"),
     LOGIN, "no logged intent announced", "in the ledger but not in the log"),
    # CRLs are built from each revocation's logged notAfter (checked against the log), so
    # this edit cannot drop the entry early: the CRL is issued, still listing it (I4).
    ("a revoked certificate's notAfter moved to the past", "signed",
     _sql("UPDATE certificates SET not_after = '2026-01-01T00:00:00+00:00' "
          "WHERE serial = '{good}'"),
     CRL, None, "not the certificate's"),
    ("a revocation's logged notAfter moved to the past", "signed",
     _sql("UPDATE revocations SET not_after = '2026-01-01T00:00:00+00:00' "
          "WHERE serial = '{good}'"),
     CRL, "revocations of CA 'class1' logged at entries", None),
    ("a revocation's CRL entry changed", "signed",
     _sql("UPDATE revocations SET entry = CAST(replace(CAST(entry AS TEXT), '261129', "
          "'261128') AS BLOB)"),
     CRL, "revocations of CA 'class1' logged at entries", None),
    ("a subscriber changed", "signed",
     _sql("UPDATE certificates SET subscriber = 'm99' WHERE serial = '{mail}'"),
     None, None, "is not what was logged"),
    ("two certificates' DER swapped", "signed", _swap_der,
     EXPORT, "is not the one its log entry records", "not in the ledger with these bytes"),
    ("a CRL number changed", "signed",
     _sql("UPDATE crls SET number = number + 5"),
     CRL, "last CRL number is 6 in the ledger but 1 in the log", "CRL"),
    ("a certificate deleted", "signed",
     _sql("DELETE FROM certificates WHERE serial = '{mail}'"),
     LOGIN, "certificates in the ledger", "not in the ledger with these bytes"),
    ("a decision edited after signing", "signed",
     _sql("UPDATE requests SET decision = replace(decision, '\"days\":', '\"days\":1') "
          "WHERE id = 'good'"),
     EXPORT, "staged decisions are not the ones logged", "decisions are not the ones logged"),
    ("a revocation outcome changed", "signed",
     _sql("UPDATE revocation_requests SET status = 'rejected'"),
     ("batch", "export", "ra1-2", "--out", "{base}/again2.res"),
     "is 'rejected' in the ledger but 'revoked' in the log", "in the log"),
    ("a CA row pointed at the root's key", "signed",
     _sql("UPDATE cas SET key_label = 'root-key' WHERE name = 'class1'"),
     CRL, "its key, kind, issuer or serial is not the one logged", "CA 'class1'"),
]


@pytest.mark.parametrize(("case", "which", "edit", "op", "refusal", "audit"), CASES,
                         ids=[c[0] for c in CASES])
def test_ledger_edit_is_stopped_or_reported(homes, tmp_path, case, which, edit, op, refusal,
                                            audit):
    home = tmp_path / "home"
    shutil.copytree(getattr(homes, which), home)
    db = sqlite3.connect(home / "ledger.sqlite")
    with db:
        edit(db, homes)
    db.close()
    log = home / "log" / "ceremony.jsonl"
    if op is not None:
        before = log.read_bytes().count(b"\n")
        args = [a.format(base=tmp_path, online=homes.online) for a in op]
        r = run_signer(*args, "--pin-file", homes.pin, "--at", LATEST, home=home,
                       check=False if refusal else None)
        if refusal is not None:
            assert r.returncode == 1, r.stdout
            assert refusal in r.stderr, r.stderr
            assert len(r.stderr.strip().splitlines()[-1]) < 400
            # The refusal is logged, and the session closed with a signed checkpoint.
            lines = log.read_bytes().splitlines()
            assert len(lines) > before
            assert any(json.loads(x)["type"] == "refused" for x in lines[before:])
            run_signer("audit", "verify", "--log", log, "--pubkey", homes.pub, check=True)
    if audit is not None:
        a = run_signer("audit", "verify", home=home, check=False)
        assert a.returncode == 1, a.stdout
        assert audit in a.stdout, a.stdout
