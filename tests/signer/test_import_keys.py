"""Degenerate keys are refused by `signer batch import` itself (the real CLI and policy_context).

One bundle carries a request per degenerate key class next to an honest one; after the import,
`batch show --json` must list each hostile request as rejected with its code, the honest one
accepted. The forged CSRs' self-signatures verify (tests/signer/test_keys.py), so nothing but
the key checks stands between them and the sub-CA or leaf they ask for.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import AT, Hierarchy, run_signer
from tests.signer.key_fixtures import (
    SMALL_ORDER,
    close_primes_key,
    ec_point_csr,
    even_modulus,
    forged_mixed_order_csr,
    forged_small_order_csr,
    rsa_csr,
)
from tests.signer.policy_fixtures import ec_key, ed25519_key, make_csr

LATER = "2026-11-29T11:00:00Z"
WWW = ["www.example.org"]
MAIL = ["alice@example.org"]


def facts(dns=(), email=(), name=None, points=0):
    return {"dns": list(dns), "email": list(email), "name": name, "points": points}


# (id, profile, CA, CSR builder, verified facts, expected code or None)
ROWS = [
    ("honest", "server", "class1", lambda: make_csr(ec_key("p256", "import"), dns=WWW),
     facts(dns=WWW), None),
    ("ed25519-identity", "client", "class1",
     lambda: forged_small_order_csr(SMALL_ORDER["identity"], emails=MAIL),
     facts(email=MAIL), "key.small_order"),
    ("ed25519-order-8", "email", "class1",
     lambda: forged_small_order_csr(SMALL_ORDER["order-8-c"], emails=MAIL),
     facts(email=MAIL), "key.small_order"),
    ("ed25519-mixed", "client", "class1", lambda: forged_mixed_order_csr(emails=MAIL),
     facts(email=MAIL), "key.small_order"),
    ("subca-identity", "subca", "root",
     lambda: forged_small_order_csr(SMALL_ORDER["identity"], cn="Forged Sub CA"),
     facts(name="Forged Sub CA"), "key.small_order"),
    ("ec-hybrid", "server", "class1", lambda: ec_point_csr("hybrid", dns=WWW), facts(dns=WWW),
     "key.invalid"),
    ("rsa-close-primes", "server", "class1", lambda: make_csr(close_primes_key(), dns=WWW),
     facts(dns=WWW), "key.fermat"),
    ("rsa-even", "server", "class1", lambda: rsa_csr(*even_modulus(), dns=WWW), facts(dns=WWW),
     "key.invalid"),
    ("server-ed25519", "server", "class1", lambda: make_csr(ed25519_key(), dns=WWW),
     facts(dns=WWW), "key.profile"),
]


@pytest.fixture
def ra(tmp_path: Path, copy_home: Path, hierarchy: Hierarchy) -> Path:
    o = tmp_path / "online"
    o.mkdir()
    run_signer("request", "keygen", "--out", o / "ra.key", check=True)
    run_signer("ra", "trust", "ra1", o / "ra.key.pub", "--pin-file", hierarchy.pin_file,
               "--at", AT, home=copy_home, check=True)
    return o


def test_batch_import_refuses_each_degenerate_key_class(ra: Path, copy_home: Path,
                                                        hierarchy: Hierarchy) -> None:
    requests = []
    for rid, profile, ca, build, verified, _ in ROWS:
        (ra / f"{rid}.csr").write_bytes(build())
        requests.append({"id": rid, "ca": ca, "profile": profile, "csr": f"{rid}.csr",
                         "subscriber": f"member-{rid}", "verified": verified})
    spec = ra / "spec.json"
    spec.write_text(json.dumps({"ra": "ra1", "requests": requests, "revocations": []}))
    bundle = ra / "batch.req"
    run_signer("request", "pack", spec, "--ra-key", ra / "ra.key", "--seq", "1", "--out", bundle,
               "--at", AT, check=True)
    pin = ("--pin-file", hierarchy.pin_file, "--at", LATER)
    imported = json.loads(run_signer("batch", "import", bundle, "--json", *pin, home=copy_home,
                                     check=True).stdout)
    assert imported["accepted"] == 1 and imported["rejected"] == len(ROWS) - 1
    shown = json.loads(run_signer("batch", "show", imported["batch"], "--json",
                                  home=copy_home, check=True).stdout)
    verdicts = {r["id"]: (r["verdict"], {x["code"] for x in r["reasons"]})
                for r in shown["requests"]}
    for rid, _, _, _, _, expected in ROWS:
        verdict, found = verdicts[rid]
        if expected is None:
            assert verdict == "accept" and not found, (rid, found)
        else:
            assert verdict == "reject" and expected in found, (rid, found)
