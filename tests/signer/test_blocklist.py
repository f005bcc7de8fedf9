"""Compromised-key blocklists in badkeys' format (Debian weak keys, BR §6.1.1.3(4)).

The appliance cannot download badkeys' list, so these tests make small lists in the same format
(a badkeys cache directory: badkeysdata.json + blocklist.dat) and check that our lookup finds
exactly what badkeys' own lookup finds in them, and that the policy refuses listed keys.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from signer.core.policy import evaluate
from signer.core.policy.blocklist import Blocklist, blocklist_value, build_records
from signer.errors import ConfigError
from signer.store.blocklist import load_blocklist
from tests.signer.policy_fixtures import (
    codes,
    context,
    ec_key,
    ed25519_key,
    make_csr,
    request,
    rsa_key,
)

WWW = ("www.example.org", "example.org")


def listed() -> list[PublicKeyTypes]:
    """Keys put on the test list: one per type badkeys hashes differently."""
    return [rsa_key(2048, 65537, "debian-weak").public_key(), ec_key("p256", "listed").public_key(),
            ed25519_key().public_key()]


def not_listed() -> list[PublicKeyTypes]:
    return [rsa_key().public_key(), ec_key("p384").public_key(), ec_key("p256").public_key()]


def write_cache(directory: Path, *, lists: dict[int, str] | None = None,
                records: bytes | None = None) -> Path:
    """A badkeys cache directory (what `badkeys --update-bl` leaves in ~/.cache/badkeys)."""
    directory.mkdir(parents=True, exist_ok=True)
    if records is None:
        values = [blocklist_value(k) for k in listed()]
        records = build_records((v, 3) for v in values if v is not None)
    (directory / "blocklist.dat").write_bytes(records)
    meta = {"bkformat": 0, "blocklist_sha256": hashlib.sha256(records).hexdigest(),
            "blocklists": [{"id": i, "name": n, "repo": "example/keys", "path": "main"}
                           for i, n in (lists or {3: "debianssl"}).items()]}
    (directory / "badkeysdata.json").write_text(json.dumps(meta))
    return directory


def test_lookup_finds_listed_keys_of_every_type(tmp_path: Path) -> None:
    bl = load_blocklist(write_cache(tmp_path / "badkeys"))
    assert len(bl) == 3
    for key in listed():
        hit = bl.lookup(key)
        assert hit is not None and hit.list_name == "debianssl" and hit.list_id == 3
    assert all(bl.lookup(k) is None for k in not_listed())


def test_our_lookup_agrees_with_badkeys_own(tmp_path: Path) -> None:
    """badkeys reads the same directory (XDG_CACHE_HOME) in a child process: both must find
    the listed keys and only those, so our reading of the format is badkeys' reading."""
    write_cache(tmp_path / "cache" / "badkeys")
    pems = [k.public_bytes(serialization.Encoding.PEM,
                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
            for k in (*listed(), *not_listed())]
    code = ("import json, sys, badkeys\n"
            "pems = json.load(sys.stdin)\n"
            "print(json.dumps(['blocklist' in badkeys.checkpubkey(p, checks=['blocklist'])"
            "['results'] for p in pems]))\n")
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(pems), text=True,
                         capture_output=True, check=True,
                         env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")})
    theirs = json.loads(out.stdout)
    ours = [load_blocklist(tmp_path / "cache" / "badkeys").lookup(k) is not None
            for k in (*listed(), *not_listed())]
    assert theirs == ours == [True, True, True, False, False, False]


def test_a_single_extra_list_file_loads(tmp_path: Path) -> None:
    values = [v for v in (blocklist_value(k) for k in listed()) if v is not None]
    path = tmp_path / "extra.dat"
    path.write_bytes(build_records((v, 7) for v in values))
    bl = load_blocklist(path)
    assert all(bl.lookup(k) is not None for k in listed())
    assert bl.lookup(listed()[0]).list_name == "id7"  # type: ignore[union-attr]


@pytest.mark.parametrize(("damage", "message"), [
    ("sha256", "is not the"),
    ("format", "format"),
    ("metadata", "not badkeys metadata"),
    ("missing", "cannot be read"),
    ("length", "whole number"),
])
def test_a_damaged_list_is_refused(tmp_path: Path, damage: str, message: str) -> None:
    d = write_cache(tmp_path / "badkeys")
    if damage == "sha256":
        (d / "blocklist.dat").write_bytes((d / "blocklist.dat").read_bytes()[::-1])
    elif damage == "format":
        meta = json.loads((d / "badkeysdata.json").read_text())
        (d / "badkeysdata.json").write_text(json.dumps({**meta, "bkformat": 1}))
    elif damage == "metadata":
        (d / "badkeysdata.json").write_text("{}")
    elif damage == "missing":
        (d / "blocklist.dat").unlink()
    else:
        write_cache(d, records=b"\x00" * 17)
    with pytest.raises(ConfigError, match=message):
        load_blocklist(d)


def test_an_unsorted_extra_list_is_refused(tmp_path: Path) -> None:
    """A binary search in an unsorted list would miss keys silently: refuse the list."""
    records = build_records([(b"a", 1), (b"b", 1), (b"c", 1)])
    path = tmp_path / "extra.dat"
    path.write_bytes(records[16:32] + records[:16] + records[32:])
    with pytest.raises(ConfigError, match="out of order"):
        load_blocklist(path)
    with pytest.raises(ConfigError, match="out of order"):
        Blocklist.from_records(records[16:32] + records[:16])


def test_the_policy_refuses_a_listed_key(tmp_path: Path) -> None:
    bl = load_blocklist(write_cache(tmp_path / "badkeys"))
    weak = request(make_csr(rsa_key(2048, 65537, "debian-weak"), dns=WWW))
    ctx = context()
    ctx_bl = dataclasses.replace(ctx, blocklist=bl)
    d = evaluate(weak, ctx_bl)
    assert not d.accepted and codes(d) == {"key.blocklist"}
    assert "debianssl" in d.reasons[0].message
    assert evaluate(request(make_csr(rsa_key(), dns=WWW)), ctx_bl).accepted
    # Without a list the same key passes: the check runs only where the operator loaded one.
    assert evaluate(weak, ctx).accepted
