"""CA profiles and name constraints as pure data (issue 14): matching tables, strict parsing,
the signature rules per key, the linter per purpose, the stored decision's optional keys, and
the request bundle's optional name parts."""

from __future__ import annotations

import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from signer.core.ca_profiles import hash_problem, parse_ca_profile
from signer.core.config import default_toml, parse_config
from signer.core.decision import StoredDecision
from signer.core.policy.constraints import NameConstraintRules, parse_email_subtree
from signer.errors import ConfigError
from transfer import bundle as tb
from transfer.errors import BundleError

NC = NameConstraintRules(
    permitted_dns=("example.org",), excluded_dns=("bad.example.org",),
    permitted_email=("example.org", ".mail.example.net", "root@example.com"),
    excluded_email=("x@example.org",),
    permitted_ip=(ipaddress.ip_network("192.0.2.0/24"),),
    excluded_ip=(ipaddress.ip_network("192.0.2.128/25"),),
    permitted_dirnames=(x509.Name.from_rfc4514_string("O=Community CA,C=AU"),))


@pytest.mark.parametrize(("name", "inside"), [
    ("example.org", True), ("www.example.org", True), ("a.b.example.org", True),
    ("xexample.org", False), ("example.org.evil.net", False), ("bad.example.org", False),
    ("x.bad.example.org", False), ("*.www.example.org", True),
    ("*.example.org", False),  # it would stand for bad.example.org too
    ("*.bad.example.org", False), ("www.example.net", False),
])
def test_dns_subtrees(name: str, inside: bool) -> None:
    assert NC.dns_allowed(name) is inside


@pytest.mark.parametrize(("address", "inside"), [
    ("a@example.org", True), ("x@example.org", False), ("a@sub.example.org", False),
    ("a@host.mail.example.net", True), ("a@mail.example.net", False),
    ("root@example.com", True), ("other@example.com", False),
])
def test_email_subtrees(address: str, inside: bool) -> None:
    assert NC.email_allowed(address) is inside


@pytest.mark.parametrize(("address", "inside"), [
    ("192.0.2.1", True), ("192.0.2.200", False), ("198.51.100.1", False),
    ("2001:db8::1", False),  # one name form: with IPv4 ranges permitted, IPv6 is outside
])
def test_ip_subtrees(address: str, inside: bool) -> None:
    assert NC.ip_allowed(ipaddress.ip_address(address)) is inside


@pytest.mark.parametrize(("dn", "inside"), [
    ("", True), ("CN=x,O=Community CA,C=AU", True), ("O=Community CA,C=AU", True),
    ("CN=x", False), ("CN=x,O=Other,C=AU", False), ("CN=x,C=AU,O=Community CA", False),
])
def test_dirname_subtrees(dn: str, inside: bool) -> None:
    assert NC.dirname_allowed(x509.Name.from_rfc4514_string(dn)) is inside


def test_extension_round_trip() -> None:
    ext = NC.to_extension()
    assert ext is not None and NameConstraintRules.of_extension(ext) == NC
    assert NameConstraintRules().to_extension() is None


def test_within_an_issuer() -> None:
    issuer = NameConstraintRules(permitted_dns=("example.org",))
    assert NameConstraintRules(permitted_dns=("www.example.org",)).within(issuer) == []
    assert NameConstraintRules(permitted_dns=("example.net",)).within(issuer)
    assert NameConstraintRules().within(issuer)  # claims everything


@pytest.mark.parametrize("bad", ["@example.org", "a@.example.org", "", "a@b@", "Ex.org"])
def test_bad_email_subtrees(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_email_subtree(bad)


def _profile(**kw: object):
    return parse_ca_profile("p", kw, default_policies=("2.5.29.32.0",), root_max_days=9000,
                            sub_max_days=3000)


def test_profile_defaults_and_linters() -> None:
    assert _profile().lint_kind == "pkix" and _profile().path_len == 0
    assert _profile(ekus=["serverAuth"]).lint_kind == "tls-ca"
    assert _profile(ekus=["serverAuth"], permitted_dns=["example.org"]).lint_kind == \
        "tls-ca-constrained"
    assert _profile(ekus=["emailProtection"]).lint_kind == "smime-ca"
    assert _profile(kind="root").policies == () and _profile(kind="root").path_len is None
    assert _profile(kind="cross").path_len is None


@pytest.mark.parametrize(("kw", "error"), [
    ({"kind": "leaf"}, "kind"), ({"path_len": 9}, "path_len"), ({"path_len": True}, "integer"),
    ({"ekus": ["anyExtendedKeyUsage"]}, "ekus"), ({"permitted_ip": ["10.0.0.0/33"]}, "CIDR"),
    ({"policies": ["x.y"]}, "not an OID"), ({"policies": []}, "at least one policy"),
    ({"rsa_pss": True}, "name the hash"), ({"aia_url": "http://x/{ca}.crt"}, "placeholder"),
    ({"kind": "root", "permitted_dns": ["example.org"]}, "no name constraints"),
    ({"permitted_dirnames": ["O=X,C=AU"]}, "technically constrained"),
    ({"ekus": ["serverAuth", "serverAuth"]}, "twice"),
])
def test_profile_errors_name_the_key(kw: dict, error: str) -> None:
    with pytest.raises(ConfigError, match=error) as e:
        _profile(**kw)
    assert str(e.value).startswith("ca_profiles.p")


@pytest.mark.parametrize(("key", "hash_", "pss", "ok"), [
    ("rsa", "sha512", False, True), ("rsa", "sha256", True, True),
    ("p256", "sha256", False, True), ("p256", "sha384", False, False),
    ("p384", "sha384", False, True), ("p384", "sha512", False, False),
    ("p384", "sha384", True, False),
])
def test_hash_rules_per_key(key: str, hash_: str, pss: bool, ok: bool) -> None:
    public = (rsa.generate_private_key(65537, 2048) if key == "rsa" else
              ec.generate_private_key(ec.SECP256R1() if key == "p256" else ec.SECP384R1())
              ).public_key()
    assert (hash_problem(_profile(hash=hash_, rsa_pss=pss), public) is None) is ok


def test_the_default_configuration_spells_the_profiles_out() -> None:
    cfg = parse_config(default_toml(name="x", module="m", token_label="t", rehearsal=True,
                                    quorum=None))
    assert set(cfg.ca_profiles) == {"root", "subca", "cross"}
    assert cfg.profiles["subca"].ca_profile == "subca" and cfg.profiles["ocsp"].kind == "ocsp"
    text = default_toml(name="x", module="m", token_label="t", rehearsal=True, quorum=None)
    with pytest.raises(ConfigError, match="profiles.ocsp.max_days"):
        parse_config(text.replace("max_days = 30 ", "max_days = 365 "))
    with pytest.raises(ConfigError, match="profiles.server.ca_profile"):
        parse_config(text.replace('kind = "server"', 'kind = "server"\nca_profile = "subca"'))


def test_stored_decisions_keep_their_bytes_without_the_new_keys() -> None:
    """A decision with no notice and no name parts is stored exactly as before issue 14, so
    the digests logged by earlier versions still match; with them, the keys round-trip."""
    base = dict(request_id="r1", accepted=False, ca="class1", profile="server",
                subscriber="m", reasons=(), public_key_der=None, spki_sha256=None,
                key_type=None, common_name=None, dns_names=(), emails=(), personal_name=None,
                days=0, needs_approval=False)
    plain = StoredDecision(**base)
    assert "notices" not in plain.to_json() and "given_name" not in plain.to_json()
    assert StoredDecision.from_json(plain.to_json()) == plain
    from signer.core.decision import StoredReason
    rich = StoredDecision(**base, notices=(StoredReason("notice.name_omitted", "left out"),),
                          given_name="Zoë", surname="Ñúñez")
    assert StoredDecision.from_json(rich.to_json()) == rich


def test_request_bundles_carry_name_parts_only_when_verified() -> None:
    facts = tb.VerifiedFacts(("a.example",), (), "Zoë Ñúñez", 60, "Zoë", "Ñúñez")
    assert facts.given_name == "Zoë"
    with pytest.raises(BundleError, match="given_name"):
        tb.VerifiedFacts((), (), "X Y", 60, "X", None)
    assert tb.VerifiedFacts((), (), "ناصر\u200cالدين", 0).name  # ZWNJ is part of names
    with pytest.raises(BundleError, match="non-printable"):
        tb.VerifiedFacts((), (), "Alice\u0007", 0)
