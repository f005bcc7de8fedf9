"""Run the real CLI on a real pseudo-terminal (its own session, the pty its controlling
terminal), as an operator's shell would: stdin and stderr are a terminal, prompts read
/dev/tty. Output is awaited with a deadline, never with a sleep."""

from __future__ import annotations

import os
import pty
import select
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ROOT


@dataclass
class PtyRun:
    status: int
    output: str  # everything the terminal showed (stdout and stderr together)


def run_in_pty(args: Sequence[str | Path], *, home: Path | None = None,
               answers: Sequence[tuple[str, str]] = (), columns: int = 100,
               deadline: float = 300, stdout_to: Path | None = None) -> PtyRun:
    """`signer ARGS` on a pty; each (prompt, reply) is typed when the prompt appears.
    With ``stdout_to``, stdout goes to that file (as `> FILE` would) and only stdin and
    stderr are the terminal."""
    cmd = [sys.executable, "-m", "signer.cli"]
    if home is not None:
        cmd += ["--home", str(home)]
    cmd += [str(a) for a in args]
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "COLUMNS": str(columns), "LINES": "30",
           "TERM": "xterm-256color", "PYTHONPATH": str(ROOT)}
    env.pop("NO_COLOR", None)
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its controlling terminal
        os.chdir(ROOT)
        if stdout_to is not None:
            os.dup2(os.open(stdout_to, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 1)
        os.execvpe(cmd[0], cmd, env)
    out = b""
    pending = list(answers)
    end = time.monotonic() + deadline
    try:
        while time.monotonic() < end:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
            if pending and pending[0][0].encode() in out.rsplit(b"\n", 1)[-1]:
                os.write(fd, pending.pop(0)[1].encode() + b"\r")
        else:
            os.kill(pid, 9)
            raise AssertionError(f"no end within {deadline} s: {out[-2000:]!r}")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return PtyRun(os.waitstatus_to_exitcode(status), out.decode("utf-8", "replace"))
