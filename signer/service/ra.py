"""Registration authorities: trust an RA key, replace it, revoke the RA (DESIGN §5, I7).

An RA is a name, a sequence counter and one Ed25519 key at a time. Trust is a fact of the
ceremony log (``ra.trusted``, ``ra.replaced``, ``ra.revoked``), written there first; the
ledger keeps a copy for reading. Imports take RA keys and sequences from the log.

One key, one name, for ever: a key trusted for one RA is never trusted for another (two
counters for one key would let a bundle be replayed under the other name), nor again after
it was replaced. A replaced key's bundles are refused; the RA's sequence continues, so the old
key's bundles cannot be replayed either. A revoked RA stays revoked; its staged batches are
no longer signed; a new RA takes a new name.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from signer.core.clock import format_time
from signer.errors import SignerError
from signer.service import integrity
from signer.service.session import Session
from signer.store.ledger import RARow
from signer.store.log.events import RaReplaced, RaRevoked, RaTrusted

RA_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")  # the request bundle's `ra` field


@dataclass(frozen=True)
class RAInfo:
    name: str
    key_id: str
    last_sequence: int
    revoked: bool
    integrity: str  # "ok", or what differs between the ledger and the log

    def to_json(self) -> dict[str, Any]:
        return {"ra": self.name, "key_id": self.key_id, "last_sequence": self.last_sequence,
                "revoked": self.revoked, "integrity": self.integrity}


def _key_id(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _check_new_key(session: Session, raw: bytes) -> str:
    if len(raw) != 32:
        raise SignerError("an RA key is a raw 32-byte Ed25519 public key")
    key_id = _key_id(raw)
    owner = session.state.key_ids.get(key_id)
    if owner is not None:
        raise SignerError(f"this key was already trusted for RA {owner!r} (key "
                          f"{key_id[:16]}…): one key, one RA, for ever")
    return key_id


def trust_ra(session: Session, name: str, raw: bytes) -> str:
    """Pin a new RA's key; returns its key id (hex SHA-256 of the raw key)."""
    if not RA_NAME.fullmatch(name):
        raise SignerError(f"RA name {name!r}: use 1-64 characters A-Z, a-z, 0-9, '.', '_' or '-'")
    if name in session.state.ras or session.ledger.ra(name) is not None:
        raise SignerError(f"RA {name!r} is already known; use `signer ra replace` for a new key")
    key_id = _check_new_key(session, raw)
    when = format_time(session.ceremony_time)
    session.record(RaTrusted(ra=name, key_id=key_id, public_key=raw.hex()))
    session.ledger.trust_ra(RARow(name, raw, key_id, 0, when, None))
    return key_id


def replace_ra_key(session: Session, name: str, raw: bytes) -> tuple[str, str]:
    """Replace an RA's key (it was lost, or rotated); returns (old key id, new key id)."""
    fact = session.state.ras.get(name)
    if fact is None:
        raise SignerError(f"unknown RA {name!r}")
    if fact.revoked:
        raise SignerError(f"RA {name!r} is revoked; trust a new RA under a new name")
    integrity.check_ra_for_import(session.ledger, session.state, name)
    key_id = _check_new_key(session, raw)
    old = fact.key_id
    session.record(RaReplaced(ra=name, old_key_id=old, key_id=key_id, public_key=raw.hex()))
    session.ledger.replace_ra_key(name, raw, key_id)
    return old, key_id


def revoke_ra(session: Session, name: str, reason: str) -> str:
    """Revoke an RA: its later bundles are refused, its staged batches no longer signed."""
    fact = session.state.ras.get(name)
    if fact is None:
        raise SignerError(f"unknown RA {name!r}")
    if fact.revoked:
        raise SignerError(f"RA {name!r} is already revoked")
    session.record(RaRevoked(ra=name, key_id=fact.key_id, reason=reason[:500]))
    session.ledger.revoke_ra(name, format_time(session.ceremony_time))
    return fact.key_id


def list_ras(session: Session) -> list[RAInfo]:
    """The RAs, as the log knows them, each compared with the ledger's copy."""
    out = []
    names = sorted(set(session.state.ras) | {r.name for r in session.ledger.list_ras()})
    for name in names:
        fact = session.state.ras.get(name)
        try:
            integrity.check_ra_for_import(session.ledger, session.state, name)
            note = "ok"
        except SignerError as exc:
            note = str(exc)
        if fact is None:
            row = session.ledger.ra(name)
            out.append(RAInfo(name, row.key_id if row else "", row.last_sequence if row else 0,
                              bool(row and row.revoked_at), note))
        else:
            out.append(RAInfo(name, fact.key_id, fact.last_sequence, fact.revoked, note))
    return out
