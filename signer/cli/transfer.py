"""CLI verbs `transfer qr-send`, `qr-receive`, `qr-live`: a thin shell over transfer.qr.

Progress goes to stderr (a rewritten line on a terminal, a line per tenth of the way
otherwise); results go to stdout, as JSON with --json for every outcome, errors included
(`{"error": ..., ...details}`), while the one-line reason still goes to stderr with exit 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from signer.errors import UsageError
from transfer.errors import TransferError

FPS_CHOICES = range(1, 31)


def add_parsers(cmd: Callable[..., argparse.ArgumentParser], tr: Any) -> None:
    p = cmd("qr-send", "write a file as QR frames (PNG and an animated GIF)", tr)
    p.add_argument("file", type=Path, help="the file to send (a request or result bundle)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="an empty directory for the frames (PNG images and an animated GIF)")
    p.add_argument("--repair", type=int, default=None, metavar="PCT",
                   help="repair frames, percent of the source frames (default: enough for one "
                        "pass to complete at 30%% loss)")
    p.add_argument("--fps", type=int, default=5, metavar="N",
                   help="GIF frames per second, 1..30 (default 5)")
    p.add_argument("--version", type=int, default=None, choices=(10, 15, 20, 25, 30),
                   help="QR version (default: see docs/TRANSFER.md)")
    p = cmd("qr-receive", "rebuild a file from QR frame images", tr)
    p.add_argument("images", type=Path, nargs="+",
                   help="photos or screenshots of the frames, in any order (unreadable ones "
                        "are counted and skipped)")
    p.add_argument("--out", type=Path, required=True, metavar="FILE",
                   help="the file rebuilt from the frames (never overwritten)")
    p.add_argument("--transfer", help="transfer id, when images hold more than one")
    p = cmd("qr-live", "receive QR frames live from a camera or a scanner", tr)
    p.add_argument("--out", type=Path, required=True, metavar="FILE",
                   help="the file rebuilt from the frames (never overwritten)")
    p.add_argument("--transfer", help="take this transfer (16 hex digits), not the first seen")
    p.add_argument("--reader", default=None,
                   help="program printing one frame a line (default: the built-in camera "
                        "reader, zxing-cpp then zbar; e.g. 'zbarcam --nodisplay --raw'); "
                        "'-' reads standard input (a keyboard-wedge scanner)")
    p.add_argument("--device", default=None, help="camera for the built-in reader "
                   "(default /dev/video0)")
    p.add_argument("--no-journal", action="store_true",
                   help="keep no progress on disk (default: .OUT.qr-live, resumed on restart)")


class _Progress:
    """Progress on stderr: rewritten in place on a terminal, else a line per tenth."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self._tenth = -1
        self._shown = False

    def show(self, line: str, share: float) -> None:
        if self.tty:
            print(f"\r\x1b[K{line}", end="", file=sys.stderr, flush=True)
            self._shown = True
        elif int(share * 10) > self._tenth:
            self._tenth = int(share * 10)
            print(line, file=sys.stderr, flush=True)

    def end(self) -> None:
        if self._shown:
            print(file=sys.stderr)
            self._shown = False


def _check_tid(text: str | None) -> None:
    if text is not None:
        from transfer.qr.receiver import parse_transfer_id

        try:
            parse_transfer_id(text)
        except TransferError as exc:
            raise UsageError(f"--transfer: {exc}") from None


def _send(args: argparse.Namespace, out: _Progress) -> tuple[dict[str, Any], str]:
    from transfer.qr import files, sender

    if args.repair is not None and not 0 <= args.repair <= sender.MAX_REPAIR_PERCENT:
        raise UsageError(f"--repair {args.repair} outside 0..{sender.MAX_REPAIR_PERCENT}")
    if args.fps not in FPS_CHOICES:
        raise UsageError(f"--fps {args.fps} outside 1..30")
    rep = files.qr_send(args.file, args.out, repair_percent=args.repair,
                        version=args.version or sender.DEFAULT_VERSION, fps=args.fps,
                        progress=lambda i, n: out.show(f"frame {i} of {n} written", i / n))
    out.end()
    return rep.to_json(), rep.summary()


def _receive(args: argparse.Namespace, out: _Progress) -> tuple[dict[str, Any], str]:
    from transfer.qr import files

    _check_tid(args.transfer)
    rep = files.qr_receive(list(args.images), args.out, transfer_id=args.transfer,
                           progress=lambda i, n, line: out.show(f"image {i} of {n}: {line}",
                                                                i / n))
    out.end()
    return rep.to_json(), rep.summary()


def _live(args: argparse.Namespace, out: _Progress) -> tuple[dict[str, Any], str]:
    from transfer.qr import live
    from transfer.qr.receiver import FeedResult

    _check_tid(args.transfer)

    def show(res: FeedResult) -> None:
        out.show(f"{res.progress.line()} ({res.status}: {res.message})", res.progress.share)

    def ask(tid: str, count: int) -> bool:
        out.end()
        print(f"only frames of another transfer {tid} are arriving ({count} so far); to take "
              f"it, stop with Ctrl-C and run: signer transfer qr-live --transfer {tid} --out "
              f"{args.out} (frames read so far are kept)", file=sys.stderr)
        return False  # never switch without the operator: the CLI has no prompt here

    kw: dict[str, Any] = {"transfer_id": args.transfer, "journal": not args.no_journal,
                          "progress": show, "on_foreign": ask}
    try:
        if args.reader == "-":
            rep = live.receive_lines(sys.stdin, args.out, **kw)
        else:
            reader = args.reader or live.default_reader(args.device or live.DEFAULT_DEVICE)
            rep = live.run_reader(reader, args.out, **kw)
    except KeyboardInterrupt:
        kept = "" if args.no_journal else "; frames read so far are kept: run again to resume"
        raise TransferError(f"interrupted before the transfer was complete{kept}") from None
    finally:
        out.end()
    return rep.to_json(), rep.summary()


def cmd_transfer(args: argparse.Namespace) -> None:
    run = {"qr-send": _send, "qr-receive": _receive, "qr-live": _live}[args.sub]
    as_json = getattr(args, "json", False)
    try:
        data, text = run(args, _Progress())
    except (TransferError, UsageError) as exc:
        if as_json:  # the reason still goes to stderr, one line, from signer.cli.app
            details = getattr(exc, "details", {})
            print(json.dumps({"error": str(exc), **details}, indent=2, sort_keys=True))
        raise
    if as_json:
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        print(text)
