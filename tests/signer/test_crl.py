"""CRLs (I4): entries encoded once, streamed into the frame's TBS, byte for byte what
cryptography's builder makes; linted whole or by a sample; signed as the linted bytes."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from hsm.keys import software_key
from signer.core import der
from signer.core.crl import REASON_CODES, build_crl, crl_frame, encode_entry, splice_revoked
from signer.core.lint import lint_crl, sign_crl
from signer.errors import LintError, SignerError

NOW = dt.datetime(2026, 11, 29, 10, tzinfo=dt.UTC)
WEEK = NOW + dt.timedelta(days=7)


def _ca(key):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CRL Test CA")])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(NOW)
            .not_valid_after(NOW + dt.timedelta(days=365))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA384() if isinstance(key, ec.EllipticCurvePrivateKey)
                  else hashes.SHA256()))


@pytest.fixture(scope="module")
def ca():
    key = ec.generate_private_key(ec.SECP384R1())
    return software_key(key), _ca(key)


def entries(n: int, reasons=("keyCompromise", "superseded", "unspecified")):
    return [(format((1 << 70) + i, "x"), "2026-11-28T00:00:00Z", reasons[i % len(reasons)])
            for i in range(n)]


def _streamed_tbs(cert, es, number=7):
    frame = crl_frame(cert, number, NOW, WEEK).sign(ec.generate_private_key(ec.SECP384R1()),
                                                    hashes.SHA384())
    tbs = der.split_signed(frame.public_bytes(serialization.Encoding.DER)).tbs
    return splice_revoked(tbs, b"".join(encode_entry(*e) for e in es))


def _random_entries(rng: random.Random, n: int) -> list[tuple[str, str, str]]:
    out, seen = [], set()
    while len(out) < n:
        serial = format(rng.getrandbits(rng.choice((1, 7, 8, 9, 63, 64, 127, 159))) or 1, "x")
        if serial in seen:
            continue
        seen.add(serial)
        when = rng.choice(("2026-11-28T00:00:00Z", "1999-01-01T12:00:00Z",
                           "2049-12-31T23:59:59+00:00", "2050-01-01T00:00:00Z",
                           "2026-11-28T23:59:59.000000+00:00"))
        out.append((serial, when, rng.choice(list(REASON_CODES))))
    return out


@pytest.mark.parametrize("seed,n", [(1, 0), (2, 1), (3, 17), (4, 300)])
def test_streamed_crl_equals_the_builders_bytes(ca, seed, n):
    """The whole TBS, entries of every shape included: serials of 1 to 20 octets (a leading
    zero octet when the top bit is set), UTCTime and GeneralizedTime, every reason."""
    _, cert = ca
    es = _random_entries(random.Random(seed), n)
    key = ec.generate_private_key(ec.SECP384R1())
    ref = build_crl(cert, 7, NOW, WEEK, es).sign(key, hashes.SHA384())
    assert _streamed_tbs(cert, es) == ref.tbs_certlist_bytes


def test_signed_streamed_crl_parses_and_verifies(ca):
    key, cert = ca
    es = entries(3000)
    chunks = [b"".join(encode_entry(*e) for e in es[i:i + 1000]) for i in range(0, 3000, 1000)]
    sample = b"".join(encode_entry(*e) for e in es[:3])
    linted = lint_crl(crl_frame(cert, 7, NOW, WEEK), key.public_key(), "test", chunks, sample)
    assert linted.sampled
    crl = x509.load_der_x509_crl(sign_crl(linted, key, "test", cert.public_key()))
    assert len(crl) == 3000 and crl.is_signature_valid(cert.public_key())
    assert crl.tbs_certlist_bytes == build_crl(cert, 7, NOW, WEEK, es).sign(
        key, hashes.SHA384()).tbs_certlist_bytes
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 7
    unspecified = crl.get_revoked_certificate_by_serial_number((1 << 70) + 2)
    assert len(unspecified.extensions) == 0  # RFC 5280 §5.3.1: no reasonCode for unspecified


def test_thisupdate_must_precede_nextupdate(ca):
    _, cert = ca
    with pytest.raises(SignerError, match="I4"):
        crl_frame(cert, 1, NOW, NOW)


@pytest.mark.parametrize("serial,when,reason", [
    ("0ab", "2026-11-28T00:00:00Z", "keyCompromise"),  # padded
    ("", "2026-11-28T00:00:00Z", "keyCompromise"),
    ("AB", "2026-11-28T00:00:00Z", "keyCompromise"),  # not lowercase hex
    ("ab", "2026-11-28T00:00:00Z", "certificateHold"),  # not a reason the appliance uses
    ("f" * 41, "2026-11-28T00:00:00Z", "keyCompromise"),  # more than 20 octets
    ("ab", "1949-12-31T23:59:59Z", "keyCompromise"),  # before any RFC 5280 time
])
def test_entries_are_refused_when_they_are_not_crl_entries(serial, when, reason):
    with pytest.raises(SignerError):
        encode_entry(serial, when, reason)


def test_a_signed_crl_must_be_the_linted_one(ca):
    key, cert = ca
    es = b"".join(encode_entry(*e) for e in entries(3))
    linted = lint_crl(crl_frame(cert, 1, NOW, NOW + dt.timedelta(days=1)), key.public_key(), "t",
                      es)
    other = software_key(ec.generate_private_key(ec.SECP256R1()))  # another signature algorithm
    with pytest.raises(LintError, match="differs"):
        sign_crl(linted, other, "t")


def test_the_crl_lint_is_pkilints_verdict(ca):
    """A frame pkilint refuses (no AKI) is refused before anything is signed."""
    key, cert = ca
    bare = (x509.CertificateRevocationListBuilder().issuer_name(cert.subject)
            .last_update(NOW).next_update(WEEK)
            .add_extension(x509.CRLNumber(1), critical=False))
    with pytest.raises(LintError, match="pkilint"):
        lint_crl(bare, key.public_key(), "t", encode_entry("ab", "2026-11-28T00:00:00Z",
                                                           "keyCompromise"))


def test_rsa_crls_take_the_cheap_throwaway_and_the_ca_key_signs():
    key = rsa.generate_private_key(65537, 3072)
    cert = _ca(key)
    es = b"".join(encode_entry(*e) for e in entries(5))
    linted = lint_crl(crl_frame(cert, 2, NOW, WEEK), key.public_key(), "t", es)
    crl = x509.load_der_x509_crl(sign_crl(linted, software_key(key), "t"))
    assert crl.is_signature_valid(cert.public_key()) and len(crl) == 5
