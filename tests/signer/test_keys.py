"""Degenerate and weak subscriber keys are refused when a batch is judged (DESIGN §4 Keys, T7).

Each row builds a request around one key class and names the check it must trip, and whether
the CSR's self-signature verifies: for the degenerate keys it does (forged, see key_fixtures),
which is the point: proof of possession means nothing for them, so only the key check stops them.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from signer.core import policy, profiles
from signer.core.policy import Check
from signer.core.policy import keys as keycheck
from tests.signer.key_fixtures import (
    ED25519_ALG,
    IDENTITY,
    SMALL_ORDER,
    SMALL_ORDER_OTHER,
    P,
    assemble,
    close_primes_key,
    custom_generator_csr,
    ec_point_csr,
    ed25519_spki,
    even_modulus,
    explicit_curve_csr,
    forged_mixed_order_csr,
    forged_small_order_csr,
    pattern_key,
    rsa_csr,
    shared_prime_key,
    template_csr,
    with_spki,
    y_encoding,
)
from tests.signer.policy_fixtures import (
    codes,
    context,
    ec_key,
    ed25519_key,
    make_csr,
    request,
    roca_key,
    rsa_key,
    small_factor_key,
    spki_sha256,
)

WWW = ("www.example.org", "example.org")
MAIL = ("alice@example.org",)


def ed_request(csr: bytes) -> policy.Request:
    """Ed25519 keys are judged in a client request (allowed there), so only the key check
    speaks; the server profile would add key.profile."""
    return request(csr, profile="client")


def ed_forged(name: str, point: bytes) -> tuple[str, Callable[[], policy.Request], str, bool]:
    return (f"ed25519-{name}", lambda: ed_request(forged_small_order_csr(point, emails=MAIL)),
            "key.small_order", True)


def _off_curve_y() -> int:
    """The smallest canonical y that is not on the curve (x^2 has no root; RFC 8032 §5.1.3)."""
    import nacl.bindings
    import nacl.exceptions
    for y in range(2, 100):
        try:
            nacl.bindings.crypto_core_ed25519_add(y_encoding(y), IDENTITY)
        except nacl.exceptions.RuntimeError:
            return y
    raise AssertionError("no off-curve y below 100")


def _ed_point_csr(raw: bytes) -> bytes:
    cri = with_spki(template_csr(emails=MAIL), ed25519_spki(raw))
    return assemble(cri, ED25519_ALG, IDENTITY + bytes(32))


# (id, build, expected code or None for accepted, does the CSR's self-signature verify?)
KeyCase = tuple[str, Callable[[], policy.Request], str | None, bool]

KEY_CASES: list[KeyCase] = [
    # --- Ed25519 (RFC 8032 §5.1.3; libsodium crypto_core_ed25519_is_valid_point)
    ("ed25519-honest", lambda: ed_request(make_csr(ed25519_key(), emails=MAIL)), None, True),
    *[ed_forged(name, point) for name, point in SMALL_ORDER.items()],
    *[ed_forged(name, point) for name, point in SMALL_ORDER_OTHER.items()],
    ("ed25519-mixed-order-8", lambda: ed_request(forged_mixed_order_csr("order-8-a", emails=MAIL)),
     "key.small_order", True),
    ("ed25519-mixed-order-4", lambda: ed_request(forged_mixed_order_csr("order-4", emails=MAIL)),
     "key.small_order", True),
    ("ed25519-mixed-order-2", lambda: ed_request(forged_mixed_order_csr("order-2", emails=MAIL)),
     "key.small_order", True),
    ("ed25519-y-ge-p-on-curve", lambda: ed_request(_ed_point_csr(y_encoding(P + 3))),
     "key.invalid", False),
    ("ed25519-y-ge-p-off-curve", lambda: ed_request(_ed_point_csr(y_encoding(P + 2))),
     "key.invalid", False),
    ("ed25519-off-curve", lambda: ed_request(_ed_point_csr(y_encoding(_off_curve_y()))),
     "key.invalid", False),
    # --- EC (SEC 1 §3.2.2.1, RFC 5480 §2.2)
    ("ec-compressed", lambda: request(ec_point_csr("compressed", dns=WWW)), None, True),
    ("ec-hybrid", lambda: request(ec_point_csr("hybrid", dns=WWW)), "key.invalid", True),
    ("ec-p384-hybrid", lambda: request(ec_point_csr("hybrid", "p384", dns=WWW)),
     "key.invalid", True),
    ("ec-off-curve", lambda: request(ec_point_csr("off-curve", dns=WWW)), "key.invalid", False),
    ("ec-infinity", lambda: request(ec_point_csr("infinity", dns=WWW)), "key.invalid", False),
    ("ec-short", lambda: request(ec_point_csr("short", dns=WWW)), "key.invalid", False),
    ("ec-long", lambda: request(ec_point_csr("long", dns=WWW)), "key.invalid", False),
    ("ec-x-too-big", lambda: request(ec_point_csr("x-too-big", dns=WWW)), "key.invalid", False),
    ("ec-explicit-parameters", lambda: request(explicit_curve_csr(), dns=["www.example.org"]),
     "key.curve", True),
    ("ec-custom-generator", lambda: request(custom_generator_csr(), dns=["www.example.org"]),
     "key.curve", False),
    # --- RSA (RFC 8017 §3.1; BR §6.1.1.3, §6.1.5, §6.1.6; badkeys)
    ("rsa-honest", lambda: request(make_csr(rsa_key(), dns=WWW)), None, True),
    ("rsa-even", lambda: request(rsa_csr(*even_modulus(), dns=WWW)), "key.invalid", False),
    ("rsa-1024", lambda: request(make_csr(rsa_key(1024), dns=WWW)), "key.weak", True),
    ("rsa-small-factor", lambda: request(make_csr(small_factor_key(), dns=WWW)),
     "key.small_factor", True),
    ("rsa-close-primes", lambda: request(make_csr(close_primes_key(400), dns=WWW)),
     "key.fermat", True),
    ("rsa-primes-beyond-100-fermat-rounds", lambda: request(
        make_csr(close_primes_key(530), dns=WWW)), None, True),
    ("rsa-roca", lambda: request(make_csr(roca_key(), dns=WWW)), "key.roca", True),
    ("rsa-shared-prime", lambda: request(make_csr(shared_prime_key(), dns=WWW)),
     "key.shared_prime", True),
    ("rsa-pattern", lambda: request(make_csr(pattern_key(), dns=WWW)), "key.pattern", True),
]


@pytest.mark.parametrize(("build", "expected", "signature_verifies"),
                         [pytest.param(b, e, s, id=i) for i, b, e, s in KEY_CASES])
def test_degenerate_keys_are_refused(build: Callable[[], policy.Request], expected: str | None,
                                     signature_verifies: bool) -> None:
    req = build()
    csr = x509.load_der_x509_csr(req.csr)
    try:
        verifies = csr.is_signature_valid
    except Exception:  # the key does not even load
        verifies = False
    assert verifies is signature_verifies
    decision = policy.evaluate(req, context())
    if expected is None:
        assert decision.accepted, decision.reasons
        return
    assert not decision.accepted and decision.days == 0
    found = codes(decision)
    assert expected in found, decision.reasons
    # A forged CSR passes every other check: the key check alone stands between it and issuance.
    others = found - {expected, "key.invalid", "key.small_order"}
    assert not others or not signature_verifies, decision.reasons


def test_the_forged_identity_csr_verifies_with_openssl(tmp_path: Path) -> None:
    """The attack is not a quirk of one library: `openssl req -verify` accepts the CSR."""
    csr = x509.load_der_x509_csr(forged_small_order_csr(SMALL_ORDER["identity"], emails=MAIL))
    path = tmp_path / "identity.csr"
    path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    out = subprocess.run(["openssl", "req", "-in", str(path), "-noout", "-verify"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "verify OK" in out.stdout + out.stderr


def test_a_small_order_subca_key_lets_anyone_mint_leaves(tmp_path: Path) -> None:
    """Why the check matters (the issue's scenario): a sub-CA certificate for the identity
    point lets anyone 'sign' leaves for any name, with (R = identity, S = 0), and
    `openssl verify` accepts the chain. The policy refuses such a sub-CA request."""
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    root_key = ec_key("p384", "root")
    root = profiles.build_root(profiles.parse_dn("CN=Test Root"), root_key.public_key(), 1 << 70,
                               now, 3650).sign(root_key, hashes.SHA384())
    identity = ed25519.Ed25519PublicKey.from_public_bytes(IDENTITY)
    sub = profiles.build_sub(profiles.parse_dn("CN=Forged Sub"), identity, 1 << 71, now, 365,
                             root, "root", "http://crl.example.org/", "http://ca.example.org/",
                             ("2.5.29.32.0",)).sign(root_key, hashes.SHA384())
    leaf_tbs = profiles.build_leaf(
        kind="server", public=ec_key("p256").public_key(), serial=1 << 72, now=now, days=90,
        issuer_cert=sub, issuer_name="sub", crl_base="http://crl.example.org/",
        aia_base="http://ca.example.org/", policies=("2.23.140.1.2.1",), common_name=None,
        personal_name=None, dns_names=("bank.example.com",), emails=())
    throwaway = leaf_tbs.sign(ed25519.Ed25519PrivateKey.generate(), None)
    der = throwaway.public_bytes(serialization.Encoding.DER)
    forged = der[:-64] + IDENTITY + bytes(32)  # the signature is the last 64 octets
    for name, cert in (("root", root), ("sub", sub)):
        (tmp_path / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "leaf.pem").write_bytes(
        x509.load_der_x509_certificate(forged).public_bytes(serialization.Encoding.PEM))
    out = subprocess.run(["openssl", "verify", "-attime", str(int(now.timestamp()) + 3600),
                          "-CAfile", "root.pem", "-untrusted", "sub.pem", "leaf.pem"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0 and "leaf.pem: OK" in out.stdout, out.stdout + out.stderr
    csr = forged_small_order_csr(SMALL_ORDER["identity"], cn="Forged Sub")
    d = policy.evaluate(request(csr, profile="subca", ca="root", name="Forged Sub"), context())
    assert not d.accepted and {"key.small_order", "key.subca"} <= codes(d)


# --- the key checks below the engine


@pytest.mark.parametrize("name", sorted({**SMALL_ORDER, **SMALL_ORDER_OTHER}))
def test_every_encoding_of_a_small_order_point_is_refused(name: str) -> None:
    point = {**SMALL_ORDER, **SMALL_ORDER_OTHER}[name]
    kinds = {f.kind for f in keycheck.check_ed25519_point(point)}
    assert "small_order" in kinds
    y = int.from_bytes(point, "little") & ((1 << 255) - 1)
    assert ("invalid" in kinds) is (y >= P)


@pytest.mark.parametrize("k", range(19))
@pytest.mark.parametrize("sign", [0, 1])
def test_every_non_canonical_encoding_is_refused(k: int, sign: int) -> None:
    """All 38 encodings with y >= p (RFC 8032 §5.1.3 step 1: decoding fails)."""
    kinds = [f.kind for f in keycheck.check_ed25519_point(y_encoding(P + k, sign))]
    assert kinds[0] == "invalid"


def test_honest_ed25519_keys_pass() -> None:
    for _ in range(64):  # clamped scalars: always in the prime-order subgroup
        raw = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes_raw()
        assert keycheck.check_ed25519_point(raw) == []


@pytest.mark.parametrize("point_of", ["off-curve", "infinity", "short", "long", "x-too-big"])
def test_cryptography_refuses_invalid_ec_points(point_of: str) -> None:
    """The loader does SEC 1 §3.2.2.1 validation, so no EC key object is ever off its curve."""
    csr = x509.load_der_x509_csr(ec_point_csr(point_of, dns=WWW))
    with pytest.raises(ValueError):
        csr.public_key()


def test_cryptography_accepts_the_hybrid_form_so_we_check_it() -> None:
    csr = x509.load_der_x509_csr(ec_point_csr("hybrid", dns=WWW))
    assert csr.public_key() == ec_key("p256").public_key()  # loaded: the check is ours
    assert [f.kind for f in keycheck.check_ec_encoding("secp256r1", b"\x06" + bytes(64))] == \
        ["invalid"]


def test_a_compressed_point_is_certified_uncompressed() -> None:
    d = policy.evaluate(request(ec_point_csr("compressed", dns=WWW)), context())
    assert d.accepted and d.spki_sha256 == spki_sha256(ec_key("p256"))
    public = serialization.load_der_public_key(d.public_key_der or b"")
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert d.public_key_der == ec_key("p256").public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_every_new_key_code_is_covered() -> None:
    covered = {e for _, _, e, _ in KEY_CASES if e}
    assert {c.value for c in Check if c.value in {
        "key.invalid", "key.small_order", "key.fermat", "key.shared_prime", "key.pattern",
        "key.small_factor", "key.roca", "key.weak", "key.curve"}} <= covered
