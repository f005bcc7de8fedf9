"""CLI verbs of the online side (the RA): `request keygen`, `request pack`, `result verify`."""

from __future__ import annotations

import argparse
from pathlib import Path

from signer.cli.common import Command, at_of, emit, words
from signer.errors import UsageError
from signer.service import online


def add_parsers(cmd: Command, parser_class: type[argparse.ArgumentParser]) -> None:
    rq = cmd("request", "(online side) RA keys and request bundles").add_subparsers(
        dest="sub", required=True, parser_class=parser_class)
    p = cmd("keygen", "make an RA key pair: KEY and KEY.pub", rq)
    p.add_argument("--out", type=Path, required=True, help="the private key file (KEY)")
    p = cmd("pack", "build a signed request bundle from SPEC.json", rq)
    p.add_argument("spec", type=Path, help="the requests and revocations (docs/FORMATS.md)")
    p.add_argument("--ra-key", type=Path, required=True, help="the RA's private key")
    p.add_argument("--seq", type=int, required=True,
                   help="the bundle's sequence number, greater than the last one sent")
    p.add_argument("--out", type=Path, required=True, help="the bundle file (never overwritten)")
    p.add_argument("--ra", help="RA name (default: from SPEC.json, else the key file's name)")

    rs = cmd("result", "(online side) result bundles").add_subparsers(
        dest="sub", required=True, parser_class=parser_class)
    p = cmd("verify", "verify a result bundle and unpack it", rs)
    p.add_argument("file", type=Path, help="the result bundle (.res)")
    p.add_argument("--trust", type=Path, required=True,
                   help="the appliance's public key (audit pubkey)")
    p.add_argument("--out", type=Path, required=True, help="an empty directory to unpack into")
    p.add_argument("--request", type=Path,
                   help="the request bundle this result answers (the RA's own copy): every "
                        "certificate is checked against its CSR and verified facts")


def cmd_request(args: argparse.Namespace) -> None:
    if args.sub == "keygen":
        key, pub = online.keygen(args.out)
        emit(args, {"key": str(key), "pub": str(pub)}, f"RA key in {key}, public key in {pub}")
        return
    if args.seq < 1:
        raise UsageError("--seq must be 1 or more")
    batch_id, digest = online.pack(args.spec, args.ra_key, args.seq, args.out, ra=args.ra,
                                   created=at_of(args))
    emit(args, {"batch": batch_id, "digest": digest, "file": str(args.out)},
         f"packed batch {batch_id} into {args.out}\n  digest {digest}\n  words  {words(digest)}")


def cmd_result(args: argparse.Namespace) -> None:
    s = online.verify_result(args.file, args.trust, args.out, args.request)
    emit(args, s, f"result bundle verified: batch {s['batch']}, {s['issued']} issued, "
         f"{s['rejected']} rejected, {s['crls']} CRLs, {s['proofs_verified']} inclusion proofs; "
         f"unpacked into {args.out}" + (" (REHEARSAL)" if s["rehearsal"] else "")
         + (f"; {s['checked_against_request']} certificates match the request bundle"
            if s["checked_against_request"] is not None else ""))
