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
