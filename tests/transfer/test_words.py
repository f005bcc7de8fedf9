"""PGP word list: exact known entries, structure of both lists, and the fingerprint format."""

from __future__ import annotations

import hashlib

import pytest

from transfer.words import EVEN_WORDS, ODD_WORDS, fingerprint, pgp_words


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"\x00\x00", ["aardvark", "adroitness"]),
        (b"\xff\xff", ["Zulu", "Yucatan"]),
        (b"\x17\x17", ["banjo", "bookseller"]),
        (b"\x47\x3d", ["dashboard", "crucifix"]),
        (b"\xe5\x7e", ["topmost", "insurgent"]),
        (b"\x8a\xd0", ["Oakland", "savagery"]),
        (b"\xe3\x82\xe3", ["tissue", "Istanbul", "tissue"]),
    ],
)
def test_known_words(data: bytes, words: list[str]) -> None:
    assert pgp_words(data) == words


def test_lists_are_complete_sorted_and_disjoint() -> None:
    assert len(set(EVEN_WORDS)) == len(set(ODD_WORDS)) == 256
    assert not {w.lower() for w in EVEN_WORDS} & {w.lower() for w in ODD_WORDS}
    # Both published lists are alphabetical (one known quirk: "applicant" before "Apollo").
    assert list(EVEN_WORDS) == sorted(EVEN_WORDS, key=str.lower)
    odd = list(ODD_WORDS)
    odd[9], odd[10] = odd[10], odd[9]
    assert odd == sorted(odd, key=str.lower)


def test_fingerprint() -> None:
    hexd, words = fingerprint(b"abc")
    digest = hashlib.sha256(b"abc").digest()
    assert hexd.replace(" ", "") == digest.hex().upper()
    assert hexd.startswith("BA78 16BF 8F01 CFEA")
    assert words.split() == pgp_words(digest[:8])
    assert len(fingerprint(b"abc", n=4)[1].split()) == 4
    with pytest.raises(ValueError):
        fingerprint(b"abc", n=0)
