"""Ceremony time (I9): UTC, to the second, written YYYY-MM-DDTHH:MM:SSZ (compares as a string).

The time a ceremony uses is confirmed by the administrator (``--at``); ``utc_now`` is only a
proposal shown to them, or a rehearsal home's fallback.
"""

from __future__ import annotations

import datetime as dt

from signer.errors import SignerError


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def format_time(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> dt.datetime:
    """``--at``: ISO 8601 in UTC (a trailing Z or +00:00), seconds precision."""
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SignerError(f"--at {text!r}: not an ISO 8601 time (e.g. 2026-11-29T10:00:00Z)") from None
    if t.tzinfo is None or t.utcoffset() != dt.timedelta(0):
        raise SignerError(f"--at {text!r}: give the time in UTC (end it with Z)")
    return t.replace(microsecond=0)
