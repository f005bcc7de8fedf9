"""A policy decision as it is staged in the ledger and committed to in the log: one codec.

``StoredDecision`` is the typed form issuance uses (I8: the public key, the verified names and
the validity granted, nothing else from the request). Its canonical JSON is what the ledger
keeps, byte for byte; the SHA-256 of those bytes is logged in the request's ``verdict`` entry,
and the digest of all of a batch's decision digests in its ``batch.imported`` entry. So the
bytes read back before signing are either exactly the ones logged at import, or an edit.

Parsing is strict (exact keys and types): a stored decision that does not parse is an edit too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from signer.core.canonical import canonical_json
from signer.core.policy import Decision
from signer.errors import SignerError


class DecisionError(SignerError):
    """A stored decision is not well-formed (the ledger was edited, or is damaged)."""


@dataclass(frozen=True)
class StoredReason:
    code: str
    message: str


@dataclass(frozen=True)
class StoredDecision:
    request_id: str
    accepted: bool
    ca: str
    profile: str
    subscriber: str
    reasons: tuple[StoredReason, ...]
    public_key_der: bytes | None
    spki_sha256: str | None
    key_type: str | None
    common_name: str | None
    dns_names: tuple[str, ...]
    emails: tuple[str, ...]
    personal_name: str | None
    days: int
    needs_approval: bool
    # Issue 14; in the stored JSON only when set, so decisions without them keep their bytes.
    notices: tuple[StoredReason, ...] = ()
    given_name: str | None = None
    surname: str | None = None

    @classmethod
    def of(cls, d: Decision, subscriber: str) -> StoredDecision:
        return cls(
            request_id=d.request_id, accepted=d.accepted, ca=d.ca, profile=d.profile,
            subscriber=subscriber,
            reasons=tuple(StoredReason(str(r.code), r.message) for r in d.reasons),
            public_key_der=d.public_key_der, spki_sha256=d.spki_sha256, key_type=d.key_type,
            common_name=d.common_name, dns_names=tuple(d.dns_names), emails=tuple(d.emails),
            personal_name=d.personal_name, days=d.days, needs_approval=d.needs_approval,
            notices=tuple(StoredReason(str(r.code), r.message) for r in d.notices),
            given_name=d.given_name, surname=d.surname)

    @property
    def names(self) -> tuple[str, ...]:
        return self.dns_names + self.emails

    def to_json(self) -> str:
        extra: dict[str, Any] = {}
        if self.notices:
            extra["notices"] = [{"code": r.code, "message": r.message} for r in self.notices]
        if self.given_name is not None or self.surname is not None:
            extra["given_name"], extra["surname"] = self.given_name, self.surname
        return canonical_json({**extra,
            "request_id": self.request_id, "accepted": self.accepted, "ca": self.ca,
            "profile": self.profile, "subscriber": self.subscriber,
            "reasons": [{"code": r.code, "message": r.message} for r in self.reasons],
            "public_key_der": (base64.b64encode(self.public_key_der).decode()
                               if self.public_key_der is not None else None),
            "spki_sha256": self.spki_sha256, "key_type": self.key_type,
            "common_name": self.common_name, "dns_names": list(self.dns_names),
            "emails": list(self.emails), "personal_name": self.personal_name,
            "days": self.days, "needs_approval": self.needs_approval,
        }).decode("utf-8")

    @classmethod
    def from_json(cls, text: str) -> StoredDecision:
        try:
            d = json.loads(text)
            if not isinstance(d, dict) or not _KEYS <= set(d) <= _KEYS | _OPTIONAL:
                raise ValueError("keys")
            reasons = tuple(StoredReason(_s(r["code"]), _s(r["message"]))
                            for r in _list(d["reasons"]) if set(r) == {"code", "message"})
            if len(reasons) != len(d["reasons"]):
                raise ValueError("reasons")
            notices = tuple(StoredReason(_s(r["code"]), _s(r["message"]))
                            for r in _list(d.get("notices", [])) if set(r) == {"code", "message"})
            if len(notices) != len(d.get("notices", [])) or d.get("notices") == []:
                raise ValueError("notices")
            if ("given_name" in d) != ("surname" in d):
                raise ValueError("name parts")
            der = d["public_key_der"]
            out = cls(
                request_id=_s(d["request_id"]), accepted=_b(d["accepted"]), ca=_s(d["ca"]),
                profile=_s(d["profile"]), subscriber=_s(d["subscriber"]), reasons=reasons,
                public_key_der=None if der is None else base64.b64decode(_s(der), validate=True),
                spki_sha256=_opt(d["spki_sha256"]), key_type=_opt(d["key_type"]),
                common_name=_opt(d["common_name"]),
                dns_names=tuple(_s(x) for x in _list(d["dns_names"])),
                emails=tuple(_s(x) for x in _list(d["emails"])),
                personal_name=_opt(d["personal_name"]), days=_i(d["days"]),
                needs_approval=_b(d["needs_approval"]), notices=notices,
                given_name=_opt(d.get("given_name")), surname=_opt(d.get("surname")))
        except (ValueError, TypeError, KeyError, AttributeError, binascii.Error,
                RecursionError):
            raise DecisionError("a stored decision is not well-formed") from None
        if out.accepted and (out.public_key_der is None or out.spki_sha256 is None
                             or out.reasons or out.days < 1):
            raise DecisionError(f"request {out.request_id}: an accepted decision without a key, "
                                "with reasons, or without a validity")
        return out


_KEYS = frozenset({"request_id", "accepted", "ca", "profile", "subscriber", "reasons",
                   "public_key_der", "spki_sha256", "key_type", "common_name", "dns_names",
                   "emails", "personal_name", "days", "needs_approval"})
_OPTIONAL = frozenset({"notices", "given_name", "surname"})  # issue 14, only when set


def _s(v: Any) -> str:
    if not isinstance(v, str):
        raise TypeError("string")
    return v


def _opt(v: Any) -> str | None:
    return None if v is None else _s(v)


def _b(v: Any) -> bool:
    if not isinstance(v, bool):
        raise TypeError("bool")
    return v


def _i(v: Any) -> int:
    if type(v) is not int:
        raise TypeError("int")
    return v


def _list(v: Any) -> list[Any]:
    if not isinstance(v, list):
        raise TypeError("list")
    return v


def decision_sha256(stored_json: str) -> str:
    """The digest logged for a decision: SHA-256 of its stored bytes (never re-serialised)."""
    return hashlib.sha256(stored_json.encode("utf-8")).hexdigest()


def verdict_data(batch_id: str, stored: str) -> dict[str, Any]:
    """A request's ``verdict`` log entry: what was decided and the digest of the exact bytes."""
    d = StoredDecision.from_json(stored)
    return {"batch": batch_id, "id": d.request_id, "ca": d.ca, "profile": d.profile,
            "subscriber": d.subscriber, "verdict": "accept" if d.accepted else "reject",
            "codes": [r.code for r in d.reasons], "spki_sha256": d.spki_sha256,
            "names": list(d.names), "personal_name": d.personal_name, "days": d.days,
            "decision_sha256": decision_sha256(stored)}
