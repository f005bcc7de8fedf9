"""Shared set-up for the atheris targets: import path, and the one rule they all check.

Each target feeds attacker-controlled bytes to one parser and lets only the documented error
types out; anything else is an uncaught exception, which atheris reports as a crash (with the
input saved as crash-<sha1>, to be kept as a regression test in tests/hardening/test_fuzz.py).
Run: ``python fuzz/fuzz_X.py -runs=N [corpus_dir]`` (libFuzzer flags).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def run(target: Callable[[bytes], None]) -> None:
    import atheris

    atheris.Setup(sys.argv, target)
    atheris.Fuzz()
