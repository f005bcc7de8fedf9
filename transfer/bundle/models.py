"""The bundle models: frozen dataclasses that validate themselves, so an invalid bundle
cannot exist as an object (requests, revocations, outcomes, CRLs, log proofs, bundles)."""


from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from transfer.bundle.fields import (
    _HEX64,
    _UNSUPPORTED_REASONS,
    MAX_CAS,
    MAX_CSR,
    MAX_FACT_CHARS,
    MAX_FACTS,
    MAX_INT,
    MAX_MESSAGE_CHARS,
    MAX_PROOF_HASHES,
    MAX_REASONS,
    MAX_REQUESTS,
    MAX_RESULT_FILE,
    MAX_REVOCATIONS,
    MAX_SUBSCRIBER_CHARS,
    MAX_TEXT,
    REVOCATION_REASONS,
    _at,
    _check_bool,
    _check_choice,
    _check_int,
    _check_name,
    _check_pattern,
    _check_pem,
    _check_serial,
    _check_str,
    _check_time,
    _fail,
    _instance,
    _kind,
    _tuple_field,
    _unique,
)

# --- request models ---------------------------------------------------------------------------

@dataclass(frozen=True)
class VerifiedFacts:
    """What the RA verified about the subscriber; the only source of names (I8)."""

    dns: tuple[str, ...]
    email: tuple[str, ...]
    name: str | None
    points: int
    # Optional since issue 14 (absent from the wire when None): the verified given name and
    # surname, for individual-validated e-mail certificates (S/MIME BR §7.1.4.2.2).
    given_name: str | None = None
    surname: str | None = None

    def __post_init__(self) -> None:
        fact = _fact_check
        _tuple_field(self, "dns", MAX_FACTS, fact)
        _tuple_field(self, "email", MAX_FACTS, fact)
        for key in ("name", "given_name", "surname"):
            value = getattr(self, key)
            if value is not None:
                _check_str(value, key, max_chars=MAX_FACT_CHARS)
                # Names in any script: printable, except that ZWNJ and ZWJ, which Persian and
                # Indic names need (Unicode §23.2), are format characters.
                if not value.replace("\u200c", "").replace("\u200d", "").isprintable():
                    _fail(key, "contains a control or non-printable character")
        if (self.given_name is None) != (self.surname is None):
            _fail("given_name", "given_name and surname come together")
        _check_int(self.points, "points", 0, 1000)


def _fact_check(v: object, path: str) -> str:
    return _check_str(v, path, max_chars=MAX_FACT_CHARS, printable=True)


@dataclass(frozen=True)
class RequestItem:
    """One certificate request; ``csr`` holds the CSR bytes exactly as the RA sent them."""

    id: str
    ca: str
    profile: str
    csr: bytes
    verified: VerifiedFacts
    subscriber: str

    def __post_init__(self) -> None:
        _check_name(self.id, "id")
        _check_name(self.ca, "ca")
        _check_name(self.profile, "profile")
        if not isinstance(self.csr, bytes):
            _fail("csr", f"expected bytes, got {_kind(self.csr)}")
        if not 1 <= len(self.csr) <= MAX_CSR:
            _fail("csr", f"expected 1 to {MAX_CSR} bytes, got {len(self.csr)}")
        _instance(VerifiedFacts)(self.verified, "verified")
        _check_str(self.subscriber, "subscriber", max_chars=MAX_SUBSCRIBER_CHARS, printable=True)


def _check_reason_name(v: object, path: str) -> str:
    if isinstance(v, str) and v in _UNSUPPORTED_REASONS:
        _fail(path, f"{v} is not supported (revocation is final)")
    return _check_choice(v, path, REVOCATION_REASONS)


@dataclass(frozen=True)
class Revocation:
    """A request to revoke certificate ``serial`` of CA ``ca``."""

    ca: str
    serial: str
    reason: str

    def __post_init__(self) -> None:
        _check_name(self.ca, "ca")
        _check_serial(self.serial, "serial")
        _check_reason_name(self.reason, "reason")


@dataclass(frozen=True)
class RequestBody:
    """The RA-signed content of a request bundle."""

    batch_id: str
    ra: str
    sequence: int
    created: str  # YYYY-MM-DDTHH:MM:SSZ; fixed width, so string order is time order
    requests: tuple[RequestItem, ...]
    revocations: tuple[Revocation, ...]

    def __post_init__(self) -> None:
        _check_name(self.batch_id, "batch_id")
        _check_name(self.ra, "ra")
        _check_int(self.sequence, "sequence", 1, MAX_INT)
        _check_time(self.created, "created")
        _tuple_field(self, "requests", MAX_REQUESTS, _instance(RequestItem))
        _tuple_field(self, "revocations", MAX_REVOCATIONS, _instance(Revocation))
        _unique([r.id for r in self.requests], "requests", "request id")
        _unique([(r.ca, r.serial) for r in self.revocations], "revocations", "revocation")


# --- result models ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Reason:
    """Why something was rejected: a stable code and a human sentence (DESIGN §4)."""

    code: str
    message: str

    def __post_init__(self) -> None:
        _check_name(self.code, "code")
        _check_str(self.message, "message", max_chars=MAX_MESSAGE_CHARS)


def _reasons(obj: object) -> None:
    _tuple_field(obj, "reasons", MAX_REASONS, _instance(Reason))


@dataclass(frozen=True)
class Outcome:
    """The outcome of one request: a certificate, or the reasons it was rejected."""

    id: str
    status: str  # "issued" | "rejected"
    serial: str | None
    certificate: str | None  # PEM
    reasons: tuple[Reason, ...]

    def __post_init__(self) -> None:
        _check_name(self.id, "id")
        _check_choice(self.status, "status", frozenset({"issued", "rejected"}))
        _reasons(self)
        if self.status == "issued":
            _check_serial(self.serial, "serial")
            _check_pem(self.certificate, "certificate", "CERTIFICATE", MAX_TEXT)
        else:
            if self.serial is not None or self.certificate is not None:
                _fail("status", "a rejected request has a null serial and certificate")
            if not self.reasons:
                _fail("reasons", "a rejected request needs at least one reason")


@dataclass(frozen=True)
class RevocationOutcome:
    ca: str
    serial: str
    status: str  # "revoked" | "rejected"
    reasons: tuple[Reason, ...]

    def __post_init__(self) -> None:
        _check_name(self.ca, "ca")
        _check_serial(self.serial, "serial")
        _check_choice(self.status, "status", frozenset({"revoked", "rejected"}))
        _reasons(self)
        if self.status == "rejected" and not self.reasons:
            _fail("reasons", "a rejected revocation needs at least one reason")


@dataclass(frozen=True)
class ChainCertificate:
    ca: str
    certificate: str  # PEM

    def __post_init__(self) -> None:
        _check_name(self.ca, "ca")
        _check_pem(self.certificate, "certificate", "CERTIFICATE", MAX_TEXT)


@dataclass(frozen=True)
class IssuedCrl:
    ca: str
    number: int
    crl: str  # PEM

    def __post_init__(self) -> None:
        _check_name(self.ca, "ca")
        _check_int(self.number, "number", 0, MAX_INT)
        _check_pem(self.crl, "crl", "X509 CRL", MAX_RESULT_FILE)


def _check_hash(v: object, path: str) -> bytes:
    if not isinstance(v, bytes) or len(v) != 32:
        _fail(path, "expected a 32-byte SHA-256 hash")
    return v


def _check_text(v: object, path: str) -> str:
    return _check_str(v, path, max_chars=MAX_TEXT)


@dataclass(frozen=True)
class LogProofs:
    """Ceremony-log evidence; verifying it is the caller's job (signer.service.audit)."""

    checkpoint: str  # C2SP signed-note text
    previous_checkpoint: str | None
    consistency_proof: tuple[bytes, ...]  # 32-byte hashes
    inclusion: Mapping[str, str]  # hex SHA-256 of a certificate's or CRL's DER -> tlog-proof

    def __post_init__(self) -> None:
        _check_text(self.checkpoint, "checkpoint")
        if self.previous_checkpoint is not None:
            _check_text(self.previous_checkpoint, "previous_checkpoint")
        _tuple_field(self, "consistency_proof", MAX_PROOF_HASHES, _check_hash)
        if not isinstance(self.inclusion, Mapping):
            _fail("inclusion", f"expected an object, got {_kind(self.inclusion)}")
        if len(self.inclusion) > MAX_REQUESTS + MAX_CAS:
            _fail("inclusion", f"more than {MAX_REQUESTS + MAX_CAS} proofs")
        with _at("inclusion"):
            for k, v in self.inclusion.items():
                _check_pattern(k, "", _HEX64, "a key of 64 lowercase hex digits")
                _check_text(v, str(k))
        # A read-only copy: the dataclass is frozen, its contents should be too.
        object.__setattr__(self, "inclusion", MappingProxyType(dict(self.inclusion)))


@dataclass(frozen=True)
class ResultBody:
    """The appliance-signed content of a result bundle."""

    request_digest: str
    batch_id: str
    ra: str
    sequence: int
    issued_at: str  # ceremony time (I9)
    rehearsal: bool
    appliance: str
    outcomes: tuple[Outcome, ...]
    revocations: tuple[RevocationOutcome, ...]
    chain: tuple[ChainCertificate, ...]
    crls: tuple[IssuedCrl, ...]
    log: LogProofs

    def __post_init__(self) -> None:
        _check_pattern(self.request_digest, "request_digest", _HEX64, "64 lowercase hex digits")
        _check_name(self.batch_id, "batch_id")
        _check_name(self.ra, "ra")
        _check_int(self.sequence, "sequence", 1, MAX_INT)
        _check_time(self.issued_at, "issued_at")
        _check_bool(self.rehearsal, "rehearsal")
        _check_str(self.appliance, "appliance", max_chars=128, printable=True)
        _tuple_field(self, "outcomes", MAX_REQUESTS, _instance(Outcome))
        _tuple_field(self, "revocations", MAX_REVOCATIONS, _instance(RevocationOutcome))
        _tuple_field(self, "chain", MAX_CAS, _instance(ChainCertificate))
        _tuple_field(self, "crls", MAX_CAS, _instance(IssuedCrl))
        _instance(LogProofs)(self.log, "log")
        _unique([o.id for o in self.outcomes], "outcomes", "request id")
        _unique([(r.ca, r.serial) for r in self.revocations], "revocations", "revocation")
        _unique([c.ca for c in self.chain], "chain", "CA")
        _unique([(c.ca, c.number) for c in self.crls], "crls", "CRL")


# --- bundles ----------------------------------------------------------------------------------

def _check_digest(raw: object, digest: object, key: object) -> None:
    if not isinstance(raw, bytes) or hashlib.sha256(raw).hexdigest() != digest:
        _fail("digest", "is not the SHA-256 of raw")
    _check_pattern(key, "key_id", _HEX64, "64 lowercase hex digits")


@dataclass(frozen=True)
class RequestBundle:
    """A verified request bundle. ``digest`` (hex SHA-256 of ``raw``) is the batch digest."""

    raw: bytes
    digest: str
    body: RequestBody
    key_id: str

    def __post_init__(self) -> None:
        _check_digest(self.raw, self.digest, self.key_id)
        _instance(RequestBody)(self.body, "body")


@dataclass(frozen=True)
class ResultBundle:
    """A verified result bundle; ``digest`` is the hex SHA-256 of ``raw``."""

    raw: bytes
    digest: str
    body: ResultBody
    key_id: str

    def __post_init__(self) -> None:
        _check_digest(self.raw, self.digest, self.key_id)
        _instance(ResultBody)(self.body, "body")
