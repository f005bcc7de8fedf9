"""CLI contract for the key ceremony: exit codes, one-line errors, nothing half-made."""

from __future__ import annotations

import json
import subprocess

import pytest
from cryptography import x509

from tests.conftest import AT, run_signer
from tests.pkilint_check import pkilint_errors


def _pem(home, name):
    return (home / "certs" / f"{name}.pem").read_bytes()


def test_hierarchy_verifies_with_openssl(hierarchy, tmp_path):
    h = hierarchy.home
    chain = tmp_path / "root.pem"
    chain.write_bytes(_pem(h, "root"))
    for sub in ("class1", "class3"):
        r = subprocess.run(["openssl", "verify", "-x509_strict", "-attime", "1795953600",
                            "-CAfile", chain, h / "certs" / f"{sub}.pem"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr


def test_ca_certificates_have_the_br_shape(hierarchy):
    root = x509.load_pem_x509_certificate(_pem(hierarchy.home, "root"))
    bc = root.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length is None
    ku = root.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
    with pytest.raises(x509.ExtensionNotFound):
        root.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert root.signature_hash_algorithm.name == "sha384"  # P-384 root -> SHA-384
    sub = x509.load_pem_x509_certificate(_pem(hierarchy.home, "class1"))
    assert sub.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    for ext in (x509.AuthorityKeyIdentifier, x509.SubjectKeyIdentifier, x509.CRLDistributionPoints,
                x509.AuthorityInformationAccess, x509.CertificatePolicies):
        sub.extensions.get_extension_for_class(ext)
    sub.verify_directly_issued_by(root)
    assert sub.serial_number >= 1 << 63  # I3: at least 64 random bits


@pytest.mark.parametrize("name", ["root", "class1", "class3"])
def test_pkilint_rfc5280_has_no_errors(hierarchy, name):
    assert pkilint_errors(_pem(hierarchy.home, name)) == []


def test_ca_list_and_show_json(hierarchy):
    out = json.loads(run_signer("ca", "list", "--json", home=hierarchy.home, check=True).stdout)
    assert [c["name"] for c in out["cas"]] == ["class1", "class3", "root"] or \
        {c["name"] for c in out["cas"]} == {"root", "class1", "class3"}
    assert out["rehearsal"] is True
    shown = run_signer("ca", "show", "class3", home=hierarchy.home, check=True).stdout
    assert shown.startswith("-----BEGIN CERTIFICATE-----")


def test_key_list_shows_safety(hierarchy):
    r = run_signer("key", "list", "--json", "--pin-file", hierarchy.pin_file, "--at", AT,
                   home=hierarchy.home, check=True)
    keys = {k["label"]: k for k in json.loads(r.stdout)["keys"]}
    assert keys["root-key"]["safe"] and not keys["root-key"]["extractable"]
    assert keys["appliance-log"]["algorithm"] == "ed25519"
    assert "REHEARSAL" in r.stderr


def test_token_status(hierarchy):
    r = run_signer("token", "status", "--json", home=hierarchy.home, check=True)
    st = json.loads(r.stdout)
    assert st["label"] == hierarchy.label and st["mechanisms"]["ECDSA"]


BAD = [
    (["key", "generate", "x", "--algorithm", "rsa-1024"], "not allowed"),
    (["key", "generate", "root-key", "--algorithm", "ec-p256"], "already exists"),
    (["ca", "sub", "c9", "--issuer", "nope", "--key", "class1-key", "--subject", "CN=x"],
     "unknown issuer"),
    (["ca", "root", "r2", "--key", "root-key", "--subject", "CN=x,,=="], "not a valid DN"),
    (["ca", "root", "r2", "--key", "root-key", "--subject", "CN=x", "--days", "99999"],
     "allows 1 to"),
    (["ca", "root", "r2", "--key", "missing-key", "--subject", "CN=x"], "no key labelled"),
    (["ca", "root", "root", "--key", "root-key", "--subject", "CN=x"], "already exists"),
    (["ca", "root", "r2", "--key", "root-key", "--subject", "CN=x"], "already belongs"),
    (["ca", "show", "nope"], "unknown CA"),
]


@pytest.mark.parametrize("args,msg", BAD, ids=[" ".join(a[:2]) + ":" + m for a, m in BAD])
def test_bad_input_is_one_line_exit_1_and_nothing_made(copy_home, hierarchy, args, msg):
    before = sorted(p.name for p in (copy_home / "certs").iterdir())
    r = run_signer(*args, "--pin-file", hierarchy.pin_file, "--at", AT, home=copy_home)
    assert r.returncode == 1, r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("signer: error:")]
    assert len(errors) == 1 and msg in errors[0], r.stderr
    assert sorted(p.name for p in (copy_home / "certs").iterdir()) == before


def test_wrong_pin_exit_1_names_the_pin(copy_home, tmp_path):
    bad = tmp_path / "bad.pin"
    bad.write_text("0000")
    r = run_signer("key", "list", "--pin-file", bad, home=copy_home, check=False)
    assert r.returncode == 1 and "wrong PIN" in r.stderr and "0000" not in r.stderr


def test_usage_error_exit_2(hierarchy):
    assert run_signer("ca", "frobnicate", home=hierarchy.home).returncode == 2
    assert run_signer("key", "generate", home=hierarchy.home).returncode == 2


def test_time_never_goes_backwards(copy_home, hierarchy):
    r = run_signer("key", "list", "--pin-file", hierarchy.pin_file, "--at",
                   "2020-01-01T00:00:00Z", home=copy_home, check=False)
    assert "earlier than the last recorded ceremony time" in r.stderr


def test_missing_module_and_token(tmp_path, token_env):
    r = run_signer("init", "--module", "/nope/lib.so", "--token", "x", "--pin-file",
                   token_env.pin_file, "--at", AT, home=tmp_path / "h", check=False)
    assert "module not found" in r.stderr
    r = run_signer("init", "--module", token_env.module, "--token", "no-such", "--pin-file",
                   token_env.pin_file, "--at", AT, home=tmp_path / "h", check=False)
    assert "no token" in r.stderr
    assert not (tmp_path / "h" / "signer.toml").exists()


def test_unknown_config_key_is_named(copy_home, hierarchy):
    cfg = copy_home / "signer.toml"
    cfg.write_text(cfg.read_text().replace("max_names = 100", "max_names = 100\nmax_nmes = 3"))
    r = run_signer("ca", "list", home=copy_home, check=False)
    assert "policy.max_nmes: unknown key" in r.stderr
