"""Every `sh` block of OPERATIONS.md runs, in order, against a fresh rehearsal token."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import MODULE, ROOT

BLOCK = re.compile(r"^( *)```sh\n(.*?)^\1```", re.M | re.S)


def blocks(text: str) -> list[str]:
    return [textwrap.dedent(m.group(2)) for m in BLOCK.finditer(text)]


def test_runbook_blocks_run(tmp_path: Path) -> None:
    text = (ROOT / "OPERATIONS.md").read_text()
    found = blocks(text)
    assert len(found) >= 10
    script = "set -euo pipefail\n" + "\n".join(found)
    (tmp_path / "media").mkdir()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "MODULE": MODULE, "TOKEN": "runbook", "WORK": str(tmp_path),
        "SIGNER_HOME": str(tmp_path / "home"), "MEDIA": str(tmp_path / "media"),
        "SHARES": str(tmp_path / "shares"), "CARDS": str(tmp_path / "cards"),
        # A confirmed time just past, so openssl (which uses the clock) accepts the results.
        "AT": (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    r = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    assert (tmp_path / "result-1" / "certs" / "m1.pem").exists()
    assert "RESULT: OK" in r.stdout
    # The check before sealing: three cards at init, one of the rotated set.
    assert r.stdout.count("matches the card file: seal it") == 4
    assert (tmp_path / "ceremony-report.pdf").read_bytes().startswith(b"%PDF-")
