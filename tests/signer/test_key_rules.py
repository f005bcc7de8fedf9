"""Key types per profile kind, and sub-CA requests (DESIGN §4 Keys; I6; BR §7.1.2.10).

The rule table in `signer.core.policy.key_rules` must say what pkilint says: for every (key type x profile
kind) a real certificate is built with `signer.core.profiles` and linted with `signer.core.lint`, exactly
as issuance does, and the table's verdict is compared with the linter's. A leaf row must agree
both ways (refusing what the linter accepts would refuse good requests; accepting what it
refuses would stop `batch sign` halfway). The sub-CA row may only be stricter: DESIGN §4 wants
CA keys of 3072 bits or more and no Ed25519, which RFC 5280 alone does not forbid.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID

from signer.core import lint, policy, profiles, sigalg
from signer.core.policy.key_rules import key_allowed
from signer.core.policy.keys import key_type
from tests.signer.policy_fixtures import (
    codes,
    context,
    ec_key,
    ed25519_key,
    make_csr,
    request,
    rsa_key,
)

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
KEY_TYPES = ("rsa-2048", "rsa-3072", "rsa-4096", "ec-p256", "ec-p384", "ed25519")
KINDS = ("server", "client", "email", "subca", "ocsp")


@functools.cache
def subject_key(ktype: str) -> CertificatePublicKeyTypes:
    if ktype.startswith("rsa-"):
        return rsa_key(int(ktype[4:])).public_key()
    if ktype == "ed25519":
        return ed25519_key().public_key()
    return ec_key(ktype[3:]).public_key()


@functools.cache
def issuer() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec_key("p384", "issuer")
    root = profiles.build_root(profiles.parse_dn("CN=Rule Test Root,O=Example,C=NL"),
                               key.public_key(), 1 << 80, NOW, 3650)
    return key, root.sign(key, sigalg.signature_hash(key.public_key()))


def lint_verdict(kind: str, ktype: str) -> bool:
    """True if pkilint accepts the certificate issuance would build (issuance.py's path)."""
    key, root = issuer()
    public = subject_key(ktype)
    urls = ("http://crl.example.org/", "http://ca.example.org/")
    if kind == "subca":
        builder = profiles.build_sub(profiles.parse_dn("CN=Rule Test Sub"), public, 1 << 70, NOW,
                                     365, root, "root", *urls, ("2.5.29.32.0",))
        linter = "pkix"
    else:
        builder = profiles.build_leaf(
            kind=kind, public=public, serial=1 << 70, now=NOW, days=90, issuer_cert=root,
            issuer_name="root", crl_base=urls[0], aia_base=urls[1],
            policies=("2.23.140.1.5.1.3",) if kind == "email" else ("2.23.140.1.2.1",),
            common_name="Rule Test OCSP" if kind == "ocsp" else None, personal_name=None,
            dns_names=("www.example.org",) if kind != "email" else (),
            emails=("alice@example.org",) if kind != "server" else ())
        linter = profiles.lint_kind(kind, None)
    cert = builder.sign(key, sigalg.signature_hash(key.public_key()))
    findings = lint.lint_der(cert.public_bytes(serialization.Encoding.DER), linter)
    return not [f for f in findings if f.severity in ("ERROR", "FATAL")]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("ktype", KEY_TYPES)
def test_the_rule_table_agrees_with_pkilint(kind: str, ktype: str) -> None:
    assert key_type(subject_key(ktype)) == ktype
    rule, linted = key_allowed(kind, ktype), lint_verdict(kind, ktype)
    if kind == "subca":
        assert linted or not rule, "the sub-CA rule accepts a key the linter refuses"
    else:
        assert rule == linted, f"{kind}/{ktype}: rule {rule}, pkilint {linted}"


def test_the_table_covers_the_known_disagreements() -> None:
    """The cases that make the table necessary, spelled out."""
    assert not lint_verdict("server", "ed25519") and not key_allowed("server", "ed25519")
    assert lint_verdict("email", "ed25519") and key_allowed("email", "ed25519")
    assert lint_verdict("subca", "rsa-2048") and not key_allowed("subca", "rsa-2048")
    assert lint_verdict("subca", "ed25519") and not key_allowed("subca", "ed25519")


# --- sub-CA requests: keys and requested extensions


def _ku(**on: bool) -> x509.KeyUsage:
    flags = dict(digital_signature=False, content_commitment=False, key_encipherment=False,
                 data_encipherment=False, key_agreement=False, key_cert_sign=False,
                 crl_sign=False, encipher_only=False, decipher_only=False)
    return x509.KeyUsage(**(flags | on))


def subca(key: object = None, *extensions: x509.ExtensionType) -> policy.Request:
    csr = make_csr(key if key is not None else ec_key("p384"), cn="Example Sub CA",
                   extensions=extensions)
    return request(csr, profile="subca", ca="root", name="Example Sub CA", points=0)


CA_BITS = _ku(key_cert_sign=True, crl_sign=True)
SubCase = tuple[str, Callable[[], policy.Request], str | None]

SUBCA_CASES: list[SubCase] = [
    ("p384", lambda: subca(), None),
    ("p256", lambda: subca(ec_key("p256")), None),
    ("rsa-3072", lambda: subca(rsa_key(3072)), None),
    ("rsa-2048", lambda: subca(rsa_key(2048)), "key.subca"),
    ("ed25519", lambda: subca(ed25519_key()), "key.subca"),
    ("ca-true-no-pathlen", lambda: subca(None, x509.BasicConstraints(ca=True, path_length=None),
                                         CA_BITS), None),
    ("pathlen-0", lambda: subca(None, x509.BasicConstraints(ca=True, path_length=0)), None),
    ("pathlen-1", lambda: subca(None, x509.BasicConstraints(ca=True, path_length=1)), "ext.ca"),
    ("ku-ca-bits-and-digital-signature", lambda: subca(
        None, _ku(key_cert_sign=True, crl_sign=True, digital_signature=True)), None),
    ("ku-key-encipherment", lambda: subca(None, _ku(key_cert_sign=True, key_encipherment=True)),
     "ext.usage"),
    ("ku-key-agreement-encipher-only", lambda: subca(
        None, _ku(key_cert_sign=True, key_agreement=True, encipher_only=True)), "ext.usage"),
    ("eku-server-auth", lambda: subca(None, x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.SERVER_AUTH])), None),
    ("eku-code-signing", lambda: subca(None, x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.CODE_SIGNING])), "ext.usage"),
    ("eku-any", lambda: subca(None, x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE])), "ext.usage"),
    ("eku-ocsp-signing", lambda: subca(None, x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.OCSP_SIGNING])), "ext.usage"),
    ("eku-time-stamping", lambda: subca(None, x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.TIME_STAMPING])), "ext.usage"),
]


@pytest.mark.parametrize(("build", "expected"),
                         [pytest.param(b, e, id=i) for i, b, e in SUBCA_CASES])
def test_subca_requests(build: Callable[[], policy.Request], expected: str | None) -> None:
    d = policy.evaluate(build(), context())
    if expected is None:
        assert d.accepted and d.needs_approval, d.reasons
    else:
        assert not d.accepted and codes(d) == {expected}, d.reasons


def test_server_ed25519_is_refused_with_its_own_code() -> None:
    d = policy.evaluate(request(make_csr(ed25519_key(), dns=("www.example.org",))), context())
    assert codes(d) == {"key.profile"} and "TLS BR" in d.reasons[0].message
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    assert not key_allowed("server", key_type(public))
    assert key_allowed("server", key_type(rsa.generate_private_key(65537, 2048).public_key()))
