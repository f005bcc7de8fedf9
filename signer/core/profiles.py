"""Certificate profiles: pure builders of TBS content (no keys, no I/O, time passed in).

Extensions come from the profile and the configuration only (I8). The shapes follow the
CA/Browser Forum Baseline Requirements §7.1.2 (root and subordinate CA certificates, and
subscriber certificates) and RFC 5280 §4.2.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from signer.core.ca_profiles import EKUS, CAProfile
from signer.core.policy.constraints import NameConstraintRules
from signer.errors import SignerError


class ProfileError(SignerError):
    """A requested certificate does not fit its profile (name, validity, key)."""


class OutsideConstraints(ProfileError):
    """A name the certificate would carry lies outside its issuer's name constraints."""


def new_serial() -> int:
    """I3: 127 random bits from a CSPRNG with the top bit clear: positive, 16 octets in DER."""
    while True:
        value = secrets.randbits(127)
        if value >> 63:  # at least 64 significant bits
            return value


def serial_hex(serial: int) -> str:
    return format(serial, "x")


def spki_sha256(public: Any) -> str:
    der = public.public_bytes(serialization.Encoding.DER,
                              serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def parse_dn(text: str) -> x509.Name:
    """An RFC 4514 DN; it must have a CN, and a C (if any) of two letters."""
    try:
        name = x509.Name.from_rfc4514_string(text)
    except (ValueError, TypeError) as exc:
        raise ProfileError(f"subject {text!r} is not a valid DN ({exc})") from None
    attrs = list(name)
    if not attrs:
        raise ProfileError("subject is empty")
    if not name.get_attributes_for_oid(NameOID.COMMON_NAME):
        raise ProfileError(f"subject {text!r} has no CN")
    for attr in attrs:
        value = attr.value if isinstance(attr.value, str) else ""
        if not value or any(ord(c) < 32 for c in value) or len(value) > 64:
            raise ProfileError(f"subject {text!r}: attribute {attr.oid._name} is empty, "
                               "too long or has control characters")
        if attr.oid == NameOID.COUNTRY_NAME and (len(value) != 2 or not value.isalpha()
                                                  or not value.isupper()):
            raise ProfileError(f"subject {text!r}: C must be two upper-case letters")
    for rdn in name.rdns:
        if len(rdn) != 1:
            raise ProfileError("multi-valued RDNs are not allowed")
    return name


def _validity(now: dt.datetime, days: int) -> tuple[dt.datetime, dt.datetime]:
    start = now.replace(microsecond=0)
    # RFC 5280 §4.1.2.5: notAfter is inclusive, so the period is days*86400 seconds exactly.
    return start, start + dt.timedelta(days=days) - dt.timedelta(seconds=1)


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
        encipher_only=False, decipher_only=False,
    )


def build_root(
    subject: x509.Name, public: Any, serial: int, now: dt.datetime, days: int,
    profile: CAProfile | None = None,
) -> x509.CertificateBuilder:
    """BR §7.1.2.1: CA:TRUE (critical, no pathLen), keyUsage critical, SKI, AKI = SKI; no EKU."""
    nb, na = _validity(now, days)
    ski = x509.SubjectKeyIdentifier.from_public_key(public)
    path_len = profile.path_len if profile is not None else None
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(serial)
        .not_valid_before(nb)
        .not_valid_after(na)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_len), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(ski, critical=False)
        # RFC 5280 §4.2.1.1 lets a self-signed certificate omit the AKI; pkilint and
        # BR 7.1.2.1.3 prefer it present with the key identifier only.
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                       critical=False)
    )


def _policies(oids: tuple[str, ...]) -> x509.CertificatePolicies:
    return x509.CertificatePolicies(
        [x509.PolicyInformation(x509.ObjectIdentifier(o), None) for o in oids]
    )


def _issuer_links(builder: x509.CertificateBuilder, issuer_cert: x509.Certificate,
                  issuer_name: str, crl_base: str, aia_base: str,
                  crl_url: str | None = None, aia_url: str | None = None,
                  ) -> x509.CertificateBuilder:
    ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    crl = (crl_url or f"{crl_base}{{issuer}}.crl").replace("{issuer}", issuer_name)
    aia = (aia_url or f"{aia_base}{{issuer}}.crt").replace("{issuer}", issuer_name)
    return (
        builder
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(crl)],
            relative_name=None, reasons=None, crl_issuer=None)]), critical=False)
        .add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
            AuthorityInformationAccessOID.CA_ISSUERS,
            x509.UniformResourceIdentifier(aia))]), critical=False)
    )


def check_within_issuer(na: dt.datetime, days: int, issuer_cert: x509.Certificate) -> None:
    if na > issuer_cert.not_valid_after_utc:
        raise ProfileError(
            f"a validity of {days} days would outlive the issuer "
            f"(which expires {issuer_cert.not_valid_after_utc:%Y-%m-%d})")


def build_sub(
    subject: x509.Name, public: Any, serial: int, now: dt.datetime, days: int,
    issuer_cert: x509.Certificate, issuer_name: str, crl_base: str, aia_base: str,
    policies: tuple[str, ...], profile: CAProfile | None = None,
    ski: x509.SubjectKeyIdentifier | None = None,
) -> x509.CertificateBuilder:
    """BR §7.1.2.2/§7.1.2.6/§7.1.2.10: CA:TRUE with the profile's pathLen (0 by default),
    keyUsage critical, SKI, AKI, CRL DP, AIA, policies; the profile's EKU (BR §7.1.2.10.6) and
    name constraints (critical, RFC 5280 §4.2.1.10) when it has them.

    ``ski`` keeps a certificate's subject key identifier when a CA is certified again or
    cross-certified (its own certificates' AKIs must keep matching); by default it is derived
    from the key (RFC 7093 method 1 as in RFC 5280 §4.2.1.2)."""
    nb, na = _validity(now, days)
    check_within_issuer(na, days, issuer_cert)
    path_len = profile.path_len if profile is not None else 0
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject)
        .public_key(public)
        .serial_number(serial)
        .not_valid_before(nb)
        .not_valid_after(na)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_len), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(ski or x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )
    if profile is not None:
        policies = profile.policies
    if policies:
        builder = builder.add_extension(_policies(policies), critical=False)
    if profile is not None and profile.ekus:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([EKUS[e] for e in profile.ekus]), critical=False)
    if profile is not None and (nc := profile.constraints.to_extension()) is not None:
        builder = builder.add_extension(nc, critical=True)
    return _issuer_links(builder, issuer_cert, issuer_name, crl_base, aia_base,
                         profile.crl_url if profile else None,
                         profile.aia_url if profile else None)


def ca_lint_kind(profile: CAProfile, cross: bool = False) -> str:
    """The linter for a CA certificate: the profile's, or for a certificate that certifies
    another root (a rollover link, a cross-certificate) the TLS BR cross-certified CA
    profile (§7.1.2.2) when it may issue TLS, else RFC 5280."""
    if cross:
        return "cross-ca" if not profile.ekus or "serverAuth" in profile.ekus else "pkix"
    return profile.lint_kind


def constraints_of(cert: x509.Certificate) -> NameConstraintRules | None:
    return NameConstraintRules.of_certificate(cert)


_LEAF_EKU = {
    "server": [ExtendedKeyUsageOID.SERVER_AUTH],
    "client": [ExtendedKeyUsageOID.CLIENT_AUTH],
    "email": [ExtendedKeyUsageOID.EMAIL_PROTECTION],
    "ocsp": [ExtendedKeyUsageOID.OCSP_SIGNING],
}


def leaf_key_usage(kind: str, public: Any) -> x509.KeyUsage:
    is_rsa = isinstance(public, rsa.RSAPublicKey)
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        # BR 7.1.2.7.11 / S/MIME BR 7.1.2.3(e): keyEncipherment only for RSA keys.
        key_encipherment=is_rsa and kind in ("server", "email"),
        data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
        encipher_only=False, decipher_only=False,
    )


def build_leaf(
    *, kind: str, public: Any, serial: int, now: dt.datetime, days: int,
    issuer_cert: x509.Certificate, issuer_name: str, crl_base: str, aia_base: str,
    policies: tuple[str, ...], common_name: str | None, personal_name: str | None,
    dns_names: tuple[str, ...], emails: tuple[str, ...],
    given_name: str | None = None, surname: str | None = None,
) -> x509.CertificateBuilder:
    """A subscriber certificate (BR §7.1.2.7, S/MIME BR §7.1.2.3) or a delegated OCSP
    responder (BR §7.1.2.8); names from verified facts only (I8)."""
    nb, na = _validity(now, days)
    if na > issuer_cert.not_valid_after_utc:
        na = issuer_cert.not_valid_after_utc  # never outlive the issuer
    if kind == "ocsp":
        return _ocsp_responder(public, serial, nb, na, issuer_cert, common_name)
    attrs = _leaf_subject(kind, common_name, personal_name, given_name, surname)
    _check_issuer_constraints(issuer_cert, dns_names, emails, x509.Name(attrs))
    if kind == "email" and any(a.oid == NameOID.GIVEN_NAME for a in attrs):
        policies = tuple(_individual_policy(o) for o in policies)
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
    sans += [x509.RFC822Name(e) for e in emails]
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attrs))
        .issuer_name(issuer_cert.subject)
        .public_key(public)
        .serial_number(serial)
        .not_valid_before(nb)
        .not_valid_after(na)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(leaf_key_usage(kind, public), critical=True)
        .add_extension(x509.ExtendedKeyUsage(_LEAF_EKU[kind]), critical=False)
        .add_extension(_policies(policies), critical=False)
    )
    if sans:
        # RFC 5280 §4.2.1.6: critical when the subject is empty.
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=not attrs)
    return _issuer_links(builder, issuer_cert, issuer_name, crl_base, aia_base)


_SMIME_MAILBOX = "2.23.140.1.5.1."  # S/MIME BR §7.1.6.1: mailbox-validated, per generation
_SMIME_INDIVIDUAL = "2.23.140.1.5.4."  # individual-validated, same generations


def _individual_policy(oid: str) -> str:
    """An individual-validated certificate carries the individual-validated reserved policy
    of the generation configured for the profile (S/MIME BR §7.1.6.1)."""
    return _SMIME_INDIVIDUAL + oid.removeprefix(_SMIME_MAILBOX) if oid.startswith(
        _SMIME_MAILBOX) else oid


def _check_issuer_constraints(issuer_cert: x509.Certificate, dns_names: tuple[str, ...],
                              emails: tuple[str, ...], subject: x509.Name) -> None:
    """RFC 5280 §4.2.1.10, checked again when signing: the policy judged the request with
    the CA certificate of its import, and the CA may have been certified again since."""
    nc = constraints_of(issuer_cert)
    if nc is None:
        return
    outside = [d for d in dns_names if not nc.dns_allowed(d)]
    outside += [e for e in emails if not nc.email_allowed(e)]
    if not nc.dirname_allowed(subject):
        outside.append(subject.rfc4514_string())
    if outside:
        raise OutsideConstraints(f"{outside[0]!r} is outside the issuing CA's name "
                                 "constraints (RFC 5280 §4.2.1.10)")


def _leaf_subject(kind: str, common_name: str | None, personal_name: str | None,
                  given_name: str | None, surname: str | None) -> list[x509.NameAttribute[str]]:
    """The subject of a subscriber certificate. Strings go in as verified, in any script
    (UTF8String, RFC 5280 §4.1.2.6); nothing is transliterated or normalised."""
    if kind == "email":
        # S/MIME BR §7.1.4.2.2: an individual-validated certificate names the person with
        # givenName and surname (and may repeat the name in the CN); without both verified
        # parts the certificate is mailbox-validated with an empty subject.
        if personal_name and given_name and surname:
            return [x509.NameAttribute(NameOID.GIVEN_NAME, given_name),
                    x509.NameAttribute(NameOID.SURNAME, surname),
                    x509.NameAttribute(NameOID.COMMON_NAME, personal_name)]
        return []
    if kind == "client" and personal_name:
        return [x509.NameAttribute(NameOID.COMMON_NAME, personal_name)]
    if kind == "server" and common_name:
        return [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    return []


def _ocsp_responder(public: Any, serial: int, nb: dt.datetime, na: dt.datetime,
                    issuer_cert: x509.Certificate,
                    common_name: str | None) -> x509.CertificateBuilder:
    """BR §7.1.2.8, RFC 6960 §4.2.2.2: a certificate the CA delegates its OCSP signing to:
    id-kp-OCSPSigning only, digitalSignature only, and id-pkix-ocsp-nocheck, so a relying
    party does not ask about the responder itself (the reason its validity is short). No
    CRL DP, AIA or policies (BR §7.1.2.8.2: not recommended). The responder speaks for its
    CA, so its subject is the CA's country and organisation (BR §7.1.2.10.2) with the CN the
    RA verified."""
    ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    attrs: list[x509.NameAttribute[str]] = [
        x509.NameAttribute(a.oid, str(a.value)) for a in issuer_cert.subject
        if a.oid in (NameOID.COUNTRY_NAME, NameOID.ORGANIZATION_NAME)]
    if common_name:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attrs))
        .issuer_name(issuer_cert.subject)
        .public_key(public)
        .serial_number(serial)
        .not_valid_before(nb)
        .not_valid_after(na)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]),
                       critical=False)
        .add_extension(x509.OCSPNoCheck(), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                       critical=False)
    )


def lint_kind(kind: str, personal_name: str | None, individual: bool = False) -> str:
    if kind == "server":
        return "server"
    if kind == "email":
        return "email-individual" if individual and personal_name else "email-mailbox"
    if kind == "ocsp":
        return "ocsp"
    return "pkix"
