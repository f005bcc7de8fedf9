"""atheris: the result bundle on the online side (signer.service.online.verify_result).

Only SignerError or TransferError may come out. The seed is the test vector in
tests/hardening/data; mutations rarely keep its signature, so the signed-but-hostile cases are
covered by tests/hardening/test_fuzz.py (re-signed bodies).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import _common
import atheris

with atheris.instrument_imports():
    from signer.errors import SignerError
    from signer.service.online import verify_result
    from transfer.errors import TransferError

TRUST = _common.ROOT / "tests" / "hardening" / "data" / "appliance.pub"
WORK = Path(tempfile.mkdtemp(prefix="fuzz-result-"))


def target(data: bytes) -> None:
    src = WORK / "in.res"
    src.write_bytes(data)
    out = WORK / "out"
    shutil.rmtree(out, ignore_errors=True)
    try:
        verify_result(src, TRUST, out)
    except (SignerError, TransferError):
        pass


if __name__ == "__main__":
    _common.run(target)
