"""The issuance ledger: SQLite in WAL mode with synchronous=FULL.

It records CAs, certificates, revocations, CRLs, RA keys and batches. Uniqueness that the
invariants depend on is a constraint here, not a hope: (CA, serial) for I3, (CA, CRL number)
for I4, (RA, sequence) for I7. It does not sign and does not write the ceremony log.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from signer.errors import LedgerError

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cas (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('root', 'sub')),
    issuer TEXT NOT NULL,
    key_label TEXT NOT NULL,
    key_algorithm TEXT NOT NULL,
    spki_sha256 TEXT NOT NULL UNIQUE,
    serial TEXT NOT NULL,
    cert_der BLOB NOT NULL,
    cert_sha256 TEXT NOT NULL,
    not_before TEXT NOT NULL,
    not_after TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS certificates (
    ca TEXT NOT NULL,
    serial TEXT NOT NULL,
    profile TEXT NOT NULL,
    subscriber TEXT NOT NULL,
    batch_id TEXT,
    request_id TEXT,
    spki_sha256 TEXT NOT NULL,
    not_before TEXT NOT NULL,
    not_after TEXT NOT NULL,
    cert_der BLOB NOT NULL,
    cert_sha256 TEXT NOT NULL UNIQUE,
    issued_at TEXT NOT NULL,
    revoked_at TEXT,
    revocation_reason TEXT,
    PRIMARY KEY (ca, serial)
);
CREATE INDEX IF NOT EXISTS certificates_spki ON certificates (spki_sha256);
CREATE INDEX IF NOT EXISTS certificates_batch ON certificates (batch_id, request_id);
-- One certificate per request of a batch, for ever: a resumed or concurrent run cannot double.
CREATE UNIQUE INDEX IF NOT EXISTS certificates_request ON certificates (batch_id, request_id)
    WHERE batch_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS certificates_revoked ON certificates (ca, revoked_at) WHERE revoked_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS crls (
    ca TEXT NOT NULL,
    number INTEGER NOT NULL,
    this_update TEXT NOT NULL,
    next_update TEXT NOT NULL,
    der BLOB NOT NULL,
    sha256 TEXT NOT NULL,
    batch_id TEXT,
    PRIMARY KEY (ca, number)
);
CREATE TABLE IF NOT EXISTS ra_keys (
    name TEXT PRIMARY KEY,
    public_key BLOB NOT NULL,
    key_id TEXT NOT NULL,
    last_sequence INTEGER NOT NULL DEFAULT 0,
    trusted_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY,
    ra TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    raw BLOB NOT NULL,
    state TEXT NOT NULL,
    UNIQUE (ra, sequence)
);
CREATE TABLE IF NOT EXISTS requests (
    batch_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    id TEXT NOT NULL,
    ca TEXT NOT NULL,
    profile TEXT NOT NULL,
    subscriber TEXT NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('accept', 'reject')),
    decision TEXT NOT NULL,
    approved INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (batch_id, id)
);
CREATE TABLE IF NOT EXISTS revocation_requests (
    batch_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    ca TEXT NOT NULL,
    serial TEXT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL,
    reasons TEXT NOT NULL,
    PRIMARY KEY (batch_id, position)
);
"""


@dataclass(frozen=True)
class CARecord:
    name: str
    kind: str
    issuer: str
    key_label: str
    key_algorithm: str
    spki_sha256: str
    serial: str
    cert_der: bytes
    cert_sha256: str
    not_before: str
    not_after: str
    created_at: str


class Ledger:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.db = sqlite3.connect(path, isolation_level=None, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise LedgerError(f"ledger {path}: {exc}") from None

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise LedgerError(f"ledger: cannot start a transaction ({exc})") from None
        try:
            yield self.db
        except sqlite3.IntegrityError as exc:
            self.db.execute("ROLLBACK")
            raise LedgerError(f"ledger refused the write: {exc}") from None
        except sqlite3.Error as exc:
            self.db.execute("ROLLBACK")
            raise LedgerError(f"ledger write failed: {exc}") from None
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        else:
            try:
                self.db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise LedgerError(f"ledger commit failed: {exc}") from None

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        try:
            cur = self.db.execute(sql, args)
            cur.row_factory = sqlite3.Row  # type: ignore[assignment]
            return list(cur.fetchall())
        except sqlite3.Error as exc:
            raise LedgerError(f"ledger read failed: {exc}") from None

    # -- meta ------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        rows = self.query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0]["value"] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO meta(key, value) VALUES (?, ?) "
                       "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    # -- CAs -------------------------------------------------------------------------------

    def add_ca(self, rec: CARecord) -> None:
        """Record a CA and its certificate; the certificate row keeps (issuer, serial) unique."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO cas VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (rec.name, rec.kind, rec.issuer, rec.key_label, rec.key_algorithm,
                 rec.spki_sha256, rec.serial, rec.cert_der, rec.cert_sha256,
                 rec.not_before, rec.not_after, rec.created_at),
            )
            db.execute(
                "INSERT INTO certificates (ca, serial, profile, subscriber, spki_sha256, "
                "not_before, not_after, cert_der, cert_sha256, issued_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?)",
                (rec.issuer, rec.serial, f"ca-{rec.kind}", f"ca:{rec.name}", rec.spki_sha256,
                 rec.not_before, rec.not_after, rec.cert_der, rec.cert_sha256, rec.created_at),
            )

    def get_ca(self, name: str) -> CARecord | None:
        rows = self.query("SELECT * FROM cas WHERE name = ?", (name,))
        return CARecord(**dict(rows[0])) if rows else None

    def list_cas(self) -> list[CARecord]:
        return [CARecord(**dict(r)) for r in self.query("SELECT * FROM cas ORDER BY created_at, name")]

    def serial_used(self, ca: str, serial: str) -> bool:
        return bool(self.query("SELECT 1 FROM certificates WHERE ca = ? AND serial = ?", (ca, serial)))

    # -- certificates ----------------------------------------------------------------------

    def key_owner(self, spki: str) -> str | None:
        """The subscriber already holding a certificate for this key, if any (DESIGN §4)."""
        rows = self.query("SELECT subscriber FROM certificates WHERE spki_sha256 = ? LIMIT 1",
                          (spki,))
        return rows[0]["subscriber"] if rows else None

    def add_certificates(self, rows: list[tuple[Any, ...]]) -> None:
        """Insert issued certificates in one transaction (a chunk of a batch)."""
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO certificates (ca, serial, profile, subscriber, batch_id, request_id, "
                "spki_sha256, not_before, not_after, cert_der, cert_sha256, issued_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)

    def certificate(self, ca: str, serial: str) -> sqlite3.Row | None:
        rows = self.query("SELECT * FROM certificates WHERE ca = ? AND serial = ?", (ca, serial))
        return rows[0] if rows else None

    def issued_for_batch(self, batch_id: str) -> dict[str, sqlite3.Row]:
        rows = self.query("SELECT * FROM certificates WHERE batch_id = ?", (batch_id,))
        return {r["request_id"]: r for r in rows}

    def revoke(self, ca: str, serial: str, when: str, reason: str) -> None:
        with self.transaction() as db:
            cur = db.execute(
                "UPDATE certificates SET revoked_at = ?, revocation_reason = ? "
                "WHERE ca = ? AND serial = ? AND revoked_at IS NULL", (when, reason, ca, serial))
            if cur.rowcount != 1:
                raise LedgerError(f"certificate {serial} of CA {ca!r} is unknown or already revoked")

    def revoked_unexpired(self, ca: str, at: str) -> list[tuple[str, str, str]]:
        """(serial, revoked_at, reason) of every revoked certificate of ``ca`` unexpired at ``at``.

        I4: an entry leaves the CRL only after the certificate has expired.
        """
        cur = self.db.execute(
            "SELECT serial, revoked_at, revocation_reason FROM certificates "
            "WHERE ca = ? AND revoked_at IS NOT NULL AND not_after >= ?", (ca, at))
        return cur.fetchall()

    # -- CRLs ------------------------------------------------------------------------------

    def last_crl_number(self, ca: str) -> int:
        rows = self.query("SELECT MAX(number) AS n FROM crls WHERE ca = ?", (ca,))
        return int(rows[0]["n"] or 0)

    def add_crl(self, ca: str, number: int, this_update: str, next_update: str, der: bytes,
                sha256: str, batch_id: str | None) -> None:
        with self.transaction() as db:
            if number <= int(db.execute("SELECT COALESCE(MAX(number), 0) FROM crls WHERE ca = ?",
                                        (ca,)).fetchone()[0]):
                raise LedgerError(f"CRL number {number} of CA {ca!r} does not increase (I4)")
            db.execute("INSERT INTO crls VALUES (?,?,?,?,?,?,?)",
                       (ca, number, this_update, next_update, der, sha256, batch_id))

    def crls_for_batch(self, batch_id: str) -> list[sqlite3.Row]:
        return self.query("SELECT * FROM crls WHERE batch_id = ? ORDER BY ca, number", (batch_id,))

    # -- RAs and batches -------------------------------------------------------------------

    def trust_ra(self, name: str, public_key: bytes, key_id: str, when: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO ra_keys (name, public_key, key_id, trusted_at) "
                       "VALUES (?,?,?,?)", (name, public_key, key_id, when))

    def ra_keys(self) -> dict[str, bytes]:
        return {r["name"]: bytes(r["public_key"]) for r in self.query("SELECT * FROM ra_keys")}

    def ra_last_sequence(self, name: str) -> int:
        rows = self.query("SELECT last_sequence FROM ra_keys WHERE name = ?", (name,))
        return int(rows[0]["last_sequence"]) if rows else 0

    def batch(self, batch_id: str) -> sqlite3.Row | None:
        rows = self.query("SELECT * FROM batches WHERE id = ?", (batch_id,))
        return rows[0] if rows else None

    def batch_requests(self, batch_id: str) -> list[sqlite3.Row]:
        return self.query("SELECT * FROM requests WHERE batch_id = ? ORDER BY position",
                          (batch_id,))

    def batch_revocations(self, batch_id: str) -> list[sqlite3.Row]:
        return self.query("SELECT * FROM revocation_requests WHERE batch_id = ? ORDER BY position",
                          (batch_id,))

    def list_batches(self) -> list[sqlite3.Row]:
        return self.query("SELECT id, ra, sequence, digest, created, imported_at, state "
                          "FROM batches ORDER BY imported_at, id")
