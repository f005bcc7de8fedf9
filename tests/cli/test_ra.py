"""RA lifecycle (issue 10 item 11, I7): trust, replace, revoke; one key one name for ever;
the online side checks a result against its own request bundle."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import AT, run_signer
from tests.factories import GOOD, make_csr, pack

LATER = "2026-11-29T11:00:00Z"


@pytest.fixture
def ra_home(copy_home, hierarchy, tmp_path):
    o = tmp_path / "online"
    o.mkdir()
    for k in ("ra.key", "ra2.key", "other.key"):
        run_signer("request", "keygen", "--out", o / k, check=True)
    make_csr(o / "good.csr", cn="www.example.org", dns=["www.example.org", "example.org"])
    auth = ("--pin-file", hierarchy.pin_file, "--at", AT)
    run_signer("ra", "trust", "ra1", o / "ra.key.pub", *auth, home=copy_home, check=True)
    return copy_home, o, auth


def _pack_with(o, key: str, seq: int, name: str = "ra1"):
    spec = o / f"spec-{key}-{seq}.json"
    spec.write_text(json.dumps({"ra": name, "requests": [GOOD[0]], "revocations": []}))
    out = o / f"{key}-{seq}.req"
    run_signer("request", "pack", spec, "--ra-key", o / key, "--seq", str(seq), "--out", out,
               "--at", AT, check=True)
    return out


def test_one_key_one_name(ra_home):
    home, o, auth = ra_home
    r = run_signer("ra", "trust", "ra2", o / "ra.key.pub", *auth, home=home, check=False)
    assert r.returncode == 1 and "already trusted for RA 'ra1'" in r.stderr
    r = run_signer("ra", "trust", "ra1", o / "ra2.key.pub", *auth, home=home, check=False)
    assert "already known" in r.stderr and "ra replace" in r.stderr


def test_replace_refuses_the_old_key_and_keeps_the_sequence(ra_home):
    home, o, auth = ra_home
    run_signer("batch", "import", _pack_with(o, "ra.key", 1), *auth, home=home, check=True)
    run_signer("ra", "replace", "ra1", o / "ra2.key.pub", *auth, home=home, check=True)
    r = run_signer("batch", "import", _pack_with(o, "ra.key", 2), *auth, home=home, check=False)
    assert r.returncode == 1 and "not the key of any trusted RA" in r.stderr
    r = run_signer("batch", "import", _pack_with(o, "ra2.key", 1), *auth, home=home, check=False)
    assert "not greater than 1" in r.stderr  # the sequence belongs to the RA, not to a key
    run_signer("batch", "import", _pack_with(o, "ra2.key", 3), *auth, home=home, check=True)
    # A replaced key is never trusted again, under any name.
    r = run_signer("ra", "trust", "ra3", o / "ra.key.pub", *auth, home=home, check=False)
    assert "already trusted for RA 'ra1'" in r.stderr
    listed = json.loads(run_signer("ra", "list", *auth, "--json", home=home, check=True).stdout)
    (ra1,) = listed["ras"]
    assert ra1["last_sequence"] == 3 and not ra1["revoked"] and ra1["integrity"] == "ok"
    run_signer("audit", "verify", home=home, check=True)


def test_revoked_ra_is_refused_and_its_staged_batch_is_not_signed(ra_home):
    home, o, auth = ra_home
    run_signer("batch", "import", _pack_with(o, "ra.key", 1), *auth, home=home, check=True)
    run_signer("ra", "revoke", "ra1", "--reason", "key lost", *auth, home=home, check=True)
    r = run_signer("batch", "import", _pack_with(o, "ra.key", 2), *auth, home=home, check=False)
    assert r.returncode == 1 and "RA 'ra1' was revoked: its bundles are refused" in r.stderr
    r = run_signer("batch", "sign", "ra1-1", *auth, home=home, check=False)
    assert r.returncode == 1 and "RA 'ra1' was revoked" in r.stderr
    r = run_signer("ra", "replace", "ra1", o / "ra2.key.pub", *auth, home=home, check=False)
    assert "is revoked" in r.stderr
    run_signer("audit", "verify", home=home, check=True)


def test_result_verify_against_the_request_bundle(ra_home, tmp_path):
    home, o, auth = ra_home
    first = _pack_with(o, "ra.key", 1)
    run_signer("batch", "import", first, *auth, home=home, check=True)
    run_signer("batch", "sign", "ra1-1", *auth, home=home, check=True)
    res = tmp_path / "r.res"
    run_signer("batch", "export", "ra1-1", "--out", res, *auth, home=home, check=True)
    pub = tmp_path / "pub.pem"
    pub.write_text(run_signer("audit", "pubkey", home=home, check=True).stdout)
    s = json.loads(run_signer("result", "verify", res, "--trust", pub, "--out", tmp_path / "a",
                              "--request", first, "--json", check=True).stdout)
    assert s["checked_against_request"] == 1
    other = pack(o, 5, GOOD[:1])
    r = run_signer("result", "verify", res, "--trust", pub, "--out", tmp_path / "b",
                   "--request", other, check=False)
    assert r.returncode == 1 and "answers another request bundle" in r.stderr
    assert not (tmp_path / "b").exists()  # nothing unpacked from a result that failed
    shutil.rmtree(tmp_path / "a")
