"""One lint per certificate (revised I6): the TBS is linted once, the CA key signs those exact
bytes, and what a second lint would have re-checked is checked directly on the signed bytes."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from hsm.keys import software_key
from signer.core import der, lint, profiles, sigalg
from signer.errors import LintError

NOW = dt.datetime(2026, 11, 29, 10, tzinfo=dt.UTC)
ECDSA_SHA256 = bytes.fromhex("300a06082a8648ce3d040302")
ECDSA_SHA384 = bytes.fromhex("300a06082a8648ce3d040303")


def _ca(key) -> x509.Certificate:
    return profiles.build_root(profiles.parse_dn("CN=Lint Test CA,O=T,C=AU"), key.public_key(),
                               1 << 70, NOW - dt.timedelta(days=1), 3650).sign(
        key, sigalg.signature_hash(key.public_key()))


def _leaf(ca: x509.Certificate) -> x509.CertificateBuilder:
    return profiles.build_leaf(
        kind="server", public=ec.generate_private_key(ec.SECP256R1()).public_key(),
        serial=profiles.new_serial(), now=NOW, days=90, issuer_cert=ca, issuer_name="t",
        crl_base="http://crl.example.org/", aia_base="http://ca.example.org/",
        policies=("2.23.140.1.2.1",), common_name="www.example.org", personal_name=None,
        dns_names=("www.example.org",), emails=())


@pytest.fixture(scope="module")
def p384():
    key = ec.generate_private_key(ec.SECP384R1())
    return software_key(key), _ca(key)


class Counting:
    """A CA key that counts the signatures asked of it (the token is asked nothing when the
    linted TBS does not fit the key)."""

    def __init__(self, key) -> None:
        self.key, self.calls = key, 0

    def public_key(self):
        return self.key.public_key()

    def sign(self, *a):
        self.calls += 1
        return self.key.sign(*a)


def test_one_lint_signs_the_linted_bytes_and_verifies(p384, monkeypatch):
    key, ca = p384
    calls = []
    real = lint.lint_der
    monkeypatch.setattr(lint, "lint_der", lambda d, k: calls.append(k) or real(d, k))
    linted = lint.lint_certificate(_leaf(ca), key.public_key(), "server", "t")
    cert = lint.sign_certificate(linted, key, "t", issuer_public=ca.public_key())
    assert calls == ["server"]  # one pkilint pass
    assert cert.tbs_certificate_bytes == linted.tbs
    cert.verify_directly_issued_by(ca)
    assert der.split_signed(cert.public_bytes(serialization.Encoding.DER)).algorithm \
        == ECDSA_SHA384 == der.tbs_signature_field(linted.tbs, "certificate")


@pytest.mark.parametrize("ca_key,cheap", [
    (lambda: ec.generate_private_key(ec.SECP384R1()), "secp256r1"),
    (lambda: rsa.generate_private_key(65537, 3072), 1024),
])
def test_the_throwaway_key_is_the_cheapest_with_the_same_algorithm(ca_key, cheap):
    key = ca_key()
    ca = _ca(key)
    linted = lint.lint_certificate(_leaf(ca), key.public_key(), "server", "t")
    throwaway = sigalg.throwaway(sigalg.key_family(key.public_key())).public_key()
    assert getattr(throwaway, "curve", None) is not None and throwaway.curve.name == cheap \
        or getattr(throwaway, "key_size", None) == cheap
    cert = lint.sign_certificate(linted, software_key(key), "t")
    cert.verify_directly_issued_by(ca)
    assert linted.algorithm == sigalg.signature_algorithm(key.public_key())


def _signed(p384) -> tuple[bytes, lint.LintedCertificate]:
    key, ca = p384
    linted = lint.lint_certificate(_leaf(ca), key.public_key(), "server", "t")
    cert = lint.sign_certificate(linted, key, "t")
    return cert.public_bytes(serialization.Encoding.DER), linted


def _outer_algorithm(d: bytes, alg: bytes) -> bytes:
    s = der.split_signed(d)
    return der.encode_signed(s.tbs, alg, s.signature)


@pytest.mark.parametrize("tamper,why", [
    (lambda d: _outer_algorithm(d, ECDSA_SHA256), "outer signatureAlgorithm differs"),
    (lambda d: d[:-3] + bytes([d[-3] ^ 1]) + d[-2:], "does not verify"),
    (lambda d: d + b"\x00", "malformed"),
    (lambda d: der.tlv(0x30, bytes(der.split_signed(d).tbs) + der.split_signed(d).algorithm
                       + der.tlv(0x03, b"\x01" + der.split_signed(d).signature)), "malformed"),
    (lambda d: d.replace(b"www.example.org", b"www.example.net", 1), "differs from the linted"),
])
def test_the_direct_checks_refuse_a_tampered_certificate(p384, tamper, why):
    key, _ = p384
    good, linted = _signed(p384)
    lint.check_signed(good, linted.tbs, key.public_key(), "certificate", "t")
    with pytest.raises(LintError, match=why):
        lint.check_signed(tamper(good), linted.tbs, key.public_key(), "certificate", "t")


def test_the_one_lint_path_refuses_an_outer_algorithm_that_differs(p384, monkeypatch):
    """The signing path itself: a certificate assembled with another outer algorithm than the
    TBS names (as a faulty assembler or a swapped field would make it) is never released."""
    key, _ = p384
    _, linted = _signed(p384)
    real = der.encode_signed
    monkeypatch.setattr(der, "encode_signed",
                        lambda tbs, alg, sig: real(tbs, ECDSA_SHA256, sig))
    with pytest.raises(LintError, match="outer signatureAlgorithm differs from the TBS"):
        lint.sign_certificate(linted, key, "t")


def test_a_key_of_another_algorithm_is_refused_before_it_signs(p384):
    _, ca = p384
    linted = lint.lint_certificate(_leaf(ca), ca.public_key(), "server", "t")
    other = Counting(software_key(ec.generate_private_key(ec.SECP256R1())))  # ecdsa-with-SHA256
    with pytest.raises(LintError, match="differs"):
        lint.sign_certificate(linted, other, "t")
    assert other.calls == 0


def test_a_signature_that_does_not_verify_is_refused(p384):
    key, ca = p384

    class Liar(ec.EllipticCurvePrivateKey):
        """Signs with another key than the one it claims (a token that got it wrong)."""

        def sign(self, data, algorithm):
            return ec.generate_private_key(ec.SECP384R1()).sign(data, ec.ECDSA(hashes.SHA384()))

        def public_key(self):
            return key.public_key()

        curve = key_size = exchange = private_numbers = private_bytes = None
        __copy__ = __deepcopy__ = None

    linted = lint.lint_certificate(_leaf(ca), key.public_key(), "server", "t")
    with pytest.raises(LintError, match="does not verify"):
        lint.sign_certificate(linted, Liar(), "t")


def test_only_lint_makes_a_linted_certificate(p384):
    with pytest.raises(TypeError):
        lint.LintedCertificate(b"", b"", "server", (), object())
    with pytest.raises(TypeError):
        lint.sign_certificate(object(), p384[0], "t")  # type: ignore[arg-type]


# BR §7.1.3.2.1: RSASSA-PSS with SHA-512, MGF1-SHA-512, a 64-byte salt, byte for byte.
PSS_SHA512 = bytes.fromhex(
    "304106092a864886f70d01010a3034a00f300d06096086480165030402030500a11c301a06092a864886f70d"
    "010108300d06096086480165030402030500a203020140")


def test_a_ca_profiles_signature_choice_survives_the_one_lint_path():
    """Issue 14's SignatureChoice (hash, RSA-PSS): the throwaway copy names the same
    AlgorithmIdentifier as the CA key will (a PSS copy needs a throwaway of 2,048 bits for
    SHA-512's salt), the CA key signs exactly it, and an outer PKCS#1 v1.5 identifier is refused."""
    raw = rsa.generate_private_key(65537, 3072)
    key, ca = software_key(raw), _ca(raw)
    choice = sigalg.SignatureChoice("sha512", pss=True)
    linted = lint.lint_certificate(_leaf(ca), key.public_key(), "server", "t", choice)
    assert linted.algorithm == PSS_SHA512 == der.tbs_signature_field(linted.tbs, "certificate")
    cert = lint.sign_certificate(linted, key, "t", issuer_public=ca.public_key())
    assert der.split_signed(cert.public_bytes(serialization.Encoding.DER)).algorithm == PSS_SHA512
    cert.verify_directly_issued_by(ca)
    good = cert.public_bytes(serialization.Encoding.DER)
    pkcs1 = sigalg.signature_algorithm(key.public_key(), sigalg.SignatureChoice("sha512"))
    with pytest.raises(LintError, match="outer signatureAlgorithm differs"):
        lint.check_signed(_outer_algorithm(good, pkcs1), linted.tbs, key.public_key(),
                          "certificate", "t", choice)
