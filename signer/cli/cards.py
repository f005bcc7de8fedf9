"""CLI verb of the custodians: `cards check`, the check before sealing a printed share card.

Each share is read back (typed from the printed card without echo, or from a share file with
``--share``) and compared with its card file; the verdict names a wrong word by its position,
never the words (I10). Nothing is logged: the home is not opened, and no token is needed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from signer.cli.common import Command, emit
from signer.errors import SignerError
from signer.service.cards import card_for, check_card, find_cards
from signer.service.session import read_secret_file, terminal_prompt

TRIES = 3  # per card, at the prompt: then the card is reported as not matching


def add_parsers(cmd: Command, parser_class: type[argparse.ArgumentParser]) -> None:
    cd = cmd("cards", "the custodians' printed share cards").add_subparsers(
        dest="sub", required=True, parser_class=parser_class)
    p = cmd("check", "before sealing: read each share back from its printed card and compare "
                     "it with the card file", cd)
    p.add_argument("dir", type=Path, help="the directory of `init --share-cards DIR`")


def cmd_cards(args: argparse.Namespace) -> None:
    cards = find_cards(args.dir)
    results: list[dict[str, object]] = []
    files = getattr(args, "share", None) or []
    if files:
        for path in files:
            results.append(_verdict(path.name, read_secret_file(path, "share"), None, args.dir))
    elif sys.stdin.isatty():
        for card in cards:
            for attempt in range(1, TRIES + 1):
                typed = terminal_prompt(f"{card.stem}: type its words from the paper (not "
                                        "shown), then Enter: ")
                result = _verdict(card.name, typed, card, args.dir)
                if result["ok"] or attempt == TRIES:
                    break
                print(f"  {result['problem']}; again", file=sys.stderr)
            results.append(result)
    else:
        raise SignerError("type the shares at a terminal, or give --share FILE (repeat)")
    bad = [r for r in results if not r["ok"]]
    emit(args, {"cards": results, "ok": not bad}, "\n".join(
        f"{r['card']}: matches the card file: seal it" if r["ok"] else f"{r['card']}: "
        f"{r['problem']}" for r in results))
    if bad:
        raise SignerError(f"{len(bad)} of {len(results)} cards do not match: do not seal them")


def _verdict(label: str, typed: str, card: Path | None, out_dir: Path) -> dict[str, object]:
    """Check one share read back: against ``card``, or the card of its share number."""
    try:
        card = card or card_for(out_dir, typed)
        index = check_card(card, typed)
    except SignerError as exc:
        return {"card": label, "ok": False, "problem": str(exc)}
    return {"card": card.name, "ok": True, "share": index, "problem": None}
