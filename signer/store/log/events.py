"""The ceremony log's records, one frozen dataclass per event type (docs/FORMATS.md).

The service writes these, never hand-built dictionaries, so an entry written on the normal path
and the same entry completed after a crash (``recovered``) cannot drift apart, and the fields
the log's fold reads (``signer.store.log.state``) are the fields every entry of that type has.
Event types not listed here (``session.close``, ``refused``, ``batch.sign``, ...) are free-form
notes for the reader; nothing is decided from them.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Any, ClassVar

from cryptography import x509

from signer.core.decision import StoredDecision, decision_sha256
from signer.store.ledger.rows import CARecord, CertRow, CRLRow


@dataclass(frozen=True)
class Event:
    TYPE: ClassVar[str] = ""

    def data(self) -> dict[str, Any]:
        """The entry's data: the fields, containers copied (no event nests another, so this is
        ``dataclasses.asdict`` without its recursion over every field, which cost 90 µs an
        event)."""
        d = {name: _copied(getattr(self, name)) for name in _field_names(type(self))}
        if d.get("recovered") is False:  # only completions say so
            del d["recovered"]
        return d

    @classmethod
    def from_data(cls, d: dict[str, Any]) -> Any:
        """The event an entry's data records (its fields, as logged)."""
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d})


@dataclass(frozen=True)
class Config(Event):
    TYPE: ClassVar[str] = "config"
    sha256: str
    text: str


@dataclass(frozen=True)
class RaTrusted(Event):
    TYPE: ClassVar[str] = "ra.trusted"
    ra: str
    key_id: str
    public_key: str  # hex, raw Ed25519


@dataclass(frozen=True)
class RaReplaced(Event):
    TYPE: ClassVar[str] = "ra.replaced"
    ra: str
    old_key_id: str
    key_id: str
    public_key: str


@dataclass(frozen=True)
class RaRevoked(Event):
    TYPE: ClassVar[str] = "ra.revoked"
    ra: str
    key_id: str
    reason: str


@dataclass(frozen=True)
class BatchIntent(Event):
    """Logged before the ledger stages a batch (I2); ``BatchImported`` after, same facts."""

    TYPE: ClassVar[str] = "batch.intent"
    batch: str
    ra: str
    ra_key_id: str
    sequence: int
    digest: str  # SHA-256 of the request bundle file
    created: str
    requests: int
    accepted: int
    rejected: int
    revocations: int
    decisions_sha256: str
    revocations_sha256: str
    blocklist_sha256: str | None


@dataclass(frozen=True)
class BatchImported(BatchIntent):
    TYPE: ClassVar[str] = "batch.imported"
    recovered: bool = False

    @classmethod
    def of(cls, intent: BatchIntent, recovered: bool = False) -> BatchImported:
        return cls(**dataclasses.asdict(intent), recovered=recovered)


@dataclass(frozen=True)
class Verdict(Event):
    TYPE: ClassVar[str] = "verdict"
    batch: str
    id: str
    ca: str
    profile: str
    subscriber: str
    verdict: str
    codes: list[str]
    spki_sha256: str | None
    names: list[str]
    personal_name: str | None
    days: int
    decision_sha256: str  # of the stored decision's exact bytes
    recovered: bool = False

    @classmethod
    def of(cls, batch: str, stored: str, recovered: bool = False) -> Verdict:
        d = StoredDecision.from_json(stored)
        return cls(batch=batch, id=d.request_id, ca=d.ca, profile=d.profile,
                   subscriber=d.subscriber, verdict="accept" if d.accepted else "reject",
                   codes=[r.code for r in d.reasons], spki_sha256=d.spki_sha256,
                   names=list(d.names), personal_name=d.personal_name, days=d.days,
                   decision_sha256=decision_sha256(stored), recovered=recovered)


@dataclass(frozen=True)
class Approval(Event):
    TYPE: ClassVar[str] = "approval"
    batch: str
    id: str
    share_indices: list[int]


@dataclass(frozen=True)
class IssueIntent(Event):
    TYPE: ClassVar[str] = "issue.intent"
    batch: str
    id: str
    ca: str
    serial: str


@dataclass(frozen=True)
class CertIssued(Event):
    TYPE: ClassVar[str] = "cert.issued"
    batch: str | None
    id: str | None
    ca: str
    serial: str
    profile: str
    subscriber: str
    cert_sha256: str
    tbs_sha256: str
    spki_sha256: str
    not_after: str
    recovered: bool = False


@dataclass(frozen=True)
class IssueFailed(Event):
    TYPE: ClassVar[str] = "issue.failed"
    batch: str
    id: str
    ca: str
    serial: str
    code: str
    message: str


@dataclass(frozen=True)
class RevokeIntent(Event):
    TYPE: ClassVar[str] = "revoke.intent"
    ca: str
    serial: str
    reason: str
    batch: str | None
    position: int | None


@dataclass(frozen=True)
class Revoked(Event):
    TYPE: ClassVar[str] = "revoked"
    ca: str
    serial: str
    reason: str
    revoked_at: str
    not_after: str  # of the certificate, as logged at issuance
    batch: str | None
    position: int | None
    recovered: bool = False


@dataclass(frozen=True)
class RevocationRejected(Event):
    TYPE: ClassVar[str] = "revocation.rejected"
    batch: str
    position: int
    ca: str
    serial: str
    code: str
    message: str


@dataclass(frozen=True)
class CrlIntent(Event):
    TYPE: ClassVar[str] = "crl.intent"
    ca: str
    number: int
    entries: int
    this_update: str
    next_update: str


@dataclass(frozen=True)
class CrlIssued(Event):
    TYPE: ClassVar[str] = "crl.issued"
    ca: str
    number: int
    crl_sha256: str
    entries: int
    this_update: str
    next_update: str
    batch: str | None
    warning: str | None
    recovered: bool = False


@dataclass(frozen=True)
class CaIntent(Event):
    TYPE: ClassVar[str] = "ca.intent"
    ca: str
    issuer: str
    key: str
    serial: str
    subject: str
    days: int
    profile: str | None = None  # the [ca_profiles] table (absent in logs before issue 14)


@dataclass(frozen=True)
class CaCreated(Event):
    TYPE: ClassVar[str] = "ca.created"
    ca: str
    kind: str
    issuer: str
    serial: str
    cert_sha256: str
    spki_sha256: str
    key: str
    key_algorithm: str
    key_attributes: dict[str, Any] | None
    lint_findings: list[str]
    recovered: bool = False


# -- CA lifecycle (issue 14): further certificates for a CA key, CSRs, OCSP responses --------


@dataclass(frozen=True)
class CaCertIntent(Event):
    """A further certificate for a key, announced before the token signs it (I2): a CA of
    this appliance certified again (``recertify``: same key and subject, the CA's certificate
    from now on), a rollover's link between two roots (``link``), or another CA's key
    cross-certified by one of ours (``cross``: ``ca`` is then the name given to that CA, and
    the custodians approved ``input_sha256``, the certificate or CSR they were shown)."""

    TYPE: ClassVar[str] = "ca.cert.intent"
    ca: str
    issuer: str
    kind: str  # recertify | link | cross
    serial: str
    subject: str
    spki_sha256: str
    days: int
    profile: str
    input_sha256: str | None
    approved_by: list[int] | None  # share indices of the custodians who approved (cross)


@dataclass(frozen=True)
class CaCertified(Event):
    TYPE: ClassVar[str] = "ca.certified"
    ca: str
    issuer: str
    kind: str
    serial: str
    cert_sha256: str
    spki_sha256: str
    not_after: str
    current: bool  # this certificate is the CA's certificate from now on (recertify)
    profile: str
    lint_findings: list[str]
    recovered: bool = False


@dataclass(frozen=True)
class CaCsrIntent(Event):
    """A CSR signed by a CA key, for another CA to cross-certify ours (announced first, I2)."""

    TYPE: ClassVar[str] = "ca.csr.intent"
    ca: str
    subject: str
    spki_sha256: str


@dataclass(frozen=True)
class CaCsr(Event):
    TYPE: ClassVar[str] = "ca.csr"
    ca: str
    spki_sha256: str
    csr_sha256: str


@dataclass(frozen=True)
class OcspIntent(Event):
    """A pre-signed OCSP response (RFC 6960) about a certificate of ``ca``, announced first."""

    TYPE: ClassVar[str] = "ocsp.intent"
    ca: str
    serial: str
    status: str  # good | revoked
    this_update: str
    next_update: str


@dataclass(frozen=True)
class OcspSigned(Event):
    TYPE: ClassVar[str] = "ocsp.signed"
    ca: str
    serial: str
    status: str
    this_update: str
    next_update: str
    revoked_at: str | None
    reason: str | None
    response_sha256: str
    recovered: bool = False


_FIELDS: dict[type[Event], tuple[str, ...]] = {}


def _field_names(cls: type[Event]) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def _copied(value: Any) -> Any:
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        return copy.deepcopy(value)  # ca.created's key attributes: rare, keep asdict's copy
    return value


RECORDS: tuple[type[Event], ...] = (
    Config, RaTrusted, RaReplaced, RaRevoked, BatchIntent, BatchImported, Verdict, Approval,
    IssueIntent, CertIssued, IssueFailed, RevokeIntent, Revoked, RevocationRejected, CrlIntent,
    CrlIssued, CaIntent, CaCreated, CaCertIntent, CaCertified, CaCsrIntent, CaCsr, OcspIntent,
    OcspSigned)

# Every field without a default: what an entry of that type must carry (fields added later
# with a default, like ``ca.intent``'s profile, are absent from older logs).
REQUIRED_FIELDS: dict[str, frozenset[str]] = {
    cls.TYPE: frozenset(f.name for f in dataclasses.fields(cls)
                        if f.default is dataclasses.MISSING)
    for cls in RECORDS}


# -- the records of what the ledger holds, built the same way on every path ---------------------


def cert_issued(row: CertRow, cert: x509.Certificate, subscriber: str, profile: str,
                recovered: bool = False) -> CertIssued:
    return CertIssued(
        batch=row.batch_id, id=row.request_id, ca=row.ca, serial=row.serial, profile=profile,
        subscriber=subscriber, cert_sha256=hashlib.sha256(row.cert_der).hexdigest(),
        tbs_sha256=hashlib.sha256(cert.tbs_certificate_bytes).hexdigest(),
        spki_sha256=row.spki_sha256, not_after=cert.not_valid_after_utc.isoformat(),
        recovered=recovered)


def ca_created(rec: CARecord, key_attributes: dict[str, Any] | None, lint_findings: list[str],
               recovered: bool = False) -> CaCreated:
    return CaCreated(
        ca=rec.name, kind=rec.kind, issuer=rec.issuer, serial=rec.serial,
        cert_sha256=rec.cert_sha256, spki_sha256=rec.spki_sha256, key=rec.key_label,
        key_algorithm=rec.key_algorithm, key_attributes=key_attributes,
        lint_findings=lint_findings, recovered=recovered)


def crl_issued(row: CRLRow, entries: int, warning: str | None,
               recovered: bool = False) -> CrlIssued:
    return CrlIssued(ca=row.ca, number=row.number, crl_sha256=row.sha256, entries=entries,
                     this_update=row.this_update, next_update=row.next_update,
                     batch=row.batch_id, warning=warning, recovered=recovered)
