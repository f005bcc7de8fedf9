"""Readers of the ceremony log for display: the last entries, parsed loosely (a damaged line
is shown as such, never trusted: verification is ``verify_log``'s job)."""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from typing import Any

DEFAULT_ROWS = 500


def recent_entries(path: Path, n: int = DEFAULT_ROWS) -> list[dict[str, Any]]:
    """The last ``n`` entries of the log, oldest first."""
    tail: deque[bytes] = deque(maxlen=n)
    with open(path, "rb") as f:
        for line in f:
            tail.append(line)
    out = []
    for line in tail:
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict):
                raise ValueError("not an object")
            out.append(entry)
        except ValueError:
            out.append({"seq": "?", "time": "", "type": "(unreadable line)", "data": {}})
    return out
