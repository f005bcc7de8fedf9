"""``signer``: the command line. A thin shell over ``signer.service``: parse, call, render.

Exit codes (DESIGN §5): 0 done; 1 refused or failed, one line on stderr; 2 usage error.
Only the package error bases are caught here; anything else is a bug and should be loud.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from signer.cli import audit, batches, cards, custody, lifecycle, setup, transfer
from signer.cli.common import Parser, common_options
from signer.cli.progress import bars
from signer.errors import SignerError, UsageError
from signer.service.session import ERRORS, secure_process
from signer.version import version_line

COMMANDS: dict[str, Callable[[argparse.Namespace], None]] = {
    **setup.COMMANDS, **batches.COMMANDS, **custody.COMMANDS, "audit": audit.cmd_audit,
    "transfer": transfer.cmd_transfer, "cards": cards.cmd_cards,
}


class _VersionAction(argparse.Action):
    """Reads the lock only when asked (argparse's own version action would read it for every
    command, and a missing lock would be a traceback)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        try:
            print(version_line())
        except SignerError as exc:
            parser.exit(1, f"signer: error: {exc}\n")
        parser.exit(0)


def build_parser() -> argparse.ArgumentParser:
    common = common_options()
    parser = Parser(prog="signer", description="Offline signing appliance for community CAs.",
                    parents=[common])
    parser.add_argument("--version", action=_VersionAction, nargs=0,
                        help="print the version and the SHA-256 of the dependency lock file")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    def cmd(name: str, help_: str, parent: Any = sub) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, help=help_, description=help_,
                                                       parents=[common])
        return p

    setup.add_parsers(cmd, Parser)
    custody.add_parsers(cmd, Parser)
    lifecycle.add_parsers(cmd, Parser)
    batches.add_parsers(cmd, Parser)
    audit.add_parsers(cmd, Parser)
    cards.add_parsers(cmd, Parser)
    tr = cmd("transfer", "move files across the air gap").add_subparsers(
        dest="sub", required=True, parser_class=Parser)
    transfer.add_parsers(cmd, tr)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    secure_process()  # I10: no core dump of a process that may hold a PIN or shares
    args = build_parser().parse_args(argv)
    try:
        with bars(args):  # on stderr, at a terminal, without --json
            COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"signer: usage error: {exc}", file=sys.stderr)
        return 2
    except ERRORS as exc:  # its message, never its Python class name (issue 15)
        print(f"signer: error: {str(exc) or 'refused (no reason was given)'}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("signer: interrupted", file=sys.stderr)
        return 1
    return 0
