"""The words of a SLIP-39 share: completion, and naming the word a custodian got wrong.

A custodian types (or a file holds) a share's words. ``find_problem`` says what is wrong in
terms of the card: an unknown word by its position and the list words it could be; a failed
RS1024 checksum examined for a single wrong word (every list word at every position, so a
one-word typo is pointed at exactly) or two neighbours swapped. ``complete`` serves the TUI's
word-by-word entry: SLIP-39 words are unique by their first four letters.

What a message may quote (I10): only the word the custodian typed at the position named, and
only when it is provably not the share's word there (not in the list, or the one word whose
replacement makes the checksum right). The right word is quoted only with ``suggest=True``,
which the TUI uses inside its entry dialog (the words are on that screen while typed anyway);
the CLI never suggests, because its stderr stays in the scrollback, and because a custodian who
reads the card again also finds out whether the card itself is wrong. With one wrong word the
checksum (distance 4: any three wrong words are detected) admits exactly one fitting
substitution, so a suggestion is never a guess between several.

Deliberately not done: no search for a missing or an extra word (the count says so), and
nothing here parses a share's contents beyond ``shamir_mnemonic``'s own ``Share``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from shamir_mnemonic import rs1024
from shamir_mnemonic.share import Share
from shamir_mnemonic.wordlist import WORDLIST

WORDS: tuple[str, ...] = tuple(WORDLIST)
_INDEX = {w: i for i, w in enumerate(WORDS)}
UNIQUE_PREFIX = 4  # SLIP-39: every word is identified by its first four letters
MIN_WORDS = 20  # a share of a 128-bit secret; the appliance's shares (256-bit) have 33
APPLIANCE_SHARE_WORDS = 33  # signer.core.quorum.split_secret: a 256-bit master secret
MAX_SEARCH_WORDS = 60  # a 512-bit secret's share has 59; longer text is not searched
_ORIG, _EXTENDABLE = b"shamir", b"shamir_extendable"


def complete(prefix: str) -> list[str]:
    """The list words that start with ``prefix`` (lower case), in list order."""
    p = prefix.strip().lower()
    return [w for w in WORDS if w.startswith(p)] if p else []


def word_for(typed: str) -> str | None:
    """The one list word ``typed`` stands for: itself, or a prefix only one word has (at most
    four letters are ever needed); None when it is unknown or still ambiguous."""
    t = typed.strip().lower()
    if t in _INDEX:
        return t
    if len(t) > UNIQUE_PREFIX:  # more letters than needed must still spell the word
        return None
    found = complete(t)
    return found[0] if len(found) == 1 else None


def spelled_like(typed: str, limit: int = 4) -> list[str]:
    """List words a mistyped word could be: its first four letters, else the fewest edits."""
    t = typed.strip().lower()
    if not t:
        return []
    by_prefix = complete(t[:UNIQUE_PREFIX])
    if (len(t) >= UNIQUE_PREFIX and len(by_prefix) == 1) or (len(t) < UNIQUE_PREFIX and by_prefix):
        return by_prefix[:limit]  # the start of a word: the words it starts
    # A word may be typed whole or by its first letters (four identify it): compare with both.
    scored = sorted((min(_distance(t, w), _distance(t, w[:len(t)]) if len(t) >= 3 else 9), w)
                    for w in WORDS)
    nearest = scored[0][0]
    if nearest > 2:  # nothing is spelled like it: at most the words sharing its start
        return by_prefix[:limit]
    return [w for d, w in scored if d == nearest][:limit]


def _distance(a: str, b: str) -> int:
    """Edit distance counting a swap of neighbouring letters as one edit (Damerau)."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


# -- the checksum ----------------------------------------------------------------------------

def _customization(indices: Sequence[int]) -> bytes:
    # The extendable flag is bit 4 of the second word (SLIP-39: id 15 bits, flag, exponent 4).
    return _EXTENDABLE if len(indices) > 1 and (indices[1] >> 4) & 1 else _ORIG


def checksum_ok(indices: Sequence[int]) -> bool:
    return bool(rs1024.verify_checksum(list(indices), _customization(indices)))


def _polymod(values: Sequence[int]) -> int:
    return int(rs1024._polymod(values))


@cache
def _changes(after: int) -> dict[int, int]:
    """How the RS1024 remainder changes when a word with ``after`` words behind it is XORed
    with d (1..1023): {change: d}. The remainder is linear over GF(2), so ten basis changes
    give all 1023, and changes are distinct (the code detects every single-word error)."""
    zero = _polymod([0] * (after + 1))
    basis = [_polymod([1 << bit] + [0] * after) ^ zero for bit in range(10)]
    table = [0] * 1024
    for d in range(1, 1024):
        low = d & -d
        table[d] = table[d ^ low] ^ basis[low.bit_length() - 1]
    return {table[d]: d for d in range(1, 1024)}


def single_fixes(indices: Sequence[int]) -> list[tuple[int, int]]:
    """Every (position, word index) whose substitution makes the checksum and the share valid.

    20 or 33 positions times 1023 words, done with the remainder's linearity (a few
    milliseconds) rather than 33,000 checksum runs (about 1.5 s)."""
    fixes: list[tuple[int, int]] = []
    n = len(indices)
    for custom in (_ORIG, _EXTENDABLE):
        target = _polymod(list(custom) + list(indices)) ^ 1
        for pos in range(n):
            d = _changes(n - 1 - pos).get(target)
            if d is None:
                continue
            fixed = list(indices)
            fixed[pos] ^= d
            # A change to the second word may flip the flag that chose the customization.
            if _customization(fixed) == custom and _parses(fixed):
                fixes.append((pos, fixed[pos]))
    return sorted(set(fixes))


def _parses(indices: Sequence[int]) -> bool:
    try:
        Share.from_mnemonic(" ".join(WORDS[i] for i in indices))
    except Exception:  # shamir-mnemonic's MnemonicError/ValueError: not a share
        return False
    return True


# -- the diagnosis ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ShareProblem:
    """What is wrong with a share's words, by position (1-based, as on the card)."""

    kind: str  # "empty", "unknown", "checksum", "swapped", "unfixable", "length", "contents"
    position: int = 0
    typed: str = ""
    candidates: tuple[str, ...] = ()  # spelled like an unknown word
    fix: str | None = None  # the one word that makes the checksum right there
    count: int = 0  # words given
    more_unknown: int = 0

    @property
    def _named(self) -> str:
        # Quoted only when it looks like a word: never a terminal escape or a page of text.
        t = self.typed
        return f" ('{t}')" if t.isascii() and t.isalpha() and len(t) <= 12 else ""

    def message(self, suggest: bool = False) -> str:
        p = self.position
        if self.kind == "empty":
            return "no words"
        if self.kind == "unknown":
            text = f"word {p}{self._named} is not a SLIP-39 word"
            if suggest and self.candidates:  # list words spelled like it: often the share's own
                text += "; it could be " + " or ".join(f"'{c}'" for c in self.candidates)
            if suggest and self.fix:
                text += f"; the checksum fits if it is '{self.fix}'"
            if self.more_unknown == 1:
                text += " (and 1 more word is not in the list)"
            elif self.more_unknown:
                text += f" (and {self.more_unknown} more words are not in the list)"
            return text
        if self.kind == "checksum":
            if suggest and self.fix:
                return (f"word {p}{self._named} looks wrong: the checksum fits if it is "
                        f"'{self.fix}'; check word {p} on the card")
            return (f"word {p}{self._named} looks wrong: one word there makes the "
                    f"checksum right; read word {p} on the card again")
        if self.kind == "swapped":
            return f"words {p} and {p + 1} look swapped"
        if self.kind == "length":
            return (f"{self.count} words: too few for a SLIP-39 share (at least {MIN_WORDS}; "
                    f"this appliance's shares have {APPLIANCE_SHARE_WORDS})")
        if self.kind == "contents":
            return "the checksum is right but the share's contents are not valid"
        text = "the checksum fails and no single wrong word explains it: two or more words " \
               "are wrong, missing or out of order"
        if self.count != APPLIANCE_SHARE_WORDS:
            text += f" ({self.count} words; this appliance's shares have " \
                    f"{APPLIANCE_SHARE_WORDS})"
        return text


def find_problem(words: Sequence[str]) -> ShareProblem | None:
    """None when ``words`` are a valid share; else what is wrong, by position."""
    ws = [w.lower() for w in words]
    if not ws:
        return ShareProblem("empty")
    if len(ws) < MIN_WORDS:
        return ShareProblem("length", count=len(ws))
    unknown = [i for i, w in enumerate(ws) if w not in _INDEX]
    if unknown:
        i = unknown[0]
        fix = None
        # One unknown word: the checksum may say which list word belongs there.
        if len(unknown) == 1 and len(ws) <= MAX_SEARCH_WORDS:
            fits = [idx for pos, idx in single_fixes([_INDEX.get(w, 0) for w in ws])
                    if pos == i]
            fix = WORDS[fits[0]] if len(fits) == 1 else None
        return ShareProblem("unknown", i + 1, ws[i], tuple(spelled_like(ws[i])), fix=fix,
                            count=len(ws), more_unknown=len(unknown) - 1)
    indices = [_INDEX[w] for w in ws]
    if checksum_ok(indices):
        return None if _parses(indices) else ShareProblem("contents", count=len(ws))
    if len(ws) > MAX_SEARCH_WORDS:
        return ShareProblem("unfixable", count=len(ws))
    fixes = single_fixes(indices)
    if len(fixes) == 1:
        pos, idx = fixes[0]
        return ShareProblem("checksum", pos + 1, ws[pos], fix=WORDS[idx], count=len(ws))
    for i in range(len(ws) - 1):
        swapped = indices[:i] + [indices[i + 1], indices[i]] + indices[i + 2:]
        if indices[i] != indices[i + 1] and checksum_ok(swapped) and _parses(swapped):
            return ShareProblem("swapped", i + 1, count=len(ws))
    return ShareProblem("unfixable", count=len(ws))
