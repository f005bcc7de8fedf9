"""Production custody through the CLI (issue 13): the first token dies and the keys come back
from the backup onto a second one; share sets rotate; a root token is never opened to issue.

Real SoftHSM tokens throughout; tokens are deleted with softhsm2-util as a dead token would be.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from tests.conftest import AT, TokenEnv, run_signer
from tests.factories import facts, make_csr, pack

LATER = "2026-11-29T11:00:00Z"
LATEST = "2026-11-29T12:00:00Z"


def _shares(d: Path, stem: str = "share") -> list[Path]:
    return sorted(d.glob(f"{stem}-*.txt"))


def _share_args(files: list[Path], opt: str = "--share") -> list[str | Path]:
    out: list[str | Path] = []
    for f in files:
        out += [opt, f]
    return out


def _delete_token(token_env: TokenEnv, label: str) -> None:
    subprocess.run(["softhsm2-util", "--delete-token", "--token", label], env=token_env.env(),
                   check=True, capture_output=True)


def _set_main_label(home: Path, old: str, new: str) -> None:
    cfg = home / "signer.toml"
    text = cfg.read_text()
    assert f'label = "{old}"' in text
    cfg.write_text(text.replace(f'label = "{old}"', f'label = "{new}"', 1))


def _batch(o: Path, seq: int, home: Path, unlock: list[str | Path], out: Path) -> dict:
    make_csr(o / f"leaf{seq}.csr", cn=f"www{seq}.example.org", dns=[f"www{seq}.example.org"])
    bundle = pack(o, seq, [{"id": f"leaf{seq}", "ca": "class1", "profile": "server",
                            "csr": f"leaf{seq}.csr", "subscriber": "m1",
                            "verified": facts(dns=[f"www{seq}.example.org"], points=10)}])
    at = LATER if seq == 1 else LATEST
    run_signer("batch", "import", bundle, *unlock, "--at", at, home=home, check=True)
    run_signer("batch", "sign", f"ra1-{seq}", *unlock, "--at", at, home=home, check=True)
    run_signer("batch", "export", f"ra1-{seq}", "--out", out, *unlock, "--at", at, home=home,
               check=True)
    pub = o / "appliance.pub"
    if not pub.exists():
        pub.write_text(run_signer("audit", "pubkey", home=home, check=True).stdout)
    unpacked = o / f"unpacked-{seq}"
    r = run_signer("result", "verify", out, "--trust", pub, "--request", bundle, "--out",
                   unpacked, "--json", check=True)
    return json.loads(r.stdout) | {"dir": str(unpacked)}


def _openssl_verify(home: Path, leaf: Path) -> None:
    chain = home.parent / "chain.pem"
    chain.write_text((home / "certs" / "class1.pem").read_text())
    r = subprocess.run(["openssl", "verify", "-CAfile", home / "certs" / "root.pem",
                        "-untrusted", chain, leaf], capture_output=True, text=True)
    assert r.returncode == 0 and ": OK" in r.stdout, r.stdout + r.stderr


@pytest.fixture(scope="module")
def backup_home(token_env: TokenEnv, tmp_path_factory: pytest.TempPathFactory):
    """A quorum home with a backup quorum on token custA: root and class1, one batch signed."""
    base = tmp_path_factory.mktemp("custody")
    pin = token_env.new_token("custA")
    so = base / "so.pin"
    so.write_text(token_env.so_pin)
    home = base / "home"
    r = run_signer("init", "--module", token_env.module, "--token", "custA", "--rehearsal",
                   "--quorum", "2/3", "--shares-out", base / "unlock", "--backup", "2/3",
                   "--backup-shares-out", base / "backup", "--so-pin-file", so,
                   "--pin-file", pin, "--at", AT, "--json", home=home, check=True)
    init = json.loads(r.stdout)
    # SoftHSM 2.6 cannot wrap Ed25519 keys: a backup home's log key is ECDSA there.
    assert init["log_key_algorithm"] == "ec-p256" and init["backup_fingerprint"]
    unlock = _share_args(_shares(base / "unlock")[:2])
    for label, alg in (("root-key", "ec-p384"), ("class1-key", "ec-p256")):
        run_signer("key", "generate", label, "--algorithm", alg, *unlock, "--at", AT, home=home,
                   check=True)
    run_signer("ca", "root", "root", "--key", "root-key", "--subject", "CN=Custody Root,C=AU",
               *unlock, "--at", AT, home=home, check=True)
    run_signer("ca", "sub", "class1", "--issuer", "root", "--key", "class1-key", "--subject",
               "CN=Custody Class 1,C=AU", *unlock, "--at", AT, home=home, check=True)
    o = base / "online"
    o.mkdir()
    run_signer("request", "keygen", "--out", o / "ra.key", check=True)
    run_signer("ra", "trust", "ra1", o / "ra.key.pub", *unlock, "--at", AT, home=home,
               check=True)
    first = _batch(o, 1, home, unlock, base / "result-1.res")
    assert first["issued"] == 1
    r = run_signer("key", "backup", "--out", base / "keys.backup", *unlock, "--at", LATER,
                   "--json", home=home, check=True)
    made = json.loads(r.stdout)
    assert {k["label"] for k in made["keys"]} == {"appliance-log", "root-key", "class1-key"}
    return base, home, so, unlock, o


def test_the_first_token_dies_and_the_keys_come_back_on_a_second(backup_home, token_env):
    base, home, so, unlock, o = backup_home
    backup = base / "keys.backup"
    # The token dies. A fresh token takes its place; signer.toml points at it.
    _delete_token(token_env, "custA")
    r = run_signer("key", "list", *unlock, "--at", LATEST, home=home, check=False)
    assert r.returncode == 1 and "custA" in r.stderr
    pin_b = token_env.new_token("custB")
    _set_main_label(home, "custA", "custB")
    backup_shares = _share_args(_shares(base / "backup", "backup-share")[1:], "--backup-share")

    # Refusals first, each one line and nothing made.
    tampered = base / "tampered.backup"
    doc = json.loads(backup.read_text())
    doc["body"] = doc["body"][:-8] + ("AAAAAAA=" if doc["body"][-8:] != "AAAAAAA=" else "BBBBBBB=")
    tampered.write_text(json.dumps(doc))
    r = run_signer("key", "restore", tampered, "--so-pin-file", so, *backup_shares,
                   "--pin-file", pin_b, *unlock, "--at", LATEST, home=home, check=False)
    assert "backup file" in r.stderr and r.stderr.count("\n") <= 2
    r = run_signer("key", "restore", backup, "--so-pin-file", so,
                   *_share_args(_shares(base / "unlock")[:2], "--backup-share"),
                   "--pin-file", pin_b, *unlock, "--at", LATEST, home=home, check=False)
    assert "unlock secret, not the backup secret" in r.stderr

    r = run_signer("key", "restore", backup, "--so-pin-file", so, *backup_shares,
                   "--pin-file", pin_b, *unlock, "--at", LATEST, "--json", home=home,
                   check=True)
    done = json.loads(r.stdout)
    assert sorted(done["restored"]) == ["appliance-log", "class1-key", "root-key"]
    # Run again (an interrupted restore is finished this way): nothing is made twice.
    r = run_signer("key", "restore", backup, "--so-pin-file", so, *backup_shares,
                   *unlock, "--pin-file", pin_b, "--at", LATEST, "--json", home=home,
                   check=False)
    assert r.returncode == 1  # the token's PIN is now the quorum's, not the initial one

    # The next batch is signed on token B and verifies under the original CA certificates.
    second = _batch(o, 2, home, unlock, base / "result-2.res")
    assert second["issued"] == 1
    leaf = Path(second["dir"]) / "certs" / "leaf2.pem"
    _openssl_verify(home, leaf)
    cert = x509.load_pem_x509_certificate(leaf.read_bytes())
    assert cert.issuer.rfc4514_string() == "CN=Custody Class 1,C=AU"
    # The auditors accept the whole history, the death of token A included.
    r = run_signer("audit", "verify", "--json", home=home, check=True)
    assert json.loads(r.stdout)["ok"] is True
    log = (home / "log" / "ceremony.jsonl").read_text()
    assert log.count('"type":"key.restored"') == 3 and '"type":"token.restored"' in log
