"""CLI verbs of the key ceremony: `init`, `token status`, `key`, `ca`; and `tui`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hsm.token import ALGORITHMS
from signer.cli.common import Command, at_of, credentials, emit, home_of, in_session, read_only
from signer.service import cas
from signer.service.setup import init_home

CA_ALGORITHMS = ", ".join(a for a in ALGORITHMS if a != "ed25519")


def add_parsers(cmd: Command, parser_class: type[argparse.ArgumentParser]) -> None:
    p = cmd("init", "create a signer home on a token")
    p.add_argument("--module", required=True, help="path of the token's PKCS#11 module")
    p.add_argument("--token", required=True, help="the token's label")
    p.add_argument("--rehearsal", action="store_true",
                   help="mark this home a rehearsal (may sign with the network up; said "
                        "everywhere)")
    p.add_argument("--quorum", metavar="M/N",
                   help="derive the token PIN from a SLIP-39 secret split among N custodians, "
                        "any M of whom unlock it")
    p.add_argument("--shares-out", type=Path, metavar="DIR",
                   help="an empty directory for the N share files (with --quorum)")
    p.add_argument("--share-cards", type=Path, metavar="DIR",
                   help="an empty directory for N printable share cards, HTML and PDF, one "
                        "per custodian (with --quorum); check them with `signer cards check`")
    p.add_argument("--name", help="the appliance's name: the origin of its log checkpoints "
                                  "(default airgap-signer/TOKEN)")

    tok = cmd("token", "the token").add_subparsers(dest="sub", required=True,
                                                    parser_class=parser_class)
    cmd("status", "module, token, flags, mechanisms, login state", tok)

    key = cmd("key", "CA keys in the token").add_subparsers(dest="sub", required=True,
                                                             parser_class=parser_class)
    p = cmd("generate", "generate a CA key pair in the token (never extractable, I1)", key)
    p.add_argument("label", help="the key's label in the token")
    p.add_argument("--algorithm", required=True, help=f"one of {CA_ALGORITHMS}")
    cmd("list", "keys in the token with their safety attributes", key)

    ca = cmd("ca", "certificate authorities").add_subparsers(dest="sub", required=True,
                                                              parser_class=parser_class)
    p = cmd("root", "create a self-signed root", ca)
    p.add_argument("name", help="the CA's name (a-z, 0-9, '-', '_'; used in URLs and files)")
    p.add_argument("--key", required=True, help="label of a CA key in the token")
    p.add_argument("--subject", required=True, help="RFC 4514 DN, e.g. 'CN=Root CA,O=Org,C=AU'")
    p.add_argument("--days", type=int, help="validity in days (default: the profile's cap)")
    p = cmd("sub", "create a sub-CA signed by an issuer", ca)
    p.add_argument("name", help="the CA's name (a-z, 0-9, '-', '_'; used in URLs and files)")
    p.add_argument("--issuer", required=True, help="name of the issuing CA (usually the root)")
    p.add_argument("--key", required=True, help="label of the sub-CA's key in the token")
    p.add_argument("--subject", required=True, help="RFC 4514 DN of the sub-CA")
    p.add_argument("--profile", default="subca", help="certificate profile (default subca)")
    p.add_argument("--days", type=int, help="validity in days (default: as long as the "
                                            "issuer and the profile allow)")
    cmd("list", "list CAs", ca)
    p = cmd("show", "print a CA certificate as PEM", ca)
    p.add_argument("name", help="the CA's name")

    cmd("tui", "the ceremony terminal UI")


def cmd_init(args: argparse.Namespace) -> None:
    home = home_of(args)
    shares = init_home(
        home, module=args.module, token_label=args.token, creds=credentials(args),
        rehearsal=args.rehearsal, quorum_spec=args.quorum, shares_out=args.shares_out,
        at=at_of(args), name=args.name, share_cards=args.share_cards)
    lines = [f"initialised {home} on token {args.token!r}"
             + (" (REHEARSAL)" if args.rehearsal else "")]
    for p in shares:
        kind = "share card" if p.suffix in (".html", ".pdf") else "share file"
        lines.append(f"  {kind}: {p} (give one to each custodian; never store them together)")
    if args.share_cards:
        lines.append(f"  print each card, then check it before sealing: signer cards check "
                     f"{args.share_cards}")
    emit(args, {"home": str(home), "rehearsal": args.rehearsal,
                "shares": [str(p) for p in shares]}, "\n".join(lines))


def cmd_token(args: argparse.Namespace) -> None:
    with read_only(args) as s:
        token = s.open_public_token()
        try:
            st = token.status()
        finally:
            token.close()
        rehearsal = s.rehearsal
    mech = ", ".join(f"{k}{'' if v else ' (missing)'}" for k, v in st.mechanisms.items())
    emit(args, st.to_json(), "\n".join([
        f"module:       {st.module}", f"token:        {st.label} (serial {st.serial})",
        f"model:        {st.manufacturer} {st.model}", f"flags:        {', '.join(st.flags)}",
        f"mechanisms:   {mech}", f"logged in:    {'yes' if st.logged_in else 'no'}",
        f"rehearsal:    {'yes' if rehearsal else 'no'}",
    ]))


def cmd_key(args: argparse.Namespace) -> None:
    if args.sub == "generate":
        attrs = in_session(args, cas.generate_key, args.label, args.algorithm)
        emit(args, attrs.to_json(), f"generated {attrs.algorithm} key {attrs.label!r} in the "
             "token (sensitive, never extractable)")
        return
    keys = in_session(args, cas.list_keys)
    rows = [f"{k.label:24} {k.algorithm:10} "
            f"{'safe' if k.safe else 'UNSAFE: ' + ', '.join(k.problems)}" for k in keys]
    emit(args, {"keys": [k.to_json() for k in keys]}, "\n".join(rows) or "(no keys)")


def _ca_json(rec: cas.CARecord) -> dict[str, Any]:
    return {"name": rec.name, "kind": rec.kind, "issuer": rec.issuer, "key": rec.key_label,
            "algorithm": rec.key_algorithm, "serial": rec.serial, "not_before": rec.not_before,
            "not_after": rec.not_after, "cert_sha256": rec.cert_sha256}


def cmd_ca(args: argparse.Namespace) -> None:
    if args.sub in ("root", "sub"):
        if args.sub == "root":
            rec = in_session(args, cas.create_root, args.name, args.key, args.subject, args.days)
        else:
            rec = in_session(args, cas.create_sub, args.name, args.issuer, args.key,
                             args.subject, args.profile, args.days)
        emit(args, _ca_json(rec), f"created {rec.kind} CA {rec.name!r} (serial {rec.serial}, "
             f"valid until {rec.not_after[:10]}); certificate in HOME/certs/{rec.name}.pem")
        return
    with read_only(args) as s:
        if args.sub == "list":
            cs = cas.list_cas(s)
            emit(args, {"cas": [_ca_json(c) for c in cs], "rehearsal": s.rehearsal},
                 "\n".join(f"{c.name:12} {c.kind:5} issuer={c.issuer:12} {c.key_algorithm:9} "
                           f"until {c.not_after[:10]}" for c in cs) or "(no CAs)")
        else:
            pem = cas.ca_pem(s, args.name)
            emit(args, {"name": args.name, "pem": pem}, pem.rstrip("\n"))


def cmd_tui(args: argparse.Namespace) -> None:
    # textual costs ~0.3 s to import: only the `tui` verb pays it (an allowed local import).
    from signer.tui.app import run

    run(home_of(args), at=getattr(args, "at", None))


COMMANDS = {"init": cmd_init, "token": cmd_token, "key": cmd_key, "ca": cmd_ca, "tui": cmd_tui}
