"""Run the real `signer` CLI with a deterministic SIGKILL at a named point (fault injection).

``KILLPOINT=KIND:N[:WHEN]`` kills this process with SIGKILL at the N-th (1-based) event:

- ``append:N:before|after``: the N-th ceremony-log append, before any byte is written, or
  after its fsync (the entries are durable, the caller has not acted on them yet);
- ``torn:N``: the N-th log append is cut in the middle of its bytes (a crash mid-write);
- ``commit:N``: right after the N-th ledger transaction has committed;
- ``sign:N:before|after``: the N-th signature asked of the token, before the token is asked
  or after it answered (the signature exists only in this process's memory);
- ``write:N``: the N-th atomic output (transfer.usb.write_output) after its temp file is written
  and fsynced, before it is linked into place;
- ``abort:N``: the N-th signature asked of the token aborts the process (SIGABRT, which dumps
  core where core dumps are on), while it holds the PIN (tests of I10).

``KILLPOINT_CHUNK`` sets the batch chunk size (several chunks, so more interesting points).
Nothing here changes what the CLI does until the chosen event; then the process simply dies,
as it would on a power cut or an OOM kill. Used by tests/hardening/test_kill.py and
bench/soak_kill.py; never imported by the appliance.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class _TornOS:
    """Stands in for ``os`` inside signer.store.log: the first write stops half-way, then dies."""

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    @staticmethod
    def write(fd: int, data: Any) -> int:
        data = bytes(data)
        cut = max(1, len(data) // 2)
        if data[cut - 1 : cut] == b"\n":  # end mid-line: a torn record, not a clean prefix
            cut += 1
        os.write(fd, data[:cut])
        os.fsync(fd)
        die()
        return 0  # pragma: no cover


def install(spec: str) -> None:
    parts = spec.split(":")
    kind, n = parts[0], int(parts[1])
    when = parts[2] if len(parts) > 2 else "before"
    count = [0]

    def hit() -> bool:
        count[0] += 1
        return count[0] == n

    if kind in ("append", "torn"):
        from signer.store.log import writer as ceremony_log

        orig_append = ceremony_log.CeremonyLog._append_lines

        def append_lines(self: Any, *args: Any, **kw: Any) -> Any:
            if not hit():
                return orig_append(self, *args, **kw)
            if kind == "torn":
                ceremony_log.os = _TornOS()  # type: ignore[assignment]
            elif when == "before":
                die()
            out = orig_append(self, *args, **kw)
            die()
            return out  # pragma: no cover

        ceremony_log.CeremonyLog._append_lines = append_lines  # type: ignore[method-assign]
    elif kind == "commit":
        from signer.store import ledger

        orig_tx = ledger.Ledger._transaction

        @contextmanager
        def transaction(self: Any) -> Iterator[Any]:
            with orig_tx(self) as db:
                yield db
            if hit():
                die()

        ledger.Ledger._transaction = transaction  # type: ignore[method-assign]
    elif kind == "abort":
        from hsm import token

        orig_abort_wrap = token.wrap_key

        def abort_wrap(label: str, public: Any, raw_sign: Callable[..., bytes]) -> Any:
            def aborting(mech: Any, data: bytes) -> bytes:
                if hit():
                    os.abort()
                return raw_sign(mech, data)

            return orig_abort_wrap(label, public, aborting)

        token.wrap_key = abort_wrap  # type: ignore[assignment]
    elif kind == "sign":
        from hsm import token

        orig_wrap = token.wrap_key

        def wrap_key(label: str, public: Any, raw_sign: Callable[..., bytes]) -> Any:
            def counted(mech: Any, data: bytes) -> bytes:
                if hit() and when == "before":
                    die()
                sig = raw_sign(mech, data)
                if count[0] == n and when == "after":
                    die()
                return sig

            return orig_wrap(label, public, counted)

        token.wrap_key = wrap_key  # type: ignore[assignment]
    elif kind == "write":
        from transfer import usb

        class _WriteOS:
            def __getattr__(self, name: str) -> Any:
                return getattr(os, name)

            @staticmethod
            def link(src: Any, dst: Any) -> None:
                if hit():
                    die()
                os.link(src, dst)

            @staticmethod
            def replace(src: Any, dst: Any) -> None:
                if hit():
                    die()
                os.replace(src, dst)

        usb.os = _WriteOS()  # type: ignore[assignment]
    else:
        raise SystemExit(f"KILLPOINT {spec!r}: unknown kind {kind!r}")


def main() -> int:
    sys.path.insert(0, str(ROOT))
    spec = os.environ.get("KILLPOINT")
    if spec:
        install(spec)
    chunk = os.environ.get("KILLPOINT_CHUNK")
    if chunk:
        from signer.service import signing

        signing.CHUNK = int(chunk)
    from signer.cli import main as signer_main

    return signer_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
