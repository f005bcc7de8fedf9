"""Custody facts folded from the ceremony log: which token holds each key, the share sets.

Which token holds a key, whether a key was restored from a backup (and so is trusted only under
the public key recorded for it), which SLIP-39 share set each token's PIN is derived from, and
which sets were retired by rotation: all of it decides what the appliance opens and accepts,
so all of it comes from the token-signed log, never from ``signer.toml`` or the ledger.

Entries folded here (DESIGN §5, docs/FORMATS.md): ``appliance.init``, ``key.generated``,
``key.restored``, ``key.backup``, ``token.added``, ``quorum.rotate``, ``quorum.rekeyed``,
``quorum.rotated``. Logs written before issue 13 lack the newer fields: their keys sit on the
main token and their share set is unknown (``None``), which every check treats as "not known,
not refused".
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

MAIN = "main"
UNLOCK = "unlock"
BACKUP = "backup"


@dataclass
class KeyFact:
    label: str
    token: str
    algorithm: str
    spki_sha256: str | None
    restored: bool = False
    seq: int = -1
    public_key_der: bytes | None = None  # recorded for restored keys


@dataclass(frozen=True)
class ShareSet:
    purpose: str  # UNLOCK or BACKUP
    identifier: int
    threshold: int
    shares: int
    since: str  # ceremony time it was made
    fingerprint: str | None = None  # BACKUP: hsm.backup.backup_key_fingerprint of its secret


@dataclass
class CustodyState:
    keys: dict[str, KeyFact] = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> label, serial
    sets: dict[str, ShareSet] = field(default_factory=dict)  # purpose -> the current set
    retired: list[ShareSet] = field(default_factory=list)
    token_sets: dict[str, int] = field(default_factory=dict)  # token -> unlock set it is on
    pending_rotation: dict[str, Any] | None = None
    backups: list[tuple[int, str]] = field(default_factory=list)  # (seq, file sha256)
    log_key: str | None = None

    def token_of(self, label: str) -> str:
        fact = self.keys.get(label)
        return fact.token if fact else MAIN

    def set_named(self, identifier: int) -> tuple[str, ShareSet] | None:
        """("current"|"retired", set) for a set identifier the log knows."""
        for s in self.sets.values():
            if s.identifier == identifier:
                return "current", s
        for s in self.retired:
            if s.identifier == identifier:
                return "retired", s
        return None


def _share_set(purpose: str, d: Mapping[str, Any] | None, time: str) -> ShareSet | None:
    if not d:
        return None
    return ShareSet(purpose, d["identifier"], d["threshold"], d["shares"], time,
                    d.get("fingerprint"))


def _init(c: CustodyState, d: Mapping[str, Any], seq: int, time: str) -> None:
    label = d.get("log_key_label", "appliance-log")
    c.log_key = label
    attrs = d.get("log_key") or {}
    c.keys[label] = KeyFact(label, MAIN, attrs.get("algorithm", "ed25519"),
                            d.get("log_key_spki_sha256"), seq=seq)
    c.tokens[MAIN] = {"label": d.get("token"), "serial": d.get("token_serial")}
    for purpose in (UNLOCK, BACKUP):
        s = _share_set(purpose, d.get(f"{purpose}_set"), time)
        if s is not None:
            c.sets[purpose] = s
    if UNLOCK in c.sets:
        c.token_sets[MAIN] = c.sets[UNLOCK].identifier


def _key_generated(c: CustodyState, d: Mapping[str, Any], seq: int, time: str) -> None:
    c.keys[d["label"]] = KeyFact(d["label"], d.get("token", MAIN), d["algorithm"],
                                 d.get("spki_sha256"), seq=seq)


def _key_restored(c: CustodyState, d: Mapping[str, Any], seq: int, time: str) -> None:
    c.keys[d["label"]] = KeyFact(d["label"], d["token"], d["algorithm"], d["spki_sha256"],
                                 restored=True, seq=seq,
                                 public_key_der=base64.b64decode(d["public_key"]))


def _key_backup(c: CustodyState, d: Mapping[str, Any], seq: int, time: str) -> None:
    c.backups.append((seq, d["sha256"]))


def _token_added(c: CustodyState, d: Mapping[str, Any], seq: int, time: str) -> None:
    c.tokens[d["token"]] = {"label": d.get("label"), "serial": d.get("serial")}
    if d.get("unlock_set") is not None:
        c.token_sets[d["token"]] = d["unlock_set"]


def _token_restored(c: CustodyState, d: Mapping[str, Any], seq: int, time: str) -> None:
    c.tokens[d["token"]] = {"label": d.get("label"), "serial": d.get("serial")}


def _rotate(c: CustodyState, d: Mapping[str, Any], seq: int, time: str) -> None:
    if c.pending_rotation is not None:  # an interrupted rotation: its set never became current
        left = _share_set(c.pending_rotation["set"], c.pending_rotation, time)
        if left is not None:
            c.retired.append(left)
    c.pending_rotation = dict(d)


def _rekeyed(c: CustodyState, d: Mapping[str, Any], seq: int, time: str) -> None:
    c.token_sets[d["token"]] = d["identifier"]


def _rotated(c: CustodyState, d: Mapping[str, Any], seq: int, time: str) -> None:
    purpose = d["set"]
    old = c.sets.get(purpose)
    if old is not None:
        c.retired.append(old)
    new = _share_set(purpose, d, time)
    if new is not None:
        c.sets[purpose] = new
    c.pending_rotation = None


HANDLERS: dict[str, Callable[[CustodyState, Mapping[str, Any], int, str], None]] = {
    "appliance.init": _init, "key.generated": _key_generated, "key.restored": _key_restored,
    "key.backup": _key_backup, "token.added": _token_added,
    "token.restored": _token_restored, "quorum.rotate": _rotate,
    "quorum.rekeyed": _rekeyed, "quorum.rotated": _rotated,
}
