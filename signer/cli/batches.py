"""CLI verbs of the batch ceremony at the appliance: `ra`, `batch`, `revoke`, `crl`."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from signer.cli import online
from signer.cli.common import Command, emit, in_session, read_only, words
from signer.cli.progress import keep_signing
from signer.service import batches, ra
from signer.service.export import export_batch
from signer.service.online import load_public_key
from signer.service.revocation import issue_crl, revoke
from signer.service.signing import sign_batch
from transfer.bundle import MAX_REQUEST_FILE
from transfer.usb import read_file


def add_parsers(cmd: Command, parser_class: type[argparse.ArgumentParser]) -> None:
    r = cmd("ra", "registration authorities").add_subparsers(dest="sub", required=True,
                                                              parser_class=parser_class)
    p = cmd("trust", "pin a new RA's public key (logged)", r)
    p.add_argument("name", help="the RA's name, as its bundles give it")
    p.add_argument("pubfile", type=Path, help="the RA's Ed25519 public key (PEM)")
    p = cmd("replace", "replace an RA's key; its sequence continues (logged)", r)
    p.add_argument("name", help="a trusted RA")
    p.add_argument("pubfile", type=Path, help="the RA's new Ed25519 public key (PEM)")
    p = cmd("revoke", "revoke an RA: its bundles and staged batches are refused (logged)", r)
    p.add_argument("name", help="a trusted RA")
    p.add_argument("--reason", default="", help="why, for the log")
    cmd("list", "RAs as the log knows them, checked against the ledger", r)

    online.add_parsers(cmd, parser_class)

    bt = cmd("batch", "request batches").add_subparsers(dest="sub", required=True,
                                                         parser_class=parser_class)
    p = cmd("import", "verify and stage a request bundle", bt)
    p.add_argument("file", type=Path, help="the request bundle (.req)")
    p = cmd("show", "per-request verdicts", bt)
    p.add_argument("id", help="the batch id")
    p = cmd("sign", "sign what policy accepted (resumable)", bt)
    p.add_argument("id", help="the batch id")
    p.add_argument("--approve-ca", action="append", default=[], metavar="REQUEST",
                   help="approve a root-signed sub-CA request (repeat)")
    p = cmd("export", "write the signed result bundle", bt)
    p.add_argument("id", help="the batch id")
    p.add_argument("--out", type=Path, required=True, help="the result file (never overwritten)")
    cmd("list", "list batches", bt)

    p = cmd("revoke", "revoke a certificate (logged; issue a CRL next)")
    p.add_argument("ca", help="the issuing CA's name")
    p.add_argument("serial", help="the certificate's serial, in hex")
    p.add_argument("--reason", required=True, help="an RFC 5280 reason, e.g. keyCompromise")

    cr = cmd("crl", "CRLs").add_subparsers(dest="sub", required=True, parser_class=parser_class)
    p = cmd("issue", "issue the next CRL of a CA", cr)
    p.add_argument("ca", help="the CA's name")
    p.add_argument("--out", type=Path, help="also write the CRL (PEM) here")


def cmd_ra(args: argparse.Namespace) -> None:
    if args.sub == "list":
        infos = in_session(args, ra.list_ras)
        emit(args, {"ras": [i.to_json() for i in infos]}, "\n".join(
            f"{i.name:16} key {i.key_id[:16]}… seq {i.last_sequence:<6} "
            f"{'REVOKED' if i.revoked else 'trusted'}"
            + ("" if i.integrity == "ok" else f"  WARNING: {i.integrity}") for i in infos)
            or "(no RAs)")
    elif args.sub == "revoke":
        key_id = in_session(args, ra.revoke_ra, args.name, args.reason)
        emit(args, {"ra": args.name, "key_id": key_id, "revoked": True},
             f"revoked RA {args.name!r}: its bundles are refused from now on")
    elif args.sub == "replace":
        old, key_id = in_session(args, ra.replace_ra_key, args.name,
                                 load_public_key(args.pubfile))
        emit(args, {"ra": args.name, "old_key_id": old, "key_id": key_id},
             f"RA {args.name!r} now uses key {key_id[:16]}… ({words(key_id)}); "
             f"the old key {old[:16]}… is refused")
    else:
        key_id = in_session(args, ra.trust_ra, args.name, load_public_key(args.pubfile))
        emit(args, {"ra": args.name, "key_id": key_id},
             f"trusted RA {args.name!r} (key {key_id[:16]}…, {words(key_id)})")


def _show_lines(data: dict[str, Any]) -> list[str]:
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
    return lines


def cmd_batch(args: argparse.Namespace) -> None:
    if args.sub == "import":
        raw = read_file(args.file, MAX_REQUEST_FILE)
        res = in_session(args, batches.import_batch, raw)
        emit(args, res.to_json(), "\n".join([
            f"imported batch {res.batch} from RA {res.ra} (sequence {res.sequence})",
            f"  digest {res.digest}", f"  words  {words(res.digest)}",
            f"  {res.accepted} accepted, {res.rejected} rejected, {res.revocations} revocations",
            f"next: signer batch show {res.batch}"]))
    elif args.sub == "show":
        with read_only(args) as s:
            data = batches.show_batch(s, args.id)
        if data["integrity"] != "ok":
            print(f"WARNING: {data['integrity']}", file=sys.stderr)
        emit(args, data, "\n".join(_show_lines(data)))
    elif args.sub == "list":
        with read_only(args) as s:
            rows = [dataclasses.asdict(r) for r in s.ledger.list_batches()]
        emit(args, {"batches": rows}, "\n".join(
            f"{r['id']:24} {r['ra']:12} seq {r['sequence']:<5} {r['state']}" for r in rows)
            or "(none)")
    elif args.sub == "sign":
        rep = in_session(args, sign_batch, args.id, args.approve_ca, keep_signing)
        lines = [f"batch {rep.batch}: {rep.issued} issued now, {rep.already} issued before, "
                 f"{rep.revoked} revocations"]
        lines += [f"  FAILED {f['id']}: {f['code']}: {f['message']}" for f in rep.failed]
        if rep.awaiting_approval:
            lines.append(f"  awaiting custodian approval: {', '.join(rep.awaiting_approval)} "
                         "(batch sign --approve-ca ID)")
        if rep.crls:
            lines.append(f"  CRLs issued: {', '.join(rep.crls)}")
        emit(args, rep.to_json(), "\n".join(lines))
    elif args.sub == "export":
        out = in_session(args, export_batch, args.id, args.out)
        emit(args, out, f"wrote {args.out}\n  sha256 {out['sha256']}\n"
                        f"  words  {words(out['sha256'])}")


def cmd_revoke(args: argparse.Namespace) -> None:
    in_session(args, revoke, args.ca, args.serial, args.reason)
    emit(args, {"ca": args.ca, "serial": args.serial, "reason": args.reason},
         f"revoked {args.serial} of {args.ca} ({args.reason}); issue a CRL: "
         f"signer crl issue {args.ca}")


def cmd_crl(args: argparse.Namespace) -> None:
    res = in_session(args, issue_crl, args.ca, out=args.out)
    if res.warning:
        print(f"WARNING: {res.warning}", file=sys.stderr)
    noun = "entry" if res.entries == 1 else "entries"
    emit(args, {"ca": res.ca, "number": res.number, "this_update": res.this_update,
                "next_update": res.next_update, "entries": res.entries, "path": res.path,
                "sha256": res.sha256, "warning": res.warning},
         f"CRL {res.number} of {res.ca}: {res.entries} revoked {noun}, next update "
         f"{res.next_update}, kept in {res.path}" + (f", written to {args.out}" if args.out
                                                     else ""))


COMMANDS = {"ra": cmd_ra, "batch": cmd_batch, "revoke": cmd_revoke, "crl": cmd_crl,
            "request": online.cmd_request, "result": online.cmd_result}
