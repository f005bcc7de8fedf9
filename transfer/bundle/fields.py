"""Request and result bundles: limits, strict JSON, and the field checks the models use.

Every error is a one-line ``BundleError`` naming the field path (``_FieldError``).
"""


from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

from transfer.errors import BundleError

REQUEST_FORMAT = "airgap-signer/request-bundle"
RESULT_FORMAT = "airgap-signer/result-bundle"
VERSION = 1

MAX_REQUEST_FILE = 64 * 1024 * 1024
MAX_RESULT_FILE = 256 * 1024 * 1024
MAX_REQUESTS = 10_000
MAX_REVOCATIONS = 10_000
MAX_CSR = 16 * 1024
MAX_FACTS = 100
MAX_FACT_CHARS = 256
MAX_SUBSCRIBER_CHARS = 128
MAX_CAS = 64  # chain certificates, and CRLs, in one result
MAX_REASONS = 100
MAX_MESSAGE_CHARS = 16 * 1024
MAX_PROOF_HASHES = 64  # a SHA-256 Merkle tree never needs more (RFC 9162 §2.1)
MAX_TEXT = 64 * 1024  # one certificate PEM, checkpoint or inclusion proof
MAX_INT = 2**63 - 1  # sequence and CRL numbers fit SQLite INTEGER and PHP int

DEFAULT_CA = "class1"  # DESIGN §4: a request without a CA goes to Class 1
# RFC 5280 §5.3.1 CRLReason names; certificateHold and removeFromCRL are not supported.
REVOCATION_REASONS = frozenset({
    "unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded",
    "cessationOfOperation", "privilegeWithdrawn", "aACompromise",
})
_UNSUPPORTED_REASONS = frozenset({"certificateHold", "removeFromCRL"})

Sign = Callable[[bytes], bytes]

_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
_SERIAL = re.compile(r"[1-9a-f][0-9a-f]{0,39}")  # canonical: no leading zero (I3: positive)
_HEX64 = re.compile(r"[0-9a-f]{64}")
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
_PEM = re.compile(r"-----BEGIN (?P<label>[A-Z0-9 ]{1,32})-----\r?\n"
                  r"(?:[A-Za-z0-9+/=]{1,128}\r?\n)+"
                  r"-----END (?P=label)-----\r?\n?")


# --- errors with a field path ---------------------------------------------------------------

class _FieldError(BundleError):
    """A BundleError that knows its path, so enclosing parsers can prefix it."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}" if path else reason)
        self.path = path
        self.reason = reason


def _fail(path: str, reason: str) -> NoReturn:
    raise _FieldError(path, reason)


@contextmanager
def _at(segment: str) -> Iterator[None]:
    """Prefix the path of any field error raised inside with ``segment``."""
    try:
        yield
    except _FieldError as exc:
        inner = exc.path
        if not inner:
            path = segment
        elif inner.startswith("["):
            path = segment + inner
        else:
            path = f"{segment}.{inner}"
        raise _FieldError(path, exc.reason) from None


# --- strict JSON ------------------------------------------------------------------------------

class _JsonFloat(str):
    """Marker for a JSON number with a fraction or exponent, or NaN/Infinity: never accepted,
    but kept until the schema check so the error can name the field."""


class _DuplicateKeys(dict[str, Any]):
    """Marker for a JSON object with a repeated key (RFC 8259 leaves its meaning open)."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            return _DuplicateKeys(k)
        out[k] = v
    return out


def _loads(raw: bytes, what: str) -> Any:
    try:
        text = raw.decode("utf-8")  # strict: no replacement characters
    except UnicodeDecodeError as exc:
        _fail(what, f"not UTF-8 (bad byte at offset {exc.start})")
    try:
        return json.loads(text, object_pairs_hook=_pairs, parse_float=_JsonFloat,
                          parse_constant=_JsonFloat)
    except (ValueError, RecursionError) as exc:
        _fail(what, f"not valid JSON ({str(exc).splitlines()[0][:120]})")


def _dumps(doc: Any) -> bytes:
    # The packer's canonical form; parsers accept any valid JSON and never re-serialize.
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode("ascii")


def _kind(v: object) -> str:
    if isinstance(v, _JsonFloat):
        return f"a non-integer number {str(v)[:20]}"
    if isinstance(v, _DuplicateKeys):
        return f"an object with duplicate key {_short(v.key)}"
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    return {str: "a string", int: "an integer", list: "an array", tuple: "an array",
            dict: "an object", bytes: "bytes"}.get(type(v), type(v).__name__)


def _short(v: object) -> str:
    r = repr(v)
    return r if len(r) <= 40 else r[:37] + "..."


# --- field checks (path-relative; used by the models' __post_init__) --------------------------

def _check_str(v: object, path: str, *, max_chars: int, printable: bool = False) -> str:
    if not isinstance(v, str) or isinstance(v, _JsonFloat):
        _fail(path, f"expected a string, got {_kind(v)}")
    if not 1 <= len(v) <= max_chars:
        _fail(path, f"expected 1 to {max_chars} characters, got {len(v)}")
    if printable and not v.isprintable():
        _fail(path, "contains a control or non-printable character")
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        _fail(path, "contains an unpaired surrogate")
    return v


def _check_pattern(v: object, path: str, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(v, str) or isinstance(v, _JsonFloat):
        _fail(path, f"expected {what}, got {_kind(v)}")
    if not pattern.fullmatch(v):
        _fail(path, f"expected {what}, got {_short(v)}")
    return v


def _check_name(v: object, path: str) -> str:
    return _check_pattern(v, path, _NAME, "1-64 characters of [A-Za-z0-9._-]")


def _check_serial(v: object, path: str) -> str:
    return _check_pattern(v, path, _SERIAL, "lowercase hex without 0x or leading zeros, 1-40 digits")


def _check_time(v: object, path: str) -> str:
    _check_pattern(v, path, _TIME, "a UTC time YYYY-MM-DDTHH:MM:SSZ")
    try:
        dt.datetime.strptime(str(v), "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        _fail(path, f"not a valid calendar time: {_short(v)}")
    return str(v)


def _check_int(v: object, path: str, lo: int, hi: int) -> int:
    if type(v) is not int:  # bool is a subclass of int: not accepted
        _fail(path, f"expected an integer, got {_kind(v)}")
    if not lo <= v <= hi:
        _fail(path, f"expected an integer from {lo} to {hi}, got {v}")
    return v


def _check_bool(v: object, path: str) -> bool:
    if not isinstance(v, bool):
        _fail(path, f"expected true or false, got {_kind(v)}")
    return v


def _check_choice(v: object, path: str, choices: frozenset[str]) -> str:
    if not isinstance(v, str) or v not in choices:
        _fail(path, f"expected one of {', '.join(sorted(choices))}; got {_short(v)}")
    return v


def _check_pem(v: object, path: str, label: str, max_chars: int) -> str:
    s = _check_str(v, path, max_chars=max_chars)
    m = _PEM.fullmatch(s)
    if m is None or m["label"] != label:
        _fail(path, f"expected one PEM block labelled {label}")
    return s


def _tuple_field(obj: object, name: str, max_items: int, item: Callable[[Any, str], Any]) -> None:
    """Coerce a list field to a tuple (frozen means immutable too), cap it, check each item."""
    v = getattr(obj, name)
    if isinstance(v, list):
        v = tuple(v)
        object.__setattr__(obj, name, v)
    if not isinstance(v, tuple):
        _fail(name, f"expected an array, got {_kind(v)}")
    if len(v) > max_items:
        _fail(name, f"more than {max_items} items ({len(v)})")
    with _at(name):
        for i, x in enumerate(v):
            item(x, f"[{i}]")


def _instance(cls: type) -> Callable[[Any, str], Any]:
    def check(v: object, path: str) -> object:
        if not isinstance(v, cls):
            _fail(path, f"expected a {cls.__name__}, got {_kind(v)}")
        return v
    return check


def _unique(keys: list[Any], path: str, what: str) -> None:
    seen: set[Any] = set()
    for i, k in enumerate(keys):
        if k in seen:
            _fail(f"{path}[{i}]", f"duplicate {what} {_short(k)}")
        seen.add(k)
