"""Canonical JSON: sorted keys, no whitespace, UTF-8, integers only (no floats)."""

from __future__ import annotations

import json
from typing import Any


def _reject_float(value: Any) -> None:
    if isinstance(value, float):
        raise TypeError("floats are not allowed in canonical JSON")
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError("object keys must be strings")
            _reject_float(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _reject_float(v)


def canonical_json(value: Any) -> bytes:
    """Serialize ``value`` canonically; raises TypeError on floats or non-string keys."""
    _reject_float(value)
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")
