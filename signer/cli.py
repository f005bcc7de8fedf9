"""``signer``: the command line. A thin shell over ``signer.ceremony``: parse, call, render.

Exit codes (DESIGN §5): 0 done; 1 refused or failed, one line on stderr; 2 usage error.
Only the package error bases are caught here; anything else is a bug and should be loud.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from hsm.errors import HSMError
from hsm.token import ALGORITHMS
from signer.ceremony import (
    Appliance,
    Credentials,
    parse_time,
    terminal_prompt,
)
from signer.errors import SignerError, UsageError
from signer.secure import read_secret_file, secure_process
from transfer.errors import TransferError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"signer: usage error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _common() -> argparse.ArgumentParser:
    """Options accepted before or after the command (SUPPRESS keeps the outer value)."""
    p = argparse.ArgumentParser(add_help=False)
    S = argparse.SUPPRESS
    p.add_argument("--home", type=Path, default=S, help="signer home (default $SIGNER_HOME or ./signer-home)")
    p.add_argument("--json", action="store_true", default=S, help="machine-readable output on stdout")
    p.add_argument("--pin-file", type=Path, default=S, help="file holding the token user PIN")
    p.add_argument("--share", type=Path, action="append", default=S,
                   help="a custodian's SLIP-39 share file (repeat for M of N)")
    p.add_argument("--at", default=S, help="confirmed ceremony time, ISO 8601 UTC")
    return p


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = _Parser(prog="signer", description="Offline signing appliance for community CAs.",
                     parents=[common])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def cmd(name: str, help_: str, parent: Any = sub) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, help=help_, parents=[common])
        return p

    p = cmd("init", "create a signer home on a token")
    p.add_argument("--module", required=True, help="PKCS#11 module path")
    p.add_argument("--token", required=True, help="token label")
    p.add_argument("--rehearsal", action="store_true", help="mark this home a rehearsal")
    p.add_argument("--quorum", help="M/N: derive the PIN from SLIP-39 shares")
    p.add_argument("--shares-out", type=Path, help="directory for the N share files")
    p.add_argument("--name", help="appliance name (the log's checkpoint origin)")

    tok = cmd("token", "token commands").add_subparsers(dest="sub", required=True, parser_class=_Parser)
    cmd("status", "module, token, flags, mechanisms, login state", tok)

    key = cmd("key", "CA keys in the token").add_subparsers(dest="sub", required=True, parser_class=_Parser)
    p = cmd("generate", "generate a CA key pair in the token", key)
    p.add_argument("label")
    p.add_argument("--algorithm", required=True, help=f"one of {', '.join(a for a in ALGORITHMS if a != 'ed25519')}")
    cmd("list", "keys in the token with their safety attributes", key)

    ca = cmd("ca", "certificate authorities").add_subparsers(dest="sub", required=True, parser_class=_Parser)
    p = cmd("root", "create a self-signed root", ca)
    p.add_argument("name")
    p.add_argument("--key", required=True)
    p.add_argument("--subject", required=True)
    p.add_argument("--days", type=int)
    p = cmd("sub", "create a sub-CA signed by an issuer", ca)
    p.add_argument("name")
    p.add_argument("--issuer", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--subject", required=True)
    p.add_argument("--profile", default="subca")
    p.add_argument("--days", type=int)
    cmd("list", "list CAs", ca)
    p = cmd("show", "print a CA certificate as PEM", ca)
    p.add_argument("name")

    au = cmd("audit", "auditor's tools").add_subparsers(dest="sub", required=True, parser_class=_Parser)
    cmd("pubkey", "print the appliance's log/result public key (PEM)", au)
    p = cmd("verify", "verify the ceremony log, the ledger and bundles against it", au)
    p.add_argument("--log", type=Path, help="ceremony log (default HOME/log/ceremony.jsonl)")
    p.add_argument("--bundle", type=Path, action="append", default=[], help="a result bundle (repeat)")
    p.add_argument("--checkpoint", type=Path, help="a signed checkpoint held elsewhere (anchor)")
    p.add_argument("--pubkey", type=Path, help="the appliance's public key (default: from HOME)")
    cmd("checkpoint", "print the latest signed checkpoint, for witnesses", au)
    p = cmd("report", "write the ceremony report: a self-contained, printable HTML page", au)
    p.add_argument("--out", type=Path, required=True, help="the HTML file (never overwritten)")
    p.add_argument("--log", type=Path, help="ceremony log (default HOME/log/ceremony.jsonl)")
    p.add_argument("--pubkey", type=Path, help="the appliance's public key (default: from HOME)")
    p = cmd("recover", "recover the log after a crash (unsigned tail, torn last line); logged", au)
    p.add_argument("--confirm", default="", help='the sentence "I have a copy of the damaged log"')

    cmd("tui", "the ceremony terminal UI")

    from signer import cli_batch  # the batch, online-side, CRL and transfer verbs

    cli_batch.extend(cmd, sub)
    return parser


# -- helpers ---------------------------------------------------------------------------------


def credentials(args: argparse.Namespace) -> Credentials:
    creds = Credentials()
    if getattr(args, "pin_file", None):
        creds.pin = read_secret_file(args.pin_file, "PIN")
    for p in getattr(args, "share", None) or []:
        creds.shares.append(read_secret_file(p, "share"))
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


def banner(app: Appliance) -> None:
    if app.rehearsal:
        print("REHEARSAL HOME: rehearsal ceremony, not for production use", file=sys.stderr)
    if app.config.root_may_issue_leaves:
        print("NOTE: this configuration lets the root issue leaf certificates", file=sys.stderr)


def witness(note: str | None) -> None:
    """Show the new checkpoint for witnesses to note (hex and PGP words, DESIGN §5)."""
    if note:
        from signer.report import checkpoint_summary

        print(checkpoint_summary(note), file=sys.stderr)


def with_login(args: argparse.Namespace, fn: Callable[[Appliance], Any], *,
               recovery: bool = False) -> Any:
    """Open the home, log in, run ``fn``, then close the session with a checkpoint."""
    app = Appliance(home_of(args))
    banner(app)
    try:
        app.login(credentials(args), at_of(args), recovery=recovery)
    except (SignerError, HSMError):
        app.ledger.close()
        raise
    try:
        result = fn(app)
    except BaseException as exc:  # any failure, a bug included, is logged and the session closed
        app.refuse(args.command, exc)
        witness(app.close())
        raise
    witness(app.close())
    return result


# -- commands --------------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> None:
    app, shares = Appliance.init(
        home_of(args), module=args.module, token_label=args.token, creds=credentials(args),
        rehearsal=args.rehearsal, quorum_spec=args.quorum, shares_out=args.shares_out,
        at=at_of(args), name=args.name,
    )
    lines = [f"initialised {app.paths.root} on token {args.token!r}"
             + (" (REHEARSAL)" if args.rehearsal else "")]
    for p in shares:
        lines.append(f"  share file: {p} (give one to each custodian; never store them together)")
    emit(args, {"home": str(app.paths.root), "rehearsal": args.rehearsal,
                "shares": [str(p) for p in shares]}, "\n".join(lines))


def cmd_token(args: argparse.Namespace) -> None:
    app = Appliance(home_of(args))
    banner(app)
    token = app.open_public()
    st = token.status()
    token.close()
    app.ledger.close()
    mech = ", ".join(f"{k}{'' if v else ' (missing)'}" for k, v in st.mechanisms.items())
    emit(args, st.to_json(), "\n".join([
        f"module:       {st.module}", f"token:        {st.label} (serial {st.serial})",
        f"model:        {st.manufacturer} {st.model}", f"flags:        {', '.join(st.flags)}",
        f"mechanisms:   {mech}", f"logged in:    {'yes' if st.logged_in else 'no'}",
        f"rehearsal:    {'yes' if app.rehearsal else 'no'}",
    ]))


def cmd_key(args: argparse.Namespace) -> None:
    if args.sub == "generate":
        attrs = with_login(args, lambda app: app.generate_key(args.label, args.algorithm))
        emit(args, attrs.to_json(), f"generated {attrs.algorithm} key {attrs.label!r} in the "
             "token (sensitive, never extractable)")
    else:
        keys = with_login(args, lambda app: app.list_keys())
        rows = [f"{k.label:24} {k.algorithm:10} {'safe' if k.safe else 'UNSAFE: ' + ', '.join(k.problems)}"
                for k in keys]
        emit(args, {"keys": [k.to_json() for k in keys]}, "\n".join(rows) or "(no keys)")


def _ca_json(rec: Any) -> dict[str, Any]:
    return {"name": rec.name, "kind": rec.kind, "issuer": rec.issuer, "key": rec.key_label,
            "algorithm": rec.key_algorithm, "serial": rec.serial, "not_before": rec.not_before,
            "not_after": rec.not_after, "cert_sha256": rec.cert_sha256}


def cmd_ca(args: argparse.Namespace) -> None:
    if args.sub in ("root", "sub"):
        if args.sub == "root":
            rec = with_login(args, lambda app: app.create_root(args.name, args.key, args.subject, args.days))
        else:
            rec = with_login(args, lambda app: app.create_sub(
                args.name, args.issuer, args.key, args.subject, args.profile, args.days))
        emit(args, _ca_json(rec), f"created {rec.kind} CA {rec.name!r} (serial {rec.serial}, "
             f"valid until {rec.not_after[:10]}); certificate in HOME/certs/{rec.name}.pem")
        return
    app = Appliance(home_of(args))
    banner(app)
    try:
        if args.sub == "list":
            cas = app.list_cas()
            emit(args, {"cas": [_ca_json(c) for c in cas], "rehearsal": app.rehearsal},
                 "\n".join(f"{c.name:12} {c.kind:5} issuer={c.issuer:12} {c.key_algorithm:9} "
                           f"until {c.not_after[:10]}" for c in cas) or "(no CAs)")
        else:
            pem = app.ca_pem(args.name)
            emit(args, {"name": args.name, "pem": pem}, pem.rstrip("\n"))
    finally:
        app.ledger.close()


def cmd_audit(args: argparse.Namespace) -> None:
    from signer.audit_cli import run_audit

    run_audit(args)


def cmd_tui(args: argparse.Namespace) -> None:
    from signer.tui.app import run

    run(home_of(args), at=getattr(args, "at", None))


COMMANDS: dict[str, Callable[[argparse.Namespace], None]] = {
    "init": cmd_init, "token": cmd_token, "key": cmd_key, "ca": cmd_ca, "audit": cmd_audit,
    "tui": cmd_tui,
}


def main(argv: Sequence[str] | None = None) -> int:
    secure_process()  # I10: no core dump of a process that may hold a PIN or shares
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = COMMANDS.get(args.command)
    if handler is None:
        from signer import cli_batch

        handler = cli_batch.COMMANDS[args.command]
    try:
        handler(args)
    except UsageError as exc:
        print(f"signer: usage error: {exc}", file=sys.stderr)
        return 2
    except (SignerError, HSMError, TransferError) as exc:
        print(f"signer: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("signer: interrupted", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
