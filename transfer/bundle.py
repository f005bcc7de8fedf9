"""Request and result bundles: the signed files that cross the air gap (DESIGN §5 Formats).

Pure encode / decode / verify over bytes; the byte-level contract is docs/FORMATS.md.
Every model is a frozen dataclass that validates itself, so an invalid bundle cannot exist
as an object, and every error is a one-line ``BundleError`` naming the field path.

Deliberately not here: sequence and replay checks (the signer's ledger, I7), judging CSRs
(policy), X.509 and Merkle verification (the caller), file I/O, and the HSM: signing is a
callback returning a raw Ed25519 signature, and verification takes raw public keys.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NoReturn

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from transfer.errors import BundleError

REQUEST_FORMAT = "airgap-signer/request-bundle"
RESULT_FORMAT = "airgap-signer/result-bundle"
VERSION = 1

MAX_REQUEST_FILE = 64 * 1024 * 1024
MAX_RESULT_FILE = 256 * 1024 * 1024
MAX_REQUESTS = 10_000
MAX_REVOCATIONS = 10_000
MAX_CSR = 16 * 1024
MAX_FACTS = 100
MAX_FACT_CHARS = 256
MAX_SUBSCRIBER_CHARS = 128
MAX_CAS = 64  # chain certificates, and CRLs, in one result
MAX_REASONS = 100
MAX_MESSAGE_CHARS = 16 * 1024
MAX_PROOF_HASHES = 64  # a SHA-256 Merkle tree never needs more (RFC 9162 §2.1)
MAX_TEXT = 64 * 1024  # one certificate PEM, checkpoint or inclusion proof
MAX_INT = 2**63 - 1  # sequence and CRL numbers fit SQLite INTEGER and PHP int

DEFAULT_CA = "class1"  # DESIGN §4: a request without a CA goes to Class 1
# RFC 5280 §5.3.1 CRLReason names; certificateHold and removeFromCRL are not supported.
REVOCATION_REASONS = frozenset({
    "unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded",
    "cessationOfOperation", "privilegeWithdrawn", "aACompromise",
})
_UNSUPPORTED_REASONS = frozenset({"certificateHold", "removeFromCRL"})

Sign = Callable[[bytes], bytes]

_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
_SERIAL = re.compile(r"[1-9a-f][0-9a-f]{0,39}")  # canonical: no leading zero (I3: positive)
_HEX64 = re.compile(r"[0-9a-f]{64}")
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
_PEM = re.compile(r"-----BEGIN (?P<label>[A-Z0-9 ]{1,32})-----\r?\n"
                  r"(?:[A-Za-z0-9+/=]{1,128}\r?\n)+"
                  r"-----END (?P=label)-----\r?\n?")


# --- errors with a field path ---------------------------------------------------------------

class _FieldError(BundleError):
    """A BundleError that knows its path, so enclosing parsers can prefix it."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}" if path else reason)
        self.path = path
        self.reason = reason


def _fail(path: str, reason: str) -> NoReturn:
    raise _FieldError(path, reason)


@contextmanager
def _at(segment: str) -> Iterator[None]:
    """Prefix the path of any field error raised inside with ``segment``."""
    try:
        yield
    except _FieldError as exc:
        inner = exc.path
        if not inner:
            path = segment
        elif inner.startswith("["):
            path = segment + inner
        else:
            path = f"{segment}.{inner}"
        raise _FieldError(path, exc.reason) from None


# --- strict JSON ------------------------------------------------------------------------------

class _JsonFloat(str):
    """Marker for a JSON number with a fraction or exponent, or NaN/Infinity: never accepted,
    but kept until the schema check so the error can name the field."""


class _DuplicateKeys(dict[str, Any]):
    """Marker for a JSON object with a repeated key (RFC 8259 leaves its meaning open)."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            return _DuplicateKeys(k)
        out[k] = v
    return out


def _loads(raw: bytes, what: str) -> Any:
    try:
        text = raw.decode("utf-8")  # strict: no replacement characters
    except UnicodeDecodeError as exc:
        _fail(what, f"not UTF-8 (bad byte at offset {exc.start})")
    try:
        return json.loads(text, object_pairs_hook=_pairs, parse_float=_JsonFloat,
                          parse_constant=_JsonFloat)
    except (ValueError, RecursionError) as exc:
        _fail(what, f"not valid JSON ({str(exc).splitlines()[0][:120]})")


def _dumps(doc: Any) -> bytes:
    # The packer's canonical form; parsers accept any valid JSON and never re-serialize.
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode("ascii")


def _kind(v: object) -> str:
    if isinstance(v, _JsonFloat):
        return f"a non-integer number {str(v)[:20]}"
    if isinstance(v, _DuplicateKeys):
        return f"an object with duplicate key {_short(v.key)}"
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    return {str: "a string", int: "an integer", list: "an array", tuple: "an array",
            dict: "an object", bytes: "bytes"}.get(type(v), type(v).__name__)


def _short(v: object) -> str:
    r = repr(v)
    return r if len(r) <= 40 else r[:37] + "..."


# --- field checks (path-relative; used by the models' __post_init__) --------------------------

def _check_str(v: object, path: str, *, max_chars: int, printable: bool = False) -> str:
    if not isinstance(v, str) or isinstance(v, _JsonFloat):
        _fail(path, f"expected a string, got {_kind(v)}")
    if not 1 <= len(v) <= max_chars:
        _fail(path, f"expected 1 to {max_chars} characters, got {len(v)}")
    if printable and not v.isprintable():
        _fail(path, "contains a control or non-printable character")
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        _fail(path, "contains an unpaired surrogate")
    return v


def _check_pattern(v: object, path: str, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(v, str) or isinstance(v, _JsonFloat):
        _fail(path, f"expected {what}, got {_kind(v)}")
    if not pattern.fullmatch(v):
        _fail(path, f"expected {what}, got {_short(v)}")
    return v


def _check_name(v: object, path: str) -> str:
    return _check_pattern(v, path, _NAME, "1-64 characters of [A-Za-z0-9._-]")


def _check_serial(v: object, path: str) -> str:
    return _check_pattern(v, path, _SERIAL, "lowercase hex without 0x or leading zeros, 1-40 digits")


def _check_time(v: object, path: str) -> str:
    _check_pattern(v, path, _TIME, "a UTC time YYYY-MM-DDTHH:MM:SSZ")
    try:
        dt.datetime.strptime(str(v), "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        _fail(path, f"not a valid calendar time: {_short(v)}")
    return str(v)


def _check_int(v: object, path: str, lo: int, hi: int) -> int:
    if type(v) is not int:  # bool is a subclass of int: not accepted
        _fail(path, f"expected an integer, got {_kind(v)}")
    if not lo <= v <= hi:
        _fail(path, f"expected an integer from {lo} to {hi}, got {v}")
    return v


def _check_bool(v: object, path: str) -> bool:
    if not isinstance(v, bool):
        _fail(path, f"expected true or false, got {_kind(v)}")
    return v


def _check_choice(v: object, path: str, choices: frozenset[str]) -> str:
    if not isinstance(v, str) or v not in choices:
        _fail(path, f"expected one of {', '.join(sorted(choices))}; got {_short(v)}")
    return v


def _check_pem(v: object, path: str, label: str, max_chars: int) -> str:
    s = _check_str(v, path, max_chars=max_chars)
    m = _PEM.fullmatch(s)
    if m is None or m["label"] != label:
        _fail(path, f"expected one PEM block labelled {label}")
    return s


def _tuple_field(obj: object, name: str, max_items: int, item: Callable[[Any, str], Any]) -> None:
    """Coerce a list field to a tuple (frozen means immutable too), cap it, check each item."""
    v = getattr(obj, name)
    if isinstance(v, list):
        v = tuple(v)
        object.__setattr__(obj, name, v)
    if not isinstance(v, tuple):
        _fail(name, f"expected an array, got {_kind(v)}")
    if len(v) > max_items:
        _fail(name, f"more than {max_items} items ({len(v)})")
    with _at(name):
        for i, x in enumerate(v):
            item(x, f"[{i}]")


def _instance(cls: type) -> Callable[[Any, str], Any]:
    def check(v: object, path: str) -> object:
        if not isinstance(v, cls):
            _fail(path, f"expected a {cls.__name__}, got {_kind(v)}")
        return v
    return check


def _unique(keys: list[Any], path: str, what: str) -> None:
    seen: set[Any] = set()
    for i, k in enumerate(keys):
        if k in seen:
            _fail(f"{path}[{i}]", f"duplicate {what} {_short(k)}")
        seen.add(k)


# --- request models ---------------------------------------------------------------------------

@dataclass(frozen=True)
class VerifiedFacts:
    """What the RA verified about the subscriber; the only source of names (I8)."""

    dns: tuple[str, ...]
    email: tuple[str, ...]
    name: str | None
    points: int

    def __post_init__(self) -> None:
        fact = _fact_check
        _tuple_field(self, "dns", MAX_FACTS, fact)
        _tuple_field(self, "email", MAX_FACTS, fact)
        if self.name is not None:
            _check_str(self.name, "name", max_chars=MAX_FACT_CHARS, printable=True)
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


# --- wire form -> models ----------------------------------------------------------------------

def _obj(v: object, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    if isinstance(v, _DuplicateKeys):
        _fail("", f"duplicate key {_short(v.key)}")
    if not isinstance(v, dict):
        _fail("", f"expected an object, got {_kind(v)}")
    for k in v:
        if k not in required and k not in optional:
            _fail("", f"unknown key {_short(k)}")
    for k in required:
        if k not in v:
            _fail(k, "missing")
    return v


def _list(v: object, path: str, max_items: int) -> list[Any]:
    # Counted before any item is looked at, so a huge array fails fast.
    if not isinstance(v, list):
        _fail(path, f"expected an array, got {_kind(v)}")
    if len(v) > max_items:
        _fail(path, f"more than {max_items} items ({len(v)})")
    return v


def _b64(v: object, path: str, max_bytes: int) -> bytes:
    if not isinstance(v, str) or isinstance(v, _JsonFloat):
        _fail(path, f"expected a base64 string, got {_kind(v)}")
    if len(v) > 4 * ((max_bytes + 2) // 3):  # before decoding anything
        _fail(path, f"longer than {max_bytes} bytes")
    try:
        out = base64.b64decode(v, validate=True)
    except (binascii.Error, ValueError):
        _fail(path, "not standard base64 (RFC 4648 §4, with padding)")
    # Non-zero padding bits would let one body have many encodings.
    if base64.b64encode(out).decode("ascii") != v:
        _fail(path, "not canonical base64")
    return out


def _items(v: object, path: str, max_items: int, build: Callable[[Any], Any]) -> list[Any]:
    out = []
    with _at(path):
        for i, x in enumerate(_list(v, "", max_items)):
            with _at(f"[{i}]"):
                out.append(build(x))
    return out


def _facts_from_wire(v: object) -> VerifiedFacts:
    d = _obj(v, ("dns", "email", "name", "points"))
    return VerifiedFacts(dns=tuple(_list(d["dns"], "dns", MAX_FACTS)),
                         email=tuple(_list(d["email"], "email", MAX_FACTS)),
                         name=d["name"], points=d["points"])


def _request_from_wire(v: object) -> RequestItem:
    d = _obj(v, ("id", "profile", "csr", "verified", "subscriber"), ("ca",))
    csr = _b64(d["csr"], "csr", MAX_CSR)
    with _at("verified"):
        facts = _facts_from_wire(d["verified"])
    return RequestItem(id=d["id"], ca=d.get("ca", DEFAULT_CA), profile=d["profile"], csr=csr,
                       verified=facts, subscriber=d["subscriber"])


def _revocation_from_wire(v: object) -> Revocation:
    d = _obj(v, ("ca", "serial", "reason"))
    return Revocation(ca=d["ca"], serial=d["serial"], reason=d["reason"])


def _request_body_from_wire(v: object) -> RequestBody:
    d = _obj(v, ("batch_id", "ra", "sequence", "created", "requests", "revocations"))
    return RequestBody(
        batch_id=d["batch_id"], ra=d["ra"], sequence=d["sequence"], created=d["created"],
        requests=tuple(_items(d["requests"], "requests", MAX_REQUESTS, _request_from_wire)),
        revocations=tuple(_items(d["revocations"], "revocations", MAX_REVOCATIONS,
                                 _revocation_from_wire)))


def _reasons_from_wire(v: object) -> tuple[Reason, ...]:
    def build(x: object) -> Reason:
        d = _obj(x, ("code", "message"))
        return Reason(code=d["code"], message=d["message"])
    return tuple(_items(v, "reasons", MAX_REASONS, build))


def _outcome_from_wire(v: object) -> Outcome:
    d = _obj(v, ("id", "status", "serial", "certificate", "reasons"))
    return Outcome(id=d["id"], status=d["status"], serial=d["serial"],
                   certificate=d["certificate"], reasons=_reasons_from_wire(d["reasons"]))


def _rev_outcome_from_wire(v: object) -> RevocationOutcome:
    d = _obj(v, ("ca", "serial", "status", "reasons"))
    return RevocationOutcome(ca=d["ca"], serial=d["serial"], status=d["status"],
                             reasons=_reasons_from_wire(d["reasons"]))


def _chain_from_wire(v: object) -> ChainCertificate:
    d = _obj(v, ("ca", "certificate"))
    return ChainCertificate(ca=d["ca"], certificate=d["certificate"])


def _crl_from_wire(v: object) -> IssuedCrl:
    d = _obj(v, ("ca", "number", "crl"))
    return IssuedCrl(ca=d["ca"], number=d["number"], crl=d["crl"])


def _log_from_wire(v: object) -> LogProofs:
    d = _obj(v, ("checkpoint", "previous_checkpoint", "consistency_proof", "inclusion"))
    hashes = _items(d["consistency_proof"], "consistency_proof", MAX_PROOF_HASHES,
                    lambda x: _b64(x, "", 32))
    inclusion = d["inclusion"]
    with _at("inclusion"):
        _obj(inclusion, tuple(inclusion) if isinstance(inclusion, dict) else ())
    return LogProofs(checkpoint=d["checkpoint"], previous_checkpoint=d["previous_checkpoint"],
                     consistency_proof=tuple(hashes), inclusion=inclusion)


def _result_body_from_wire(v: object) -> ResultBody:
    d = _obj(v, ("request_digest", "batch_id", "ra", "sequence", "issued_at", "rehearsal",
                 "appliance", "outcomes", "revocations", "chain", "crls", "log"))
    with _at("log"):
        log = _log_from_wire(d["log"])
    return ResultBody(
        request_digest=d["request_digest"], batch_id=d["batch_id"], ra=d["ra"],
        sequence=d["sequence"], issued_at=d["issued_at"], rehearsal=d["rehearsal"],
        appliance=d["appliance"],
        outcomes=tuple(_items(d["outcomes"], "outcomes", MAX_REQUESTS, _outcome_from_wire)),
        revocations=tuple(_items(d["revocations"], "revocations", MAX_REVOCATIONS,
                                 _rev_outcome_from_wire)),
        chain=tuple(_items(d["chain"], "chain", MAX_CAS, _chain_from_wire)),
        crls=tuple(_items(d["crls"], "crls", MAX_CAS, _crl_from_wire)),
        log=log)


def _parse_body(body: bytes, build: Callable[[Any], Any]) -> Any:
    doc = _loads(body, "body")
    try:
        return build(doc)
    except _FieldError as exc:
        if not exc.path:  # a top-level error names the body itself
            raise _FieldError("body", exc.reason) from None
        raise


# --- models -> wire form ----------------------------------------------------------------------

def _b64e(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def _request_body_to_wire(b: RequestBody) -> dict[str, Any]:
    return {
        "batch_id": b.batch_id, "ra": b.ra, "sequence": b.sequence, "created": b.created,
        "requests": [{"id": r.id, "ca": r.ca, "profile": r.profile, "csr": _b64e(r.csr),
                      "verified": {"dns": list(r.verified.dns), "email": list(r.verified.email),
                                   "name": r.verified.name, "points": r.verified.points},
                      "subscriber": r.subscriber} for r in b.requests],
        "revocations": [{"ca": r.ca, "serial": r.serial, "reason": r.reason}
                        for r in b.revocations],
    }


def _reasons_to_wire(rs: tuple[Reason, ...]) -> list[dict[str, str]]:
    return [{"code": r.code, "message": r.message} for r in rs]


def _result_body_to_wire(b: ResultBody) -> dict[str, Any]:
    return {
        "request_digest": b.request_digest, "batch_id": b.batch_id, "ra": b.ra,
        "sequence": b.sequence, "issued_at": b.issued_at, "rehearsal": b.rehearsal,
        "appliance": b.appliance,
        "outcomes": [{"id": o.id, "status": o.status, "serial": o.serial,
                      "certificate": o.certificate, "reasons": _reasons_to_wire(o.reasons)}
                     for o in b.outcomes],
        "revocations": [{"ca": r.ca, "serial": r.serial, "status": r.status,
                         "reasons": _reasons_to_wire(r.reasons)} for r in b.revocations],
        "chain": [{"ca": c.ca, "certificate": c.certificate} for c in b.chain],
        "crls": [{"ca": c.ca, "number": c.number, "crl": c.crl} for c in b.crls],
        "log": {"checkpoint": b.log.checkpoint,
                "previous_checkpoint": b.log.previous_checkpoint,
                "consistency_proof": [_b64e(h) for h in b.log.consistency_proof],
                "inclusion": dict(b.log.inclusion)},
    }


def _normalize(doc: Mapping[str, Any], build: Callable[[Any], Any]) -> Any:
    """A caller's dict goes through the same strict parser as untrusted input."""
    try:
        text = json.dumps(doc, allow_nan=True)  # NaN is kept so the parser can name the field
    except (TypeError, ValueError) as exc:
        raise BundleError(f"body: not JSON data ({exc})") from None
    return _parse_body(text.encode("utf-8"), build)


def _with_b64(value: object, convert: Callable[[Any], Any]) -> object:
    return convert(value) if isinstance(value, Mapping) else value


# --- envelope and signatures ------------------------------------------------------------------

def key_id(public_key_raw: bytes) -> str:
    """Hex SHA-256 of a raw 32-byte Ed25519 public key."""
    return hashlib.sha256(_check_key(public_key_raw, "public key")).hexdigest()


def signed_message(fmt: str, body: bytes) -> bytes:
    """The exact bytes that are signed: ``<format>/v1\\n`` then the body bytes (domain
    separation: a request signature can never pass as a result signature)."""
    return fmt.encode("ascii") + b"/v" + str(VERSION).encode("ascii") + b"\n" + body


def _check_key(key: object, path: str) -> bytes:
    if not isinstance(key, bytes) or len(key) != 32:
        _fail(path, "expected a raw 32-byte Ed25519 public key")
    return key


@dataclass(frozen=True)
class _Envelope:
    body: bytes
    key_id: str
    signature: bytes


def _parse_envelope(raw: bytes, fmt: str, limit: int) -> _Envelope:
    if not isinstance(raw, bytes):
        _fail("bundle", f"expected bytes, got {_kind(raw)}")
    if len(raw) > limit:  # before parsing: the cap is what bounds the parser's work
        _fail("bundle", f"larger than {limit} bytes ({len(raw)})")
    d = _obj(_loads(raw, "bundle"), ("format", "version", "body", "signature"))
    if d["format"] != fmt:
        _fail("format", f"expected {fmt!r}, got {_short(d['format'])}")
    _check_int(d["version"], "version", VERSION, VERSION)
    with _at("signature"):
        s = _obj(d["signature"], ("alg", "key_id", "value"))
        if s["alg"] != "ed25519":
            _fail("alg", f"expected 'ed25519', got {_short(s['alg'])}")
        kid = _check_pattern(s["key_id"], "key_id", _HEX64, "64 lowercase hex digits")
        sig = _b64(s["value"], "value", 64)
        if len(sig) != 64:
            _fail("value", f"expected a 64-byte signature, got {len(sig)} bytes")
    return _Envelope(body=_b64(d["body"], "body", limit), key_id=kid, signature=sig)


def _verify(public_key_raw: bytes, fmt: str, env: _Envelope) -> None:
    try:
        Ed25519PublicKey.from_public_bytes(public_key_raw).verify(
            env.signature, signed_message(fmt, env.body))
    except (InvalidSignature, ValueError):
        _fail("signature", "does not verify (tampered, or signed by another key)")


def _encode(fmt: str, body: bytes, sign: Sign, public_key_raw: bytes, limit: int) -> bytes:
    pk = _check_key(public_key_raw, "public_key_raw")
    sig = sign(signed_message(fmt, body))
    if not isinstance(sig, bytes) or len(sig) != 64:
        raise BundleError("signature: the signing callback must return 64 raw bytes")
    env = _Envelope(body=body, key_id=hashlib.sha256(pk).hexdigest(), signature=sig)
    # Verify before release, so a faulty signer or a mismatched key never leaves (cf. I5).
    _verify(pk, fmt, env)
    raw = _dumps({"format": fmt, "version": VERSION, "body": _b64e(body),
                  "signature": {"alg": "ed25519", "key_id": env.key_id, "value": _b64e(sig)}})
    if len(raw) > limit:
        raise BundleError(f"bundle: larger than {limit} bytes ({len(raw)})")
    return raw


# --- public API -------------------------------------------------------------------------------

def encode_request_bundle(body: RequestBody | Mapping[str, Any], sign: Sign,
                          public_key_raw: bytes) -> bytes:
    """Pack and sign a request bundle (online side). ``body`` is a RequestBody or a dict in
    the wire shape, where each request's ``csr`` may be the raw CSR bytes (PEM or DER)."""
    if not isinstance(body, RequestBody):
        def csr_b64(r: Mapping[str, Any]) -> object:
            csr = r.get("csr")
            return {**r, "csr": _b64e(bytes(csr))} if isinstance(csr, bytes | bytearray) else r
        reqs = body.get("requests")
        if isinstance(reqs, list | tuple):
            body = {**body, "requests": [_with_b64(r, csr_b64) for r in reqs]}
        body = _normalize(body, _request_body_from_wire)
    assert isinstance(body, RequestBody)
    return _encode(REQUEST_FORMAT, _dumps(_request_body_to_wire(body)), sign, public_key_raw,
                   MAX_REQUEST_FILE)


def parse_request_bundle(raw: bytes, trusted: Mapping[str, bytes]) -> RequestBundle:
    """Verify and parse a request bundle; ``trusted`` maps RA name -> raw Ed25519 key.

    Accepted only if signed by the key pinned for the RA the body names (I7). The sequence
    is not checked here: compare ``body.sequence`` with the ledger before staging.
    """
    env = _parse_envelope(raw, REQUEST_FORMAT, MAX_REQUEST_FILE)
    signers = sorted(name for name, key in trusted.items()
                     if hashlib.sha256(_check_key(key, f"trusted[{name!r}]")).hexdigest()
                     == env.key_id)
    if not signers:
        _fail("signature.key_id", "not the key of any trusted RA")
    # The body is parsed only after the signature holds: nothing unauthenticated is read.
    _verify(trusted[signers[0]], REQUEST_FORMAT, env)
    body: RequestBody = _parse_body(env.body, _request_body_from_wire)
    if body.ra not in signers:
        if body.ra in trusted:
            _fail("ra", f"names RA {body.ra!r}, but the key that signed is pinned for "
                        f"{signers[0]!r}")
        _fail("ra", f"RA {body.ra!r} is not trusted")
    return RequestBundle(raw=raw, digest=hashlib.sha256(raw).hexdigest(), body=body,
                         key_id=env.key_id)


def read_own_request_bundle(raw: bytes) -> RequestBody:
    """The body of a request bundle, its signature NOT checked: only for the RA reading back
    a file it packed itself (the caller matches its SHA-256 with the digest a result names)."""
    env = _parse_envelope(raw, REQUEST_FORMAT, MAX_REQUEST_FILE)
    body: RequestBody = _parse_body(env.body, _request_body_from_wire)
    return body


def peek_request_bundle_header(raw: bytes) -> tuple[str, str]:
    """(RA name, key id) of a request bundle, UNVERIFIED: only for finding the right key or
    saying which RA an unacceptable bundle claims to come from."""
    env = _parse_envelope(raw, REQUEST_FORMAT, MAX_REQUEST_FILE)
    doc = _loads(env.body, "body")
    if not isinstance(doc, dict) or isinstance(doc, _DuplicateKeys):
        _fail("body", f"expected an object, got {_kind(doc)}")
    return _check_name(doc.get("ra"), "ra"), env.key_id


def encode_result_bundle(body: ResultBody | Mapping[str, Any], sign: Sign,
                         public_key_raw: bytes) -> bytes:
    """Pack and sign a result bundle (appliance side; ``sign`` calls the HSM). ``body`` is a
    ResultBody or a dict in the wire shape, where consistency hashes may be raw bytes."""
    if not isinstance(body, ResultBody):
        def hashes_b64(log: Mapping[str, Any]) -> object:
            proof = log.get("consistency_proof")
            if not isinstance(proof, list | tuple):
                return log
            return {**log, "consistency_proof": [
                _b64e(bytes(h)) if isinstance(h, bytes | bytearray) else h for h in proof]}
        body = _normalize({**body, "log": _with_b64(body.get("log"), hashes_b64)},
                          _result_body_from_wire)
    assert isinstance(body, ResultBody)
    return _encode(RESULT_FORMAT, _dumps(_result_body_to_wire(body)), sign, public_key_raw,
                   MAX_RESULT_FILE)


def parse_result_bundle(raw: bytes, appliance_public_key_raw: bytes) -> ResultBundle:
    """Verify and parse a result bundle against the appliance's pinned key. Certificates,
    CRLs and log proofs are checked only for shape: X.509 and Merkle checks are the caller's."""
    pk = _check_key(appliance_public_key_raw, "appliance_public_key_raw")
    env = _parse_envelope(raw, RESULT_FORMAT, MAX_RESULT_FILE)
    if env.key_id != hashlib.sha256(pk).hexdigest():
        _fail("signature.key_id", "not the pinned appliance key")
    _verify(pk, RESULT_FORMAT, env)
    body: ResultBody = _parse_body(env.body, _result_body_from_wire)
    return ResultBundle(raw=raw, digest=hashlib.sha256(raw).hexdigest(), body=body,
                        key_id=env.key_id)
