"""CLI verbs of the auditor: `audit pubkey`, `checkpoint`, `verify`, `report`, `recover`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from signer.cli.common import Command, at_of, credentials, emit, home_of, witness
from signer.errors import SignerError
from signer.service import auditing
from signer.service.online import load_public_key
from signer.service.report import check_outputs, checkpoint_summary
from transfer.appkey import load_app_key


def add_parsers(cmd: Command, parser_class: type[argparse.ArgumentParser]) -> None:
    au = cmd("audit", "the auditor's tools").add_subparsers(dest="sub", required=True,
                                                              parser_class=parser_class)
    cmd("pubkey", "print the appliance's log/result public key (PEM)", au)
    p = cmd("verify", "verify the ceremony log, the ledger and bundles against it", au)
    p.add_argument("--log", type=Path, help="a ceremony log (default HOME/log/ceremony.jsonl)")
    p.add_argument("--bundle", type=Path, action="append", default=[],
                   help="a result bundle to check against the log (repeat)")
    p.add_argument("--checkpoint", type=Path, help="a signed checkpoint held elsewhere (anchor)")
    p.add_argument("--pubkey", type=Path,
                   help="the appliance's public key as the RA pinned it (default: from HOME)")
    cmd("checkpoint", "print the latest signed checkpoint, for witnesses", au)
    p = cmd("report", "write the ceremony report: self-contained and printable, as HTML or "
                      "PDF (the PDF needs no browser)", au)
    p.add_argument("--out", type=Path, action="append", required=True, metavar="FILE",
                   help="the report file: FILE.html or FILE.pdf, by its name; repeat for both "
                        "from one verification (never overwritten)")
    p.add_argument("--log", type=Path, help="a ceremony log (default HOME/log/ceremony.jsonl)")
    p.add_argument("--pubkey", type=Path, help="the appliance's public key (default: from HOME)")
    p = cmd("recover", "recover the log after a crash (unsigned tail, torn last line); logged",
            au)
    p.add_argument("--confirm", default="",
                   help='the sentence "I have a copy of the damaged log"')


def cmd_audit(args: argparse.Namespace) -> None:
    home = home_of(args)
    if args.sub == "pubkey":
        key = load_app_key(auditing.home_log_key(home))
        pem = key.pem()
        emit(args, {"pem": pem, "raw": key.raw.hex(), "algorithm": key.algorithm},
             pem.rstrip("\n"))
    elif args.sub == "checkpoint":
        cp = auditing.latest_checkpoint(home)
        # One set of words for witnesses: the root's, as every other screen shows them.
        emit(args, {"checkpoint": cp.note, "sha256": cp.sha256, "size": cp.size,
                    "root": cp.root, "words": cp.words},
             f"{cp.note.rstrip()}\n\n{checkpoint_summary(cp.note)}")
    elif args.sub == "recover":
        rec = auditing.recover(home, credentials(args), at_of(args), args.confirm)
        emit(args, {"recovered": rec.entry()},
             f"recovered: {rec.found}; {rec.bytes_removed} bytes cut; the damaged log is kept "
             f"as {rec.damaged_copy} (sha256 {rec.damaged_sha256}); a recovery entry and a new "
             "signed checkpoint are in the log")
        witness(auditing.latest_checkpoint(home).note)
    else:
        _verify(args, home)


def _verify(args: argparse.Namespace, home: Path) -> None:
    if args.sub == "report":
        check_outputs(args.out)
    key = load_public_key(args.pubkey, appliance=True) if args.pubkey else None
    anchor = None
    if getattr(args, "checkpoint", None):
        try:
            anchor = args.checkpoint.read_text(encoding="utf-8")
        except OSError as exc:
            raise SignerError(f"{args.checkpoint}: cannot read ({exc.strerror})") from None
    report = auditing.verify_home(home, log=args.log, key=key,
                                  bundles=getattr(args, "bundle", None), anchor=anchor)
    first = report.log.first_error or (report.problems[0] if report.problems else None)
    if args.sub == "report":
        facts = auditing.report_home(home, args.out, report, args.log, key)
        emit(args, {"out": [str(p) for p in args.out], "ok": report.ok,
                    "entries": facts.entries, "issued": facts.issued, "refused": facts.refused},
             f"wrote {', '.join(str(p) for p in args.out)}: {facts.entries} entries, "
             "verification " + ("OK" if report.ok else "FAILED"))
        if not report.ok:  # the page is written; the exit code still says the audit failed
            raise SignerError(f"report written, but the audit failed: {first}")
        return
    emit(args, report.to_json(), report.text())
    sys.stdout.flush()
    if not report.ok:
        raise SignerError(f"audit failed: {first}")
