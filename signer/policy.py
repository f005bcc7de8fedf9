"""The policy engine: a verdict, with every reason, for each certificate request (DESIGN §4).

What it does: parses a CSR strictly, checks its self-signature, signature algorithm, key and
names against the facts the RA verified and the profile and issuer rules, and returns a frozen
`Decision` holding the only things issuance may use (I8): the public key, the verified names the
CSR asked for, the personal name when assurance allows it, and the validity granted. Every
rejection has a stable `Check` code and a sentence; `python -m signer.policy --markdown` prints
the table kept in docs/checks.md.

What it deliberately does not: any I/O, clock or randomness (the only outside call is
`PolicyContext.key_owner`, passed in), copy any extension or subject attribute from the CSR into
a certificate (requested extensions are only inspected to reject CA:TRUE or forbidden usages),
or normalise names (a name not already canonical is refused, see `signer.names`).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, SignatureAlgorithmOID

from signer.errors import PolicyError
from signer.keycheck import check_public_key, key_type
from signer.names import (
    NameFinding,
    check_dns_name,
    check_email,
    check_personal_name,
    is_ip_literal,
)


class Check(StrEnum):
    """Stable check codes: a contract with the RA, reviewers and auditors once shipped."""

    CSR_PARSE = "csr.parse"
    CSR_SIZE = "csr.size"
    CSR_SIGNATURE = "csr.signature"
    CSR_SIGALG = "csr.sigalg"
    KEY_TYPE = "key.type"
    KEY_WEAK = "key.weak"
    KEY_SIZE = "key.size"
    KEY_EXPONENT = "key.exponent"
    KEY_ROCA = "key.roca"
    KEY_SMALL_FACTOR = "key.small_factor"
    KEY_CURVE = "key.curve"
    KEY_CA = "key.ca"
    KEY_DUPLICATE = "key.duplicate"
    NAME_UNVERIFIED = "name.unverified"
    NAME_SYNTAX = "name.syntax"
    NAME_WILDCARD = "name.wildcard"
    NAME_IP = "name.ip"
    NAME_INTERNAL = "name.internal"
    NAME_COUNT = "name.count"
    NAME_CN_NOT_SAN = "name.cn_not_san"
    NAME_MISSING = "name.missing"
    NAME_TYPE = "name.type"
    NAME_PERSONAL = "name.personal"
    EXT_CA = "ext.ca"
    EXT_USAGE = "ext.usage"
    PROFILE_UNKNOWN = "profile.unknown"
    CA_UNKNOWN = "ca.unknown"
    CA_ROOT_LEAF = "ca.root_leaf"
    CA_PROFILE = "ca.profile"
    ASSURANCE_POINTS = "assurance.points"


CHECK_DOCS: dict[Check, str] = {
    Check.CSR_PARSE: "The CSR is not a well-formed PKCS#10 request in PEM or DER "
                     "(empty, truncated, garbage, or a malformed attribute or extension).",
    Check.CSR_SIZE: "The CSR is larger than the size cap (16 KiB by default); it is not parsed.",
    Check.CSR_SIGNATURE: "The CSR's self-signature does not verify with its own public key, "
                         "so it does not prove possession of the private key (RFC 2986 §3).",
    Check.CSR_SIGALG: "The CSR is signed with an algorithm that is not accepted "
                      "(SHA-1, MD5 and anything but SHA-2 RSA/RSA-PSS/ECDSA or Ed25519).",
    Check.KEY_TYPE: "The key type is not accepted: only RSA, EC P-256/P-384 and Ed25519 "
                    "(DSA, Ed448, X25519 and others are refused).",
    Check.KEY_WEAK: "The RSA modulus is shorter than 2048 bits.",
    Check.KEY_SIZE: "The RSA modulus is longer than 8192 bits or not a multiple of 8 "
                    "(Mozilla Root Store Policy §5.1).",
    Check.KEY_EXPONENT: "The RSA public exponent is not 65537.",
    Check.KEY_ROCA: "The RSA modulus has the ROCA fingerprint (CVE-2017-15361): the key came "
                    "from a vulnerable Infineon library and can be factored.",
    Check.KEY_SMALL_FACTOR: "The RSA modulus has a prime factor below 10,000.",
    Check.KEY_CURVE: "The elliptic curve is not P-256 or P-384 (secp256k1, P-521 and others "
                     "are refused).",
    Check.KEY_CA: "The key is the key of one of this appliance's CAs.",
    Check.KEY_DUPLICATE: "The key is already certified for another subscriber, or the batch "
                         "has it in requests of two subscribers or in two acceptable requests.",
    Check.NAME_UNVERIFIED: "A name in the CSR (SAN, subject CN or emailAddress) is not among "
                           "the facts the RA verified.",
    Check.NAME_SYNTAX: "A name is malformed: DNS names must be lower-case LDH A-labels with "
                       "no trailing dot, empty label, underscore, control character, label over "
                       "63 or name over 253 characters; emails must be ASCII local@domain.",
    Check.NAME_WILDCARD: "A wildcard name is requested but the profile does not allow it, or "
                         "the wildcard covers a whole TLD.",
    Check.NAME_IP: "An IP address is requested but the profile does not allow it.",
    Check.NAME_INTERNAL: "An internal name (single label, or under a reserved or private TLD "
                         "such as .local, .internal, .lan, .corp, .test, .arpa) is requested "
                         "but the profile does not allow it.",
    Check.NAME_COUNT: "The request carries more names than the cap (100 by default).",
    Check.NAME_CN_NOT_SAN: "In a server certificate the CN, when present, must be one of "
                           "the SAN DNS names (BR §7.1.4.3).",
    Check.NAME_MISSING: "The certificate would carry no name it needs: a server certificate "
                        "needs a DNS name, an email certificate an email address, a client "
                        "certificate any name, a sub-CA a CN.",
    Check.NAME_TYPE: "The CSR asks for a SAN type the CA never issues (URI, otherName, "
                     "directoryName, registeredID), or a subject with several CNs.",
    Check.NAME_PERSONAL: "A personal name in the subject requires the assurance points "
                         "(50 by default); below them the CN must be absent.",
    Check.EXT_CA: "The CSR requests basicConstraints CA:TRUE for a leaf profile.",
    Check.EXT_USAGE: "The CSR requests a forbidden usage for a leaf profile (keyCertSign, "
                     "cRLSign, codeSigning, timeStamping, OCSPSigning, anyExtendedKeyUsage).",
    Check.PROFILE_UNKNOWN: "The request names a profile that is not configured.",
    Check.CA_UNKNOWN: "The request names an issuing CA that does not exist.",
    Check.CA_ROOT_LEAF: "The root may not issue leaf certificates (root_may_issue_leaves is "
                        "off).",
    Check.CA_PROFILE: "The issuing CA may not issue this profile (sub-CAs only from the root, "
                      "leaves only from a CA configured for the profile).",
    Check.ASSURANCE_POINTS: "The subscriber has fewer assurance points than the CA or the "
                            "profile requires (Class 3: 50).",
}

ProfileKind = Literal["server", "client", "email", "subca"]


@dataclass(frozen=True)
class VerifiedFacts:
    """What the RA verified about the subscriber; the only source of certificate names (I8)."""

    dns: tuple[str, ...]
    email: tuple[str, ...]
    name: str | None
    points: int


@dataclass(frozen=True)
class Request:
    id: str
    ca: str
    profile: str
    csr: bytes
    verified: VerifiedFacts
    subscriber: str


@dataclass(frozen=True)
class ProfileRules:
    name: str
    kind: ProfileKind
    max_days: int
    max_days_low_points: int
    allow_wildcard: bool = False
    allow_ip: bool = False
    allow_internal: bool = False
    min_points: int = 0
    clip_to_issuer: bool = False  # a validity past the issuer's end is cut, not refused


@dataclass(frozen=True)
class IssuerInfo:
    name: str
    is_root: bool
    min_points: int
    public_key_sha256: str  # hex SHA-256 of the CA's SubjectPublicKeyInfo DER
    profiles: frozenset[str]  # profiles this CA may issue


@dataclass(frozen=True)
class PolicyContext:
    issuers: Mapping[str, IssuerInfo]
    profiles: Mapping[str, ProfileRules]
    root_may_issue_leaves: bool
    key_owner: Callable[[str], str | None]  # SPKI SHA-256 hex -> subscriber certified, or None
    personal_name_min_points: int = 50
    max_names: int = 100
    max_csr_bytes: int = 16384


@dataclass(frozen=True)
class Reason:
    code: Check
    message: str


@dataclass(frozen=True)
class Decision:
    """The verdict, and the only request data issuance may use (I8)."""

    request_id: str
    accepted: bool
    reasons: tuple[Reason, ...]
    ca: str
    profile: str
    public_key_der: bytes | None  # SPKI DER of the CSR's key, when parseable
    spki_sha256: str | None
    key_type: str | None  # "rsa-2048", "ec-p256", "ed25519", ...
    common_name: str | None
    dns_names: tuple[str, ...]
    emails: tuple[str, ...]
    personal_name: str | None
    days: int  # validity granted; 0 when rejected
    needs_approval: bool  # profile kind "subca": custodians approve explicitly


# RFC 5758 §3.2, RFC 4055 §5, RFC 8410 §3: SHA-2 family signatures, and Ed25519.
_GOOD_SIGALGS = frozenset({
    SignatureAlgorithmOID.RSA_WITH_SHA256, SignatureAlgorithmOID.RSA_WITH_SHA384,
    SignatureAlgorithmOID.RSA_WITH_SHA512, SignatureAlgorithmOID.ECDSA_WITH_SHA256,
    SignatureAlgorithmOID.ECDSA_WITH_SHA384, SignatureAlgorithmOID.ECDSA_WITH_SHA512,
    SignatureAlgorithmOID.ED25519, SignatureAlgorithmOID.RSASSA_PSS,
})
_PSS_HASHES = frozenset({"sha256", "sha384", "sha512"})
# Usages a subscriber may never obtain from a leaf profile (BR §7.1.2.7.10/11, RFC 5280
# §4.2.1.3, §4.2.1.12): signing certificates or CRLs, code, timestamps or OCSP responses.
_FORBIDDEN_EKUS = {
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE: "anyExtendedKeyUsage",
}


class _Reasons:
    """Collects reasons once each, in the order found."""

    def __init__(self) -> None:
        self.items: dict[Reason, None] = {}

    def add(self, code: Check, message: str) -> None:
        self.items.setdefault(Reason(code, message), None)

    def add_names(self, findings: Sequence[NameFinding]) -> None:
        for f in findings:
            self.add(Check(f"name.{f.kind}"), f.message)

    def has(self, code: Check) -> bool:
        return any(r.code == code for r in self.items)


@dataclass(frozen=True)
class _Asked:
    """Names the CSR asks for (deduplicated, in order)."""

    has_san: bool
    dns: tuple[str, ...]
    emails: tuple[str, ...]  # SAN rfc822Names then subject emailAddress
    ips: tuple[str, ...]
    common_names: tuple[str, ...]
    san_count: int


def parse_csr(data: bytes, max_bytes: int) -> tuple[x509.CertificateSigningRequest | None,
                                                     list[Reason]]:
    """Strictly parse a PEM or DER CSR; the size cap comes first so big input is never parsed."""
    if len(data) > max_bytes:
        return None, [Reason(Check.CSR_SIZE, f"CSR of {len(data)} bytes exceeds {max_bytes}")]
    if not data:
        return None, [Reason(Check.CSR_PARSE, "CSR is empty")]
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            if data.count(b"-----BEGIN") != 1:
                return None, [Reason(Check.CSR_PARSE, "PEM input must hold exactly one CSR")]
            csr = x509.load_pem_x509_csr(data)
        else:
            csr = x509.load_der_x509_csr(data)  # rejects trailing bytes
        # Loading is lazy: touch every part we rely on so a malformed one fails here.
        _ = csr.subject, csr.extensions, csr.signature_algorithm_oid
        if _signature_unused_bits(csr.public_bytes(serialization.Encoding.DER)):
            # DER (X.690 §11.2): a signature is whole octets; OpenSSL ignores the count.
            return None, [Reason(Check.CSR_PARSE, "CSR signature BIT STRING has unused bits")]
    except Exception as exc:  # hostile input: every failure is a refusal, never a crash
        return None, [Reason(Check.CSR_PARSE,
                             f"CSR is not a valid PKCS#10 request ({type(exc).__name__})")]
    return csr, []


def _signature_unused_bits(der: bytes) -> int:
    """The unused-bits octet of the CSR's final element, the signature BIT STRING."""
    def skip_header(buf: bytes, pos: int) -> tuple[int, int]:
        length = buf[pos + 1]
        pos += 2
        if length & 0x80:
            n = length & 0x7F
            length = int.from_bytes(buf[pos:pos + n], "big")
            pos += n
        return pos, length

    body, _ = skip_header(der, 0)  # CertificationRequest SEQUENCE
    pos = body
    for _ in range(2):  # certificationRequestInfo, signatureAlgorithm
        start, length = skip_header(der, pos)
        pos = start + length
    if der[pos] != 0x03:
        raise ValueError("signature is not a BIT STRING")
    start, _ = skip_header(der, pos)
    return der[start]


def _check_signature(csr: x509.CertificateSigningRequest, out: _Reasons) -> None:
    oid = csr.signature_algorithm_oid
    label = getattr(oid, "_name", None) or oid.dotted_string
    if oid not in _GOOD_SIGALGS:
        # No csr.signature as well: cryptography declines to verify SHA-1/MD5 signatures at all,
        # so "does not verify" would be a guess; the algorithm alone refuses the request.
        out.add(Check.CSR_SIGALG, f"CSR signature algorithm {label} is not accepted "
                                  "(SHA-1 and MD5 are broken; use SHA-256 or better)")
        return
    if oid == SignatureAlgorithmOID.RSASSA_PSS:
        try:
            hash_name = csr.signature_hash_algorithm.name if csr.signature_hash_algorithm else ""
        except Exception:
            hash_name = ""
        if hash_name not in _PSS_HASHES:
            out.add(Check.CSR_SIGALG, "CSR RSA-PSS signature does not use SHA-256 or better")
    try:
        valid = csr.is_signature_valid
    except Exception:  # unsupported key or algorithm: no proof of possession either way
        valid = False
    if not valid:
        out.add(Check.CSR_SIGNATURE, "CSR self-signature does not verify (no proof of "
                                     "possession of the private key)")


def _check_key(request: Request, csr: x509.CertificateSigningRequest, ctx: PolicyContext,
               out: _Reasons) -> tuple[bytes | None, str | None, str | None]:
    try:
        public = csr.public_key()
    except Exception:
        out.add(Check.KEY_TYPE, "the CSR's key algorithm is not supported")
        return None, None, None
    for f in check_public_key(public):
        out.add(Check(f"key.{f.kind}"), f.message)
    # Hash the canonical re-encoding, as the CA side does (profiles.spki_sha256): a compressed
    # and an uncompressed EC point are the same key and must collide here.
    der = public.public_bytes(serialization.Encoding.DER,
                              serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashlib.sha256(der).hexdigest()
    if any(i.public_key_sha256.lower() == digest for i in ctx.issuers.values()):
        out.add(Check.KEY_CA, "the key is a CA key of this appliance")
    owner = ctx.key_owner(digest)
    if owner is not None and owner != request.subscriber:
        out.add(Check.KEY_DUPLICATE, "the key is already certified for another subscriber")
    return der, digest, key_type(public)


def _check_extensions(csr: x509.CertificateSigningRequest, out: _Reasons) -> None:
    """Requested extensions are ignored (I8) except a request for CA powers or bad usages."""
    for ext in csr.extensions:
        value = ext.value
        if isinstance(value, x509.BasicConstraints) and value.ca:
            out.add(Check.EXT_CA, "CSR requests basicConstraints CA:TRUE (RFC 5280 §4.2.1.9)")
        elif isinstance(value, x509.KeyUsage) and (value.key_cert_sign or value.crl_sign):
            out.add(Check.EXT_USAGE, "CSR requests keyCertSign or cRLSign (RFC 5280 §4.2.1.3)")
        elif isinstance(value, x509.ExtendedKeyUsage):
            for oid in value:
                if oid in _FORBIDDEN_EKUS:
                    out.add(Check.EXT_USAGE, f"CSR requests extended key usage "
                                             f"{_FORBIDDEN_EKUS[oid]} (BR §7.1.2.7.10)")


def _asked_names(csr: x509.CertificateSigningRequest, out: _Reasons) -> _Asked:
    dns: list[str] = []
    emails: list[str] = []
    ips: list[str] = []
    has_san, san_count = False, 0
    for ext in csr.extensions:
        if not isinstance(ext.value, x509.SubjectAlternativeName):
            continue
        has_san = True
        for gn in ext.value:
            san_count += 1
            if isinstance(gn, x509.DNSName):
                dns.append(gn.value)
            elif isinstance(gn, x509.RFC822Name):
                emails.append(gn.value)
            elif isinstance(gn, x509.IPAddress):
                ips.append(str(gn.value))
            else:
                out.add(Check.NAME_TYPE, f"SAN of type {type(gn).__name__} is not issued")
    for attr in csr.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS):
        emails.append(attr.value if isinstance(attr.value, str) else repr(attr.value))
    cns = [a.value if isinstance(a.value, str) else repr(a.value)
           for a in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if len(cns) > 1:
        out.add(Check.NAME_TYPE, f"the subject has {len(cns)} CNs; at most one is allowed")
    return _Asked(has_san, tuple(dict.fromkeys(dns)), tuple(dict.fromkeys(emails)),
                  tuple(dict.fromkeys(ips)), tuple(cns), san_count)


@dataclass(frozen=True)
class _Names:
    common_name: str | None = None
    dns: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    personal_name: str | None = None


def _judge_names(asked: _Asked, rules: ProfileRules | None, facts: VerifiedFacts,
                 ctx: PolicyContext, out: _Reasons) -> _Names:
    """DESIGN §4 Names: each asked name verified and well-formed; the result per profile kind."""
    wild, ip, internal = (rules.allow_wildcard, rules.allow_ip, rules.allow_internal) if rules \
        else (False, False, False)
    kind = rules.kind if rules else None

    def dns_ok(name: str, asked_for: bool) -> bool:
        found = check_dns_name(name, allow_wildcard=wild, allow_ip=ip, allow_internal=internal)
        out.add_names(found)
        if asked_for and not any(f.kind == "syntax" for f in found) and name not in facts.dns:
            out.add(Check.NAME_UNVERIFIED, f"DNS name {ascii(name)} is not verified")
        return not found

    def email_ok(address: str, asked_for: bool) -> bool:
        found = check_email(address, allow_internal=internal)
        out.add_names(found)
        if asked_for and not found and address not in facts.email:
            out.add(Check.NAME_UNVERIFIED, f"email address {ascii(address)} is not verified")
        return not found

    def ip_refused(address: str) -> None:
        if not ip:
            out.add(Check.NAME_IP, f"IP address {ascii(address)} is not allowed in this profile")
        else:  # VerifiedFacts carries no IP addresses, so none can be verified (I8)
            out.add(Check.NAME_UNVERIFIED, f"IP address {ascii(address)} cannot be verified")

    # Every asked name is checked whatever the profile carries ("every SAN ... verified").
    for address in asked.ips:
        ip_refused(address)
    for name in asked.dns:
        dns_ok(name, True)
    for address in asked.emails:
        email_ok(address, True)
    # If the CSR asks for no names, the verified facts stand in; they go into the certificate,
    # so they are checked like asked names.
    dns, emails = asked.dns, asked.emails
    if not asked.has_san:
        dns = facts.dns
        for name in dns:
            dns_ok(name, False)
        if not emails:
            emails = facts.email
            for address in emails:
                email_ok(address, False)
    total = max(asked.san_count, len(dns) + len(emails))
    if total > ctx.max_names:
        out.add(Check.NAME_COUNT, f"{total} names exceed the cap of {ctx.max_names}")

    cn = asked.common_names[0] if asked.common_names else None
    if kind == "server":
        if cn is not None:
            if is_ip_literal(cn):
                ip_refused(cn)
            elif dns_ok(cn, True) and cn not in dns:
                out.add(Check.NAME_CN_NOT_SAN, f"CN {ascii(cn)} is not one of the SAN DNS names "
                                               "(BR §7.1.4.3)")
        if not dns:
            out.add(Check.NAME_MISSING, "a server certificate needs at least one DNS name")
        return _Names(common_name=cn, dns=dns)
    personal = None
    if cn is not None and kind in ("client", "email"):
        out.add_names(check_personal_name(cn))
        if facts.name is None or cn != facts.name:
            out.add(Check.NAME_UNVERIFIED, f"CN {ascii(cn)} is not the verified personal name")
        elif facts.points < ctx.personal_name_min_points:
            out.add(Check.NAME_PERSONAL, f"a personal name needs {ctx.personal_name_min_points} "
                                         f"assurance points; the subscriber has {facts.points}")
        else:
            personal = cn
    if kind == "email":
        if not emails:
            out.add(Check.NAME_MISSING, "an email certificate needs a verified email address")
        return _Names(common_name=personal, emails=emails, personal_name=personal)
    if kind == "client":
        if not (dns or emails or personal):
            out.add(Check.NAME_MISSING, "a client certificate needs a verified name")
        return _Names(common_name=personal, dns=dns, emails=emails, personal_name=personal)
    if kind == "subca":
        # The sub-CA's CN is the organisation or CA name the RA verified (facts.name).
        ca_name = cn if cn is not None else facts.name
        if ca_name is None:
            out.add(Check.NAME_MISSING, "a sub-CA certificate needs a verified CN")
        else:
            out.add_names(check_personal_name(ca_name))
            if ca_name != facts.name:
                out.add(Check.NAME_UNVERIFIED, f"CN {ascii(ca_name)} is not the verified name")
        return _Names(common_name=ca_name)
    return _Names()


def _check_issuer(request: Request, rules: ProfileRules | None, ctx: PolicyContext,
                  out: _Reasons) -> IssuerInfo | None:
    if rules is None:
        out.add(Check.PROFILE_UNKNOWN, f"profile {request.profile!r} is not configured")
    issuer = ctx.issuers.get(request.ca)
    if issuer is None:
        out.add(Check.CA_UNKNOWN, f"issuing CA {request.ca!r} does not exist")
        return None
    if rules is None:
        return issuer
    if rules.kind == "subca":
        if not issuer.is_root:
            out.add(Check.CA_PROFILE, f"sub-CA certificates are issued by the root only, "
                                      f"not by {issuer.name!r}")
    elif issuer.is_root and not ctx.root_may_issue_leaves:
        out.add(Check.CA_ROOT_LEAF, f"the root {issuer.name!r} may not issue leaf certificates")
        return issuer
    if rules.name not in issuer.profiles and not out.has(Check.CA_PROFILE):
        out.add(Check.CA_PROFILE, f"CA {issuer.name!r} may not issue profile {rules.name!r}")
    return issuer


def _granted_days(rules: ProfileRules, points: int, ctx: PolicyContext) -> int:
    if rules.kind == "subca":
        return rules.max_days  # custodians approve each sub-CA; points describe persons
    if points >= ctx.personal_name_min_points:
        return rules.max_days
    # CAcert: shorter validity below 50 points; never longer than the profile's cap.
    return min(rules.max_days, rules.max_days_low_points)


def evaluate(request: Request, ctx: PolicyContext) -> Decision:
    """Run every check on one request and return the verdict with all reasons found."""
    out = _Reasons()
    rules = ctx.profiles.get(request.profile)
    facts = request.verified
    issuer = _check_issuer(request, rules, ctx, out)
    csr, parse_reasons = parse_csr(request.csr, ctx.max_csr_bytes)
    for r in parse_reasons:
        out.add(r.code, r.message)
    der = digest = ktype = None
    names = _Names()
    if csr is not None:
        _check_signature(csr, out)
        der, digest, ktype = _check_key(request, csr, ctx, out)
        if rules is None or rules.kind != "subca":
            _check_extensions(csr, out)
        names = _judge_names(_asked_names(csr, out), rules, facts, ctx, out)
    if issuer is not None and facts.points < issuer.min_points:
        out.add(Check.ASSURANCE_POINTS, f"CA {issuer.name!r} needs {issuer.min_points} "
                                        f"assurance points; the subscriber has {facts.points}")
    if rules is not None and facts.points < rules.min_points:
        out.add(Check.ASSURANCE_POINTS, f"profile {rules.name!r} needs {rules.min_points} "
                                        f"assurance points; the subscriber has {facts.points}")
    reasons = tuple(out.items)
    accepted = not reasons
    return Decision(
        request_id=request.id, accepted=accepted, reasons=reasons, ca=request.ca,
        profile=request.profile, public_key_der=der, spki_sha256=digest, key_type=ktype,
        common_name=names.common_name, dns_names=names.dns, emails=names.emails,
        personal_name=names.personal_name,
        days=_granted_days(rules, facts.points, ctx) if accepted and rules else 0,
        needs_approval=rules is not None and rules.kind == "subca",
    )


def evaluate_batch(requests: Sequence[Request], ctx: PolicyContext) -> list[Decision]:
    """evaluate() each request; then a key may be certified once per batch, for one subscriber.

    A key in requests of two subscribers is refused in all of them (they cannot both hold it,
    and picking the first would make the verdict depend on order). A key that several
    otherwise-acceptable requests of one subscriber share is refused in those too; repeats in
    requests already refused for other reasons certify nothing and are left alone.
    """
    decisions = [evaluate(r, ctx) for r in requests]
    subscribers: dict[str, set[str]] = {}
    accepted: Counter[str] = Counter()
    for r, d in zip(requests, decisions, strict=True):
        if d.spki_sha256 is not None:
            subscribers.setdefault(d.spki_sha256, set()).add(r.subscriber)
            accepted[d.spki_sha256] += d.accepted
    result = []
    for d in decisions:
        key = d.spki_sha256
        message = None
        if key is not None and len(subscribers[key]) > 1:
            message = f"the key appears in requests of {len(subscribers[key])} subscribers"
        elif key is not None and d.accepted and accepted[key] > 1:
            message = f"the key appears in {accepted[key]} requests of this batch"
        if message is not None:
            extra = Reason(Check.KEY_DUPLICATE, message + " (a key is certified once per batch)")
            d = dataclasses.replace(d, accepted=False, reasons=(*d.reasons, extra), days=0)
        result.append(d)
    return result


def enforce(decision: Decision) -> None:
    """Raise PolicyError for the first reason; a decision without reasons passes."""
    if decision.reasons:
        first = decision.reasons[0]
        raise PolicyError(str(first.code), first.message)
    if not decision.accepted:
        raise PolicyError("policy", "request rejected without a reason")


def render_markdown() -> str:
    """docs/checks.md: every check code and its sentence, generated so it cannot drift."""
    lines = [
        "# Policy checks",
        "",
        "Generated by `python -m signer.policy --markdown > docs/checks.md`; do not edit.",
        "Codes are stable: the RA, reviewers and auditors rely on them.",
        "",
        "| code | meaning |",
        "|---|---|",
    ]
    lines += [f"| `{c.value}` | {CHECK_DOCS[c]} |" for c in Check]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m signer.policy")
    parser.add_argument("--markdown", action="store_true", help="print docs/checks.md")
    args = parser.parse_args(argv)
    if not args.markdown:
        parser.print_help()
        return 2
    sys.stdout.write(render_markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
