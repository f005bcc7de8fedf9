"""Judging the names a request asks for (DESIGN §4 Names, I8): the policy engine's name step.

What it does: collects the names a CSR asks for (SANs, subject CNs and emailAddress), checks
each for syntax (`signer.core.policy.syntax`) and against the facts the RA verified, applies the profile
kind's rules (server CN among the SANs, personal names only with enough points, sub-CA CN),
and returns the names a certificate may carry; every problem becomes a reason.

What it deliberately does not: normalise a name (one not already canonical is refused), or
take a name from anywhere but the CSR and the verified facts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

from signer.core.policy.checks import Check
from signer.core.policy.model import PolicyContext, ProfileRules, Reasons, VerifiedFacts
from signer.core.policy.syntax import (
    MAX_PERSONAL_NAME,
    NameFinding,
    check_dns_name,
    check_email,
    check_personal_name,
    is_ip_literal,
)

MAX_COMMON_NAME = MAX_PERSONAL_NAME  # RFC 5280 Appendix A: ub-common-name, for any CN


@dataclass(frozen=True)
class Asked:
    """Names the CSR asks for (deduplicated, in order)."""

    has_san: bool
    dns: tuple[str, ...]
    emails: tuple[str, ...]  # SAN rfc822Names then subject emailAddress
    ips: tuple[str, ...]
    common_names: tuple[str, ...]
    san_count: int


def _add_findings(out: Reasons, findings: Sequence[NameFinding]) -> None:
    for f in findings:
        out.add(Check(f"name.{f.kind}"), f.message)


def asked_names(csr: x509.CertificateSigningRequest, out: Reasons) -> Asked:
    """The names a CSR asks for; SAN types and CN counts never issued become reasons."""
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
    return Asked(has_san, tuple(dict.fromkeys(dns)), tuple(dict.fromkeys(emails)),
                  tuple(dict.fromkeys(ips)), tuple(cns), san_count)


@dataclass(frozen=True)
class Names:
    common_name: str | None = None
    dns: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    personal_name: str | None = None


def judge_names(asked: Asked, rules: ProfileRules | None, facts: VerifiedFacts,
                 ctx: PolicyContext, out: Reasons) -> Names:
    """DESIGN §4 Names: each asked name verified and well-formed; the result per profile kind."""
    wild, ip, internal = (rules.allow_wildcard, rules.allow_ip, rules.allow_internal) if rules \
        else (False, False, False)
    kind = rules.kind if rules else None

    def dns_ok(name: str, asked_for: bool) -> bool:
        found = check_dns_name(name, allow_wildcard=wild, allow_ip=ip, allow_internal=internal)
        _add_findings(out, found)
        if asked_for and not any(f.kind == "syntax" for f in found) and name not in facts.dns:
            out.add(Check.NAME_UNVERIFIED, f"DNS name {ascii(name)} is not verified")
        return not found

    def email_ok(address: str, asked_for: bool) -> bool:
        found = check_email(address, allow_internal=internal)
        _add_findings(out, found)
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
            if len(cn) > MAX_COMMON_NAME:
                # A DNS name may have 253 characters, a CN only 64 (RFC 5280 Appendix A
                # ub-common-name): the certificate could not be built. The SAN carries it.
                out.add(Check.NAME_SYNTAX, f"CN of {len(cn)} characters exceeds "
                                           f"{MAX_COMMON_NAME} (RFC 5280 ub-common-name); "
                                           "leave the CN out")
        if not dns:
            out.add(Check.NAME_MISSING, "a server certificate needs at least one DNS name")
        return Names(common_name=cn, dns=dns)
    personal = None
    if cn is not None and kind in ("client", "email"):
        _add_findings(out, check_personal_name(cn))
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
        return Names(common_name=personal, emails=emails, personal_name=personal)
    if kind == "client":
        if not (dns or emails or personal):
            out.add(Check.NAME_MISSING, "a client certificate needs a verified name")
        return Names(common_name=personal, dns=dns, emails=emails, personal_name=personal)
    if kind == "subca":
        # The sub-CA's CN is the organisation or CA name the RA verified (facts.name).
        ca_name = cn if cn is not None else facts.name
        if ca_name is None:
            out.add(Check.NAME_MISSING, "a sub-CA certificate needs a verified CN")
        else:
            _add_findings(out, check_personal_name(ca_name))
            if ca_name != facts.name:
                out.add(Check.NAME_UNVERIFIED, f"CN {ascii(ca_name)} is not the verified name")
        return Names(common_name=ca_name)
    return Names()
