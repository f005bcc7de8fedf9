"""A share typo names the word: unknown words by position and spelling, a failed checksum
examined for the one wrong word (every list word at every position), swapped neighbours.

The shares are real (``quorum.split_secret``); the checksum is shamir-mnemonic's own RS1024.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signer.core import quorum, share_words
from signer.core.share_words import WORDS, complete, find_problem, spelled_like, word_for

_, SHARES = quorum.split_secret(2, 3)
SHARE = SHARES[0].split()


def _replaced(words: list[str], pos: int, new: str) -> list[str]:
    out = list(words)
    out[pos] = new
    return out


def _other(word: str, step: int = 7) -> str:
    return WORDS[(WORDS.index(word) + step) % len(WORDS)]


def test_a_good_share_has_no_problem_in_any_case():
    assert len(SHARE) == share_words.APPLIANCE_SHARE_WORDS
    assert find_problem(SHARE) is None
    assert find_problem([w.upper() for w in SHARE]) is None


@pytest.mark.parametrize("pos", [0, 1, 2, 3, 4, 16, 29, 30, 32])  # metadata, value, checksum
def test_one_wrong_word_is_named_and_its_fix_found(pos):
    wrong = _other(SHARE[pos])
    problem = find_problem(_replaced(SHARE, pos, wrong))
    assert problem is not None and problem.kind == "checksum"
    assert (problem.position, problem.typed, problem.fix) == (pos + 1, wrong, SHARE[pos])
    plain = problem.message()
    assert plain.startswith(f"word {pos + 1} ('{wrong}') looks wrong")
    assert f"'{SHARE[pos]}'" not in plain  # the CLI never shows the right word (I10)
    assert f"it is '{SHARE[pos]}'" in problem.message(suggest=True)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 32), st.integers(1, 1023))
def test_every_single_substitution_has_exactly_one_fix(pos, step):
    problem = find_problem(_replaced(SHARE, pos, _other(SHARE[pos], step)))
    assert problem is not None and problem.kind == "checksum"
    assert problem.position == pos + 1 and problem.fix == SHARE[pos]


def test_the_second_word_may_carry_the_extendable_flag():
    # Bit 4 of word 2 chooses the checksum's customization string: a wrong word there that
    # flips it must still be found.
    idx = WORDS.index(SHARE[1])
    flipped = WORDS[idx ^ 0b10000]
    problem = find_problem(_replaced(SHARE, 1, flipped))
    assert problem is not None and (problem.kind, problem.position, problem.fix) == (
        "checksum", 2, SHARE[1])


def test_swapped_neighbours_are_named():
    i = next(i for i in range(10, 30) if SHARE[i] != SHARE[i + 1])
    words = list(SHARE)
    words[i], words[i + 1] = words[i + 1], words[i]
    problem = find_problem(words)
    assert problem is not None and problem.kind == "swapped"
    assert problem.message() == f"words {i + 1} and {i + 2} look swapped"


def test_two_wrong_words_are_not_guessed():
    words = _replaced(_replaced(SHARE, 5, _other(SHARE[5])), 20, _other(SHARE[20]))
    problem = find_problem(words)
    assert problem is not None and problem.kind == "unfixable"
    assert "'" not in problem.message()  # no word is quoted when none can be pointed at


@pytest.mark.parametrize("typed, expected", [
    ("acdi", ["acid"]), ("gamx", ["game"]), ("acadmic", ["academic"]), ("ac", ["academic"]),
    ("acad", ["academic"]), ("zzzzzz", []),
])
def test_unknown_words_are_spelled_like_list_words(typed, expected):
    assert spelled_like(typed)[:len(expected)] == expected


def test_an_unknown_word_is_named_with_its_position_and_what_it_could_be():
    pos = 6
    typed = SHARE[pos] + "q"  # no list word is another one plus a letter
    problem = find_problem(_replaced(SHARE, pos, typed))
    assert problem is not None and problem.kind == "unknown" and problem.position == pos + 1
    assert problem.message().startswith(f"word 7 ('{typed}') is not a SLIP-39 word")
    assert problem.fix == SHARE[pos]  # one unknown word: the checksum says which belongs there
    assert f"fits if it is '{SHARE[pos]}'" in problem.message(suggest=True)
    assert "fits if" not in problem.message()


def test_hostile_text_is_never_quoted():
    problem = find_problem(_replaced(SHARE, 3, "\x1b[2J" + "a" * 50))
    assert problem is not None and problem.kind == "unknown"
    assert problem.message().startswith("word 4 is not a SLIP-39 word")


@pytest.mark.parametrize("words, kind", [
    ([], "empty"), (["academic"] * 5, "length"), (SHARE[:-1], "unfixable"),
])
def test_counts(words, kind):
    problem = find_problem(words)
    assert problem is not None and problem.kind == kind


def test_completion_needs_at_most_four_letters():
    assert all(word_for(w[:4]) == w for w in WORDS)  # unique by the first four letters
    assert word_for("academic") == "academic"
    assert word_for("ac") is None and len(complete("ac")) > 1
    assert word_for("academicx") is None and word_for("qqqq") is None


def test_quorum_names_the_word_but_never_the_right_one():
    pos = 12
    wrong = _other(SHARE[pos])
    with pytest.raises(quorum.ShareError) as err:
        quorum.inspect_share(" ".join(_replaced(SHARE, pos, wrong)))
    text = str(err.value)
    assert text.startswith(f"share: not a valid SLIP-39 share: word 13 ('{wrong}') looks wrong")
    assert f"'{SHARE[pos]}'" not in text
