"""CLI verbs for batches, the online side, revocation, CRLs, audit and transfer."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from signer import cli, cli_transfer
from signer.errors import UsageError


def extend(cmd: Callable[..., argparse.ArgumentParser], sub: Any) -> None:
    ra = cmd("ra", "registration authorities").add_subparsers(dest="sub", required=True, parser_class=cli._Parser)
    p = cmd("trust", "pin a new RA's public key (logged)", ra)
    p.add_argument("name", help="the RA's name, as its bundles give it")
    p.add_argument("pubfile", type=Path, help="the RA's Ed25519 public key (PEM)")
    p = cmd("replace", "replace an RA's key; its sequence continues (logged)", ra)
    p.add_argument("name", help="a trusted RA")
    p.add_argument("pubfile", type=Path, help="the RA's new Ed25519 public key (PEM)")
    p = cmd("revoke", "revoke an RA: its bundles and staged batches are refused (logged)", ra)
    p.add_argument("name", help="a trusted RA")
    p.add_argument("--reason", default="", help="why, for the log")
    cmd("list", "RAs as the log knows them, checked against the ledger", ra)

    rq = cmd("request", "(online side) RA keys and request bundles").add_subparsers(
        dest="sub", required=True, parser_class=cli._Parser)
    p = cmd("keygen", "make an RA key pair: KEY and KEY.pub", rq)
    p.add_argument("--out", type=Path, required=True)
    p = cmd("pack", "build a signed request bundle from SPEC.json", rq)
    p.add_argument("spec", type=Path)
    p.add_argument("--ra-key", type=Path, required=True)
    p.add_argument("--seq", type=int, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--ra", help="RA name (default: from SPEC.json, else the key file's name)")

    bt = cmd("batch", "request batches").add_subparsers(dest="sub", required=True, parser_class=cli._Parser)
    p = cmd("import", "verify and stage a request bundle", bt)
    p.add_argument("file", type=Path)
    p = cmd("show", "per-request verdicts", bt)
    p.add_argument("id")
    p = cmd("sign", "sign what policy accepted (resumable)", bt)
    p.add_argument("id")
    p.add_argument("--approve-ca", action="append", default=[], metavar="REQUEST",
                   help="approve a root-signed sub-CA request (repeat)")
    p = cmd("export", "write the signed result bundle", bt)
    p.add_argument("id")
    p.add_argument("--out", type=Path, required=True)
    cmd("list", "list batches", bt)

    rs = cmd("result", "(online side) result bundles").add_subparsers(dest="sub", required=True, parser_class=cli._Parser)
    p = cmd("verify", "verify a result bundle and unpack it", rs)
    p.add_argument("file", type=Path)
    p.add_argument("--trust", type=Path, required=True, help="the appliance's public key (audit pubkey)")
    p.add_argument("--out", type=Path, required=True, help="an empty directory to unpack into")
    p.add_argument("--request", type=Path,
                   help="the request bundle this result answers (the RA's own copy): every "
                        "certificate is checked against its CSR and verified facts")

    p = cmd("revoke", "record a revocation")
    p.add_argument("ca")
    p.add_argument("serial")
    p.add_argument("--reason", required=True)

    cr = cmd("crl", "CRLs").add_subparsers(dest="sub", required=True, parser_class=cli._Parser)
    p = cmd("issue", "issue the next CRL of a CA", cr)
    p.add_argument("ca")
    p.add_argument("--out", type=Path)

    tr = cmd("transfer", "move files across the air gap").add_subparsers(
        dest="sub", required=True, parser_class=cli._Parser)
    cli_transfer.add_parsers(cmd, tr)


def _words(hexdigest: str) -> str:
    from transfer.words import pgp_words

    return " ".join(pgp_words(bytes.fromhex(hexdigest)[:8]))


def cmd_ra(args: argparse.Namespace) -> None:
    from signer import ra
    from signer.online import load_public_key

    if args.sub == "list":
        infos = cli.with_login(args, ra.list_ras)
        cli.emit(args, {"ras": [i.to_json() for i in infos]}, "\n".join(
            f"{i.name:16} key {i.key_id[:16]}… seq {i.last_sequence:<6} "
            f"{'REVOKED' if i.revoked else 'trusted'}"
            + ("" if i.integrity == "ok" else f"  WARNING: {i.integrity}") for i in infos)
            or "(no RAs)")
        return
    if args.sub == "revoke":
        key_id = cli.with_login(args, lambda app: ra.revoke_ra(app, args.name, args.reason))
        cli.emit(args, {"ra": args.name, "key_id": key_id, "revoked": True},
                 f"revoked RA {args.name!r}: its bundles are refused from now on")
        return
    raw = load_public_key(args.pubfile)
    if args.sub == "replace":
        old, key_id = cli.with_login(args, lambda app: ra.replace_ra_key(app, args.name, raw))
        cli.emit(args, {"ra": args.name, "old_key_id": old, "key_id": key_id},
                 f"RA {args.name!r} now uses key {key_id[:16]}… ({_words(key_id)}); "
                 f"the old key {old[:16]}… is refused")
        return
    key_id = cli.with_login(args, lambda app: ra.trust_ra(app, args.name, raw))
    cli.emit(args, {"ra": args.name, "key_id": key_id},
             f"trusted RA {args.name!r} (key {key_id[:16]}…, {_words(key_id)})")


def cmd_request(args: argparse.Namespace) -> None:
    from signer import online

    if args.sub == "keygen":
        key, pub = online.keygen(args.out)
        cli.emit(args, {"key": str(key), "pub": str(pub)}, f"RA key in {key}, public key in {pub}")
        return
    if args.seq < 1:
        raise UsageError("--seq must be 1 or more")
    at = cli.at_of(args)
    batch_id, digest = online.pack(args.spec, args.ra_key, args.seq, args.out, ra=args.ra, created=at)
    cli.emit(args, {"batch": batch_id, "digest": digest, "file": str(args.out)},
             f"packed batch {batch_id} into {args.out}\n  digest {digest}\n  words  {_words(digest)}")


def cmd_batch(args: argparse.Namespace) -> None:
    from signer import batch

    if args.sub == "import":
        from transfer.bundle import MAX_REQUEST_FILE
        from transfer.usb import read_file

        raw = read_file(args.file, MAX_REQUEST_FILE)
        res = cli.with_login(args, lambda app: batch.import_batch(app, raw))
        cli.emit(args, res.to_json(), "\n".join([
            f"imported batch {res.batch} from RA {res.ra} (sequence {res.sequence})",
            f"  digest {res.digest}", f"  words  {_words(res.digest)}",
            f"  {res.accepted} accepted, {res.rejected} rejected, {res.revocations} revocations",
            f"next: signer batch show {res.batch}"]))
    elif args.sub == "show":
        app = cli.Appliance(cli.home_of(args))
        cli.banner(app)
        try:
            data = batch.show_batch(app, args.id)
        finally:
            app.ledger.close()
        if data["integrity"] != "ok":
            print(f"WARNING: {data['integrity']}", file=sys.stderr)
        lines = [f"batch {data['batch']} from {data['ra']} (sequence {data['sequence']}), "
                 f"state {data['state']}", f"  digest {data['digest']}"]
        for r in data["requests"]:
            why = "; ".join(f"{x['code']}: {x['message']}" for x in r["reasons"])
            extra = " (needs --approve-ca)" if r["needs_approval"] and not r["approved"] else ""
            if r["failure"]:
                why = f"{r['failure']['code']}: {r['failure']['message']}"
                extra += " FAILED at signing"
            lines.append(f"  {r['id']:16} {r['ca']:8} {r['profile']:7} {r['verdict']:6}"
                         f"{' serial ' + r['serial'] if r['serial'] else ''}{extra} {why}")
        for rv in data["revocations"]:
            lines.append(f"  revoke {rv['ca']} {rv['serial']} ({rv['reason']}): {rv['status']}")
        cli.emit(args, data, "\n".join(lines))
    elif args.sub == "list":
        app = cli.Appliance(cli.home_of(args))
        try:
            rows = [dataclasses.asdict(r) for r in app.ledger.list_batches()]
        finally:
            app.ledger.close()
        cli.emit(args, {"batches": rows}, "\n".join(
            f"{r['id']:24} {r['ra']:12} seq {r['sequence']:<5} {r['state']}" for r in rows) or "(none)")
    elif args.sub == "sign":
        from signer.signing import sign_batch

        rep = cli.with_login(args, lambda app: sign_batch(app, args.id, args.approve_ca))
        lines = [f"batch {rep.batch}: {rep.issued} issued now, {rep.already} issued before, "
                 f"{rep.revoked} revocations"]
        for f in rep.failed:
            lines.append(f"  FAILED {f['id']}: {f['code']}: {f['message']}")
        if rep.awaiting_approval:
            lines.append(f"  awaiting custodian approval: {', '.join(rep.awaiting_approval)} "
                         "(batch sign --approve-ca ID)")
        if rep.crls:
            lines.append(f"  CRLs issued: {', '.join(rep.crls)}")
        cli.emit(args, rep.to_json(), "\n".join(lines))
    elif args.sub == "export":
        from signer.export import export_batch

        res = cli.with_login(args, lambda app: export_batch(app, args.id, args.out))
        cli.emit(args, res, f"wrote {args.out}\n  sha256 {res['sha256']}\n  words  {_words(res['sha256'])}")


def cmd_result(args: argparse.Namespace) -> None:
    from signer.online import verify_result

    s = verify_result(args.file, args.trust, args.out, args.request)
    cli.emit(args, s, f"result bundle verified: batch {s['batch']}, {s['issued']} issued, "
             f"{s['rejected']} rejected, {s['crls']} CRLs, {s['proofs_verified']} inclusion proofs; "
             f"unpacked into {args.out}" + (" (REHEARSAL)" if s["rehearsal"] else "")
             + (f"; {s['checked_against_request']} certificates match the request bundle"
                if s["checked_against_request"] is not None else ""))


def cmd_revoke(args: argparse.Namespace) -> None:
    from signer.revocation import revoke

    cli.with_login(args, lambda app: revoke(app, args.ca, args.serial, args.reason))
    cli.emit(args, {"ca": args.ca, "serial": args.serial, "reason": args.reason},
             f"revoked {args.serial} of {args.ca} ({args.reason}); issue a CRL: signer crl issue {args.ca}")


def cmd_crl(args: argparse.Namespace) -> None:
    from signer.revocation import issue_crl

    res = cli.with_login(args, lambda app: issue_crl(app, args.ca, out=args.out))
    if res.warning:
        print(f"WARNING: {res.warning}", file=sys.stderr)
    cli.emit(args, {"ca": res.ca, "number": res.number, "this_update": res.this_update,
                    "next_update": res.next_update, "entries": res.entries, "path": res.path,
                    "sha256": res.sha256, "warning": res.warning},
             f"CRL {res.number} of {res.ca}: {res.entries} revoked {'entry' if res.entries == 1 else 'entries'}, next update {res.next_update}, "
             f"kept in {res.path}" + (f", written to {args.out}" if args.out else ""))


COMMANDS: dict[str, Callable[[argparse.Namespace], None]] = {
    "ra": cmd_ra, "request": cmd_request, "batch": cmd_batch, "result": cmd_result,
    "revoke": cmd_revoke, "crl": cmd_crl, "transfer": cli_transfer.cmd_transfer,
}
