"""The man page and the bash completion are made from the parser (`make cli-docs`,
scripts/cli_docs.py), so they list every verb; the completion is exercised by a real bash.
And `make demo` installs only the appliance's packages (the test tools are `make test`'s)."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from signer.cli.app import build_parser
from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location("cli_docs", ROOT / "scripts" / "cli_docs.py")
assert _spec is not None and _spec.loader is not None
cli_docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cli_docs)

PARSER = build_parser()
TOP = [w[0] for w, _, _ in cli_docs.commands(PARSER) if len(w) == 1]


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> tuple[str, Path]:
    out = tmp_path_factory.mktemp("cli-docs")
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "cli_docs.py"), "--out", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return (out / "signer.1").read_text(), out / "signer.bash"


def test_the_man_page_lists_every_verb_and_option(made):
    page, _ = made
    assert {"init", "batch", "audit", "cards", "transfer", "tui"} <= set(TOP)
    for words, sub, _ in cli_docs.commands(PARSER):
        assert f'.SS "signer {cli_docs.roff(" ".join(words))}"' in page, words
        for action in sub._actions:
            for option in action.option_strings:
                assert f"\\fB{option.replace('-', chr(92) + '-')}\\fR" in page, (words, option)
    for section in ("NAME", "SYNOPSIS", "OPTIONS", "COMMANDS", "EXIT STATUS", "ENVIRONMENT"):
        assert f".SH {section}\n" in page


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff is not installed")
def test_the_man_page_renders_without_warnings(made, tmp_path):
    page, _ = made
    src = tmp_path / "signer.1"
    src.write_text(page)
    r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", "-k", str(src)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and not r.stderr, r.stderr


def _complete(script: Path, *words: str) -> list[str]:
    """What bash offers after `signer WORDS...` (the last word is the one being completed)."""
    line = " ".join(("signer", *words))
    quoted = " ".join(f"'{w}'" for w in ("signer", *words))
    r = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c",
         f'source "{script}"; COMP_WORDS=({quoted}); COMP_CWORD={len(words)}; '
         f'COMP_LINE="{line}"; COMP_POINT={len(line)}; _shtab_signer; '
         'printf "%s\\n" "${COMPREPLY[@]}"'],
        capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_the_completion_offers_verbs_sub_verbs_and_options(made):
    _, script = made
    assert sorted(_complete(script, "")) == sorted(TOP)
    subs = {w[0]: [] for w, _, _ in cli_docs.commands(PARSER)}
    for words, _, _ in cli_docs.commands(PARSER):
        if len(words) == 2:
            subs[words[0]].append(words[1])
    for verb, expected in subs.items():
        if expected:
            assert sorted(_complete(script, verb, "")) == sorted(expected), verb
    assert _complete(script, "audit", "report", "--o") == ["--out"]
    assert "--share-cards" in _complete(script, "init", "--sha")


def _apt_list(target: str) -> list[str]:
    """The packages `make TARGET` would install, from its dry run."""
    dry = subprocess.run(["make", "-n", "-C", str(ROOT), target], capture_output=True,
                         text=True, timeout=60).stdout
    found = re.search(r"for p in (.*?); do", dry)
    assert found is not None, dry
    return found[1].split()


def test_make_demo_installs_only_the_appliances_packages():
    appliance = [line.strip() for line in
                 (ROOT / "scripts/offline/debian-packages.txt").read_text().splitlines()
                 if line.strip() and not line.startswith("#")]
    assert _apt_list("system") == appliance
    assert _apt_list("test-system") == [*appliance, "chromium", "gcc", "poppler-utils"]
    rules = subprocess.run(["make", "-n", "-p", "-C", str(ROOT), "demo"], capture_output=True,
                           text=True, timeout=60).stdout
    assert "\ndemo: deps" in rules and "\ndeps: system venv" in rules
