"""What the ceremony log says, for the report: ``collect`` reads the facts (sessions and
custodians' share indices, CAs, batches with digests, verdicts and their codes, issuance
counts, CRLs, checkpoints, recoveries) best effort: unreadable lines are counted, not trusted.
Nothing here is trusted unless the audit of the same log is OK.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_LINE = 1 << 20


@dataclass
class Batch:
    id: str
    seq: int
    time: str
    ra: str = ""
    sequence: Any = None
    digest: str = ""
    requests: int = 0
    accepted: int = 0
    rejected: int = 0
    issued: int = 0
    refused: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    exported: list[str] = field(default_factory=list)


@dataclass
class Facts:
    """What the log says, in log order; nothing here is trusted unless the audit is OK."""

    entries: int = 0
    unreadable: int = 0
    rehearsal: bool = False
    sessions: list[dict[str, Any]] = field(default_factory=list)
    cas: list[dict[str, Any]] = field(default_factory=list)
    keys: list[dict[str, Any]] = field(default_factory=list)
    batches: dict[str, Batch] = field(default_factory=dict)
    crls: list[dict[str, Any]] = field(default_factory=list)
    revocations: int = 0
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    recoveries: list[dict[str, Any]] = field(default_factory=list)
    refusals: list[dict[str, Any]] = field(default_factory=list)
    approvals: Counter[str] = field(default_factory=Counter)

    @property
    def issued(self) -> int:
        return sum(b.issued for b in self.batches.values())

    @property
    def refused(self) -> int:
        return sum(b.rejected + b.refused for b in self.batches.values())


def _batch(facts: Facts, data: dict[str, Any], seq: int, time: str) -> Batch:
    bid = str(data.get("batch"))
    if bid not in facts.batches:
        facts.batches[bid] = Batch(bid, seq, time)
    return facts.batches[bid]


def collect(log_path: Path) -> Facts:
    """Read the facts from the log, best effort: unreadable lines are counted, not trusted."""
    facts = Facts()
    with open(log_path, "rb") as f:
        while line := f.readline(MAX_LINE + 1):
            facts.entries += 1
            try:
                obj = json.loads(line)
                kind, data, seq, time = obj["type"], obj["data"], obj["seq"], obj["time"]
                if not isinstance(data, dict):
                    raise TypeError
            except (ValueError, KeyError, TypeError, RecursionError):
                facts.unreadable += 1
                continue
            _note(facts, str(kind), data, seq, str(time))
    return facts


def _note(facts: Facts, kind: str, data: dict[str, Any], seq: Any, time: str) -> None:
    row = {"seq": seq, "time": time, **data}
    if kind == "appliance.init" and data.get("rehearsal") is True:
        facts.rehearsal = True
    elif kind == "session.open":
        facts.sessions.append(row)
        if data.get("rehearsal") is True:
            facts.rehearsal = True
    elif kind == "ca.created":
        facts.cas.append(row)
    elif kind == "key.generated":
        facts.keys.append(row)
    elif kind == "batch.imported":
        b = _batch(facts, data, seq, time)
        b.ra, b.sequence, b.digest = str(data.get("ra")), data.get("sequence"), str(data.get("digest"))
        for name in ("requests", "accepted", "rejected"):
            if isinstance(data.get(name), int):
                setattr(b, name, data[name])
    elif kind == "verdict" and data.get("verdict") == "reject":
        codes = data.get("codes")
        _batch(facts, data, seq, time).reasons.update(
            str(c) for c in (codes if isinstance(codes, list) else ["(none)"]))
    elif kind == "cert.issued" and "batch" in data:
        _batch(facts, data, seq, time).issued += 1
    elif kind == "refused":
        facts.refusals.append(row)
        if "batch" in data and "id" in data:
            b = _batch(facts, data, seq, time)
            b.refused += 1
            b.reasons[str(data.get("code", "refused"))] += 1
    elif kind == "batch.exported":
        _batch(facts, data, seq, time).exported.append(str(data.get("sha256")))
    elif kind == "crl.issued":
        facts.crls.append(row)
    elif kind == "revoked":
        facts.revocations += 1
    elif kind == "approval":
        facts.approvals.update(str(i) for i in data.get("share_indices") or [])
    elif kind == "checkpoint":
        facts.checkpoints.append(row)
    elif kind == "recovery":
        facts.recoveries.append(row)
