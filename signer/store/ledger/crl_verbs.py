"""The ledger's revocation and CRL queries that work on every revoked row of a CA at once.

A CA may have a million revoked certificates. Each row keeps the DER of its CRL entry (made
once, at revocation), so a CRL's ``revokedCertificates`` is one concatenation in SQLite and the
check of the rows against the log (``signer.service.integrity``) is one SHA-256 per run of
revocations over bytes SQLite concatenates: no Python object per entry. Reads that must agree
with each other run in one read transaction (``reading``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from signer.core.crl import encode_entry
from signer.errors import LedgerError, SignerError
from signer.store.ledger.rows import SCHEMA, SCHEMA_VERSION, CertRow, CRLRow, _row

_INSERT_REVOCATION = "INSERT INTO revocations VALUES (?,?,?,?,?)"


def _revocation_rows(rows: Sequence[Any]) -> Iterator[tuple[str, int, str, str, bytes]]:
    """(ca, seq, serial, not_after, CRL entry DER) of (ca, seq, serial, not_after, revoked_at,
    reason) rows."""
    for ca, seq, serial, not_after, when, reason in rows:
        yield ca, seq, serial, not_after, encode_entry(serial, when, reason)


LEDGER_CRL_MAX = 1 << 20  # a larger CRL's DER is kept in HOME/crls only, not here too
_RUN_CHUNK = 65_536  # rows per query: bounded memory, few round trips


class CRLVerbs:
    """Mixed into ``Ledger``: revocations and CRLs, and the bulk reads over them."""

    _db: sqlite3.Connection
    path: Any

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        raise NotImplementedError

    def _iter(self, sql: str, args: Sequence[Any] = ()) -> Iterator[sqlite3.Row]:
        raise NotImplementedError

    def _one(self, sql: str, args: tuple[Any, ...]) -> Any:
        try:
            return self._db.execute(sql, args).fetchone()
        except sqlite3.Error as exc:
            raise LedgerError(f"ledger read failed: {exc}") from None

    @contextmanager
    def reading(self) -> Iterator[None]:
        """One consistent view of the ledger for several reads (a deferred transaction)."""
        try:
            self._db.execute("BEGIN")
        except sqlite3.Error as exc:
            raise LedgerError(f"ledger: cannot start a read ({exc})") from None
        try:
            yield
        finally:
            self._db.execute("COMMIT")

    def revoked_certificate_count(self, ca: str) -> int:
        """Certificates of ``ca`` marked revoked, logged or not (an index-only count)."""
        return int(self._one("SELECT COUNT(*) FROM certificates WHERE ca = ? AND "
                             "revoked_at IS NOT NULL", (ca,))[0])

    def revocation_rows(self, ca: str) -> int:
        return int(self._one("SELECT COUNT(*) FROM revocations WHERE ca = ?", (ca,))[0])

    def revocation_run(self, ca: str, first: int, last: int, unexpired_at: str
                       ) -> tuple[int, str, str, int, list[bytes]]:
        """``ca``'s revocations logged at entries ``first`` to ``last``, in log order: (rows,
        SHA-256 of their CRL entries concatenated, SHA-256 of their notAfter values joined by
        commas, how many expired before ``unexpired_at``, the concatenated entries in chunks).

        The entries come back whole (the CRL lists them all) unless some expired; then the
        unexpired ones only (I4: an entry leaves only after its certificate expired).
        """
        entries, not_after = hashlib.sha256(), hashlib.sha256()
        chunks: list[bytes] = []
        rows = expired = 0
        for lo in range(first, last + 1, _RUN_CHUNK):
            hi = min(last, lo + _RUN_CHUNK - 1)
            n, blob, dates, old = self._one(
                "SELECT COUNT(*), CAST(group_concat(entry, x'') AS BLOB), "
                "group_concat(not_after, ','), SUM(not_after < ?) FROM (SELECT entry, not_after "
                "FROM revocations WHERE ca = ? AND seq BETWEEN ? AND ? ORDER BY seq)",
                (unexpired_at, ca, lo, hi))
            if not n:
                continue
            entries.update(blob)
            not_after.update((dates if not rows else "," + dates).encode())
            rows += n
            expired += old
            if old:
                blob = self._one(
                    "SELECT CAST(group_concat(entry, x'') AS BLOB) FROM (SELECT entry FROM "
                    "revocations WHERE ca = ? AND seq BETWEEN ? AND ? AND not_after >= ? "
                    "ORDER BY seq)", (ca, lo, hi, unexpired_at))[0] or b""
            chunks.append(bytes(blob))
        return rows, entries.hexdigest(), not_after.hexdigest(), expired, chunks

    def revocation_of(self, ca: str, serial: str) -> tuple[str | None, str | None, bytes] | None:
        """(revoked at, reason, CRL entry) of one revoked certificate, or None."""
        row = self._one(
            "SELECT c.revoked_at, c.revocation_reason, r.entry FROM revocations r LEFT JOIN "
            "certificates c ON c.ca = r.ca AND c.serial = r.serial WHERE r.ca = ? AND "
            "r.serial = ?", (ca, serial))
        return None if row is None else (row[0], row[1], bytes(row[2]))

    def repeated_serials(self, ca: str) -> int:
        """Serials of ``ca`` revoked more than once: counted from the rows themselves (not a
        uniqueness an index could merely claim)."""
        return int(self._one(
            "SELECT COUNT(*) FROM (SELECT serial FROM revocations NOT INDEXED WHERE ca = ? "
            "GROUP BY serial HAVING COUNT(*) > 1)", (ca,))[0])

    def crl_entry_shapes(self, ca: str, unexpired_at: str, edge: int = 16) -> bytes:
        """Entries of every shape (length, hence serial size, time type and reason) and the
        first and last ``edge``, unexpired, in log order: what pkilint judges of a CRL too
        large to lint whole."""
        rows = self._db.execute(
            "SELECT entry FROM revocations WHERE ca = ? AND seq IN ("
            " SELECT MIN(seq) FROM revocations WHERE ca = ? AND not_after >= ? "
            "  GROUP BY length(entry), substr(entry, -1)"
            " UNION SELECT seq FROM (SELECT seq FROM revocations WHERE ca = ? AND "
            "  not_after >= ? ORDER BY seq LIMIT ?)"
            " UNION SELECT seq FROM (SELECT seq FROM revocations WHERE ca = ? AND "
            "  not_after >= ? ORDER BY seq DESC LIMIT ?)) ORDER BY seq",
            (ca, ca, unexpired_at, ca, unexpired_at, edge, ca, unexpired_at, edge)).fetchall()
        return b"".join(bytes(r[0]) for r in rows)

    # -- moved from db.py: per-row revocation and CRL verbs ----------------------------------

    def _migrate_2_to_3(self) -> None:
        """Schema 3 keeps each logged revocation's CRL entry as DER: made here for older rows."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in SCHEMA.split(";"):
                if "revocations" in statement:
                    db.execute(statement)
            db.executemany(_INSERT_REVOCATION, _revocation_rows(db.execute(
                "SELECT ca, revoked_seq, serial, not_after, revoked_at, revocation_reason "
                "FROM certificates WHERE revoked_seq IS NOT NULL").fetchall()))
            db.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (SCHEMA_VERSION,))
            db.execute("COMMIT")
        except (sqlite3.Error, SignerError) as exc:
            db.execute("ROLLBACK")
            db.close()
            raise LedgerError(f"ledger {self.path}: cannot upgrade schema 2 to "
                              f"{SCHEMA_VERSION} ({exc})") from None

    def revoke(self, items: Sequence[tuple[str, str, str, str]]) -> None:
        """(ca, serial, revoked at, reason) of revocations whose intents are logged, in one
        transaction; none is applied if any certificate is unknown or already revoked."""
        if not items:
            return
        with self._transaction() as db:
            for ca, serial, when, reason in items:
                cur = db.execute(
                    "UPDATE certificates SET revoked_at = ?, revocation_reason = ? "
                    "WHERE ca = ? AND serial = ? AND revoked_at IS NULL",
                    (when, reason, ca, serial))
                if cur.rowcount != 1:
                    raise LedgerError(
                        f"certificate {serial} of CA {ca!r} is unknown or already revoked")

    def mark_revocations_logged(self, seqs: Sequence[tuple[str, str, int]]) -> None:
        """(ca, serial, log seq of its ``revoked`` entry); each gets its CRL entry, made once,
        here (``signer.core.crl.encode_entry``), in the revocations table."""
        if not seqs:
            return
        with self._transaction() as db:
            db.executemany("UPDATE certificates SET revoked_seq = ? WHERE ca = ? AND serial = ?",
                           [(seq, ca, serial) for ca, serial, seq in seqs])
            rows = []
            for ca, serial, _ in seqs:
                rows.extend(db.execute(
                    "SELECT ca, revoked_seq, serial, not_after, revoked_at, revocation_reason "
                    "FROM certificates WHERE ca = ? AND serial = ? AND revoked_at IS NOT NULL",
                    (ca, serial)).fetchall())
            try:
                db.executemany(_INSERT_REVOCATION, _revocation_rows(rows))
            except SignerError as exc:
                raise sqlite3.IntegrityError(str(exc)) from None

    def unlogged_revocations(self) -> list[CertRow]:
        return [_row(CertRow, r) for r in self._query(
            "SELECT * FROM certificates WHERE revoked_at IS NOT NULL AND revoked_seq IS NULL "
            "ORDER BY rowid")]

    def revocations_in_log_order(self) -> Iterator[CertRow]:
        for r in self._iter("SELECT * FROM certificates WHERE revoked_at IS NOT NULL "
                            "ORDER BY revoked_seq, rowid"):
            yield _row(CertRow, r)

    def revocations_before(self, ca: str, seq: int,
                           unexpired_at: str) -> Iterator[tuple[str, str, str]]:
        """(serial, revoked at, reason) of ``ca``'s revocations logged before entry ``seq`` whose
        certificates had not expired at ``unexpired_at``: what a CRL then must list (I4)."""
        for r in self._iter("SELECT serial, revoked_at, revocation_reason FROM certificates "
                            "WHERE ca = ? AND revoked_seq < ? AND not_after >= ?",
                            (ca, seq, unexpired_at)):
            yield str(r[0]), str(r[1]), str(r[2])

    def last_crl_number(self, ca: str) -> int:
        rows = self._query("SELECT MAX(number) AS n FROM crls WHERE ca = ?", (ca,))
        return int(rows[0]["n"] or 0)

    def add_crl(self, row: CRLRow) -> None:
        with self._transaction() as db:
            if row.number <= int(db.execute(
                    "SELECT COALESCE(MAX(number), 0) FROM crls WHERE ca = ?",
                    (row.ca,)).fetchone()[0]):
                raise LedgerError(f"CRL number {row.number} of CA {row.ca!r} does not increase (I4)")
            db.execute("INSERT INTO crls VALUES (?,?,?,?,?,?,?,NULL)",
                       (row.ca, row.number, row.this_update, row.next_update, row.der,
                        row.sha256, row.batch_id))

    def mark_crl_logged(self, ca: str, number: int, seq: int) -> None:
        with self._transaction() as db:
            db.execute("UPDATE crls SET log_seq = ? WHERE ca = ? AND number = ?",
                       (seq, ca, number))

    def crl_row(self, ca: str, number: int) -> CRLRow | None:
        rows = self._query("SELECT * FROM crls WHERE ca = ? AND number = ?", (ca, number))
        return self._crl(rows[0]) if rows else None

    def unlogged_crls(self) -> list[CRLRow]:
        return [self._crl(r) for r in self._query(
            "SELECT * FROM crls WHERE log_seq IS NULL ORDER BY ca, number")]

    def crls_for_batch(self, batch_id: str) -> list[CRLRow]:
        return [self._crl(r) for r in self._query(
            "SELECT * FROM crls WHERE batch_id = ? ORDER BY ca, number", (batch_id,))]

    def all_crls(self) -> Iterator[CRLRow]:
        for r in self._iter("SELECT * FROM crls ORDER BY log_seq, ca, number"):
            yield self._crl(r)

    def _crl(self, r: sqlite3.Row) -> CRLRow:
        """A CRL row with its DER: a large CRL is kept once, in HOME/crls (PEM), and the row
        holds its digest only; its bytes are read from there and checked against it."""
        row: CRLRow = _row(CRLRow, r)
        if row.der:
            return row
        stored = self.path.parent / "crls" / f"{row.ca}-{row.number}.crl"
        try:
            der = x509.load_pem_x509_crl(stored.read_bytes()).public_bytes(
                serialization.Encoding.DER)
        except (OSError, ValueError) as exc:
            raise LedgerError(f"CRL {row.number} of {row.ca!r}: {stored.name} cannot be read "
                              f"({exc})") from None
        if hashlib.sha256(der).hexdigest() != row.sha256:
            raise LedgerError(f"CRL {row.number} of {row.ca!r}: {stored.name} is not the CRL "
                              "the ledger recorded")
        return dataclasses.replace(row, der=der)
