"""atheris: custodian share text (signer.core.quorum.combine) -> only ShareError, never echoing it."""

from __future__ import annotations

import re

import _common
import atheris

with atheris.instrument_imports():
    from shamir_mnemonic import wordlist

    from signer.core import quorum

WORDS = wordlist.WORDLIST
MESSAGES = [re.compile(p) for p in (
    r"share: too long to be a SLIP-39 share", r"share: empty",
    r"share: not a valid SLIP-39 share \(a word is wrong or missing\)",
    r"share \d+: belongs to another quorum \(a foreign share\)", r"share \d+: given twice",
    r"no shares given", r"\d+ of \d+ shares given; \d+ more needed",
    r"the shares do not combine \(one of them is wrong\)")]


def target(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    shares = []
    for _ in range(fdp.ConsumeIntInRange(0, 3)):
        if fdp.ConsumeBool():  # words from the list reach the checksum and combine steps
            shares.append(" ".join(WORDS[fdp.ConsumeIntInRange(0, len(WORDS) - 1)]
                                   for _ in range(fdp.ConsumeIntInRange(0, 33))))
        else:
            shares.append(fdp.ConsumeUnicodeNoSurrogates(200))
    try:
        quorum.combine(shares)
    except quorum.ShareError as exc:
        # I10: only the fixed sentences come back, never the words given (some sentences
        # contain list words such as "valid" or "twice", so compare with the sentences).
        assert any(p.fullmatch(str(exc)) for p in MESSAGES), str(exc)


if __name__ == "__main__":
    _common.run(target)
