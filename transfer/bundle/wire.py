"""The wire form (JSON objects, base64 bytes) to models and back; strict: unknown keys,
wrong types and non-canonical base64 are refused with their field path."""


from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from typing import Any

from transfer.bundle.fields import (
    DEFAULT_CA,
    MAX_CAS,
    MAX_CSR,
    MAX_FACTS,
    MAX_PROOF_HASHES,
    MAX_REASONS,
    MAX_REQUESTS,
    MAX_REVOCATIONS,
    _at,
    _DuplicateKeys,
    _fail,
    _FieldError,
    _JsonFloat,
    _kind,
    _loads,
    _short,
)
from transfer.bundle.models import (
    ChainCertificate,
    IssuedCrl,
    LogProofs,
    Outcome,
    Reason,
    RequestBody,
    RequestItem,
    ResultBody,
    Revocation,
    RevocationOutcome,
    VerifiedFacts,
)
from transfer.errors import BundleError

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
    d = _obj(v, ("dns", "email", "name", "points"), ("given_name", "surname"))
    for key in ("given_name", "surname"):
        if key in d and d[key] is None:
            _fail(key, "absent rather than null when not verified")
    return VerifiedFacts(dns=tuple(_list(d["dns"], "dns", MAX_FACTS)),
                         email=tuple(_list(d["email"], "email", MAX_FACTS)),
                         name=d["name"], points=d["points"], given_name=d.get("given_name"),
                         surname=d.get("surname"))


def _facts_to_wire(f: VerifiedFacts) -> dict[str, Any]:
    out: dict[str, Any] = {"dns": list(f.dns), "email": list(f.email), "name": f.name,
                           "points": f.points}
    if f.given_name is not None:  # optional keys: absent, so older bundles keep their bytes
        out["given_name"], out["surname"] = f.given_name, f.surname
    return out


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
                      "verified": _facts_to_wire(r.verified),
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
