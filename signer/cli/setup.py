"""CLI verbs of the key ceremony: `init`, `token status`, `key`, `ca`; and `tui`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hsm.token import ALGORITHMS
from signer.cli import custody, lifecycle
from signer.cli.common import Command, at_of, credentials, emit, home_of, in_session, read_only
from signer.core.tokens import MAIN
from signer.service import cas
from signer.service.outputs import FORMATS, encode_chain
from signer.service.session import read_secret_file
from signer.service.setup import InitOptions, init_home

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
    p.add_argument("--backup", metavar="M/N",
                   help="back keys up: a second SLIP-39 secret, split among N backup custodians "
                        "(any M restore), becomes the token's trusted wrapping key; CA keys may "
                        "then leave the token only wrapped under it (I1 revised)")
    p.add_argument("--backup-shares-out", type=Path, metavar="DIR",
                   help="an empty directory for the N backup share files (with --backup)")
    p.add_argument("--so-pin-file", type=Path, metavar="FILE",
                   help="file holding the token's Security Officer PIN (with --backup)")
    p.add_argument("--log-key-algorithm", metavar="ALG",
                   help="the appliance's log key: ed25519, ec-p256 or ec-p384 (default: Ed25519 "
                        "where the token offers it and can back it up, else ec-p256)")
    p.add_argument("--pin-prefix", default="", metavar="TEXT",
                   help="a fixed start of the derived PIN (YubiHSM 2: the authentication key "
                        "id, e.g. 0001)")
    p.add_argument("--pinpad", action="store_true",
                   help="the token has a PIN pad (protected authentication path): it asks "
                        "for the PIN itself")

    tok = cmd("token", "the token").add_subparsers(dest="sub", required=True,
                                                    parser_class=parser_class)
    p = cmd("status", "module, token, flags, PIN limits, the mechanisms this home needs and "
                      "which are missing", tok)
    p.add_argument("--token", default=MAIN, help="which token (a name in signer.toml)")
    custody.add_token_parsers(cmd, tok)

    key = cmd("key", "CA keys in the token").add_subparsers(dest="sub", required=True,
                                                             parser_class=parser_class)
    p = cmd("generate", "generate a CA key pair in the token (never extractable, I1)", key)
    p.add_argument("label", help="the key's label in the token")
    p.add_argument("--algorithm", required=True, help=f"one of {CA_ALGORITHMS}")
    p.add_argument("--token", default=MAIN,
                   help="the token to make it on (a name from signer.toml; default main)")
    cmd("list", "keys in the token with their safety attributes", key)
    custody.add_key_parsers(cmd, key)

    ca = cmd("ca", "certificate authorities").add_subparsers(dest="sub", required=True,
                                                              parser_class=parser_class)
    p = cmd("root", "create a self-signed root", ca)
    p.add_argument("name", help="the CA's name (a-z, 0-9, '-', '_'; used in URLs and files)")
    p.add_argument("--key", required=True, help="label of a CA key in the token")
    p.add_argument("--subject", required=True, help="RFC 4514 DN, e.g. 'CN=Root CA,O=Org,C=AU'")
    p.add_argument("--days", type=int, help="validity in days (default: the profile's cap)")
    p.add_argument("--profile", default="root", help="CA profile of kind root (default root)")
    p = cmd("sub", "create a sub-CA signed by an issuer", ca)
    p.add_argument("name", help="the CA's name (a-z, 0-9, '-', '_'; used in URLs and files)")
    p.add_argument("--issuer", required=True, help="name of the issuing CA (usually the root)")
    p.add_argument("--key", required=True, help="label of the sub-CA's key in the token")
    p.add_argument("--subject", required=True, help="RFC 4514 DN of the sub-CA")
    p.add_argument("--profile", default="subca", help="CA profile of kind sub in "
                                                      "[ca_profiles] (default subca)")
    p.add_argument("--days", type=int, help="validity in days (default: as long as the "
                                            "issuer and the profile allow)")
    cmd("list", "list CAs", ca)
    p = cmd("show", "print a CA's current certificate as PEM (--json: its chain and every "
                    "certificate of its key)", ca)
    p.add_argument("name", help="the CA's name")
    p.add_argument("--chain", action="store_true",
                   help="the current certificate and its issuers' up to the root")
    p.add_argument("--out", type=Path, help="write to FILE instead (never overwritten)")
    p.add_argument("--format", choices=FORMATS, default="pem",
                   help="with --out: pem, der (the certificate alone), fullchain (PEM: the "
                        "certificate and its issuers, without the root), p7b (PKCS#7 "
                        "certs-only, DER: the whole chain)")
    lifecycle.add_ca_parsers(cmd, ca)

    cmd("tui", "the ceremony terminal UI")


def cmd_init(args: argparse.Namespace) -> None:
    home = home_of(args)
    options = InitOptions(
        rehearsal=args.rehearsal, quorum=args.quorum, shares_out=args.shares_out,
        backup=args.backup, backup_shares_out=args.backup_shares_out,
        so_pin=read_secret_file(args.so_pin_file, "SO PIN") if args.so_pin_file else None,
        log_key_algorithm=args.log_key_algorithm, pin_prefix=args.pin_prefix,
        pinpad=args.pinpad, name=args.name, share_cards=args.share_cards)
    res = init_home(home, module=args.module, token_label=args.token, creds=credentials(args),
                    at=at_of(args), options=options)
    lines = [f"initialised {home} on token {args.token!r}"
             + (" (REHEARSAL)" if args.rehearsal else "")
             + f"; log key {res.log_key_algorithm}"]
    for p in res.share_files:
        kind = "share card" if p.suffix in (".html", ".pdf") else "share file"
        lines.append(f"  {kind}: {p} (give one to each custodian; never store them together)")
    for p in res.backup_share_files:
        lines.append(f"  backup share file: {p} (a backup custodian's; never with an unlock share)")
    if res.backup_fingerprint:
        lines.append(f"  backup key check value: {res.backup_fingerprint}")
    if args.share_cards:
        lines.append(f"  print each card, then check it before sealing: signer cards check "
                     f"{args.share_cards}")
    emit(args, {"home": str(home), "rehearsal": args.rehearsal,
                "shares": [str(p) for p in res.share_files],
                "backup_shares": [str(p) for p in res.backup_share_files],
                "log_key_algorithm": res.log_key_algorithm,
                "backup_fingerprint": res.backup_fingerprint}, "\n".join(lines))


def cmd_token(args: argparse.Namespace) -> None:
    if args.sub != "status":
        custody.cmd_token_custody(args)
        return
    with read_only(args) as s:
        name = args.token
        facts = s.state.custody
        # What this home needs of the token: its keys' algorithms (all CA algorithms before
        # any key exists), the log key, and wrapping for a backup home.
        algs = tuple(sorted({f.algorithm for f in facts.keys.values()
                             if f.token == name and f.algorithm != "ed25519"
                             and f.label != facts.log_key})) or None
        log_alg = facts.keys[facts.log_key].algorithm if facts.log_key in facts.keys \
            and name == MAIN else None
        token = s.open_public_token(name)
        try:
            st = token.status(algs, log_alg, backup=s.config.backup is not None) if algs \
                else token.status(log_key=log_alg, backup=s.config.backup is not None)
        finally:
            token.close()
        rehearsal = s.rehearsal
    mech = ", ".join(f"{k}{'' if v else ' (missing)'}" for k, v in st.mechanisms.items())
    lines = [
        f"module:       {st.module}", f"token:        {st.label} (serial {st.serial})",
        f"uri:          {st.uri}", f"model:        {st.manufacturer} {st.model}",
        f"flags:        {', '.join(st.flags)}",
        f"PIN length:   {st.pin_min}..{st.pin_max if st.pin_max is not None else '?'}"
        + (" (PIN pad)" if st.protected_authentication_path else ""),
        f"mechanisms:   {mech}", f"log key:      {log_alg or st.log_key_algorithm or 'none'}",
        f"logged in:    {'yes' if st.logged_in else 'no'}",
        f"rehearsal:    {'yes' if rehearsal else 'no'}",
    ]
    lines += [f"MISSING:      {m}" for m in st.missing]
    emit(args, st.to_json(), "\n".join(lines))


def cmd_key(args: argparse.Namespace) -> None:
    if args.sub in ("backup", "restore"):
        custody.cmd_key_custody(args)
        return
    if args.sub == "generate":
        attrs = in_session(args, cas.generate_key, args.label, args.algorithm, args.token)
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
    if args.sub in lifecycle.CA_VERBS:
        lifecycle.cmd_ca_lifecycle(args)
        return
    if args.sub in ("root", "sub"):
        if args.sub == "root":
            rec = in_session(args, cas.create_root, args.name, args.key, args.subject, args.days,
                             args.profile)
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
            view = cas.ca_view(s, args.name)
            if args.out is not None:
                encode_chain(list(view.chain), args.format, args.out)
                emit(args, {"name": args.name, "out": str(args.out), "format": args.format},
                     f"wrote {args.format} of CA {args.name!r} to {args.out}")
                return
            data = view.to_json()
            text = "".join(data["chain"]) if args.chain else data["pem"]
            emit(args, data, text.rstrip("\n"))


def cmd_tui(args: argparse.Namespace) -> None:
    # textual costs ~0.3 s to import: only the `tui` verb pays it (an allowed local import).
    from signer.tui.app import run

    run(home_of(args), at=getattr(args, "at", None))


COMMANDS = {"init": cmd_init, "token": cmd_token, "key": cmd_key, "ca": cmd_ca, "tui": cmd_tui,
            **lifecycle.COMMANDS}
