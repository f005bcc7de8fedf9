"""What every verb of the command line shares: options, credentials, output, the session.

``in_session`` is the one way a verb unlocks the home: it opens the session, runs the verb
through ``Session.run`` (so a refusal is logged), and closes it with a signed checkpoint
whatever happens. SIGTERM, SIGHUP and Ctrl-C during a session ask long work to stop at its
next safe point and the session then closes the same way; a second signal ends the process
at once (the log then has a crash tail, recovered by `audit recover`).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from signer.core.clock import parse_time
from signer.errors import UsageError
from signer.service.report import checkpoint_summary
from signer.service.session import Credentials, Session, read_secret_file, terminal_prompt
from transfer.words import pgp_words

T = TypeVar("T")
SESSION_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"signer: usage error: {message}", file=sys.stderr)
        raise SystemExit(2)


def common_options() -> argparse.ArgumentParser:
    """Options accepted before or after the command (SUPPRESS keeps the outer value)."""
    p = argparse.ArgumentParser(add_help=False)
    S = argparse.SUPPRESS
    p.add_argument("--home", type=Path, default=S,
                   help="signer home (default $SIGNER_HOME or ./signer-home)")
    p.add_argument("--json", action="store_true", default=S,
                   help="machine-readable output on stdout")
    p.add_argument("--pin-file", type=Path, default=S, help="file holding the token user PIN")
    p.add_argument("--share", type=Path, action="append", default=S,
                   help="a custodian's SLIP-39 share file (repeat for M of N)")
    p.add_argument("--token-pin", action="append", default=S, metavar="NAME=FILE",
                   help="the user PIN of token NAME ([tokens.NAME] in signer.toml), for a "
                        "home without a quorum (repeat per token)")
    p.add_argument("--at", default=S, help="confirmed ceremony time, ISO 8601 UTC (…Z)")
    return p


Command = Callable[..., argparse.ArgumentParser]


def credentials(args: argparse.Namespace) -> Credentials:
    creds = Credentials()
    if getattr(args, "pin_file", None):
        creds.pin = read_secret_file(args.pin_file, "PIN")
    for p in getattr(args, "share", None) or []:
        creds.shares.append(read_secret_file(p, "share"))
    for spec in getattr(args, "token_pin", None) or []:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise UsageError(f"--token-pin {spec!r}: expected NAME=FILE")
        creds.token_pins[name] = read_secret_file(Path(path), f"PIN of token {name!r}")
    if creds.pin is None and not creds.shares and sys.stdin.isatty():
        creds.prompt = terminal_prompt
    return creds


def home_of(args: argparse.Namespace) -> Path:
    home = getattr(args, "home", None)
    if home is None:
        home = Path(os.environ.get("SIGNER_HOME", "./signer-home"))
    return Path(home)


def at_of(args: argparse.Namespace) -> Any:
    at = getattr(args, "at", None)
    return parse_time(at) if at else None


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, sort_keys=True))
    elif text:
        print(text)


def words(hexdigest: str) -> str:
    return " ".join(pgp_words(bytes.fromhex(hexdigest)[:8]))


def banner(session: Session) -> None:
    if session.rehearsal:
        print("REHEARSAL HOME: rehearsal ceremony, not for production use", file=sys.stderr)
    if session.config.root_may_issue_leaves:
        print("NOTE: this configuration lets the root issue leaf certificates", file=sys.stderr)


def witness(note: str | None) -> None:
    """Show the new checkpoint for witnesses to note (hex and PGP words, DESIGN §5)."""
    if note:
        print(checkpoint_summary(note), file=sys.stderr)


@contextmanager
def read_only(args: argparse.Namespace) -> Iterator[Session]:
    """The home without a login: configuration, ledger and log facts (nothing is logged)."""
    session = Session(home_of(args))
    banner(session)
    try:
        yield session
    finally:
        session.close()


@contextmanager
def _signals_interrupt(session: Session) -> Iterator[None]:
    def handler(signum: int, frame: object) -> None:
        session.interrupt()
        for s in SESSION_SIGNALS:  # a second signal is not delayed
            signal.signal(s, signal.SIG_DFL)

    old = {s: signal.signal(s, handler) for s in SESSION_SIGNALS}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def in_session(args: argparse.Namespace, fn: Callable[..., T], *fn_args: Any,
               **fn_kwargs: Any) -> T:
    """Unlock the home, run ``fn(session, *fn_args)`` with its refusal logged, close signed."""
    session = Session(home_of(args))
    banner(session)
    try:
        session.unlock(credentials(args), at_of(args))
    except BaseException:
        session.close()
        raise
    try:
        with _signals_interrupt(session):
            result = session.run(args.command, fn, *fn_args, **fn_kwargs)
    finally:
        witness(session.close())
    if session.interrupted:
        print("signer: interrupted: the session was closed and its log signed", file=sys.stderr)
    return result
