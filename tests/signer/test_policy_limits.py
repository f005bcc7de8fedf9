"""Verdicts honour every limit of the result bundle, so a judged batch can always be exported.

The result bundle (`transfer.bundle`) carries at most 100 reasons per request, messages of at
most 16 KiB, certificate PEMs of at most 64 KiB and 256 MiB in all; a hostile request must not
be able to make its own batch unexportable after it was signed (the issue's item 8). Here the
decisions of hostile batches are turned into a result body the way `signer/export.py` does it
(real certificates signed by a CA key, real tlog proofs of the largest shape), and the result
bundle's own encoder must accept it, within the limits the policy was given.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from signer.core import policy, profiles
from signer.core.checkpoint import Checkpoint, format_tlog_proof, sign_checkpoint
from signer.core.policy import Check, ResultLimits
from signer.core.policy.limits import (
    body_budget,
    certificate_der_bound,
    clean_message,
    pem_chars,
)
from tests.signer.policy_fixtures import (
    codes,
    context,
    ec_key,
    make_csr,
    request,
    resign,
    rsa_key,
)
from transfer import bundle as tb

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
APPLIANCE = ed25519.Ed25519PrivateKey.generate()
ORIGIN = "appliance." + "o" * 118  # 128 characters: the longest appliance name a result allows
CRL, AIA = "http://crl.example.org/", "http://ca.example.org/"


def test_defaults_are_the_result_bundles_limits() -> None:
    limits = ResultLimits()
    assert limits.max_reasons == tb.MAX_REASONS
    assert limits.max_message_chars == tb.MAX_MESSAGE_CHARS
    assert limits.max_cert_pem_chars == tb.MAX_TEXT
    assert limits.max_result_bytes == tb.MAX_RESULT_FILE
    assert context().max_csr_bytes == tb.MAX_CSR


def test_every_code_is_a_valid_reason_code() -> None:
    for code in Check:
        assert tb.Reason(str(code), "x").code == code.value


# --- per request


def hostile_names(n: int = 300, length: int = 40) -> list[str]:
    return [f"h{i}-" + "x" * (length - 20) + f".evil{i % 7}.example.net" for i in range(n)]


def test_300_unverified_names_give_100_reasons_and_a_count() -> None:
    d = policy.evaluate(request(make_csr(dns=hostile_names())), context())
    assert not d.accepted and len(d.reasons) == tb.MAX_REASONS
    last = d.reasons[-1]
    assert last.code == Check.RESULT_REASONS and "name.unverified x201" in last.message
    tb.Outcome("r1", "rejected", None, None,
               tuple(tb.Reason(str(r.code), r.message) for r in d.reasons))


def test_a_request_at_the_cap_is_left_alone() -> None:
    ctx = dataclasses.replace(context(), max_names=1000)
    d = policy.evaluate(request(make_csr(dns=hostile_names(100))), ctx)
    assert len(d.reasons) == 100 and Check.RESULT_REASONS not in {r.code for r in d.reasons}


def _long_utf8_name_csr() -> bytes:
    # A DNS name of 6,500 two-byte characters (cryptography will not build it: DER editing),
    # which the name check quotes with ascii(): 4 characters each, over 16 KiB of message.
    der = make_csr(dns=["a" * 13000 + ".example.org"])
    return resign(der, rsa_key(), replace={b"a" * 13000: "\u00e9".encode() * 6500})


def test_a_message_longer_than_the_bundle_allows_is_cut() -> None:
    d = policy.evaluate(request(_long_utf8_name_csr()), context())
    assert not d.accepted and "name.syntax" in codes(d)
    longest = max(len(r.message) for r in d.reasons)
    assert longest == tb.MAX_MESSAGE_CHARS
    for r in d.reasons:
        tb.Reason(str(r.code), r.message)


@pytest.mark.parametrize(("message", "expected"), [
    ("fine", "fine"),
    ("", "(no message)"),
    ("lone \ud800 surrogate", "lone \\ud800 surrogate"),
    ("§ stays", "§ stays"),
    ("x" * 20000, "x" * (16384 - 15) + "... (truncated)"),
])
def test_clean_message(message: str, expected: str) -> None:
    assert clean_message(message, ResultLimits()) == expected


@functools.cache
def ca(bits: int = 4096) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """An RSA-4096 CA (the largest CA signature) with a long subject."""
    key = rsa_key(bits)
    dn = profiles.parse_dn("CN=" + "C" * 64 + ",OU=" + "U" * 64 + ",O=" + "O" * 64 + ",C=NL")
    cert = profiles.build_root(dn, key.public_key(), profiles.new_serial(), NOW, 3650).sign(
        key, hashes.SHA256())
    return key, cert


def issue(d: policy.Decision, kind: str = "server") -> x509.Certificate:
    """The certificate issuance would build for a decision (issuance.build_certificate)."""
    key, cert = ca()
    public = serialization.load_der_public_key(d.public_key_der or b"")
    builder = profiles.build_leaf(
        kind=kind, public=public, serial=profiles.new_serial(), now=NOW, days=d.days or 90,
        issuer_cert=cert, issuer_name="class1-" + "n" * 57, crl_base=CRL, aia_base=AIA,
        policies=("2.23.140.1.2.1",), common_name=d.common_name,
        personal_name=d.personal_name, dns_names=d.dns_names, emails=d.emails)
    return builder.sign(key, hashes.SHA256())


def _decision(public_der: bytes, *, cn: str | None = None, dns: tuple[str, ...] = (),
              emails: tuple[str, ...] = ()) -> policy.Decision:
    return policy.Decision(
        request_id="r" * 64, accepted=True, reasons=(), ca="class1", profile="server",
        public_key_der=public_der, spki_sha256="0" * 64, key_type=None, common_name=cn,
        dns_names=dns, emails=emails, personal_name=None, days=398, needs_approval=False)


def _spki(public: object) -> bytes:
    return public.public_bytes(serialization.Encoding.DER,  # type: ignore[attr-defined]
                               serialization.PublicFormat.SubjectPublicKeyInfo)


RSA_8192 = rsa.RSAPublicNumbers(65537, (1 << 8191) | 12345678901).public_key()
LONGEST_DNS = tuple(f"{i:03d}" + "a" * 59 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 58
                    + ".org" for i in range(100))
LONGEST_EMAILS = tuple(f"{i:03d}" + "l" * 61 + "@" + "e" * 63 + "." + "f" * 63 + "." + "g" * 63
                       + ".org" for i in range(100))


@pytest.mark.parametrize(("public", "cn", "dns", "emails"), [
    (ec_key("p256").public_key(), None, ("www.example.org",), ()),
    (ec_key("p384").public_key(), "www.example.org", ("www.example.org",), ()),
    (RSA_8192, "w" * 60 + ".org", ("w" * 60 + ".org", *LONGEST_DNS[:99]), ()),
    (RSA_8192, None, LONGEST_DNS[:50], LONGEST_EMAILS[:50]),
    (RSA_8192, None, (), LONGEST_EMAILS),
])
def test_the_certificate_size_bound_holds(public: object, cn: str | None,
                                          dns: tuple[str, ...], emails: tuple[str, ...]) -> None:
    assert all(len(n) == 253 for n in LONGEST_DNS)
    d = _decision(_spki(public), cn=cn, dns=dns, emails=emails)
    cert = issue(d)
    der = cert.public_bytes(serialization.Encoding.DER)
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    assert pem_chars(len(der)) == len(pem)
    assert len(der) <= certificate_der_bound(d, ResultLimits())
    # Today's name cap (100) keeps every certificate inside one PEM's limit.
    assert pem_chars(certificate_der_bound(d, ResultLimits())) <= tb.MAX_TEXT


def test_a_certificate_too_big_for_a_result_is_refused() -> None:
    ctx = dataclasses.replace(context(), limits=ResultLimits(max_cert_pem_chars=8000))
    d = policy.evaluate(request(make_csr(rsa_key(), dns=("www.example.org",))), ctx)
    assert d.accepted
    many = [f"h{i}.example.org" for i in range(100)]
    d = policy.evaluate(request(make_csr(rsa_key(), dns=many), dns=many), ctx)
    assert not d.accepted and codes(d) == {"result.cert_size"} and d.days == 0


# --- per batch: the result as export builds it


def _log_line(d: policy.Decision, digest: str) -> bytes:
    """The longest cert.issued entry export quotes in an inclusion proof (batch.py)."""
    return json.dumps({"data": {"batch": "b" * 64, "ca": "c" * 64, "cert_sha256": digest,
                                "id": d.request_id, "not_after": "2027-06-01T00:00:00+00:00",
                                "profile": "p" * 64, "serial": "f" * 40, "spki_sha256": "0" * 64,
                                "tbs_sha256": "1" * 64, "recovered": True},
                       "seq": 2**62, "time": "2026-06-01T00:00:00Z", "type": "cert.issued"},
                      sort_keys=True, separators=(",", ":")).encode()


@functools.cache
def note() -> str:
    return sign_checkpoint(Checkpoint(ORIGIN, 2**62, bytes(32)), ORIGIN,
                           APPLIANCE.public_key().public_bytes_raw(), APPLIANCE.sign)


def result_body(decisions: list[policy.Decision]) -> tb.ResultBody:
    """A result body built from decisions the way signer/export.py builds it."""
    outcomes, inclusion = [], {}
    for d in decisions:
        if d.accepted:
            cert = issue(d)
            der = cert.public_bytes(serialization.Encoding.DER)
            digest = hashlib.sha256(der).hexdigest()
            outcomes.append(tb.Outcome(d.request_id, "issued",
                                       profiles.serial_hex(cert.serial_number),
                                       cert.public_bytes(serialization.Encoding.PEM).decode(), ()))
            inclusion[digest] = format_tlog_proof(2**62, [bytes(32)] * 63, note(),
                                                  extra=_log_line(d, digest))
        else:
            outcomes.append(tb.Outcome(d.request_id, "rejected", None, None, tuple(
                tb.Reason(str(r.code), r.message) for r in d.reasons)))
    chain = (tb.ChainCertificate("class1", ca()[1].public_bytes(
        serialization.Encoding.PEM).decode()),)
    return tb.ResultBody(
        request_digest="0" * 64, batch_id="b" * 64, ra="ra1", sequence=1,
        issued_at="2026-06-01T00:00:00Z", rehearsal=True, appliance=ORIGIN,
        outcomes=tuple(outcomes), revocations=(), chain=chain, crls=(),
        log=tb.LogProofs(checkpoint=note(), previous_checkpoint=None, consistency_proof=(),
                         inclusion=inclusion))


def encode(body: tb.ResultBody) -> bytes:
    return tb.encode_result_bundle(body, APPLIANCE.sign, APPLIANCE.public_key().public_bytes_raw())


def test_the_inclusion_proof_estimate_bounds_the_longest_proof() -> None:
    d = _decision(b"")
    proof = format_tlog_proof(2**62, [bytes(32)] * 64, note(), extra=_log_line(d, "0" * 64))
    wire = len(json.dumps({"0" * 64: proof}, ensure_ascii=True))
    assert wire <= ResultLimits().inclusion_proof_bytes


def hostile_batch(tag: str = "") -> list[policy.Request]:
    """Requests as hostile as the request bundle allows, and honest ones among them (their
    keys differ per `tag`)."""
    names = hostile_names()
    return [
        request(make_csr(ec_key("p256", "unverified" + tag), dns=names), id="unverified-300",
                subscriber="m1"),
        request(_long_utf8_name_csr(), id="long-message", subscriber="m2"),
        request(make_csr(ec_key("p256", tag), dns=("www.example.org",)), id="good-1",
                subscriber="m3"),
        # No SAN in the CSR: the 100 verified names (the request bundle's cap) stand in.
        request(make_csr(ec_key("p384", tag)), id="good-100-names", dns=LONGEST_DNS[:100], email=(),
                subscriber="m4"),
        request(b"\x30\x82garbage", id="garbage", subscriber="m5"),
    ]


def test_a_hostile_batch_exports_with_the_real_limits() -> None:
    decisions = policy.evaluate_batch(hostile_batch(), context())
    assert [d.accepted for d in decisions] == [False, False, True, True, False]
    raw = encode(result_body(decisions))
    parsed = tb.parse_result_bundle(raw, APPLIANCE.public_key().public_bytes_raw())
    assert [o.status for o in parsed.body.outcomes] == \
        ["rejected", "rejected", "issued", "issued", "rejected"]


def test_a_batch_too_big_for_one_result_refuses_its_largest_outcomes() -> None:
    """With a small result cap, the largest outcomes become short result.batch_size refusals,
    and what is left, encoded as export would, fits the cap."""
    requests = [dataclasses.replace(r, id=f"{r.id}-{i}", subscriber=f"{r.subscriber}-{i}")
                for i in range(4) for r in hostile_batch(str(i))]
    cap = 400_000
    limits = ResultLimits(max_result_bytes=cap, reserve_bytes=16 * 1024)
    ctx = dataclasses.replace(context(), limits=limits)
    decisions = policy.evaluate_batch(requests, ctx)
    plain = policy.evaluate_batch(requests, context())
    refused = [d.request_id for d in decisions if codes(d) == {"result.batch_size"}]
    assert refused, "the test batch must overflow the small cap"
    # The refused are the largest outcomes: all the 100-name certificates and 300-name
    # rejections go before any small outcome does.
    small = [d.request_id for d in plain if d.request_id.startswith(("good-1-", "garbage"))]
    assert not set(refused) & set(small)
    assert all(d.accepted for d in decisions if d.request_id.startswith("good-1-"))
    raw = encode(result_body(decisions))
    assert len(raw) <= cap
    assert policy.evaluate_batch(requests, ctx) == decisions  # deterministic
    assert body_budget(limits) > 0


def test_a_batch_that_fits_is_untouched() -> None:
    requests = hostile_batch()
    assert policy.evaluate_batch(requests, context()) == [
        policy.evaluate(r, context()) for r in requests]
