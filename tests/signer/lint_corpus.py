"""A corpus of good and bad certificates and CRLs for pkilint, made reproducibly from a seed.

Good documents come from the appliance's own profiles (every leaf kind and the sub-CA, with
P-256, P-384, RSA and Ed25519 subject keys); bad ones from the same shapes with one or more
faults drawn at random: a wrong criticality, a missing or extra extension, names pkilint
refuses (internal, upper-case, IP addresses, wildcards), a validity too long, an empty subject
with a non-critical SAN, a CA flag on a leaf, key usages that contradict the key, a policy
missing, CRLs without a number or AKI, with reasons pkilint flags, and so on. Used by the test
that proves the indexed pkilint dispatch gives pkilint's exact findings, and by
``bench/bench_lint.py`` with a larger count.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import random
from collections.abc import Iterator

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from signer.core import crl as crl_mod
from signer.core import profiles

NOW = dt.datetime(2026, 11, 29, 10, tzinfo=dt.UTC)
URLS = ("http://crl.example.org/", "http://ca.example.org/")
SERVER_POLICY = ("2.23.140.1.2.1",)
MAIL_POLICY = ("2.23.140.1.5.1.3",)
KINDS = ("server", "client", "email", "subca")
LINTER = {"server": "server", "client": "pkix", "email": "email-mailbox", "subca": "pkix"}


@functools.cache
def _issuers() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate, x509.Certificate]:
    rk = ec.generate_private_key(ec.SECP384R1())
    root = profiles.build_root(profiles.parse_dn("CN=Corpus Root,O=Corpus,C=AU"), rk.public_key(),
                               1 << 70, NOW - dt.timedelta(days=10), 3650).sign(rk, hashes.SHA384())
    sub = profiles.build_sub(profiles.parse_dn("CN=Corpus Sub,O=Corpus,C=AU"), rk.public_key(),
                             1 << 71, NOW - dt.timedelta(days=5), 1825, root, "root", *URLS,
                             SERVER_POLICY).sign(rk, hashes.SHA384())
    return rk, root, sub


@functools.cache
def _subject_keys() -> tuple[object, ...]:
    return (ec.generate_private_key(ec.SECP256R1()).public_key(),
            ec.generate_private_key(ec.SECP384R1()).public_key(),
            rsa.generate_private_key(65537, 2048).public_key(),
            ed25519.Ed25519PrivateKey.generate().public_key())


NAMES = ("www.example.org", "example.org", "mail.example.net", "host.example.com")
BAD_NAMES = ("intranet", "WWW.EXAMPLE.ORG", "*.example.org", "a..example.org", "x.local",
             "-bad.example.org", "xn--bad.example.org", "exa mple.org")
EMAILS = ("alice@example.org", "bob@example.net")


def _good(rng: random.Random, kind: str, key: object) -> tuple[x509.CertificateBuilder, str]:
    _, root, sub = _issuers()
    serial = profiles.new_serial()
    if kind == "subca":
        return profiles.build_sub(profiles.parse_dn("CN=Corpus Issuing CA"), key, serial, NOW,
                                  365, root, "root", *URLS, SERVER_POLICY), "pkix"
    dns = tuple(rng.sample(NAMES, rng.randint(1, 3))) if kind == "server" else ()
    emails = tuple(rng.sample(EMAILS, rng.randint(1, 2))) if kind != "server" else ()
    b = profiles.build_leaf(
        kind=kind, public=key, serial=serial, now=NOW, days=rng.choice((30, 90, 397)),
        issuer_cert=sub, issuer_name="sub", crl_base=URLS[0], aia_base=URLS[1],
        policies=MAIL_POLICY if kind == "email" else SERVER_POLICY,
        common_name=dns[0] if dns and rng.random() < 0.7 else None,
        personal_name="Alice Example" if kind == "client" and rng.random() < 0.5 else None,
        dns_names=dns, emails=emails)
    return b, profiles.lint_kind(kind, None)


def _ext(b: x509.CertificateBuilder, value: x509.ExtensionType, critical: bool
         ) -> x509.CertificateBuilder:
    return b.add_extension(value, critical=critical)


def _faulty(rng: random.Random, kind: str, key: object) -> tuple[x509.CertificateBuilder, str]:
    """A certificate built by hand with one to three faults (some make it unparseable by the
    builder and are skipped by the caller)."""
    _, _, sub = _issuers()
    faults = set(rng.sample(range(16), rng.randint(1, 3)))
    dns = [rng.choice(BAD_NAMES if 0 in faults else NAMES)]
    if 1 in faults:
        dns.append(rng.choice(BAD_NAMES))
    subject = [] if 2 in faults else [x509.NameAttribute(NameOID.COMMON_NAME,
                                                          "not.in.san.example" if 3 in faults
                                                          else dns[0])]
    if 4 in faults:
        subject.append(x509.NameAttribute(NameOID.COUNTRY_NAME, "ZZ"))
    if 5 in faults:
        subject.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Org Without Locality"))
    days = 900 if 6 in faults else 90
    issuer_ski = sub.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    b = (x509.CertificateBuilder().subject_name(x509.Name(subject)).issuer_name(sub.subject)
         .public_key(key).serial_number(profiles.new_serial())
         .not_valid_before(NOW).not_valid_after(NOW + dt.timedelta(days=days)))
    b = _ext(b, x509.BasicConstraints(ca=7 in faults, path_length=None), 8 not in faults)
    usage = profiles.leaf_key_usage(kind if kind != "subca" else "server", key)
    if 9 in faults:
        usage = x509.KeyUsage(True, True, True, True, False, False, False, False, False)
    b = _ext(b, usage, 10 not in faults)
    ekus = {"server": [ExtendedKeyUsageOID.SERVER_AUTH],
            "client": [ExtendedKeyUsageOID.CLIENT_AUTH]}.get(kind,
                                                             [ExtendedKeyUsageOID.EMAIL_PROTECTION])
    if 11 in faults:
        ekus = [*ekus, ExtendedKeyUsageOID.CODE_SIGNING, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE]
    b = _ext(b, x509.ExtendedKeyUsage(ekus), 12 in faults)
    if 13 not in faults:
        b = _ext(b, x509.CertificatePolicies([x509.PolicyInformation(
            x509.ObjectIdentifier(SERVER_POLICY[0]), None)]), False)
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    if kind in ("client", "email"):
        sans = [x509.RFC822Name(rng.choice(EMAILS))] + ([] if 14 in faults else sans[:0])
    if 14 in faults and kind == "server":
        sans.append(x509.IPAddress(ipaddress.ip_address("10.0.0.1")))
    b = _ext(b, x509.SubjectAlternativeName(sans), not subject and 15 not in faults)
    if 15 not in faults:
        b = _ext(b, x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski),
                 False)
    b = _ext(b, x509.AuthorityInformationAccess([x509.AccessDescription(
        AuthorityInformationAccessOID.CA_ISSUERS,
        x509.UniformResourceIdentifier(URLS[1] + "sub.crt"))]), False)
    return b, LINTER[kind]


def certificates(count: int, seed: int = 12) -> Iterator[tuple[bytes, str]]:
    """(DER, linter kind) of ``count`` certificates, about half of them faulty."""
    rng = random.Random(seed)
    rk, _, _ = _issuers()
    keys = _subject_keys()
    made = 0
    while made < count:
        kind = rng.choice(KINDS)
        key = rng.choice(keys)
        if isinstance(key, ed25519.Ed25519PublicKey) and kind == "subca":
            continue
        try:
            b, linter = (_good if rng.random() < 0.4 else _faulty)(rng, kind, key)
            if linter == "email-mailbox" and rng.random() < 0.3:
                linter = "email-individual"
            cert = b.sign(rk, hashes.SHA384())
        except ValueError:
            continue
        made += 1
        yield cert.public_bytes(serialization.Encoding.DER), linter


def crls(count: int, seed: int = 13) -> Iterator[bytes]:
    """DER CRLs, good and faulty (no CRL number, no AKI, odd reasons, empty, a long window)."""
    rng = random.Random(seed)
    rk, _, sub = _issuers()
    reasons = list(crl_mod.REASON_CODES)
    for _ in range(count):
        n = rng.choice((0, 1, 3, 20))
        entries = [(format(profiles.new_serial(), "x"), "2026-11-28T00:00:00Z",
                    rng.choice(reasons)) for _ in range(n)]
        window = rng.choice((7, 7, 400))
        b = crl_mod.build_crl(sub, rng.randint(1, 1 << 40), NOW, NOW + dt.timedelta(days=window),
                              entries)
        if rng.random() < 0.4:  # rebuild without one of the two extensions
            keep = rng.choice((x509.CRLNumber, x509.AuthorityKeyIdentifier))
            nb = (x509.CertificateRevocationListBuilder().issuer_name(sub.subject)
                  .last_update(NOW).next_update(NOW + dt.timedelta(days=window)))
            ext = next(e for e in b._extensions if isinstance(e.value, keep))
            nb = nb.add_extension(ext.value, ext.critical)
            for r in b._revoked_certificates:
                nb = nb.add_revoked_certificate(r)
            b = nb
        yield b.sign(rk, hashes.SHA384()).public_bytes(serialization.Encoding.DER)
