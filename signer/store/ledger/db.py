"""The issuance ledger: SQLite in WAL mode with synchronous=FULL, the only module that writes SQL.

It is an index, not the source of truth: every fact that decides what gets signed or revoked
is in the ceremony log, and the service checks the rows it uses against the log's facts
(``signer.store.log.state``) before it acts. Rows carry the log sequence number of the entry that
recorded them (``log_seq``, NULL until logged), so recovering from a crash between the ledger
and the log never scans the log. Uniqueness that the invariants depend on is a constraint here:
(CA, serial) for I3, (CA, CRL number) for I4, (RA, sequence) for I7.

Callers get typed rows and verbs; no connection or cursor is handed out.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from signer.errors import LedgerError
from signer.store.ledger.crl_verbs import CRLVerbs
from signer.store.ledger.rows import (
    CA_CERT_PROFILES,
    SCHEMA,
    SCHEMA_VERSION,
    BatchRow,
    CARecord,
    CertRow,
    OcspRow,
    RARow,
    RequestRow,
    RevocationRequestRow,
    _row,
)


def _create_private(path: Path) -> None:
    """A new ledger file is readable by its owner only (HOME is 0700 as well)."""
    if not path.exists():
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass
        except OSError as exc:
            raise LedgerError(f"ledger {path}: cannot create ({exc.strerror or exc})") from None


class Ledger(CRLVerbs):
    def __init__(self, path: Path) -> None:
        self.path = path
        _create_private(path)
        try:
            self._db = sqlite3.connect(path, isolation_level=None, timeout=30)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            fresh = not self._db.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='cas'").fetchone()
            if not fresh:
                self._check_schema()
            self._db.executescript(SCHEMA)
            if fresh:
                self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)",
                                 (SCHEMA_VERSION,))
        except sqlite3.Error as exc:
            raise LedgerError(f"ledger {path}: {exc}") from None

    def _check_schema(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        version = row["value"] if row else "1"
        if version == "2":
            self._migrate_2_to_3()
            version = SCHEMA_VERSION
        if version != SCHEMA_VERSION:
            self._db.close()
            raise LedgerError(
                f"ledger {self.path}: schema {version}, this version of airgap-signer needs "
                f"{SCHEMA_VERSION} (a home made by an older version: keep it for the auditors "
                "and make a new home)")

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise LedgerError(f"ledger: cannot start a transaction ({exc})") from None
        try:
            yield self._db
        except sqlite3.IntegrityError as exc:
            self._db.execute("ROLLBACK")
            raise LedgerError(f"ledger refused the write: {exc}") from None
        except sqlite3.Error as exc:
            self._db.execute("ROLLBACK")
            raise LedgerError(f"ledger write failed: {exc}") from None
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise LedgerError(f"ledger commit failed: {exc}") from None

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        try:
            return list(self._db.execute(sql, tuple(args)).fetchall())
        except sqlite3.Error as exc:
            raise LedgerError(f"ledger read failed: {exc}") from None

    def _iter(self, sql: str, args: Sequence[Any] = ()) -> Iterator[sqlite3.Row]:
        try:
            yield from self._db.execute(sql, tuple(args))
        except sqlite3.Error as exc:
            raise LedgerError(f"ledger read failed: {exc}") from None

    # -- meta ------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0]["value"]) if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self._transaction() as db:
            db.execute("INSERT INTO meta(key, value) VALUES (?, ?) "
                       "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    # -- CAs -------------------------------------------------------------------------------

    def add_ca(self, rec: CARecord) -> None:
        """Record a CA and its certificate; the certificate row keeps (issuer, serial) unique."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO cas VALUES (?,?,?,?,?,?,?,?,?,?,?,?,NULL)",
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

    def mark_ca_logged(self, name: str, seq: int) -> None:
        with self._transaction() as db:
            db.execute("UPDATE cas SET log_seq = ? WHERE name = ?", (seq, name))
            # Only the CA's first certificate: a CA certified again has further rows, each
            # logged by its own entry (mark_ca_certificate_logged).
            db.execute("UPDATE certificates SET log_seq = ? WHERE subscriber = ? AND "
                       "profile IN ('ca-root', 'ca-sub') AND log_seq IS NULL",
                       (seq, f"ca:{name}"))

    def get_ca(self, name: str) -> CARecord | None:
        rows = self._query("SELECT * FROM cas WHERE name = ?", (name,))
        return _row(CARecord, rows[0]) if rows else None

    def list_cas(self) -> list[CARecord]:
        return [_row(CARecord, r) for r in self._query("SELECT * FROM cas ORDER BY created_at, log_seq, name")]

    def unlogged_cas(self) -> list[CARecord]:
        return [_row(CARecord, r) for r in self._query(
            "SELECT * FROM cas WHERE log_seq IS NULL ORDER BY created_at, name")]

    # -- further CA certificates (issue 14) ----------------------------------------------------

    def add_ca_certificate(self, row: CertRow, current_of: str | None = None) -> None:
        """A further certificate for a CA key, unlogged; with ``current_of`` it becomes that
        CA's certificate in the same transaction (the row's ``log_seq`` is set when logged)."""
        if row.profile not in CA_CERT_PROFILES.values():
            raise LedgerError(f"profile {row.profile!r} is not a CA certificate's")
        with self._transaction() as db:
            db.execute(
                "INSERT INTO certificates (ca, serial, profile, subscriber, spki_sha256, "
                "not_before, not_after, cert_der, cert_sha256, issued_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?)",
                (row.ca, row.serial, row.profile, row.subscriber, row.spki_sha256,
                 row.not_before, row.not_after, row.cert_der, row.cert_sha256, row.issued_at))
            if current_of is not None:
                cur = db.execute(
                    "UPDATE cas SET issuer = ?, serial = ?, cert_der = ?, cert_sha256 = ?, "
                    "not_before = ?, not_after = ? WHERE name = ? AND spki_sha256 = ?",
                    (row.ca, row.serial, row.cert_der, row.cert_sha256, row.not_before,
                     row.not_after, current_of, row.spki_sha256))
                if cur.rowcount != 1:
                    raise LedgerError(f"CA {current_of!r} with this key is not in the ledger")

    def mark_ca_certificate_logged(self, issuer: str, serial: str, seq: int,
                                   current_of: str | None = None) -> None:
        with self._transaction() as db:
            db.execute("UPDATE certificates SET log_seq = ? WHERE ca = ? AND serial = ?",
                       (seq, issuer, serial))
            if current_of is not None:
                db.execute("UPDATE cas SET log_seq = ? WHERE name = ? AND serial = ?",
                           (seq, current_of, serial))

    def ca_certificates(self, subscriber: str) -> list[CertRow]:
        """Every certificate for a CA's key ('ca:NAME') or an external CA's
        ('external:NAME'), in log order (unlogged ones last)."""
        return [_row(CertRow, r) for r in self._query(
            "SELECT * FROM certificates WHERE subscriber = ? AND profile LIKE 'ca-%' "
            "ORDER BY log_seq IS NULL, log_seq, rowid", (subscriber,))]

    def unlogged_ca_certificates(self) -> list[CertRow]:
        return [_row(CertRow, r) for r in self._query(
            "SELECT * FROM certificates WHERE log_seq IS NULL AND profile IN "
            "('ca-recert', 'ca-link', 'ca-cross') ORDER BY rowid")]

    # -- OCSP responses (issue 14) -------------------------------------------------------------

    def add_ocsp_response(self, row: OcspRow) -> None:
        with self._transaction() as db:
            db.execute("INSERT INTO ocsp_responses VALUES (?,?,?,?,?,?,?,NULL)",
                       (row.ca, row.serial, row.status, row.this_update, row.next_update,
                        row.der, row.sha256))

    def mark_ocsp_logged(self, sha256: str, seq: int) -> None:
        with self._transaction() as db:
            db.execute("UPDATE ocsp_responses SET log_seq = ? WHERE sha256 = ?", (seq, sha256))

    def unlogged_ocsp_responses(self) -> list[OcspRow]:
        return [_row(OcspRow, r) for r in self._query(
            "SELECT * FROM ocsp_responses WHERE log_seq IS NULL ORDER BY rowid")]

    def ocsp_responses_in_log_order(self) -> Iterator[OcspRow]:
        for r in self._iter("SELECT * FROM ocsp_responses ORDER BY log_seq, rowid"):
            yield _row(OcspRow, r)

    # -- certificates ----------------------------------------------------------------------

    def serial_used(self, ca: str, serial: str) -> bool:
        return bool(self._query("SELECT 1 FROM certificates WHERE ca = ? AND serial = ?",
                                (ca, serial)))

    def key_owner(self, spki: str) -> str | None:
        """The subscriber already holding a certificate for this key, if any (DESIGN §4)."""
        rows = self._query("SELECT subscriber FROM certificates WHERE spki_sha256 = ? "
                           "ORDER BY rowid LIMIT 1", (spki,))
        return str(rows[0]["subscriber"]) if rows else None

    def add_certificates(self, rows: Sequence[CertRow]) -> None:
        """Insert issued certificates in one transaction (a chunk of a batch), unlogged."""
        if not rows:
            return
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO certificates (ca, serial, profile, subscriber, batch_id, request_id, "
                "spki_sha256, not_before, not_after, cert_der, cert_sha256, issued_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [(r.ca, r.serial, r.profile, r.subscriber, r.batch_id, r.request_id,
                  r.spki_sha256, r.not_before, r.not_after, r.cert_der, r.cert_sha256,
                  r.issued_at) for r in rows])

    def mark_certificates_logged(self, seqs: Sequence[tuple[str, str, int]]) -> None:
        """(ca, serial, log seq) of certificates whose ``cert.issued`` entries are written."""
        if not seqs:
            return
        with self._transaction() as db:
            db.executemany("UPDATE certificates SET log_seq = ? WHERE ca = ? AND serial = ?",
                           [(seq, ca, serial) for ca, serial, seq in seqs])

    def unlogged_certificates(self) -> list[CertRow]:
        return [_row(CertRow, r) for r in self._query(
            "SELECT * FROM certificates WHERE log_seq IS NULL AND profile NOT LIKE 'ca-%' "
            "ORDER BY rowid")]

    def certificate(self, ca: str, serial: str) -> CertRow | None:
        rows = self._query("SELECT * FROM certificates WHERE ca = ? AND serial = ?", (ca, serial))
        return _row(CertRow, rows[0]) if rows else None

    def issued_for_batch(self, batch_id: str) -> dict[str, CertRow]:
        rows = self._query("SELECT * FROM certificates WHERE batch_id = ?", (batch_id,))
        return {str(r["request_id"]): _row(CertRow, r) for r in rows}

    def all_certificates(self) -> Iterator[CertRow]:
        for r in self._iter("SELECT * FROM certificates ORDER BY rowid"):
            yield _row(CertRow, r)

    def certificates_in_log_order(self) -> Iterator[CertRow]:
        """Every certificate row, unlogged ones (log_seq NULL) first, then in log order."""
        for r in self._iter("SELECT * FROM certificates ORDER BY log_seq, rowid"):
            yield _row(CertRow, r)

    def key_owner_before(self, spki: str, seq: int) -> str | None:
        """The first subscriber certified for ``spki`` by a log entry before ``seq``."""
        rows = self._query("SELECT subscriber FROM certificates WHERE spki_sha256 = ? AND "
                           "log_seq < ? ORDER BY log_seq LIMIT 1", (spki, seq))
        return str(rows[0]["subscriber"]) if rows else None

    def certificate_count(self) -> int:
        return int(self._query("SELECT COUNT(*) AS n FROM certificates")[0]["n"])

    # -- RAs -------------------------------------------------------------------------------

    def trust_ra(self, row: RARow) -> None:
        with self._transaction() as db:
            db.execute("INSERT INTO ra_keys VALUES (?,?,?,?,?,?)",
                       (row.name, row.public_key, row.key_id, row.last_sequence,
                        row.trusted_at, row.revoked_at))

    def replace_ra_key(self, name: str, public_key: bytes, key_id: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE ra_keys SET public_key = ?, key_id = ? WHERE name = ?",
                       (public_key, key_id, name))

    def revoke_ra(self, name: str, when: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE ra_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                       (when, name))

    def ra(self, name: str) -> RARow | None:
        rows = self._query("SELECT * FROM ra_keys WHERE name = ?", (name,))
        return _row(RARow, rows[0]) if rows else None

    def list_ras(self) -> list[RARow]:
        return [_row(RARow, r) for r in self._query("SELECT * FROM ra_keys ORDER BY name")]

    # -- batches ---------------------------------------------------------------------------

    def stage_batch(self, batch: BatchRow, raw: bytes, requests: Sequence[RequestRow],
                    revocations: Sequence[RevocationRequestRow]) -> None:
        """Stage an imported batch and advance its RA's sequence, all or nothing (I7)."""
        with self._transaction() as db:
            db.execute("INSERT INTO batches VALUES (?,?,?,?,?,?,?,?,NULL)",
                       (batch.id, batch.ra, batch.sequence, batch.digest, batch.created,
                        batch.imported_at, raw, batch.state))
            db.executemany("INSERT INTO requests VALUES (?,?,?,?,?,?,?,?,?,?)", [
                (r.batch_id, r.position, r.id, r.ca, r.profile, r.subscriber, r.verdict,
                 r.decision, int(r.approved), r.failure) for r in requests])
            db.executemany("INSERT INTO revocation_requests VALUES (?,?,?,?,?,?,?,?,?)", [
                (r.batch_id, r.position, r.ca, r.serial, r.reason, r.verdict, r.reasons,
                 r.status, r.outcome_reasons) for r in revocations])
            db.execute("UPDATE ra_keys SET last_sequence = ? WHERE name = ?",
                       (batch.sequence, batch.ra))

    def batch(self, batch_id: str) -> BatchRow | None:
        rows = self._query("SELECT id, ra, sequence, digest, created, imported_at, state "
                           "FROM batches WHERE id = ?", (batch_id,))
        return _row(BatchRow, rows[0]) if rows else None

    def batch_raw(self, batch_id: str) -> bytes | None:
        rows = self._query("SELECT raw FROM batches WHERE id = ?", (batch_id,))
        return bytes(rows[0]["raw"]) if rows else None

    def batch_requests(self, batch_id: str) -> list[RequestRow]:
        return [_row(RequestRow, r) for r in self._query(
            "SELECT * FROM requests WHERE batch_id = ? ORDER BY position", (batch_id,))]

    def request(self, batch_id: str, request_id: str) -> RequestRow | None:
        rows = self._query("SELECT * FROM requests WHERE batch_id = ? AND id = ?",
                           (batch_id, request_id))
        return _row(RequestRow, rows[0]) if rows else None

    def batch_log_seqs(self) -> dict[str, int | None]:
        return {str(r["id"]): r["log_seq"] for r in self._query("SELECT id, log_seq FROM batches")}

    def batch_revocations(self, batch_id: str) -> list[RevocationRequestRow]:
        return [_row(RevocationRequestRow, r) for r in self._query(
            "SELECT * FROM revocation_requests WHERE batch_id = ? ORDER BY position",
            (batch_id,))]

    def list_batches(self) -> list[BatchRow]:
        return [_row(BatchRow, r) for r in self._query(
            "SELECT id, ra, sequence, digest, created, imported_at, state "
            "FROM batches ORDER BY imported_at, id")]

    def mark_batch_logged(self, batch_id: str, seq: int) -> None:
        with self._transaction() as db:
            db.execute("UPDATE batches SET log_seq = ? WHERE id = ?", (seq, batch_id))

    def unlogged_batches(self) -> list[BatchRow]:
        return [_row(BatchRow, r) for r in self._query(
            "SELECT id, ra, sequence, digest, created, imported_at, state FROM batches "
            "WHERE log_seq IS NULL ORDER BY imported_at, id")]

    def batch_certificate_count(self, batch_id: str) -> int:
        return int(self._query("SELECT COUNT(*) AS n FROM certificates WHERE batch_id = ?",
                               (batch_id,))[0]["n"])

    def set_batch_state(self, batch_id: str, state: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE batches SET state = ? WHERE id = ?", (state, batch_id))

    def approve(self, batch_id: str, request_id: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE requests SET approved = 1 WHERE batch_id = ? AND id = ?",
                       (batch_id, request_id))

    def set_failure(self, batch_id: str, request_id: str, failure: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE requests SET failure = ? WHERE batch_id = ? AND id = ?",
                       (failure, batch_id, request_id))

    def set_revocation_outcome(self, batch_id: str, position: int, status: str,
                               outcome_reasons: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE revocation_requests SET status = ?, outcome_reasons = ? "
                       "WHERE batch_id = ? AND position = ?",
                       (status, outcome_reasons, batch_id, position))
