"""CRL building (I4): linear construction, entry checks, and the sampled lint of large CRLs."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hsm.keys import software_key
from signer.core.crl import build_crl
from signer.core.lint import lint_crl, sign_crl
from signer.errors import LintError, SignerError
from signer.service.revocation import _sample, check_entries

NOW = dt.datetime(2026, 11, 29, 10, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def ca():
    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CRL Test CA")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(NOW)
            .not_valid_after(NOW + dt.timedelta(days=365))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA384()))
    return software_key(key), cert


def entries(n: int, reasons=("keyCompromise", "superseded", "unspecified")):
    return [(format((1 << 70) + i, "x"), "2026-11-28T00:00:00+00:00", reasons[i % len(reasons)])
            for i in range(n)]


def test_full_and_sampled_lint_sign_the_whole_crl(ca):
    key, cert = ca
    es = entries(3000)
    full = build_crl(cert, 7, NOW, NOW + dt.timedelta(days=7), es)
    sample = build_crl(cert, 7, NOW, NOW + dt.timedelta(days=7), _sample(es))
    linted = lint_crl(full, key.public_key(), "test", sample)
    assert linted.sampled
    crl = sign_crl(linted, key, "test")
    assert len(crl) == 3000 and crl.is_signature_valid(cert.public_key())
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 7
    unspecified = crl.get_revoked_certificate_by_serial_number((1 << 70) + 2)
    assert len(unspecified.extensions) == 0  # RFC 5280 §5.3.1: no reasonCode for unspecified
    assert {r for _, _, r in _sample(es)} == {"keyCompromise", "superseded", "unspecified"}


def test_thisupdate_must_precede_nextupdate(ca):
    _, cert = ca
    with pytest.raises(SignerError, match="I4"):
        build_crl(cert, 1, NOW, NOW, [])


@pytest.mark.parametrize("bad", [
    [("0ab", "2026-11-28T00:00:00+00:00", "keyCompromise")],
    [("ab", "2026-11-28T00:00:00+00:00", "keyCompromise")] * 2,
    [("ab", "2026-11-30T00:00:00+00:00", "keyCompromise")],
    [("ab", "2026-11-28T00:00:00+00:00", "certificateHold")],
    [("f" * 41, "2026-11-28T00:00:00+00:00", "keyCompromise")],
])
def test_entry_checks(bad):
    with pytest.raises(SignerError):
        check_entries(bad, NOW.isoformat())


def test_a_signed_crl_must_be_the_linted_one(ca):
    key, cert = ca
    linted = lint_crl(build_crl(cert, 1, NOW, NOW + dt.timedelta(days=1), entries(3)),
                      key.public_key(), "t")
    other = software_key(ec.generate_private_key(ec.SECP256R1()))  # another signature algorithm
    with pytest.raises(LintError, match="differs"):
        sign_crl(linted, other, "t")
