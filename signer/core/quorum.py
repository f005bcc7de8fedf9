"""M-of-N custodian unlock with SLIP-39 shares (``shamir-mnemonic``).

At ``init --quorum M/N`` a random master secret is split into N word shares (one group,
threshold M). The token's user PIN is derived from the master secret with HKDF, so nobody
ever learns the PIN. Unlocking needs any M shares. Messages name share *indices* only:
shamir-mnemonic's own errors quote a share's first words, so they are never passed on (I10);
a mistyped word is named by its position (``signer.core.share_words`` says what it may quote).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import shamir_mnemonic
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from shamir_mnemonic.share import Share

from signer.core import share_words
from signer.errors import SignerError


class ShareError(SignerError):
    """A share is malformed, wrong, duplicated, foreign, or there are too few."""


_PIN_INFO = b"airgap-signer/token-user-pin/v1"
MAX_SHARE_TEXT = 4096


def derive_pin(master_secret: bytes) -> str:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PIN_INFO).derive(
        master_secret
    )
    return key.hex()


def split_secret(m: int, n: int) -> tuple[bytes, list[str]]:
    """A fresh 256-bit master secret and its N mnemonics (threshold M)."""
    master = secrets.token_bytes(32)
    groups = shamir_mnemonic.generate_mnemonics(1, [(m, n)], master)
    return master, groups[0]


@dataclass(frozen=True)
class ShareInfo:
    identifier: int
    index: int  # 1-based member index, as written on the custodian's card
    threshold: int


def inspect_share(text: str) -> tuple[ShareInfo, str]:
    """Parse one share's words; returns its public facts and the normalised words."""
    if len(text) > MAX_SHARE_TEXT:
        raise ShareError("share: too long to be a SLIP-39 share")
    words = " ".join(text.lower().split())
    if not words:
        raise ShareError("share: empty")
    try:
        share = Share.from_mnemonic(words)
    except Exception:  # shamir-mnemonic raises MnemonicError/ValueError quoting the words
        problem = share_words.find_problem(words.split())  # names the word, never the right one
        why = problem.message() if problem else "a word is wrong or missing"
        raise ShareError(f"share: not a valid SLIP-39 share: {why}") from None
    return ShareInfo(share.identifier, share.index + 1, share.member_threshold), words


@dataclass(frozen=True)
class Recovered:
    """A master secret recovered from one share set, with the set's public facts."""

    identifier: int
    threshold: int
    indices: list[int]
    secret: bytes


def set_identifier(shares: list[str]) -> int:
    """The SLIP-39 identifier of a freshly split set (for the log: never the words)."""
    return inspect_share(shares[0])[0].identifier


def combine_sets(shares: list[str]) -> dict[int, Recovered]:
    """Shares of one or more sets (an interrupted rotation needs the old and the new), each
    set combined on its own; keyed by set identifier."""
    groups: dict[int, list[str]] = {}
    thresholds: dict[int, int] = {}
    for text in shares:
        info, _ = inspect_share(text)
        groups.setdefault(info.identifier, []).append(text)
        thresholds[info.identifier] = info.threshold
    short = sorted(i for i, texts in groups.items() if len(texts) < thresholds[i])
    if len(groups) > 1 and short:
        raise ShareError(f"the shares belong to {len(groups)} different share sets and set "
                         f"{short[0]} has too few: a share of another quorum (a foreign share)?")
    out = {}
    for ident, texts in groups.items():
        secret, indices = combine(texts)
        out[ident] = Recovered(ident, inspect_share(texts[0])[0].threshold, indices, secret)
    return out


def combine(shares: list[str]) -> tuple[bytes, list[int]]:
    """Recover the master secret from share texts; returns it with the indices used."""
    infos: list[ShareInfo] = []
    words: list[str] = []
    for text in shares:
        info, w = inspect_share(text)
        if infos and info.identifier != infos[0].identifier:
            raise ShareError(f"share {info.index}: belongs to another quorum (a foreign share)")
        if any(i.index == info.index for i in infos):
            raise ShareError(f"share {info.index}: given twice")
        infos.append(info)
        words.append(w)
    if not infos:
        raise ShareError("no shares given")
    need = infos[0].threshold
    if len(infos) < need:
        raise ShareError(f"{len(infos)} of {need} shares given; {need - len(infos)} more needed")
    try:
        master = shamir_mnemonic.combine_mnemonics(words[:need])
    except Exception:
        raise ShareError("the shares do not combine (one of them is wrong)") from None
    return master, sorted(i.index for i in infos[:need])
