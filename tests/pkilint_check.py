"""Independent pkilint runs (the CLI linters, in a subprocess) for tests."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path


def pkilint_errors(pem: bytes, linter: str = "lint_pkix_cert", *extra: str) -> list[str]:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "doc.pem"
        p.write_bytes(pem)
        r = subprocess.run([sys.executable, "-m", f"pkilint.bin.{linter}", "lint", *extra,
                            "-s", "ERROR", str(p)], capture_output=True, text=True)
    return [ln for ln in r.stdout.splitlines() if ln.strip()] if r.returncode else []
