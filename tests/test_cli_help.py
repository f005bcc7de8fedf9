"""Every option of every verb says what it is for (issue 15: `--issuer`, `--key`, `--subject`,
`--out` had none)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from signer.cli.app import build_parser


def _parsers(p: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, p
    for action in p._actions:  # noqa: SLF001 - argparse offers no public walk
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def test_every_option_and_argument_has_help():
    missing = []
    verbs = 0
    for path, p in _parsers(build_parser(), "signer"):
        verbs += 1
        for a in p._actions:  # noqa: SLF001
            if isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)):  # noqa: SLF001
                continue
            if not (a.help or "").strip() or a.help == argparse.SUPPRESS:
                missing.append(f"{path} {'/'.join(a.option_strings) or a.dest}")
    assert verbs > 40
    assert missing == []
