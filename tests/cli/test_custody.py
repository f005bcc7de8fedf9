"""Production custody through the CLI (issue 13): the first token dies and the keys come back
from the backup onto a second one; share sets rotate; a root token is never opened to issue.

Real SoftHSM tokens throughout; tokens are deleted with softhsm2-util as a dead token would be.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from signer.core import quorum
from tests.conftest import AT, ROOT, TokenEnv, run_signer
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


def hsm_generate(token_env: TokenEnv, label: str, pin: str, key_label: str) -> None:
    """A key made on a token by someone else (in a subprocess: SoftHSM reads its store once
    per process)."""
    code = ("import sys; from hsm.token import Token; t = Token(sys.argv[1], label=sys.argv[2]);"
            " t.login(sys.argv[3]); t.generate_key(sys.argv[4], 'ec-p256')")
    subprocess.run([sys.executable, "-c", code, token_env.module, label, pin, key_label],
                   env=token_env.env(), check=True, capture_output=True)


def _delete_token(token_env: TokenEnv, label: str) -> None:
    subprocess.run(["softhsm2-util", "--delete-token", "--token", label], env=token_env.env(),
                   check=True, capture_output=True)


def _set_main_label(home: Path, old: str, new: str) -> None:
    cfg = home / "signer.toml"
    text = cfg.read_text()
    assert f'label = "{old}"' in text
    cfg.write_text(text.replace(f'label = "{old}"', f'label = "{new}"', 1))


def _batch(o: Path, seq: int, home: Path, unlock: list[str | Path], out: Path,
           env: dict[str, str] | None = None) -> dict:
    make_csr(o / f"leaf{seq}.csr", cn=f"www{seq}.example.org", dns=[f"www{seq}.example.org"])
    bundle = pack(o, seq, [{"id": f"leaf{seq}", "ca": "class1", "profile": "server",
                            "csr": f"leaf{seq}.csr", "subscriber": "m1",
                            "verified": facts(dns=[f"www{seq}.example.org"], points=10)}])
    at = LATER if seq == 1 else LATEST
    run_signer("batch", "import", bundle, *unlock, "--at", at, home=home, check=True, env=env)
    run_signer("batch", "sign", f"ra1-{seq}", *unlock, "--at", at, home=home, check=True, env=env)
    run_signer("batch", "export", f"ra1-{seq}", "--out", out, *unlock, "--at", at, home=home,
               check=True, env=env)
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
    assert r.stderr.strip().splitlines()[-1].startswith("signer: error: backup file")
    r = run_signer("key", "restore", backup, "--so-pin-file", so,
                   *_share_args(_shares(base / "unlock")[:2], "--backup-share"),
                   "--pin-file", pin_b, *unlock, "--at", LATEST, home=home, check=False)
    assert "unlock secret, not the backup secret" in r.stderr

    foreign = base / "foreign"
    foreign.mkdir(exist_ok=True)
    _, words = quorum.split_secret(2, 3)
    for i, w in enumerate(words[:2]):
        (foreign / f"f{i}.txt").write_text(w + "\n")
    r = run_signer("key", "restore", backup, "--so-pin-file", so,
                   *_share_args(sorted(foreign.iterdir()), "--backup-share"),
                   "--pin-file", pin_b, *unlock, "--at", LATEST, home=home, check=False)
    assert "do not open this backup file" in r.stderr
    r = run_signer("key", "list", *_share_args(_shares(base / "backup", "backup-share")[:2]),
                   "--at", LATEST, home=home, check=False)
    assert "holds the backup secret, not the unlock secret" in r.stderr
    r = run_signer("key", "restore", backup, *backup_shares, "--so-pin-file", base / "nope",
                   "--pin-file", pin_b, *unlock, "--at", LATEST, home=home, check=False)
    assert "SO PIN file" in r.stderr and "not found" in r.stderr
    # A token that already holds another key under a label of the backup is refused.
    clash = base / "clash"
    shutil.copytree(home, clash)
    pin_c = token_env.new_token("custC")
    _set_main_label(clash, "custB", "custC")
    hsm_generate(token_env, "custC", pin_c.read_text(), "root-key")
    r = run_signer("key", "restore", backup, "--so-pin-file", so, *backup_shares,
                   "--pin-file", pin_c, *unlock, "--at", LATEST, home=clash, check=False)
    assert "already holds a different key labelled 'root-key'" in r.stderr

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

    # The next batch is signed on token B and verifies under the original CA certificates,
    # by signing workers too: they open a restored key only under its logged public key.
    second = _batch(o, 2, home, unlock, base / "result-2.res",
                    env={**os.environ, "SIGNER_WORKERS": "2"})
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


def test_rotated_out_shares_open_nothing(token_env, tmp_path):
    pin = token_env.new_token("rotate")
    home = tmp_path / "home"
    run_signer("init", "--module", token_env.module, "--token", "rotate", "--rehearsal",
               "--quorum", "2/3", "--shares-out", tmp_path / "old", "--pin-file", pin,
               "--at", AT, home=home, check=True)
    old = _shares(tmp_path / "old")
    r = run_signer("quorum", "check", *old[:1], "--json", home=home, check=True)
    assert json.loads(r.stdout)["shares"][0]["state"] == "current"
    r = run_signer("quorum", "rotate", "--quorum", "3/5", "--shares-out", tmp_path / "new",
                   "--share-cards", tmp_path / "cards", *_share_args(old[1:]), "--at", AT,
                   "--json", home=home, check=True)
    rotated = json.loads(r.stdout)
    assert rotated["threshold"] == 3 and len(rotated["shares"]) == 5 * 3  # files, HTML, PDF
    new = _shares(tmp_path / "new")
    # The new set's cards, made before any token changed, check against the new shares.
    r = run_signer("cards", "check", tmp_path / "cards", "--share", tmp_path / "new" /
                   "share-4-of-5.txt", check=True)
    assert r.stdout.strip() == "card-4-of-5.html: matches the card file: seal it"
    # The old shares are named as retired before any login is tried...
    r = run_signer("key", "list", *_share_args(old[:2]), "--at", AT, home=home, check=False)
    assert "retired by rotation" in r.stderr
    # ...and a custodian checking an envelope learns the same without unlocking anything.
    r = run_signer("quorum", "check", old[0], new[0], home=home, check=True)
    assert "RETIRED unlock set" in r.stdout and "the current unlock set" in r.stdout
    # The new shares unlock; fewer than the new threshold do not.
    run_signer("key", "list", *_share_args(new[:3]), "--at", AT, home=home, check=True)
    r = run_signer("key", "list", *_share_args(new[:2]), "--at", AT, home=home, check=False)
    assert "more needed" in r.stderr
    log = (home / "log" / "ceremony.jsonl").read_text()
    assert '"type":"quorum.rekeyed"' in log and '"type":"quorum.rotated"' in log
    assert json.loads(run_signer("audit", "verify", "--json", home=home, check=True).stdout)["ok"]


def test_issuing_from_a_sub_ca_never_opens_the_root_token(token_env, tmp_path):
    main_pin = token_env.new_token("tiermain")
    root_pin = token_env.new_token("tierroot")
    home = tmp_path / "home"
    run_signer("init", "--module", token_env.module, "--token", "tiermain", "--rehearsal",
               "--pin-file", main_pin, "--at", AT, home=home, check=True)
    run_signer("token", "add", "root", "--label", "tierroot", "--new-token-pin-file", root_pin,
               "--pin-file", main_pin, "--at", AT, home=home, check=True)
    both = ["--pin-file", main_pin, "--token-pin", f"root={root_pin}"]
    run_signer("key", "generate", "root-key", "--algorithm", "ec-p384", "--token", "root",
               *both, "--at", AT, home=home, check=True)
    run_signer("key", "generate", "class1-key", "--algorithm", "ec-p256", *both, "--at", AT,
               home=home, check=True)
    run_signer("ca", "root", "root", "--key", "root-key", "--subject", "CN=Tier Root,C=AU",
               *both, "--at", AT, home=home, check=True)
    run_signer("ca", "sub", "class1", "--issuer", "root", "--key", "class1-key", "--subject",
               "CN=Tier Class 1,C=AU", *both, "--at", AT, home=home, check=True)
    listed = json.loads(run_signer("token", "list", "--json", home=home, check=True).stdout)
    on = {t["token"]: t["keys"] for t in listed["tokens"]}
    assert on == {"main": ["appliance-log", "class1-key"], "root": ["root-key"]}
    # The root's token goes back into the safe: it is not even present for a batch.
    _delete_token(token_env, "tierroot")
    o = tmp_path / "online"
    o.mkdir()
    run_signer("request", "keygen", "--out", o / "ra.key", check=True)
    run_signer("ra", "trust", "ra1", o / "ra.key.pub", "--pin-file", main_pin, "--at", AT,
               home=home, check=True)
    # Signing workers log in to the token of the CA's key only (never the root's).
    first = _batch(o, 1, home, ["--pin-file", main_pin], tmp_path / "result.res",
                   env={**os.environ, "SIGNER_WORKERS": "2"})
    assert first["issued"] == 1
    _openssl_verify(home, Path(first["dir"]) / "certs" / "leaf1.pem")
    entries = [json.loads(x) for x in (home / "log" / "ceremony.jsonl").read_text().splitlines()]
    opened = [e["seq"] for e in entries if e["type"] == "token.opened"]
    assert len(opened) == 4  # token add, key generate, ca root, ca sub: never for the batch
    assert max(opened) < min(e["seq"] for e in entries if e["type"] == "batch.intent")
    # Making the root's CRL needs it, and says so.
    r = run_signer("crl", "issue", "root", "--pin-file", main_pin, "--at", LATEST, home=home,
                   check=False)
    assert "no PIN for token 'root'" in r.stderr
    r = run_signer("crl", "issue", "root", *both, "--at", LATEST, home=home, check=False)
    assert r.stderr.strip().splitlines()[-1] == "signer: error: no token 'tierroot' is present"


def test_a_token_without_eddsa_or_combined_rsa_runs_the_whole_ceremony(restricted_token_env,
                                                                        tmp_path):
    """SmartCard-HSM-like mechanisms: the log key is ECDSA, RSA signs through CKM_RSA_PKCS
    with a host-built DigestInfo; checkpoints, results and the audit all take the ECDSA key."""
    env = restricted_token_env.env()
    # A token of its own: tests/hsm/test_restricted.py runs its scenario on "restricted".
    pin = restricted_token_env.new_token("small-hsm")
    home = tmp_path / "home"
    r = run_signer("init", "--module", restricted_token_env.module, "--token", "small-hsm",
                   "--rehearsal", "--pin-file", pin, "--at", AT, "--json", home=home,
                   check=True, env=env)
    assert json.loads(r.stdout)["log_key_algorithm"] == "ec-p256"
    run_signer("key", "generate", "root-key", "--algorithm", "rsa-3072", "--pin-file", pin,
               "--at", AT, home=home, check=True, env=env)
    run_signer("key", "generate", "class1-key", "--algorithm", "ec-p256", "--pin-file", pin,
               "--at", AT, home=home, check=True, env=env)
    run_signer("ca", "root", "root", "--key", "root-key", "--subject", "CN=Small HSM Root,C=AU",
               "--pin-file", pin, "--at", AT, home=home, check=True, env=env)
    run_signer("ca", "sub", "class1", "--issuer", "root", "--key", "class1-key", "--subject",
               "CN=Small HSM Class 1,C=AU", "--pin-file", pin, "--at", AT, home=home,
               check=True, env=env)
    status = json.loads(run_signer("token", "status", "--json", home=home, check=True,
                                   env=env).stdout)
    # Every need is met through a fallback (CKM_RSA_PKCS with a host DigestInfo, CKM_ECDSA
    # over a host hash); EdDSA is simply not needed by this home.
    assert status["missing"] == [] and not status["mechanisms"].get("EC_EDWARDS_KEY_PAIR_GEN")
    o = tmp_path / "online"
    o.mkdir()
    run_signer("request", "keygen", "--out", o / "ra.key", check=True)
    run_signer("ra", "trust", "ra1", o / "ra.key.pub", "--pin-file", pin, "--at", AT,
               home=home, check=True, env=env)
    first = _batch(o, 1, home, ["--pin-file", pin], tmp_path / "result.res", env=env)
    assert first["issued"] == 1
    _openssl_verify(home, Path(first["dir"]) / "certs" / "leaf1.pem")
    run_signer("crl", "issue", "root", "--pin-file", pin, "--at", LATEST, home=home,
               check=True, env=env)
    crl = home / "crls" / "root-1.crl"
    r = subprocess.run(["openssl", "crl", "-in", crl, "-noout", "-CAfile",
                        home / "certs" / "root.pem"], capture_output=True, text=True)
    assert r.returncode == 0 and "verify OK" in r.stderr + r.stdout
    assert "BEGIN PUBLIC KEY" in (o / "appliance.pub").read_text()
    r = run_signer("audit", "verify", "--json", home=home, check=True, env=env)
    assert json.loads(r.stdout)["ok"] is True
    note = json.loads(run_signer("audit", "checkpoint", "--json", home=home, check=True,
                                 env=env).stdout)["checkpoint"]
    assert note.count("\u2014 ") == 1  # one signature line, type 0x02 (ECDSA)


@pytest.mark.parametrize(("extra", "message"), [
    (["--backup", "2/3", "--backup-shares-out", "B"], "needs the token's SO PIN"),
    (["--backup", "2/3", "--so-pin-file", "SO"], "--backup needs --backup-shares-out DIR"),
    (["--backup-shares-out", "B"], "--backup-shares-out is only used with --backup"),
    (["--quorum", "2/3", "--shares-out", "B", "--backup", "2/3", "--backup-shares-out", "B",
      "--so-pin-file", "SO"], "different directories"),
    (["--quorum", "2/3", "--shares-out", "A", "--pinpad"], "PIN pad"),
    (["--log-key-algorithm", "rsa-2048"], "--log-key-algorithm"),
])
def test_init_refuses_what_custody_cannot_honour(token_env, tmp_path, extra, message):
    (tmp_path / "SO").write_text(token_env.so_pin)
    args = [tmp_path / a if a in ("A", "B", "SO") else a for a in extra]
    r = run_signer("init", "--module", token_env.module, "--token", "hier", "--rehearsal",
                   *args, "--pin-file", token_env.pin_file, "--at", AT, home=tmp_path / "h",
                   check=False)
    assert message in r.stderr and not (tmp_path / "h").exists()
    assert not (tmp_path / "B").exists() or not any((tmp_path / "B").iterdir())


def test_a_wrappable_key_is_refused_in_a_home_made_without_backup(token_env, tmp_path):
    """I1 stays strict where the log records no backup quorum: an insider's key generated
    CKA_EXTRACTABLE + CKA_WRAP_WITH_TRUSTED under a CA key's label is never used."""
    pin = token_env.new_token("strict")
    home = tmp_path / "home"
    auth = ("--pin-file", pin, "--at", AT)
    run_signer("init", "--module", token_env.module, "--token", "strict", "--rehearsal", *auth,
               home=home, check=True)
    run_signer("key", "generate", "k1", "--algorithm", "ec-p256", *auth, home=home, check=True)
    swap = ("import pkcs11, sys\n"
            "from hsm.token import Token\n"
            "lib = pkcs11.lib(sys.argv[1])\n"
            "with lib.get_token(token_label='strict').open(user_pin=sys.argv[2], rw=True) as s:\n"
            "    for o in list(s.get_objects({pkcs11.Attribute.LABEL: 'k1'})):\n"
            "        o.destroy()\n"
            "t = Token(sys.argv[1], label='strict')\n"
            "t.login(sys.argv[2])\n"
            "t.generate_key('k1', 'ec-p256', backup=True)\n")
    subprocess.run([sys.executable, "-c", swap, token_env.module, pin.read_text()], check=True,
                   env=token_env.env(), capture_output=True, cwd=ROOT)
    r = run_signer("ca", "root", "r", "--key", "k1", "--subject", "CN=Strict Root,C=AU", *auth,
                   home=home, check=False)
    assert r.returncode == 1
    assert "extractable (wrappable) in a home made without a backup quorum" in r.stderr
    assert not (home / "certs" / "r.pem").exists()
