"""The last verified state of the ceremony log, kept beside it so a session need not re-read it.

At every checkpoint the writer records what a reader would otherwise rebuild from every entry:
the size, the byte offset, the SHA-256 of the log's bytes so far (the *verified prefix*), the
Merkle frontier (the roots of the complete subtrees: enough to extend the tree), the last time,
the previous checkpoint, and the facts folded from the entries (``LogState``). Its SHA-256 is
logged *in the log*, in a ``log.state`` entry written just before the checkpoint that then
signs it (``CeremonyLog.checkpoint``); the file itself (``log/state.json``) is written after.

So the file is trusted only through the log: at login (``signer.store.log.opening``) the entry
at its offset must be that ``log.state`` entry with this file's digest, the next one a
checkpoint signed in the token whose root is the frontier extended by that entry, and the
log's first ``offset`` bytes must still hash to the verified prefix. A swapped or edited file
does not match its entry; a truncated or rewritten log does not match the file.

Deliberately not here: reading or writing the log, and any decision about what to do when the
file does not match (``signer.store.log.opening`` decides).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from signer.core.canonical import canonical_json
from signer.errors import LogError
from signer.store.log.custody import CustodyState, KeyFact, ShareSet
from signer.store.log.state import (
    BatchFact,
    CAFact,
    LogState,
    RAFact,
    RevocationChain,
    RevocationRun,
)

FORMAT = "airgap-signer/log-state/1"
STATE_TYPE = "log.state"
MAX_BYTES = 64 << 20  # a state file larger than this is not one this appliance wrote


@dataclass(frozen=True)
class Snapshot:
    """What is verified of the first ``size`` entries (``offset`` bytes) of a log."""

    origin: str
    size: int
    offset: int
    prefix_sha256: str
    frontier: tuple[bytes, ...]
    last_time: str
    checkpoint: tuple[int, str] | None  # (seq, signed note) of the last checkpoint entry
    state: LogState

    def encode(self) -> bytes:
        return canonical_json({
            "format": FORMAT, "origin": self.origin, "size": self.size, "offset": self.offset,
            "prefix_sha256": self.prefix_sha256, "frontier": [h.hex() for h in self.frontier],
            "last_time": self.last_time,
            "checkpoint": None if self.checkpoint is None else list(self.checkpoint),
            "state": state_to_json(self.state)}) + b"\n"


def digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def decode(raw: bytes) -> Snapshot:
    """A snapshot from a state file's bytes; LogError if it is not one."""
    try:
        d = json.loads(raw)
        if d["format"] != FORMAT:
            raise ValueError("unknown format")
        cp = d["checkpoint"]
        snap = Snapshot(
            origin=str(d["origin"]), size=int(d["size"]), offset=int(d["offset"]),
            prefix_sha256=str(d["prefix_sha256"]),
            frontier=tuple(bytes.fromhex(h) for h in d["frontier"]),
            last_time=str(d["last_time"]),
            checkpoint=None if cp is None else (int(cp[0]), str(cp[1])),
            state=state_from_json(d["state"]))
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise LogError(f"not a log state file ({type(exc).__name__})") from None
    if snap.size < 0 or snap.offset < 0 or any(len(h) != 32 for h in snap.frontier) \
            or len(snap.frontier) != bin(snap.size).count("1") or snap.state.size != snap.size:
        raise LogError("not a log state file (inconsistent sizes)")
    return snap


# -- LogState <-> JSON -------------------------------------------------------------------------


def state_to_json(s: LogState) -> dict[str, Any]:
    if s._open_run is not None:
        raise LogError("a log state with an open revocation run cannot be kept (seal it)")
    return {
        "size": s.size, "config_sha256": s.config_sha256,
        "ras": {k: [r.name, r.key_id, r.public_key, r.last_sequence, r.revoked]
                for k, r in s.ras.items()},
        "key_ids": s.key_ids,
        "batches": {k: _batch_to_json(b) for k, b in s.batches.items()},
        "cas": {k: [c.name, c.kind, c.issuer, c.key, c.serial, c.cert_sha256, c.spki_sha256,
                    c.seq, c.profile] for k, c in s.cas.items()},
        "crl_numbers": s.crl_numbers,
        "crls": [[ca, n, seq, sha] for (ca, n), (seq, sha) in s.crls.items()],
        "revocations": {k: [c.count, c.latest, [[r.first, r.last, r.count, r.entries_sha256,
                                                 r.not_after_sha256] for r in c.runs]]
                        for k, c in s.revocations.items()},
        "certificates": s.certificates,
        "pending_certs": [[ca, serial, b, i] for (ca, serial), (b, i) in s.pending_certs.items()],
        "pending_crls": sorted([ca, n] for ca, n in s.pending_crls),
        "pending_cas": s.pending_cas,
        "pending_batches": s.pending_batches,
        "pending_revocations": [[ca, serial, d] for (ca, serial), d
                                in s.pending_revocations.items()],
        "custody": _custody_to_json(s.custody),
        "pending_ca_certs": [[i, serial, d] for (i, serial), d in s.pending_ca_certs.items()],
        "pending_ca_profiles": s.pending_ca_profiles,
        "cross_keys": s.cross_keys,
        "pending_ocsp": [[ca, serial, t, d] for (ca, serial, t), d in s.pending_ocsp.items()],
    }


def _custody_to_json(c: CustodyState) -> dict[str, Any]:
    return {
        "keys": {k: [f.label, f.token, f.algorithm, f.spki_sha256, f.restored, f.seq,
                     None if f.public_key_der is None
                     else base64.b64encode(f.public_key_der).decode()]
                 for k, f in c.keys.items()},
        "tokens": c.tokens,
        "sets": {k: asdict(v) for k, v in c.sets.items()},
        "retired": [asdict(v) for v in c.retired],
        "token_sets": c.token_sets,
        "pending_rotation": c.pending_rotation,
        "backups": [list(b) for b in c.backups],
        "log_key": c.log_key,
    }


def _custody_from_json(d: dict[str, Any]) -> CustodyState:
    return CustodyState(
        keys={k: KeyFact(label, token, alg, spki, bool(restored), int(seq),
                         None if der is None else base64.b64decode(der, validate=True))
              for k, (label, token, alg, spki, restored, seq, der) in d["keys"].items()},
        tokens={k: dict(v) for k, v in d["tokens"].items()},
        sets={k: ShareSet(**v) for k, v in d["sets"].items()},
        retired=[ShareSet(**v) for v in d["retired"]],
        token_sets={k: int(v) for k, v in d["token_sets"].items()},
        pending_rotation=None if d["pending_rotation"] is None else dict(d["pending_rotation"]),
        backups=[(int(seq), str(sha)) for seq, sha in d["backups"]],
        log_key=d["log_key"])


def _batch_to_json(b: BatchFact) -> list[Any]:
    return [b.id, b.ra, b.ra_key_id, b.sequence, b.digest, b.decisions_sha256,
            b.revocations_sha256, b.requests, sorted(b.approvals), b.issued,
            [[k, c, m] for k, (c, m) in b.failed.items()],
            [[p, o] for p, o in b.revocation_outcomes.items()], b.seq]


def state_from_json(d: dict[str, Any]) -> LogState:
    s = LogState(size=int(d["size"]), config_sha256=d["config_sha256"])
    s.ras = {k: RAFact(*v) for k, v in d["ras"].items()}
    s.key_ids = dict(d["key_ids"])
    for k, v in d["batches"].items():
        (bid, ra, key_id, sequence, dg, decisions, revocations, requests, approvals, issued,
         failed, outcomes, seq) = v
        s.batches[k] = BatchFact(bid, ra, key_id, sequence, dg, decisions, revocations, requests,
                                 set(approvals), issued, {i: (c, m) for i, c, m in failed},
                                 {int(p): o for p, o in outcomes}, seq)
    s.cas = {k: CAFact(*v) for k, v in d["cas"].items()}
    s.crl_numbers = {k: int(v) for k, v in d["crl_numbers"].items()}
    s.crls = {(ca, int(n)): (int(seq), sha) for ca, n, seq, sha in d["crls"]}
    s.revocations = {k: RevocationChain(int(count), latest, [RevocationRun(*r) for r in runs])
                     for k, (count, latest, runs) in d["revocations"].items()}
    s.certificates = int(d["certificates"])
    s.pending_certs = {(ca, serial): (b, i) for ca, serial, b, i in d["pending_certs"]}
    s.pending_crls = {(ca, int(n)) for ca, n in d["pending_crls"]}
    s.pending_cas = dict(d["pending_cas"])
    s.pending_batches = dict(d["pending_batches"])
    s.pending_revocations = {(ca, serial): dict(v) for ca, serial, v in d["pending_revocations"]}
    s.custody = _custody_from_json(d["custody"])
    s.pending_ca_certs = {(i, serial): dict(v) for i, serial, v in d["pending_ca_certs"]}
    s.pending_ca_profiles = dict(d["pending_ca_profiles"])
    s.cross_keys = dict(d["cross_keys"])
    s.pending_ocsp = {(ca, serial, t): dict(v) for ca, serial, t, v in d["pending_ocsp"]}
    return s
