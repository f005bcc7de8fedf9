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
    r"share: not a valid SLIP-39 share: .+",
    r"share \d+: belongs to another quorum \(a foreign share\)", r"share \d+: given twice",
    r"no shares given", r"\d+ of \d+ shares given; \d+ more needed",
    r"the shares do not combine \(one of them is wrong\)")]
NAMED = re.compile(r"share: not a valid SLIP-39 share: word (\d+) \('([a-z]+)'\)")


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
        # I10: only the fixed sentences come back; of the words given, at most the one named
        # as wrong, at its position (signer.core.share_words); other quoted words are list
        # words it could be.
        text = str(exc)
        assert any(p.fullmatch(text) for p in MESSAGES), text
        quoted = re.findall(r"'([^']*)'", text)
        named = NAMED.match(text)
        if named is None:
            assert not quoted, text
        else:
            pos, typed = int(named[1]), named[2]
            assert any(len(s.split()) >= pos and s.lower().split()[pos - 1] == typed
                       for s in shares), text
            assert all(q in WORDS for q in quoted[1:]), text


if __name__ == "__main__":
    _common.run(target)
