"""atheris: ceremony log bytes (signer.store.log.verify_log) -> a report, never an exception."""

from __future__ import annotations

import tempfile
from pathlib import Path

import _common
import atheris

with atheris.instrument_imports():
    from signer.store.log import verify_log

WORK = Path(tempfile.mkdtemp(prefix="fuzz-log-"))
KEY = bytes(32)


def target(data: bytes) -> None:
    p = WORK / "ceremony.jsonl"
    p.write_bytes(data)
    assert verify_log(p, "fuzz.example/log", "fuzz.example/log", KEY).ok is False


if __name__ == "__main__":
    _common.run(target)
