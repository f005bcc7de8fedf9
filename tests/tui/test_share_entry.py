"""Custodians type shares one word at a time (issue 15): completion from the SLIP-39 list,
the word count, the checksum checked as soon as the share is complete, a wrong word named and
corrected, and no word anywhere but on the dialog. Real token, real key presses, no sleeps."""

from __future__ import annotations

from shamir_mnemonic.wordlist import WORDLIST

from signer.tui.app import CeremonyApp
from signer.tui.screens.overview import OverviewScreen
from signer.tui.screens.unlock import UnlockScreen
from signer.tui.share_entry import ShareEntry
from tests.tui.conftest import LATER, paste_text, replace_input, settle, text_of, type_text
from tests.tui.pilots import error_text, run, started


async def _open_unlock(pilot) -> ShareEntry:
    await started(pilot)
    await pilot.press("u")
    await replace_input(pilot, LATER)
    await pilot.press("enter")
    assert isinstance(pilot.app.screen, UnlockScreen)
    return pilot.app.screen.query_one(ShareEntry)


async def _word(pilot, word: str, key: str = "space") -> None:
    """As a custodian reading the card: the first four letters, then Space (or Enter)."""
    await type_text(pilot, word[:4])
    await pilot.press(key)


def _other(word: str) -> str:
    return WORDLIST[(WORDLIST.index(word) + 11) % len(WORDLIST)]


def test_word_by_word_with_a_typo_named_and_corrected(quorum_home):
    one, two = (s.split() for s in quorum_home.shares[:2])
    wrong = _other(one[6])

    async def scenario():
        app = CeremonyApp(quorum_home.home)
        async with app.run_test(size=(80, 24)) as pilot:
            entry = await _open_unlock(pilot)
            await type_text(pilot, "ac")  # completion: several words start so
            hint = text_of(pilot, "#share-hint")
            assert "academic" in hint and "acid" in hint
            await pilot.press("ctrl+u")
            await type_text(pilot, one[0][:4])
            assert f"\u2192 {one[0]}" in text_of(pilot, "#share-hint")  # four letters do
            await pilot.press("space")
            assert entry.words == [one[0]] and "word 2 of 33, 1 entered" in text_of(
                pilot, "#share-positions")
            assert pilot.app.screen.query_one("#word").value == ""  # the word left the field
            for i, w in enumerate(one[1:], 1):
                await _word(pilot, wrong if i == 6 else w)
            # Complete: the checksum is checked at once and the wrong word named, with its
            # fix (the words are on this dialog anyway); the entry moves to it.
            err = error_text(pilot)
            assert f"word 7 ('{wrong}') looks wrong" in err and f"'{one[6]}'" in err
            assert "word 7 of 33" in text_of(pilot, "#share-positions")
            assert "0 of 2 shares" in text_of(pilot, "#unlock-progress")
            await _word(pilot, one[6])
            assert "1 of 2 shares" in text_of(pilot, "#unlock-progress")
            assert "share 1 taken" in error_text(pilot)
            assert entry.words == [] and "word 1 of 33, 0 entered" in text_of(
                pilot, "#share-positions")

            # The second custodian: an unknown start is refused at once; Backspace in an empty
            # field steps back a word; Up goes back to any word to correct it.
            await type_text(pilot, "qx")
            await pilot.press("enter")
            assert "word 1: no SLIP-39 word starts with 'qx'" in error_text(pilot)
            await pilot.press("backspace", "backspace")
            for w in two[:3]:
                await _word(pilot, w, key="enter")
            await _word(pilot, _other(two[3]))
            await pilot.press("backspace")  # the field is empty: back to word 4
            assert entry.words == two[:3]
            await _word(pilot, two[3])
            await _word(pilot, _other(two[4]))
            for w in two[5:10]:
                await _word(pilot, w)
            await pilot.press(*["up"] * 6)
            assert "word 5 of 33" in text_of(pilot, "#share-positions")
            await _word(pilot, two[4])  # corrected; back to the end
            assert entry.words == two[:10]
            assert "word 11 of 33, 10 entered" in text_of(pilot, "#share-positions")
            for w in two[10:]:
                await _word(pilot, w)
            await settle(pilot)
            assert isinstance(pilot.app.screen, OverviewScreen), error_text(pilot)
            assert "shares 1, 2 took part" in text_of(pilot, "#ov-token")
            assert not pilot.app._notifications  # nothing was said outside the dialog
        log = (quorum_home.home / "log" / "ceremony.jsonl").read_text()
        for words in (one, two):  # I10: no run of a share's words reached the log
            assert not any(" ".join(words[i:i + 2]) in log for i in range(len(words) - 1))
    run(scenario())


def test_a_pasted_share_with_an_unknown_word_is_named_on_completion(quorum_home):
    words = quorum_home.shares[2].split()
    typo = words[12] + "x"

    async def scenario():
        app = CeremonyApp(quorum_home.home)
        async with app.run_test(size=(80, 24)) as pilot:
            entry = await _open_unlock(pilot)
            await paste_text(pilot, " ".join(words[:12] + [typo] + words[13:]) + " ")
            err = error_text(pilot)
            assert f"word 13 ('{typo}') is not a SLIP-39 word" in err
            assert "word 13 of 33" in text_of(pilot, "#share-positions")
            await _word(pilot, words[12])
            assert "1 of 2 shares" in text_of(pilot, "#unlock-progress")
            assert entry.words == []
            await pilot.press("escape")  # cancelled: nothing kept
            assert isinstance(pilot.app.screen, OverviewScreen)
    run(scenario())
