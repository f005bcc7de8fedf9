"""CLI verbs of a CA's life after its first certificate: `ca recertify`, `ca cross-sign`,
`ca cross-csr`, `ca rollover`, and `ocsp sign` (pre-signed OCSP responses)."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from signer.cli.common import Command, emit, in_session
from signer.core.clock import parse_time
from signer.errors import SignerError
from signer.service import lifecycle
from signer.service.ocsp import STATUSES, sign_ocsp
from transfer.usb import read_file

CA_VERBS = ("recertify", "cross-sign", "cross-csr", "rollover")


def add_ca_parsers(cmd: Command, ca: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = cmd("recertify", "a new certificate for a CA's existing key (same subject and key "
                         "identifier, new serial and validity); it becomes the CA's current one",
            ca)
    p.add_argument("name", help="the CA to certify again")
    p.add_argument("--days", type=int, help="validity in days (default: as long as the issuer "
                                            "and the profile allow)")
    p.add_argument("--issuer", help="a sub-CA's issuer (default: its current one; after a "
                                    "rollover, the new root)")
    p.add_argument("--profile", help="CA profile (default: the one its current certificate "
                                     "was made with)")
    p = cmd("cross-sign", "our CA certifies another CA's key under that CA's own subject "
                          "(custodians approve the input's SHA-256)", ca)
    p.add_argument("name", help="our name for the other CA (a-z, 0-9, '-', '_')")
    p.add_argument("--issuer", required=True, help="our CA that signs (usually the root)")
    p.add_argument("--from", dest="source", required=True, type=Path,
                   help="the other CA's certificate or CSR (PEM or DER)")
    p.add_argument("--approve", metavar="SHA256",
                   help="the input's SHA-256 as the custodians read and approved it")
    p.add_argument("--days", type=int, help="validity in days")
    p.add_argument("--profile", default="cross", help="CA profile of kind cross (default cross)")
    p = cmd("cross-csr", "a CSR of one of our CAs, signed in the token, for another root to "
                         "cross-certify", ca)
    p.add_argument("name", help="our CA")
    p.add_argument("--out", required=True, type=Path, help="the CSR file to write (PEM)")
    p = cmd("rollover", "a new root key and certificate, with link certificates both ways",
            ca)
    p.add_argument("old", help="the root being rolled over")
    p.add_argument("new", help="the new root's name")
    p.add_argument("--key", required=True, help="label of the new root's key in the token")
    p.add_argument("--subject", required=True, help="RFC 4514 DN of the new root")
    p.add_argument("--days", type=int, help="the new root's validity in days")
    p.add_argument("--profile", default="root", help="CA profile of the new root")
    p.add_argument("--link-profile", default="cross", help="CA profile of the link "
                                                           "certificates (kind cross)")
    p.add_argument("--link-days", type=int, help="validity of the links in days")


def add_parsers(cmd: Command, parser_class: type[argparse.ArgumentParser]) -> None:
    oc = cmd("ocsp", "pre-signed OCSP responses").add_subparsers(dest="sub", required=True,
                                                                  parser_class=parser_class)
    p = cmd("sign", "an OCSP response about a certificate of CA, signed by CA itself", oc)
    p.add_argument("ca", help="the issuing CA (usually the root, about a sub-CA certificate)")
    p.add_argument("--serial", required=True, help="the certificate's serial (hex)")
    p.add_argument("--status", required=True, choices=STATUSES,
                   help="what the custodians confirm the status is")
    p.add_argument("--next-update", required=True,
                   help="nextUpdate, ISO 8601 UTC (at most 366 days after the ceremony time)")
    p.add_argument("--out", type=Path, help="also write the DER response here")


def _next_update(text: str) -> dt.datetime:
    try:
        return parse_time(text)
    except SignerError:
        raise SignerError(f"--next-update {text!r}: not an ISO 8601 UTC time (e.g. "
                          "2027-11-29T10:00:00Z)") from None


def cmd_ca_lifecycle(args: argparse.Namespace) -> None:
    if args.sub == "recertify":
        c = in_session(args, lifecycle.recertify, args.name, args.days, args.issuer,
                       args.profile)
        emit(args, c.to_json(), f"certified CA {c.ca!r} again (issuer {c.issuer!r}, serial "
             f"{c.serial}, valid until {c.not_after[:10]}); now its current certificate; "
             f"{c.path}")
    elif args.sub == "cross-sign":
        data = read_file(args.source, lifecycle.MAX_INPUT)  # a regular file, bounded
        c = in_session(args, lifecycle.cross_sign, args.name, args.issuer, data, args.approve,
                       args.days, args.profile)
        emit(args, c.to_json(), f"cross-certified {c.ca!r} by {c.issuer!r} (serial {c.serial}, "
             f"valid until {c.not_after[:10]}); {c.path}")
    elif args.sub == "cross-csr":
        r = in_session(args, lifecycle.cross_csr, args.name, args.out)
        emit(args, r, f"CSR of CA {args.name!r} written to {args.out} (SHA-256 {r['sha256']}, "
             f"{r['words']})")
    else:
        ro = in_session(args, lifecycle.rollover, args.old, args.new, args.key, args.subject,
                        args.days, args.profile, args.link_profile, args.link_days)
        links = ", ".join(f"{c.issuer} -> {c.ca} ({c.path.name})"
                          for c in (ro.old_signs_new, ro.new_signs_old) if c is not None)
        emit(args, ro.to_json(), f"rolled root {ro.old!r} over to {ro.new.name!r} (serial "
             f"{ro.new.serial}); links: {links or 'made before'}")


def cmd_ocsp(args: argparse.Namespace) -> None:
    r = in_session(args, sign_ocsp, args.ca, args.serial, args.status,
                   _next_update(args.next_update), args.out)
    emit(args, r, f"OCSP response: {r['serial']} of {r['ca']!r} is {r['status']} from "
         f"{r['this_update']} to {r['next_update']}; {r['file']}")


COMMANDS = {"ocsp": cmd_ocsp}
