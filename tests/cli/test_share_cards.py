"""`init --share-cards DIR` and `cards check DIR`: printable cards made at init, before the token
PIN is re-keyed, and the check before sealing, typed at a terminal or from share files."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.conftest import AT, run_signer
from tests.terminal import run_in_pty


@pytest.fixture(scope="module")
def carded(token_env, tmp_path_factory):
    pin = token_env.new_token("cards")
    base = tmp_path_factory.mktemp("cards")
    home, shares, cards = base / "home", base / "shares", base / "cards"
    r = run_signer("init", "--module", token_env.module, "--token", "cards", "--rehearsal",
                   "--quorum", "2/3", "--shares-out", shares, "--share-cards", cards,
                   "--pin-file", pin, "--at", AT, "--json", home=home, check=True)
    return home, shares, cards, json.loads(r.stdout)


def test_init_writes_a_card_per_custodian_with_the_homes_fingerprint(carded):
    home, shares, cards, out = carded
    assert sorted(p.name for p in cards.iterdir()) == [
        f"card-{i}-of-3.{e}" for i in (1, 2, 3) for e in ("html", "pdf")]
    assert {str(cards / "card-2-of-3.pdf"), str(shares / "share-2-of-3.txt")} <= set(
        out["shares"])
    raw = bytes.fromhex(json.loads(run_signer("audit", "pubkey", "--json", home=home).stdout)[
        "raw"])
    fingerprint = hashlib.sha256(raw).hexdigest().upper()
    html = (cards / "card-1-of-3.html").read_text()
    assert fingerprint[:4] + " " + fingerprint[4:8] in html
    # The cards were written before the PIN was re-keyed: the shares unlock the token.
    run_signer("key", "list", "--share", shares / "share-1-of-3.txt", "--share",
               shares / "share-3-of-3.txt", "--at", AT, home=home, check=True)


def test_cards_check_from_share_files(carded, tmp_path):
    _, shares, cards, _ = carded
    r = run_signer("cards", "check", cards, "--share", shares / "share-3-of-3.txt", "--share",
                   shares / "share-1-of-3.txt", check=True)
    assert r.stdout.splitlines() == ["card-3-of-3.html: matches the card file: seal it",
                                     "card-1-of-3.html: matches the card file: seal it"]
    words = (shares / "share-2-of-3.txt").read_text().split()
    right, words[3] = words[3], ("acid" if words[3] != "acid" else "acne")
    bad = tmp_path / "typo.txt"
    bad.write_text(" ".join(words))
    r = run_signer("cards", "check", cards, "--share", bad, "--json", check=False)
    assert r.returncode == 1 and "do not seal" in r.stderr
    result = json.loads(r.stdout)["cards"][0]
    assert not result["ok"] and f"word 4 ('{words[3]}') looks wrong" in result["problem"]
    assert f"'{right}'" not in r.stdout + r.stderr
    r = run_signer("cards", "check", cards, check=False, input="")
    assert "type the shares at a terminal, or give --share FILE" in r.stderr


def test_cards_check_typed_at_a_terminal(carded):
    _, shares, cards, _ = carded
    share = [(shares / f"share-{i}-of-3.txt").read_text().strip() for i in (1, 2, 3)]
    typo = share[1].split()
    typo[20] = "acid" if typo[20] != "acid" else "acne"
    run = run_in_pty(["cards", "check", cards], answers=[
        ("card-1-of-3: type", share[0]),
        ("card-2-of-3: type", " ".join(typo)),  # a mistake: named, and the card asked again
        ("card-2-of-3: type", share[1]),
        ("card-3-of-3: type", share[2]),
    ])
    assert run.status == 0, run.output
    assert "word 21 ('" + typo[20] + "') looks wrong" in run.output
    assert run.output.count("matches the card file: seal it") == 3
    for s in share:  # not echoed (I10)
        assert " ".join(s.split()[5:8]) not in run.output


def test_share_cards_need_a_quorum(token_env, tmp_path):
    pin = token_env.new_token("cards-noq")
    r = run_signer("init", "--module", token_env.module, "--token", "cards-noq", "--rehearsal",
                   "--share-cards", tmp_path / "c", "--pin-file", pin, "--at", AT,
                   home=tmp_path / "h", check=False)
    assert r.returncode == 1 and "--share-cards is only used with --quorum" in r.stderr
