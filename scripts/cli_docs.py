"""`make cli-docs`: the man page and the bash completion of `signer`, from its parser.

    .venv/bin/python scripts/cli_docs.py --out build     # build/signer.1, build/signer.bash

Both come from ``signer.cli.app.build_parser()``, so they cannot drift from the command line:
every verb, sub-verb and option with its help text. The completion is shtab's (options, verbs,
and file or directory names where an argument is a path). The man page is written here, in
plain man(7) macros: argparse-manpage, the usual tool, publishes no wheel, and the lock takes
wheels only (README.md, "The lock files"). `make offline-bundle` puts both in the bundle and
install.sh installs them. Nothing here runs on the appliance.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import shtab  # noqa: E402

from signer.cli.app import build_parser  # noqa: E402
from signer.version import VERSION  # noqa: E402

SUMMARY = "offline signing appliance for community certificate authorities"


def commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
             ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser, str]]:
    """Every verb and sub-verb, depth first: (words, its parser, its help)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                words = (*prefix, name)
                yield words, sub, helps.get(name, "")
                yield from commands(sub, words)


def leaves(parser: argparse.ArgumentParser) -> list[tuple[str, ...]]:
    """The commands one can run: verbs without sub-verbs, and sub-verbs."""
    return [words for words, sub, _ in commands(parser)
            if not any(isinstance(a, argparse._SubParsersAction) for a in sub._actions)]


# -- bash completion -------------------------------------------------------------------------

def completion(parser: argparse.ArgumentParser) -> str:
    for _, sub, _ in [((), parser, ""), *commands(parser)]:
        for action in sub._actions:  # paths complete as file (or directory) names
            if action.type is Path:
                action.complete = shtab.DIRECTORY if action.metavar == "DIR" else shtab.FILE  # type: ignore[attr-defined]
    return str(shtab.complete(parser, shell="bash"))


# -- the man page ----------------------------------------------------------------------------

def roff(text: str) -> str:
    """Text safe in a roff line: backslashes and hyphens escaped, no leading control dot."""
    out = " ".join(str(text).split()).replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + out if out[:1] in (".", "'") else out


def _metavar(action: argparse.Action, default: str) -> str:
    m = action.metavar
    return " ".join(m) if isinstance(m, tuple) else (m or default)


def _option(action: argparse.Action) -> str | None:
    if action.help == argparse.SUPPRESS or not action.option_strings and action.nargs == 0:
        return None
    if action.option_strings:
        names = ", ".join(f"\\fB{roff(o)}\\fR" for o in action.option_strings)
        if action.nargs != 0:
            names += f" \\fI{roff(_metavar(action, action.dest.upper()))}\\fR"
    else:
        names = f"\\fI{roff(_metavar(action, action.dest))}\\fR"
    return f".TP\n{names}\n{roff(action.help or '')}"


def manpage(parser: argparse.ArgumentParser) -> str:
    common = {o for a in parser._actions for o in a.option_strings}
    lines = [
        f'.TH SIGNER 1 "" "airgap-signer {VERSION}" "User Commands"',
        ".SH NAME", f"signer \\- {SUMMARY}",
        ".SH SYNOPSIS",
        ".B signer",
        "[\\fB\\-\\-home\\fR \\fIDIR\\fR] [\\fB\\-\\-json\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]",
        ".SH DESCRIPTION",
        roff("An offline signing appliance for a community certificate authority: CA keys in a "
             "PKCS#11 token unlocked by M of N custodians' SLIP-39 shares, request bundles "
             "carried across the air gap, every request judged by policy, certificates and "
             "CRLs signed, linted and verified, and everything written to a tamper-evident "
             "ceremony log that auditors verify offline. The ceremony runbook is OPERATIONS.md; "
             "the formats are in docs/FORMATS.md."),
        ".SH OPTIONS",
        roff("Accepted before or after the command."),
    ]
    lines += [o for a in parser._actions if not isinstance(a, argparse._SubParsersAction)
              and (o := _option(a))]
    lines.append(".SH COMMANDS")
    for words, sub, help_ in commands(parser):
        lines += [f'.SS "signer {roff(" ".join(words))}"', roff(help_ or sub.description or "")]
        own = [o for a in sub._actions if (not a.option_strings or not set(a.option_strings)
                                           <= common | {"-h", "--help"})
               and not isinstance(a, argparse._SubParsersAction) and (o := _option(a))]
        if own:
            lines += [".RS", *own, ".RE"]
    lines += [
        ".SH EXIT STATUS",
        ".TP\n0\ndone", ".TP\n1", roff("refused or failed (bad input, policy, verification, the "
                                      "token), with one line on standard error"),
        ".TP\n2\nusage error",
        ".SH ENVIRONMENT",
        ".TP\n.B SIGNER_HOME", roff("the home when --home is not given (else ./signer-home)"),
        ".TP\n.B SOFTHSM2_CONF", roff("the SoftHSM2 configuration of a rehearsal token"),
        ".TP\n.B SIGNER_QR_READER", roff("the TUI's camera reader program for QR frames"),
        ".TP\n.B NO_COLOR", roff("the TUI in monochrome"),
        ".SH FILES",
        ".TP\n.I HOME/signer.toml", roff("the configuration (policy, profiles, token)"),
        ".TP\n.I HOME/log/ceremony.jsonl", roff("the ceremony log; HOME/log/checkpoint is its "
                                                "latest signed checkpoint"),
        ".TP\n.I HOME/ledger.sqlite", roff("the ledger: an index, checked against the log"),
        ".SH SEE ALSO",
        roff("README.md, OPERATIONS.md, docs/ARCHITECTURE.md, docs/FORMATS.md, "
             "docs/TRANSFER.md, docs/checks.md (installed under the prefix's "
             "share/airgap-signer/doc)"),
    ]
    return "\n".join(lines) + "\n"


def write(out: Path) -> tuple[Path, Path]:
    """Write signer.1 and signer.bash into ``out`` (made if missing; rewritten: build output)."""
    out.mkdir(parents=True, exist_ok=True)
    page, bash = out / "signer.1", out / "signer.bash"
    page.write_text(manpage(build_parser()))
    bash.write_text(completion(build_parser()))
    return page, bash


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="cli_docs.py", description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "build",
                   help="the directory for signer.1 and signer.bash (default build/)")
    for path in write(p.parse_args(argv).out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
