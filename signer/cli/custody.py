"""CLI verbs of custody: `key backup|restore`, `quorum rotate|check`, `token add|list`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from signer.cli.common import (
    Command,
    at_of,
    credentials,
    emit,
    home_of,
    in_session,
    read_only,
    witness,
)
from signer.core.tokens import MAIN, TokenConfig
from signer.errors import UsageError
from signer.service import backup, quorums
from signer.service.session import read_secret_file
from transfer.keybackup import MAX_FILE
from transfer.usb import read_file


def add_key_parsers(cmd: Command, key: Any) -> None:
    p = cmd("backup", "wrap every key of the home under the trusted backup key, into one file "
                      "signed by the log key (homes made with --backup)", key)
    p.add_argument("--out", type=Path, required=True,
                   help="the backup file (never overwritten; keep copies apart from the shares)")
    p = cmd("restore", "restore a token's keys from a backup file onto a fresh token", key)
    p.add_argument("file", type=Path, help="the backup file (`key backup --out`)")
    p.add_argument("--token", default=MAIN,
                   help="which token's keys to restore (default main); signer.toml must "
                        "already name the new token for it")
    p.add_argument("--so-pin-file", type=Path, required=True,
                   help="file holding the new token's Security Officer PIN")
    p.add_argument("--backup-share", type=Path, action="append", default=[], required=True,
                   help="a backup custodian's share file (repeat for M of N)")


def add_token_parsers(cmd: Command, tok: Any) -> None:
    p = cmd("add", "name another token for this home (e.g. the root's, opened once a year)",
            tok)
    p.add_argument("name", help="the token's name in this home (a-z, 0-9, '-', '_')")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--label", help="the token's label")
    where.add_argument("--serial", help="the token's serial number")
    where.add_argument("--uri", help="an RFC 7512 pkcs11: URI selecting the token")
    p.add_argument("--module", help="its PKCS#11 module (default: the main token's)")
    p.add_argument("--key-id-bytes", type=int, default=2,
                   help="CKA_ID length of keys made on it (default 2: YubiHSM 2 ids)")
    p.add_argument("--pin-prefix", default="",
                   help="fixed start of its derived PIN (YubiHSM 2: e.g. 0001)")
    p.add_argument("--new-token-pin-file", type=Path, required=True,
                   help="file holding the token's current user PIN (re-keyed with a quorum)")
    cmd("list", "the tokens signer.toml names and the keys the log puts on each", tok)


def add_parsers(cmd: Command, parser_class: type[argparse.ArgumentParser]) -> None:
    q = cmd("quorum", "custodian share sets").add_subparsers(dest="sub", required=True,
                                                             parser_class=parser_class)
    p = cmd("rotate", "retire a share set: a new secret, new shares, every token re-keyed", q)
    p.add_argument("--quorum", metavar="M/N", required=True, help="the new set's M of N")
    p.add_argument("--shares-out", type=Path, metavar="DIR",
                   help="an empty directory for the new share files")
    p.add_argument("--share-cards", type=Path, metavar="DIR",
                   help="an empty directory for the new set's printable cards, HTML and PDF "
                        "(besides or instead of --shares-out); check them with `signer cards "
                        "check` before sealing")
    p.add_argument("--backup", action="store_true",
                   help="rotate the backup set instead (needs --so-pin-file and --backup-out)")
    p.add_argument("--so-pin-file", type=Path, help="the SO PIN (with --backup)")
    p.add_argument("--backup-out", type=Path,
                   help="the new backup file, made under the new backup key (with --backup)")
    p = cmd("check", "say which share set a share file belongs to (before sealing it); "
                     "unlocks nothing", q)
    p.add_argument("shares", type=Path, nargs="+", help="share files")


def cmd_key_custody(args: argparse.Namespace) -> None:
    if args.sub == "backup":
        res = in_session(args, backup.backup_keys, args.out)
        lines = [f"wrote {res.path}: {len(res.keys)} keys, sha256 {res.sha256}"]
        lines += [f"  {k.label:20} {k.token:8} {k.algorithm:9} {backup.spki_words(k)}"
                  for k in res.keys]
        emit(args, {"file": str(res.path), "sha256": res.sha256,
                    "keys": [{"label": k.label, "token": k.token, "algorithm": k.algorithm,
                              "spki_sha256": k.spki_sha256} for k in res.keys]},
             "\n".join(lines))
        return
    raw = read_file(args.file, MAX_FILE)
    shares = [read_secret_file(p, "backup share") for p in args.backup_share]
    so_pin = read_secret_file(args.so_pin_file, "SO PIN")
    notes: list[str | None] = []
    rr = backup.restore_keys(home_of(args), raw, args.token, so_pin=so_pin,
                             backup_shares=shares, creds=credentials(args), at=at_of(args),
                             closed=notes.append)
    witness(notes[0] if notes else None)
    emit(args, {"token": rr.token, "label": rr.label, "serial": rr.serial,
                "restored": [k.label for k in rr.restored], "kept": rr.kept},
         f"restored {len(rr.restored)} keys onto token {rr.label!r} (serial {rr.serial}) as "
         f"{rr.token!r}" + (f"; already there: {', '.join(rr.kept)}" if rr.kept else "")
         + "\n" + "\n".join(f"  {k.label:20} {k.algorithm:9} {backup.spki_words(k)}"
                            for k in rr.restored))


def cmd_token_custody(args: argparse.Namespace) -> None:
    if args.sub == "list":
        with read_only(args) as s:
            keys = s.state.custody.keys
            rows: list[dict[str, Any]] = []
            for name, t in sorted(s.config.tokens.items()):
                held = sorted(k for k, f in keys.items() if f.token == name)
                rows.append({"token": name, "where": t.describe(), "module": t.module,
                             "keys": held, "added": name in s.state.custody.tokens})
        emit(args, {"tokens": rows}, "\n".join(
            f"{r['token']:10} {r['where']:40} keys: {', '.join(r['keys']) or '-'}"
            for r in rows))
        return
    with read_only(args) as s:
        module = args.module or s.config.main_token.module
    cfg = TokenConfig(args.name, module, args.label, args.serial, args.uri, args.key_id_bytes)
    added = quorums.add_token(home_of(args), cfg, pin_prefix=args.pin_prefix,
                              initial_pin=read_secret_file(args.new_token_pin_file, "PIN"),
                              creds=credentials(args), at=at_of(args))
    emit(args, {"token": added.name, "where": added.describe(), "pin_plan": added.pin_plan},
         f"added token {added.name!r} ({added.describe()}); keys go on it with "
         f"`key generate LABEL --token {added.name}`")


def cmd_quorum(args: argparse.Namespace) -> None:
    if args.sub == "check":
        with read_only(args) as s:
            checks = [quorums.check_share(s, read_secret_file(p, "share")) for p in args.shares]
        emit(args, {"shares": [c.__dict__ for c in checks]},
             "\n".join(f"{p}: {c.sentence()}" for p, c in zip(args.shares, checks, strict=True)))
        return
    if args.backup:
        if args.so_pin_file is None or args.backup_out is None:
            raise UsageError("quorum rotate --backup needs --so-pin-file and --backup-out")
        so_pin = read_secret_file(args.so_pin_file, "SO PIN")
        res = in_session(args, quorums.rotate_backup, args.quorum, args.shares_out, so_pin,
                         args.backup_out, args.share_cards)
    else:
        res = in_session(args, quorums.rotate_unlock, args.quorum, args.shares_out,
                         args.share_cards)
    lines = [f"rotated the {res.purpose} set: share set {res.previous} retired, share set "
             f"{res.identifier} ({res.threshold} of {res.shares}) now in force on token(s) "
             f"{', '.join(res.tokens)}"]
    lines += [f"  share {'card' if p.suffix in ('.html', '.pdf') else 'file'}: {p}"
              for p in res.files]
    if args.share_cards:
        lines.append(f"  print each card, then check it before sealing: signer cards check "
                     f"{args.share_cards}")
    if res.backup is not None:
        lines.append(f"  new backup file: {res.backup.path} (sha256 {res.backup.sha256}); "
                     "destroy the old backup files and the old backup shares together")
    emit(args, {"set": res.purpose, "identifier": res.identifier, "previous": res.previous,
                "threshold": res.threshold, "shares": [str(p) for p in res.files],
                "tokens": res.tokens,
                "backup_file": str(res.backup.path) if res.backup else None},
         "\n".join(lines))


COMMANDS = {"quorum": cmd_quorum}
