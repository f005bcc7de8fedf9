"""What the ceremony overview shows, gathered from the session (the TUI renders it).

Read-only: the token's state, the CAs, the log's size and latest checkpoint (with the words
witnesses read), the air-gap probe (I12), the confirmed time and the batches.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from signer.core.clock import format_time, utc_now
from signer.service.session import Session
from signer.store import airgap
from signer.store.home import sys_net
from transfer.words import pgp_words


@dataclass(frozen=True)
class CAFact:
    name: str
    kind: str
    issuer: str
    algorithm: str
    not_after: str


@dataclass(frozen=True)
class Overview:
    home: str
    name: str
    rehearsal: bool
    module: str
    token_label: str
    quorum: str | None
    logged_in: bool
    token_line: str
    share_indices: list[int]
    cas: list[CAFact]
    log_size: int
    checkpoint_size: int | None
    checkpoint_root: str | None
    checkpoint_words: str | None
    last_time: str | None
    interfaces_up: list[str]
    ceremony_time: str | None
    batches: list[dict[str, Any]] = field(default_factory=list)


def words8(hexdigest: str) -> str:
    """PGP words of a digest's first 8 bytes, as the CLI prints them for witnesses."""
    return " ".join(pgp_words(bytes.fromhex(hexdigest)[:8]))


def proposed_time(last: str | None) -> str:
    """The clock to propose: now, or the last recorded ceremony time if that is later (I9)."""
    now = format_time(utc_now())
    return max(now, last) if last else now


def gather(s: Session) -> Overview:
    if s.unlocked:
        st = s.token_status()
        token_line = f"{st.label} (serial {st.serial}, {st.manufacturer} {st.model}): unlocked"
        interfaces = list(s.interfaces)
    else:
        token_line = f"{s.config.token_label}: locked"
        interfaces = airgap.interfaces_up(sys_net())
    cp = s.log.last_checkpoint
    root = cp.root.hex() if cp else None
    return Overview(
        home=str(s.paths.root), name=s.config.appliance_name, rehearsal=s.rehearsal,
        module=s.config.module, token_label=s.config.token_label, quorum=s.config.quorum,
        logged_in=s.unlocked, token_line=token_line, share_indices=list(s.share_indices),
        cas=[CAFact(c.name, c.kind, c.issuer, c.key_algorithm, c.not_after[:10])
             for c in s.ledger.list_cas()],
        log_size=s.log.size, checkpoint_size=cp.size if cp else None, checkpoint_root=root,
        checkpoint_words=words8(root) if root else None, last_time=s.log.last_time,
        interfaces_up=interfaces,
        ceremony_time=format_time(s.ceremony_time) if s.unlocked else None,
        batches=[dataclasses.asdict(r) for r in s.ledger.list_batches()],
    )
