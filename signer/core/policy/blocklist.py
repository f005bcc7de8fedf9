"""Compromised-key blocklists in badkeys' format, carried across the air gap by the operator.

The badkeys project (https://badkeys.info/) publishes a blocklist of keys whose private keys
are known: the Debian weak keys of CVE-2008-0166 (which CA/B Forum TLS BR §6.1.1.3(4) requires
CAs to refuse), keys printed in RFCs and documentation, keys extracted from firmware. badkeys
downloads it (`badkeys --update-bl`) into ``~/.cache/badkeys/``; this appliance has no network,
so the operator copies that directory (or a single extra ``.dat`` list) onto the appliance and
the service loads it with `load_blocklist` when it builds the policy context.

The format (badkeys 0.0.x, blocklist format 0, ``badkeys/allkeys/block.py``):
- ``blocklist.dat``: records of 16 bytes, sorted ascending: the first 15 bytes of the SHA-256
  of the key's value, then one byte naming the list the key came from;
- ``badkeysdata.json``: ``{"bkformat": 0, "blocklists": [{"id": .., "name": ..}, ...],
  "blocklist_sha256": <hex SHA-256 of blocklist.dat>, ...}``;
- the key's value (``badkeys/checks.py``): the RSA modulus, the x coordinate of an EC point, or
  the raw Ed25519 public key read as a big-endian number; each written as the shortest
  big-endian byte string.

What it does: checks a loaded list's integrity (the SHA-256 named in ``badkeysdata.json``, or
for a bare ``.dat`` file its length and sort order, since a binary search in an unsorted file
would miss keys silently), and looks keys up by binary search, in O(log n) per key.

What it deliberately does not: download anything, or call badkeys' own lookup, which reads a
fixed cache directory, keeps global state and exits the process when a file is missing.
Loading a list from disk is `signer.store.blocklist.load_blocklist`; everything here is pure.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from signer.errors import ConfigError

if TYPE_CHECKING:  # the type of a mapped record table (signer.store.blocklist maps it)
    import mmap

RECORD = 16
HASH_BYTES = 15
META_FILE = "badkeysdata.json"
DATA_FILE = "blocklist.dat"
FORMAT = 0


@dataclass(frozen=True)
class BlocklistHit:
    """A key found on the list: which list it is on (badkeys' id and name)."""

    list_id: int
    list_name: str


@dataclass(frozen=True, eq=False)
class Blocklist:
    """A sorted badkeys record table; build it with `load_blocklist` or `Blocklist.from_records`."""

    records: bytes | mmap.mmap
    names: Mapping[int, str]
    source: str
    sha256: str  # of the record table: the service logs which list judged a batch
    _count: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.records) % RECORD:
            raise ConfigError(f"blocklist {self.source}: {len(self.records)} bytes is not a "
                              f"whole number of {RECORD}-byte records")
        object.__setattr__(self, "_count", len(self.records) // RECORD)

    @classmethod
    def from_records(cls, records: bytes, names: Mapping[int, str] | None = None,
                     source: str = "memory") -> Blocklist:
        """A list from record bytes, checked to be sorted (see the module docstring)."""
        made = cls(records, dict(names or {}), source, hashlib.sha256(records).hexdigest())
        made.check_sorted()
        return made

    def __len__(self) -> int:
        return self._count

    def check_sorted(self) -> None:
        previous = b""
        for i in range(self._count):
            current = self.records[i * RECORD:i * RECORD + HASH_BYTES]
            if current < previous:
                raise ConfigError(f"blocklist {self.source}: record {i} is out of order "
                                  "(a badkeys blocklist is sorted; a lookup would miss keys)")
            previous = current

    def lookup_value(self, value: bytes) -> BlocklistHit | None:
        """The hit for a key value (module docstring), by binary search over the records."""
        wanted = hashlib.sha256(value).digest()[:HASH_BYTES]
        lo, hi = 0, self._count - 1
        while lo <= hi:
            mid = (lo + hi) // 2
            start = mid * RECORD
            found = self.records[start:start + HASH_BYTES]
            if found == wanted:
                list_id = self.records[start + HASH_BYTES]
                return BlocklistHit(list_id, self.names.get(list_id, f"id{list_id}"))
            if wanted > found:
                lo = mid + 1
            else:
                hi = mid - 1
        return None

    def lookup(self, public: PublicKeyTypes) -> BlocklistHit | None:
        value = blocklist_value(public)
        return None if value is None else self.lookup_value(value)


def _shortest(number: int) -> bytes:
    return number.to_bytes((number.bit_length() + 7) // 8, "big")


def blocklist_value(public: PublicKeyTypes) -> bytes | None:
    """The bytes badkeys hashes for a key (badkeys/checks.py `_checkkey`), or None if the key
    type has no entry in its lists."""
    if isinstance(public, rsa.RSAPublicKey):
        return _shortest(public.public_numbers().n)
    if isinstance(public, ec.EllipticCurvePublicKey):
        return _shortest(public.public_numbers().x)
    if isinstance(public, ed25519.Ed25519PublicKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return _shortest(int.from_bytes(raw, "big"))
    return None


def build_records(entries: Iterable[tuple[bytes, int]]) -> bytes:
    """A record table for (key value, list id) pairs: how an operator makes an extra list."""
    records = sorted({hashlib.sha256(value).digest()[:HASH_BYTES] + bytes([list_id])
                      for value, list_id in entries})
    return b"".join(records)
