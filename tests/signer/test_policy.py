"""The policy engine (DESIGN §4, I8): one passing and at least one failing case per check.

Each row builds a request (CSRs crafted with `cryptography`, hostile ones by DER editing, see
policy_fixtures) and names the one check it must trip, or None if it must be accepted.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signer.core import policy
from signer.core.policy import Check
from signer.core.policy import keys as keycheck
from signer.core.policy import keys_rsa as keycheck_rsa
from signer.core.policy import syntax as names
from signer.errors import PolicyError
from tests.signer.policy_fixtures import (
    CA_KEY,
    MD5_RSA,
    ROCA_M,
    SHA1_RSA,
    codes,
    context,
    dsa_key,
    ec_key,
    ed448_key,
    ed25519_key,
    flip_signature,
    make_csr,
    prime_of_bits,
    request,
    resign,
    roca_key,
    rsa_key,
    small_factor_key,
    spki_sha256,
    split_csr,
)

ROOT = Path(__file__).resolve().parents[2]
WWW = ("www.example.org", "example.org")
SERVER_OK = dict(cn="www.example.org", dns=WWW)


def _ku(**on: bool) -> x509.KeyUsage:
    flags = dict(digital_signature=False, content_commitment=False, key_encipherment=False,
                 data_encipherment=False, key_agreement=False, key_cert_sign=False,
                 crl_sign=False, encipher_only=False, decipher_only=False)
    return x509.KeyUsage(**(flags | on))


def _ulabel_csr() -> bytes:
    # cryptography refuses U-labels in DNSName; put UTF-8 bytes into the DER and re-sign.
    der = make_csr(dns=["bxch.example.org"])
    return resign(der, rsa_key(), replace={b"bxch": "büch".encode()[:4]})


def _long_cn_csr(cn: str) -> bytes:
    # cryptography's builder refuses a CN over 64 characters, other tools do not.
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, cn, _validate=False)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).add_extension(
        x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False).sign(
        rsa_key(), hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.DER)


LONG_DNS = "w" * 61 + ".example.org"  # 73 characters: a fine DNS name, too long for a CN

Case = tuple[str, Callable[[], policy.Request], dict[str, object], str | None]

CASES: list[Case] = [
    # --- accepted
    ("server-ok", lambda: request(make_csr(**SERVER_OK)), {}, None),
    ("server-pem", lambda: request(make_csr(**SERVER_OK, pem=True)), {}, None),
    ("server-no-cn", lambda: request(make_csr(dns=WWW)), {}, None),
    ("server-no-san-uses-facts", lambda: request(make_csr(cn="example.org")), {}, None),
    ("server-ec-p256", lambda: request(make_csr(ec_key("p256"), dns=WWW)), {}, None),
    ("server-ec-p384", lambda: request(make_csr(ec_key("p384"), dns=WWW)), {}, None),
    ("client-ed25519", lambda: request(make_csr(ed25519_key(), emails=["alice@example.org"]),
                                       profile="client"), {}, None),
    ("email-ed25519", lambda: request(make_csr(ed25519_key(), emails=["alice@example.org"]),
                                      profile="email"), {}, None),
    ("client-ok", lambda: request(make_csr(cn="Alice Liddell", emails=["alice@example.org"]),
                                  profile="client"), {}, None),
    ("email-ok", lambda: request(make_csr(emails=["alice@example.org"]), profile="email"),
     {}, None),
    ("email-no-san-uses-facts", lambda: request(make_csr(), profile="email"), {}, None),
    ("wildcard-allowed", lambda: request(make_csr(dns=["*.example.org"]), profile="server-wild",
                                         dns=["*.example.org"]), {}, None),
    ("internal-allowed", lambda: request(make_csr(dns=["intranet.lan"]), profile="server-lan",
                                         dns=["intranet.lan"]), {}, None),
    ("class3-at-50", lambda: request(make_csr(dns=WWW), ca="class3", points=50), {}, None),
    ("root-leaf-allowed", lambda: request(make_csr(dns=WWW), ca="root"),
     {"root_leaves": True}, None),
    ("renewal-same-subscriber", lambda: request(make_csr(dns=WWW)),
     {"owners": {spki_sha256(rsa_key()): "member-1"}}, None),
    ("subca-from-root", lambda: request(
        make_csr(ec_key("p256"), cn="Example Sub CA", extensions=[x509.BasicConstraints(ca=True, path_length=0),
                                                  _ku(key_cert_sign=True, crl_sign=True)]),
        profile="subca", ca="root", name="Example Sub CA", points=0), {}, None),
    # --- csr.*
    ("garbage", lambda: request(b"\x30\x82garbage"), {}, "csr.parse"),
    ("empty", lambda: request(b""), {}, "csr.parse"),
    ("truncated-der", lambda: request(make_csr(dns=WWW)[:-20]), {}, "csr.parse"),
    ("truncated-pem", lambda: request(make_csr(dns=WWW, pem=True)[:200]), {}, "csr.parse"),
    ("trailing-bytes", lambda: request(make_csr(dns=WWW) + b"\x00"), {}, "csr.parse"),
    ("two-pems", lambda: request(make_csr(dns=WWW, pem=True) * 2), {}, "csr.parse"),
    ("oversize", lambda: request(b"\x30" * 16385), {}, "csr.size"),
    ("bad-signature", lambda: request(flip_signature(make_csr(dns=WWW))), {}, "csr.signature"),
    ("sha1", lambda: request(resign(make_csr(dns=WWW), rsa_key(), alg=SHA1_RSA,
                                    hash_alg=hashes.SHA1())), {}, "csr.sigalg"),
    ("md5", lambda: request(resign(make_csr(dns=WWW), rsa_key(), alg=MD5_RSA,
                                   hash_alg=hashes.MD5())), {}, "csr.sigalg"),
    # --- key.*
    ("dsa", lambda: request(make_csr(dsa_key(), dns=WWW)), {}, "key.type"),
    ("ed448", lambda: request(make_csr(ed448_key(), dns=WWW)), {}, "key.type"),
    ("rsa-1024", lambda: request(make_csr(rsa_key(1024), dns=WWW)), {}, "key.weak"),
    ("rsa-2052", lambda: request(make_csr(rsa_key(2052), dns=WWW)), {}, "key.size"),
    ("rsa-e3", lambda: request(make_csr(rsa_key(2048, 3), dns=WWW)), {}, "key.exponent"),
    ("roca", lambda: request(make_csr(roca_key(), dns=WWW)), {}, "key.roca"),
    ("small-factor", lambda: request(make_csr(small_factor_key(), dns=WWW)), {},
     "key.small_factor"),
    ("server-ed25519", lambda: request(make_csr(ed25519_key(), dns=WWW)), {}, "key.profile"),
    ("subca-rsa-2048", lambda: request(make_csr(cn="Example Sub CA"), profile="subca", ca="root",
                                       name="Example Sub CA"), {}, "key.subca"),
    ("p521", lambda: request(make_csr(ec_key("p521"), dns=WWW)), {}, "key.curve"),
    ("secp256k1", lambda: request(make_csr(ec_key("k256"), dns=WWW)), {}, "key.curve"),
    ("ca-key", lambda: request(make_csr(CA_KEY(), dns=WWW)), {}, "key.ca"),
    ("key-of-other-subscriber", lambda: request(make_csr(dns=WWW)),
     {"owners": {spki_sha256(rsa_key()): "member-2"}}, "key.duplicate"),
    # --- name.*
    ("san-unverified", lambda: request(make_csr(dns=["www.example.org", "evil.example.net"])),
     {}, "name.unverified"),
    ("cn-unverified", lambda: request(make_csr(cn="evil.example.net")), {}, "name.unverified"),
    ("email-unverified", lambda: request(make_csr(emails=["mallory@example.org"]),
                                         profile="email"), {}, "name.unverified"),
    ("subject-email-unverified", lambda: request(
        make_csr(subject_email="mallory@example.org"), profile="email"), {}, "name.unverified"),
    ("client-cn-not-verified-name", lambda: request(make_csr(cn="Bob", emails=[
        "alice@example.org"]), profile="client"), {}, "name.unverified"),
    # A CN holding the verified address (what mail clients' CSR tools write) is left out
    # with a notice, not refused (issue 14; test_names_proposed_in_the_csr).
    ("client-cn-email-address", lambda: request(make_csr(cn="alice@example.org", emails=[
        "alice@example.org"]), profile="email"), {}, None),
    ("upper-case", lambda: request(make_csr(dns=["WWW.example.org"]), dns=["WWW.example.org"]),
     {}, "name.syntax"),
    ("u-label", lambda: request(_ulabel_csr(), dns=["büch.example.org"]), {}, "name.syntax"),
    ("trailing-dot", lambda: request(make_csr(dns=["example.org."]), dns=["example.org."]),
     {}, "name.syntax"),
    ("underscore", lambda: request(make_csr(dns=["_dmarc.example.org"])), {}, "name.syntax"),
    ("label-64", lambda: request(make_csr(dns=["a" * 64 + ".example.org"])), {}, "name.syntax"),
    ("name-254", lambda: request(make_csr(dns=[("a" * 62 + ".") * 4 + "org"])), {},
     "name.syntax"),
    ("server-cn-over-64", lambda: request(_long_cn_csr(LONG_DNS), dns=[LONG_DNS]), {},
     "name.syntax"),
    ("server-long-dns-without-cn", lambda: request(make_csr(dns=[LONG_DNS]), dns=[LONG_DNS]),
     {}, None),
    ("empty-label", lambda: request(make_csr(dns=["a..example.org"])), {}, "name.syntax"),
    ("nul-byte", lambda: request(make_csr(dns=["a\x00.example.org"]),
                                 dns=["a\x00.example.org"]), {}, "name.syntax"),
    ("bad-punycode", lambda: request(make_csr(dns=["xn--a.example.org"])), {}, "name.syntax"),
    ("email-syntax", lambda: request(make_csr(emails=["alice@ex_ample.org"]), profile="email"),
     {}, "name.syntax"),
    ("wildcard", lambda: request(make_csr(dns=["*.example.org"]), dns=["*.example.org"]),
     {}, "name.wildcard"),
    ("wildcard-tld", lambda: request(make_csr(dns=["*.org"]), profile="server-wild",
                                     dns=["*.org"]), {}, "name.wildcard"),
    ("ip-san", lambda: request(make_csr(ips=["192.0.2.1"])), {}, "name.ip"),
    ("ip-as-dns", lambda: request(make_csr(dns=["192.0.2.1"])), {}, "name.ip"),
    ("ip-allowed-unverifiable", lambda: request(make_csr(ips=["192.0.2.1"]),
                                                profile="server-lan"), {}, "name.unverified"),
    ("internal-lan", lambda: request(make_csr(dns=["intranet.lan"]), dns=["intranet.lan"]),
     {}, "name.internal"),
    ("internal-single-label", lambda: request(make_csr(dns=["intranet"]), dns=["intranet"]),
     {}, "name.internal"),
    ("internal-home-arpa", lambda: request(make_csr(dns=["nas.home.arpa"]),
                                           dns=["nas.home.arpa"]), {}, "name.internal"),
    ("internal-local", lambda: request(make_csr(dns=["printer.local"]), dns=["printer.local"]),
     {}, "name.internal"),
    ("101-names", lambda: request(make_csr(dns=[f"h{i}.example.org" for i in range(101)]),
                                  dns=[f"h{i}.example.org" for i in range(101)]),
     {}, "name.count"),
    ("cn-not-san", lambda: request(make_csr(cn="example.org", dns=["www.example.org"])), {},
     "name.cn_not_san"),
    ("server-without-dns", lambda: request(make_csr(emails=["alice@example.org"])), {},
     "name.missing"),
    ("email-without-email", lambda: request(make_csr(dns=WWW), profile="email"), {},
     "name.missing"),
    ("subca-without-name", lambda: request(make_csr(), profile="subca", ca="root", name=None),
     {}, "name.missing"),
    ("uri-san", lambda: request(make_csr(dns=WWW, other_sans=[
        x509.UniformResourceIdentifier("https://example.org/")])), {}, "name.type"),
    ("personal-name-at-49", lambda: request(make_csr(cn="Alice Liddell"), profile="client",
                                            points=49), {}, None),  # issued without it
    # --- the issuer's certificate: name constraints and usages (issue 14)
    ("inside-constraints", lambda: request(make_csr(dns=["www.example.org"]), ca="tls",
                                           dns=["www.example.org"]), {}, None),
    ("outside-permitted", lambda: request(make_csr(dns=["www.example.net"]), ca="tls",
                                          dns=["www.example.net"]), {}, "name.constraints"),
    ("in-excluded", lambda: request(make_csr(dns=["x.bad.example.org"]), ca="tls",
                                    dns=["x.bad.example.org"]), {}, "name.constraints"),
    ("wildcard-over-excluded", lambda: request(make_csr(dns=["*.example.org"]),
                                               profile="server-wild", ca="tls",
                                               dns=["*.example.org"]), {}, "name.constraints"),
    ("email-outside-constraints", lambda: request(make_csr(emails=["a@example.net"]),
                                                  profile="client", ca="tls",
                                                  email=["a@example.net"]), {},
     "name.constraints"),
    ("tls-ca-issues-no-email", lambda: request(make_csr(emails=["alice@example.org"]),
                                               profile="email", ca="tls"), {}, "ca.eku"),
    ("cn-under-dirname-constraints", lambda: request(make_csr(cn="www.example.org",
                                                              dns=["www.example.org"]),
                                                     ca="tls-dn", dns=["www.example.org"]),
     {}, None),  # issued with an empty subject and a notice
    # --- a delegated OCSP responder (issue 14)
    ("ocsp-responder", lambda: request(make_csr(ec_key("p256"), cn="Class 1 OCSP", extensions=[
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING])]), profile="ocsp",
        dns=(), email=(), name="Class 1 OCSP"), {}, None),
    ("ocsp-with-san", lambda: request(make_csr(ec_key("p256"), cn="Class 1 OCSP",
                                               dns=["ocsp.example.org"]), profile="ocsp",
                                      dns=["ocsp.example.org"], email=(), name="Class 1 OCSP"),
     {}, "name.type"),
    ("ocsp-eku-elsewhere", lambda: request(make_csr(dns=WWW, extensions=[
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING])])), {}, "ext.usage"),
    # --- ext.*
    ("ca-true", lambda: request(make_csr(dns=WWW, extensions=[
        x509.BasicConstraints(ca=True, path_length=None)])), {}, "ext.ca"),
    ("key-cert-sign", lambda: request(make_csr(dns=WWW, extensions=[_ku(key_cert_sign=True)])),
     {}, "ext.usage"),
    ("crl-sign", lambda: request(make_csr(dns=WWW, extensions=[_ku(crl_sign=True)])),
     {}, "ext.usage"),
    ("code-signing", lambda: request(make_csr(dns=WWW, extensions=[
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING])])), {}, "ext.usage"),
    ("any-eku", lambda: request(make_csr(dns=WWW, extensions=[
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE])])), {}, "ext.usage"),
    # --- profile / CA / assurance
    ("unknown-profile", lambda: request(make_csr(dns=WWW), profile="codesign"), {},
     "profile.unknown"),
    ("unknown-ca", lambda: request(make_csr(dns=WWW), ca="class2"), {}, "ca.unknown"),
    ("root-issues-leaf", lambda: request(make_csr(dns=WWW), ca="root"), {}, "ca.root_leaf"),
    ("subca-from-class1", lambda: request(make_csr(cn="Example Sub CA"), profile="subca",
                                          name="Example Sub CA"), {}, "ca.profile"),
    ("class3-at-49", lambda: request(make_csr(dns=WWW), ca="class3", points=49), {},
     "assurance.points"),
]


@pytest.mark.parametrize(("build", "ctx_kwargs", "expected"),
                         [pytest.param(b, k, e, id=i) for i, b, k, e in CASES])
def test_check_table(build: Callable[[], policy.Request], ctx_kwargs: dict[str, object],
                     expected: str | None) -> None:
    decision = policy.evaluate(build(), context(**ctx_kwargs))  # type: ignore[arg-type]
    if expected is None:
        assert decision.accepted, decision.reasons
        assert decision.reasons == () and decision.days > 0
    else:
        assert not decision.accepted and decision.days == 0
        assert expected in codes(decision), decision.reasons


# Codes whose failing case needs a batch, a blocklist or special limits: the test that has it.
ELSEWHERE = {
    "key.duplicate": "test_policy.py::test_batch_rejects_a_key_used_twice",
    "key.blocklist": "test_blocklist.py::test_the_policy_refuses_a_listed_key",
    "result.reasons": "test_policy_limits.py::test_300_unverified_names_give_100_reasons_and_a_count",
    "result.cert_size": "test_policy_limits.py::test_a_certificate_too_big_for_a_result_is_refused",
    "result.batch_size": "test_policy_limits.py::"
                         "test_a_batch_too_big_for_one_result_refuses_its_largest_outcomes",
}


# Codes no longer raised, kept so that they are never reused for another meaning.
RETIRED = {"name.personal"}  # issue 14: a name proposed below the points is left out instead


def test_every_check_has_a_failing_case_and_a_sentence() -> None:
    from tests.signer import test_blocklist, test_key_rules, test_keys, test_policy_limits
    failing = {e for _, _, _, e in CASES if e is not None}
    failing |= {e for _, _, e, _ in test_keys.KEY_CASES if e is not None}
    failing |= {e for _, _, e in test_key_rules.SUBCA_CASES if e is not None}
    assert failing | set(ELSEWHERE) | RETIRED == {c.value for c in Check}
    assert not failing & RETIRED
    modules = {"test_policy.py": sys.modules[__name__], "test_blocklist.py": test_blocklist,
               "test_policy_limits.py": test_policy_limits}
    for where in ELSEWHERE.values():
        module, test = where.split("::")
        assert callable(getattr(modules[module], test)), where
    assert set(policy.CHECK_DOCS) == set(Check)
    assert all(s.endswith(".") for s in policy.CHECK_DOCS.values())


def test_hostile_cases_trip_only_their_own_check() -> None:
    """Crafted CSRs are re-signed, so they fail one check and never also csr.signature."""
    for case_id in ("sha1", "u-label", "roca", "small-factor", "rsa-e3", "ca-true", "md5"):
        build, kwargs, expected = next((b, k, e) for i, b, k, e in CASES if i == case_id)
        got = codes(policy.evaluate(build(), context(**kwargs)))  # type: ignore[arg-type]
        assert got == {expected}, (case_id, got)


def test_crafted_sha1_csr_is_really_signed() -> None:
    """The SHA-1 case fails on its algorithm, not on a broken signature (cryptography will not
    verify SHA-1 CSRs, so check the PKCS#1 v1.5 signature by hand)."""
    der = resign(make_csr(dns=WWW), rsa_key(), alg=SHA1_RSA, hash_alg=hashes.SHA1())
    csr = x509.load_der_x509_csr(der)
    rsa_key().public_key().verify(csr.signature, split_csr(der)[0], padding.PKCS1v15(),
                                  hashes.SHA1())
    assert csr.signature_algorithm_oid.dotted_string == "1.2.840.113549.1.1.5"


def test_decision_carries_only_key_and_verified_names() -> None:
    csr = make_csr(cn="www.example.org", dns=WWW, extensions=[
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])])
    d = policy.evaluate(request(csr), context())
    assert d.accepted and d.dns_names == WWW and d.common_name == "www.example.org"
    assert d.emails == () and d.personal_name is None and not d.needs_approval
    der = rsa_key().public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
    assert d.public_key_der == der and d.spki_sha256 == spki_sha256(rsa_key())
    assert d.key_type == "rsa-2048" and d.days == 398


def test_no_san_takes_verified_facts() -> None:
    d = policy.evaluate(request(make_csr(cn="example.org")), context())
    assert d.dns_names == WWW and d.common_name == "example.org"
    d = policy.evaluate(request(make_csr(), profile="email"), context())
    assert d.emails == ("alice@example.org",)


def test_pem_and_der_give_the_same_decision() -> None:
    der = policy.evaluate(request(make_csr(**SERVER_OK)), context())
    pem = policy.evaluate(request(make_csr(**SERVER_OK, pem=True)), context())
    assert der == pem and der.accepted


@pytest.mark.parametrize(("points", "personal", "days"), [(100, "Alice Liddell", 730),
                                                          (50, "Alice Liddell", 730),
                                                          (49, None, 180), (0, None, 180)])
def test_personal_name_and_validity_follow_points(points: int, personal: str | None,
                                                  days: int) -> None:
    """The CSR asks for the name in every case; it is granted at 50 points (individual-
    validated, with the given name and surname the RA verified), left out below."""
    csr = make_csr(cn="Alice Liddell", emails=["alice@example.org"])
    d = policy.evaluate(request(csr, profile="email", points=points, given_name="Alice",
                                surname="Liddell"), context())
    assert d.accepted, d.reasons
    assert d.personal_name == personal and d.common_name == personal and d.days == days
    assert (d.given_name, d.surname) == (("Alice", "Liddell") if personal else (None, None))
    assert [str(n.code) for n in d.notices] == ([] if personal else ["notice.name_omitted"])


@pytest.mark.parametrize(("profile", "cn", "points", "given", "expect", "notice"), [
    # Below the threshold the name in the CN is left out, not refused.
    ("client", "Alice Liddell", 10, None, None, "notice.name_omitted"),
    ("client", "Alice Liddell", 50, None, "Alice Liddell", None),
    # A CN holding the verified address: left out, the address stays in the SAN.
    ("email", "alice@example.org", 100, ("Alice", "Liddell"), None, "notice.name_omitted"),
    # An assured member without verified name parts: mailbox-validated, with a notice.
    ("email", "Alice Liddell", 100, None, None, "notice.mailbox_validated"),
    ("email", "Alice Liddell", 100, ("Alice", "Liddell"), "Alice Liddell", None),
    # No name asked: none given, nothing to say.
    ("email", None, 100, ("Alice", "Liddell"), None, None),
])
def test_names_proposed_in_the_csr(profile: str, cn: str | None, points: int,
                                   given: tuple[str, str] | None, expect: str | None,
                                   notice: str | None) -> None:
    """Issue 14 item 8: a CSR's subject is only a proposal (I8)."""
    csr = make_csr(cn=cn, emails=["alice@example.org"])
    g, sn = given or (None, None)
    d = policy.evaluate(request(csr, profile=profile, points=points, given_name=g, surname=sn),
                        context())
    assert d.accepted, d.reasons
    assert d.personal_name == expect
    assert [str(n.code) for n in d.notices] == ([notice] if notice else [])


@pytest.mark.parametrize(("name", "given", "surname"), [
    ("Zoë Ñúñez", "Zoë", "Ñúñez"), ("李小龙", "小龙", "李"), ("Владимир Иванов", "Владимир", "Иванов"),
    ("محمد رضا", "محمد", "رضا"), ("नरेन्‍द्र मोदी", "नरेन्‍द्र", "मोदी"),  # the last with a ZWJ
])
def test_names_in_any_script_survive_intact(name: str, given: str, surname: str) -> None:
    """The verified text goes into the decision as it is, and a CSR that wrote it in another
    Unicode normalisation form (NFD, as some tools do) still matches."""
    import unicodedata
    csr = make_csr(cn=unicodedata.normalize("NFD", name), emails=["alice@example.org"])
    d = policy.evaluate(request(csr, profile="email", name=name, given_name=given,
                                surname=surname), context())
    assert d.accepted, d.reasons
    assert (d.personal_name, d.given_name, d.surname) == (name, given, surname)


@pytest.mark.parametrize("bad", ["Alice\u202eLiddell", "Alice\x00", "Ali\ue000ce", " Alice"])
def test_personal_names_that_hide_or_are_not_text_are_refused(bad: str) -> None:
    assert names.check_personal_name(bad)


def test_dirname_constraints_empty_the_subject_with_a_notice() -> None:
    d = policy.evaluate(request(make_csr(cn="www.example.org", dns=["www.example.org"]),
                                ca="tls-dn", dns=["www.example.org"]), context())
    assert d.accepted and d.common_name is None and d.dns_names == ("www.example.org",)
    assert [str(n.code) for n in d.notices] == ["notice.subject_omitted"]


def test_ocsp_responder_needs_approval_and_gets_its_cn() -> None:
    csr = make_csr(ec_key("p256"), cn="Class 1 OCSP")
    d = policy.evaluate(request(csr, profile="ocsp", dns=(), email=(), name="Class 1 OCSP"),
                        context())
    assert d.accepted and d.needs_approval and d.common_name == "Class 1 OCSP" and d.days == 30


def test_no_personal_name_unless_asked() -> None:
    d = policy.evaluate(request(make_csr(emails=["alice@example.org"]), profile="client"),
                        context())
    assert d.accepted and d.personal_name is None


@pytest.mark.parametrize(("profile", "points", "days"), [
    ("server", 100, 398), ("server", 10, 180), ("client", 50, 730), ("client", 49, 180)])
def test_validity_caps(profile: str, points: int, days: int) -> None:
    csr = make_csr(dns=WWW) if profile == "server" else make_csr(emails=["alice@example.org"])
    d = policy.evaluate(request(csr, profile=profile, points=points), context())
    assert d.accepted and d.days == days


def test_subca_needs_approval_and_gets_its_cn() -> None:
    d = policy.evaluate(request(make_csr(ec_key("p384"), cn="Example Sub CA"), profile="subca",
                                ca="root",
                                name="Example Sub CA", points=0), context())
    assert d.accepted and d.needs_approval and d.common_name == "Example Sub CA"
    assert d.days == 3650 and d.dns_names == () and d.personal_name is None


def test_batch_rejects_a_key_used_twice() -> None:
    csr = make_csr(dns=WWW)
    other = make_csr(ec_key("p256"), dns=WWW)
    ds = policy.evaluate_batch([request(csr, id="a"), request(other, id="b"),
                                request(csr, id="c", subscriber="member-2")], context())
    assert [d.accepted for d in ds] == [False, True, False]
    assert all("key.duplicate" in codes(ds[i]) for i in (0, 2))
    assert ds[0].days == 0


def test_batch_same_subscriber_one_key() -> None:
    csr = make_csr(dns=WWW)
    # Twice acceptable for one subscriber: both refused (once per batch).
    ds = policy.evaluate_batch([request(csr, id="a"), request(csr, id="b")], context())
    assert [codes(d) for d in ds] == [{"key.duplicate"}, {"key.duplicate"}]
    # A repeat that is refused anyway does not spoil the good request.
    ds = policy.evaluate_batch([request(csr, id="a"), request(csr, id="b", ca="root")],
                               context())
    assert ds[0].accepted and codes(ds[1]) == {"ca.root_leaf"}


def test_batch_flags_ca_key() -> None:
    ds = policy.evaluate_batch([request(make_csr(CA_KEY(), dns=WWW))], context())
    assert codes(ds[0]) == {"key.ca"}


def test_every_reason_is_collected() -> None:
    csr = flip_signature(make_csr(rsa_key(1024), dns=["Evil.example.net"]))
    d = policy.evaluate(request(csr, ca="class3", points=10), context())
    assert {"csr.signature", "key.weak", "name.syntax", "assurance.points"} <= codes(d)


def test_enforce() -> None:
    policy.enforce(policy.evaluate(request(make_csr(dns=WWW)), context()))
    d = policy.evaluate(request(b""), context())
    with pytest.raises(PolicyError) as err:
        policy.enforce(d)
    assert err.value.code == "csr.parse"


# --- keys and names below the engine


def test_roca_fingerprint_on_constructed_moduli() -> None:
    """badkeys' ROCA test flags a modulus in the subgroup <65537> mod the RSALib primorial (as
    the product of two RSALib primes is, Nemec et al. §2) and nothing else."""
    import random
    m = ROCA_M
    k = random.Random(2017).getrandbits(2048 - m.bit_length()) | 1 << (2047 - m.bit_length())
    n = pow(65537, 123456789, m) + k * m  # odd: m is even, the residue odd
    assert n % 2 and n.bit_length() == 2048
    assert [f.kind for f in keycheck_rsa.check_rsa(n, 65537)] == ["roca"]
    # 65537 = -1 mod 11, so its powers are 1 and 10 there: move the residue mod 11 off them.
    step = 2 * m // 11  # even, so the modulus stays odd
    off = next(n + t * step for t in range(1, 11) if (n + t * step) % 11 not in (1, 10))
    assert "roca" not in {f.kind for f in keycheck_rsa.check_rsa(off, 65537)}
    assert keycheck_rsa.check_rsa(rsa_key().public_key().public_numbers().n, 65537) == []


def test_small_factor_even_modulus_and_x25519() -> None:
    from cryptography.hazmat.primitives.asymmetric import x25519
    n = small_factor_key().public_key().public_numbers().n  # 7919 * prime
    assert [f.kind for f in keycheck_rsa.check_rsa(n, 65537)] == ["small_factor"]
    prime = prime_of_bits(2032)  # badkeys looks for factors up to 65537 inclusive
    assert (65537 * prime).bit_length() == (65539 * prime).bit_length() == 2048
    assert [f.kind for f in keycheck_rsa.check_rsa(65537 * prime, 65537)] == ["small_factor"]
    assert keycheck_rsa.check_rsa(65539 * prime, 65537) == []
    even = rsa.RSAPublicNumbers(65537, 2 * 10007 * (2**2040 + 1)).public_key()
    assert [f.kind for f in keycheck.check_public_key(even)] == ["invalid"]
    x = x25519.X25519PrivateKey.generate().public_key()
    assert [f.kind for f in keycheck.check_public_key(x)] == ["type"]


@pytest.mark.parametrize(("name", "kind"), [
    ("example.org", None), ("xn--bcher-kva.example.org", None), ("a-b.example.org", None),
    ("-a.example.org", "syntax"), ("a-.example.org", "syntax"), ("ab--c.example.org", "syntax"),
    ("a.*.example.org", "syntax"), ("*", "syntax"), ("a" * 63 + ".org", None),
    ("host.internal", "internal"), ("box.corp", "internal"), ("a.test", "internal"),
    ("a.example", "internal"), ("a.invalid", "internal"), ("a.localhost", "internal"),
    ("x.in-addr.arpa", "internal"), ("a.123", "syntax"), ("::1", "ip"), ("a\tb.org", "syntax"),
    # IDNA2008 through the idna library: Punycode that decodes is not enough.
    ("xn--zca.example.org", None),  # ß: PVALID in IDNA2008 (it was mapped away in IDNA2003)
    ("xn--n3h.example.org", "syntax"),  # a snowman: IDNA2003 allowed it, IDNA2008 disallows
    ("xn--a-wbb.example.org", "syntax"),  # a label that starts with a combining mark
    ("xn--a-0hc.example.org", "syntax"),  # Latin and Hebrew: the Bidi rule (RFC 5893)
    ("xn--ab-m1t.example.org", "syntax"),  # ZWJ outside its CONTEXTJ rule (RFC 5892 A.2)
    ("xn--im6c.example.org", "syntax"),  # a compatibility ligature (not NFKC-stable)
])
def test_dns_name_rules(name: str, kind: str | None) -> None:
    found = names.check_dns_name(name, allow_wildcard=False, allow_ip=False,
                                 allow_internal=False)
    assert [f.kind for f in found][:1] == ([kind] if kind else [])


# --- hostile bytes


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=2048),
                 st.binary(max_size=512).map(lambda b: b"\x30\x82" + b),
                 st.binary(max_size=512).map(
                     lambda b: b"-----BEGIN CERTIFICATE REQUEST-----\n" + b)))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    d = policy.evaluate(request(data), context())
    assert not d.accepted and d.reasons
    assert all(r.code.value.startswith("csr.") for r in d.reasons)


_GOOD = make_csr(**SERVER_OK)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(_GOOD) - 1), st.integers(1, 255))
def test_mutated_csr_never_raises_nor_passes(pos: int, xor: int) -> None:
    data = bytearray(_GOOD)
    data[pos] ^= xor
    d = policy.evaluate(request(bytes(data)), context())
    assert not d.accepted and d.reasons


# --- docs


def test_checks_doc_is_up_to_date() -> None:
    doc = ROOT / "docs" / "checks.md"
    assert doc.read_text() == policy.render_markdown(), \
        "run: python -m signer.core.policy --markdown > docs/checks.md"
    out = subprocess.run([sys.executable, "-m", "signer.core.policy", "--markdown"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert out == doc.read_text()


def test_regression_signature_with_unused_bits_is_refused() -> None:
    # Found by hypothesis: OpenSSL verifies a CSR whose signature BIT STRING claims unused
    # bits (the signature octets are unchanged); DER forbids it, so the parser refuses it.
    data = bytearray(_GOOD)
    pos = len(data) - 257  # the unused-bits octet before a 2048-bit RSA signature
    assert data[pos - 4:pos] == b"\x03\x82\x01\x01" and data[pos] == 0
    data[pos] = 1
    d = policy.evaluate(request(bytes(data)), context())
    assert not d.accepted and [r.code for r in d.reasons] == [policy.Check.CSR_PARSE]
