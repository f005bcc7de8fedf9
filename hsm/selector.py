"""Choosing a token: by label, by serial, or by an RFC 7512 ``pkcs11:`` URI.

A URI may name ``token``, ``serial``, ``manufacturer``, ``model`` (path attributes matched
against CK_TOKEN_INFO with its blank padding removed) and ``slot-id`` (decimal CK_SLOT_ID).
Values are percent-decoded (RFC 7512 §2.3) and must be UTF-8. Everything else is refused by
name, so a typo never widens the choice: object attributes (``object``, ``id``, ``type``)
select keys, not tokens; library and slot descriptions are not supported; ``pin-value`` and
``pin-source`` are refused because a PIN never goes into a URI or a configuration file (I10);
``module-name``/``module-path`` are refused because the module is configured on its own.

Pure: parsing and matching only; ``hsm.token`` enumerates the slots.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from hsm.errors import TokenAbsentError, TokenSelectionError

_UNRESERVED = string.ascii_letters + string.digits + "-._~"
_RES_AVAIL = ":[]@!$'()*+,="  # RFC 7512 pk11-res-avail
_PATH_CHARS = frozenset(_UNRESERVED + _RES_AVAIL + "&%")
_QUERY_CHARS = frozenset(_UNRESERVED + _RES_AVAIL + "/?|;%")
_SUPPORTED = ("token", "serial", "manufacturer", "model", "slot-id")
_REFUSED = {
    "object": "selects a key, not a token",
    "id": "selects a key, not a token",
    "type": "selects a key, not a token",
    "library-manufacturer": "is not supported (the module is configured on its own)",
    "library-description": "is not supported (the module is configured on its own)",
    "library-version": "is not supported (the module is configured on its own)",
    "slot-description": "is not supported (use slot-id, token or serial)",
    "slot-manufacturer": "is not supported (use slot-id, token or serial)",
    "pin-value": "is refused: a PIN never goes into a URI or a configuration file (I10)",
    "pin-source": "is refused: PINs come from a PIN file, shares or the prompt",
    "module-name": "is refused: the module is configured on its own",
    "module-path": "is refused: the module is configured on its own",
}
_MAX_URI = 1024


@dataclass(frozen=True)
class TokenFacts:
    """What CK_SLOT_INFO/CK_TOKEN_INFO say about one present token (padding removed)."""

    slot_id: int
    label: str
    serial: str
    manufacturer: str
    model: str


@dataclass(frozen=True)
class TokenSelector:
    """Which token to use; every attribute given must match."""

    label: str | None = None
    serial: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    slot_id: int | None = None

    def __post_init__(self) -> None:
        if all(v is None for v in (self.label, self.serial, self.manufacturer, self.model,
                                   self.slot_id)):
            raise TokenSelectionError("a token label, serial or pkcs11: URI is needed")
        for name in ("label", "serial", "manufacturer", "model"):
            v = getattr(self, name)
            if v is not None and (not v.strip() or not v.isprintable()):
                raise TokenSelectionError(f"token {name} must be printable and not blank")

    def matches(self, facts: TokenFacts) -> bool:
        return all(want is None or want == got for want, got in (
            (self.label, facts.label), (self.serial, facts.serial),
            (self.manufacturer, facts.manufacturer), (self.model, facts.model),
            (self.slot_id, facts.slot_id)))

    def to_uri(self) -> str:
        """The canonical RFC 7512 form (for logs and configuration)."""
        parts = [(k, v) for k, v in (
            ("token", self.label), ("manufacturer", self.manufacturer), ("model", self.model),
            ("serial", self.serial),
            ("slot-id", None if self.slot_id is None else str(self.slot_id))) if v is not None]
        return "pkcs11:" + ";".join(f"{k}={quote(v, safe=_UNRESERVED + ':[]@!$()*+,')}"
                                    for k, v in parts)

    def describe(self) -> str:
        if self.label is not None and self.serial is None and self.slot_id is None and \
                self.manufacturer is None and self.model is None:
            return repr(self.label)
        return self.to_uri()


def _decode(value: str, what: str) -> str:
    out = bytearray()
    i = 0
    while i < len(value):
        c = value[i]
        if c == "%":
            pair = value[i + 1:i + 3]
            if len(pair) != 2 or any(ch not in string.hexdigits for ch in pair):
                raise TokenSelectionError(f"pkcs11: URI: bad percent-encoding in {what}")
            out.append(int(pair, 16))
            i += 3
        else:
            out += c.encode()
            i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise TokenSelectionError(f"pkcs11: URI: {what} is not UTF-8 after decoding") from None


def _attributes(part: str, sep: str, allowed: frozenset[str], where: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for item in part.split(sep) if part else []:
        name, eq, value = item.partition("=")
        if not eq:
            raise TokenSelectionError(f"pkcs11: URI: {where} attribute {name!r} has no value")
        bad = sorted({ch for ch in value if ch not in allowed})
        if bad:
            raise TokenSelectionError(
                f"pkcs11: URI: {name!r} holds {''.join(bad)!r} unencoded (percent-encode it)")
        out.append((name, value))
    return out


def parse_token_uri(uri: str) -> TokenSelector:
    """A ``TokenSelector`` from an RFC 7512 URI; anything unsupported is refused by name."""
    if len(uri) > _MAX_URI:
        raise TokenSelectionError("pkcs11: URI: too long")
    scheme, colon, rest = uri.partition(":")
    if not colon or scheme.lower() != "pkcs11":
        raise TokenSelectionError("a token URI must start with 'pkcs11:'")
    path, _, query = rest.partition("?")
    attrs = _attributes(path, ";", _PATH_CHARS, "path") + \
        _attributes(query, "&", _QUERY_CHARS, "query")
    seen: dict[str, str] = {}
    for name, raw in attrs:
        if name in _REFUSED:
            raise TokenSelectionError(f"pkcs11: URI: attribute {name!r} {_REFUSED[name]}")
        if name not in _SUPPORTED:
            raise TokenSelectionError(
                f"pkcs11: URI: unknown attribute {name!r} (supported: {', '.join(_SUPPORTED)})")
        if name in seen:
            raise TokenSelectionError(f"pkcs11: URI: attribute {name!r} given twice")
        seen[name] = _decode(raw, name)
    slot = seen.get("slot-id")
    if slot is not None and (not slot.isascii() or not slot.isdigit()):
        raise TokenSelectionError("pkcs11: URI: slot-id must be a decimal number")
    return TokenSelector(label=seen.get("token"), serial=seen.get("serial"),
                         manufacturer=seen.get("manufacturer"), model=seen.get("model"),
                         slot_id=None if slot is None else int(slot))


def token_selector(label: str | None = None, serial: str | None = None,
                   uri: str | None = None) -> TokenSelector:
    """One selector from the ways a configuration may name a token (a URI stands alone)."""
    if uri is not None:
        if label or serial:
            raise TokenSelectionError("name a token by URI, or by label and/or serial, not both")
        return parse_token_uri(uri)
    return TokenSelector(label=label or None, serial=serial or None)


def choose_token(present: Sequence[TokenFacts], selector: TokenSelector) -> TokenFacts:
    """The one present token the selector names; none or several is refused."""
    found = [f for f in present if selector.matches(f)]
    if not found:
        raise TokenAbsentError(f"no token {selector.describe()} is present")
    if len(found) > 1:
        serials = ", ".join(f.serial or f"slot {f.slot_id}" for f in found)
        raise TokenAbsentError(
            f"{len(found)} tokens match {selector.describe()} (serials {serials}): "
            "add serial= to choose one")
    return found[0]
