"""The ledger's schema and its typed rows (the ledger hands out only these, never a cursor)."""


from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

SCHEMA_VERSION = "3"  # 3: the revocations table (each logged revocation's CRL entry, as DER)

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
    created_at TEXT NOT NULL,
    log_seq INTEGER
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
    log_seq INTEGER,
    revoked_seq INTEGER,
    PRIMARY KEY (ca, serial)
);
CREATE INDEX IF NOT EXISTS certificates_spki ON certificates (spki_sha256, log_seq);
CREATE INDEX IF NOT EXISTS certificates_log ON certificates (log_seq);
-- One certificate per request of a batch, for ever: a resumed or concurrent run cannot double.
CREATE UNIQUE INDEX IF NOT EXISTS certificates_request ON certificates (batch_id, request_id)
    WHERE batch_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS certificates_revoked ON certificates (ca, revoked_seq)
    WHERE revoked_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS certificates_unlogged ON certificates (ca) WHERE log_seq IS NULL;
CREATE INDEX IF NOT EXISTS revocations_unlogged ON certificates (ca)
    WHERE revoked_at IS NOT NULL AND revoked_seq IS NULL;
-- Each logged revocation's CRL entry, made once (DER), clustered in log order: a CRL is one
-- ordered scan of its CA's rows (signer.store.ledger.crl_verbs).
CREATE TABLE IF NOT EXISTS revocations (
    ca TEXT NOT NULL,
    seq INTEGER NOT NULL,
    serial TEXT NOT NULL,
    not_after TEXT NOT NULL,
    entry BLOB NOT NULL,
    PRIMARY KEY (ca, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS revocations_serial ON revocations (ca, serial);
CREATE TABLE IF NOT EXISTS crls (
    ca TEXT NOT NULL,
    number INTEGER NOT NULL,
    this_update TEXT NOT NULL,
    next_update TEXT NOT NULL,
    der BLOB NOT NULL,
    sha256 TEXT NOT NULL,
    batch_id TEXT,
    log_seq INTEGER,
    PRIMARY KEY (ca, number)
);
-- Pre-signed OCSP responses (issue 14), each recorded before it is written out (I2).
CREATE TABLE IF NOT EXISTS ocsp_responses (
    ca TEXT NOT NULL,
    serial TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('good', 'revoked')),
    this_update TEXT NOT NULL,
    next_update TEXT NOT NULL,
    der BLOB NOT NULL,
    sha256 TEXT NOT NULL UNIQUE,
    log_seq INTEGER,
    PRIMARY KEY (ca, serial, this_update)
);
CREATE TABLE IF NOT EXISTS ra_keys (
    name TEXT PRIMARY KEY,
    public_key BLOB NOT NULL,
    key_id TEXT NOT NULL UNIQUE,
    last_sequence INTEGER NOT NULL DEFAULT 0,
    trusted_at TEXT NOT NULL,
    revoked_at TEXT
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
    log_seq INTEGER,
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
    failure TEXT,
    PRIMARY KEY (batch_id, id)
);
CREATE TABLE IF NOT EXISTS revocation_requests (
    batch_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    ca TEXT NOT NULL,
    serial TEXT NOT NULL,
    reason TEXT NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('accept', 'reject')),
    reasons TEXT NOT NULL,
    status TEXT NOT NULL,
    outcome_reasons TEXT NOT NULL,
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
    log_seq: int | None = None


@dataclass(frozen=True)
class CertRow:
    ca: str
    serial: str
    profile: str
    subscriber: str
    batch_id: str | None
    request_id: str | None
    spki_sha256: str
    not_before: str
    not_after: str
    cert_der: bytes
    cert_sha256: str
    issued_at: str
    revoked_at: str | None = None
    revocation_reason: str | None = None
    log_seq: int | None = None
    revoked_seq: int | None = None


@dataclass(frozen=True)
class CRLRow:
    ca: str
    number: int
    this_update: str
    next_update: str
    der: bytes
    sha256: str
    batch_id: str | None
    log_seq: int | None = None


@dataclass(frozen=True)
class OcspRow:
    ca: str
    serial: str
    status: str
    this_update: str
    next_update: str
    der: bytes
    sha256: str
    log_seq: int | None = None


# The profile column of a CA's further certificates in ``certificates`` (issue 14); the first
# certificate of a CA is 'ca-root' or 'ca-sub'. Subscriber 'ca:NAME' names a CA of this
# appliance, 'external:NAME' a CA cross-certified by one of ours.
CA_CERT_PROFILES = {"recertify": "ca-recert", "link": "ca-link", "cross": "ca-cross"}


@dataclass(frozen=True)
class RARow:
    name: str
    public_key: bytes
    key_id: str
    last_sequence: int
    trusted_at: str
    revoked_at: str | None = None


@dataclass(frozen=True)
class BatchRow:
    id: str
    ra: str
    sequence: int
    digest: str
    created: str
    imported_at: str
    state: str


@dataclass(frozen=True)
class RequestRow:
    batch_id: str
    position: int
    id: str
    ca: str
    profile: str
    subscriber: str
    verdict: str
    decision: str  # the stored decision's canonical JSON (signer.core.decision), exactly as logged
    approved: bool
    failure: str | None = None  # JSON {"code", "message"} when signing it failed


@dataclass(frozen=True)
class RevocationRequestRow:
    batch_id: str
    position: int
    ca: str
    serial: str
    reason: str
    verdict: str  # at import: 'accept' (to be applied when the batch is signed) or 'reject'
    reasons: str  # JSON list of {"code", "message"} found at import
    status: str  # 'pending', 'revoked' or 'rejected'
    outcome_reasons: str  # JSON list, for a revocation rejected when the batch was signed


def _row(cls: Any, row: sqlite3.Row) -> Any:
    d = dict(row)
    for k in ("cert_der", "der", "public_key"):
        if k in d and d[k] is not None:
            d[k] = bytes(d[k])
    if "approved" in d:
        d["approved"] = bool(d["approved"])
    return cls(**d)
