"""Judging the names a request asks for (DESIGN §4 Names, I8): the policy engine's name step.

What it does: collects the names a CSR asks for (SANs, subject CNs and emailAddress), checks
each for syntax (`signer.core.policy.syntax`) and against the facts the RA verified, applies the profile
kind's rules (server CN among the SANs, personal names only with enough points, sub-CA CN),
and returns the names a certificate may carry; every problem becomes a reason.

What it deliberately does not: normalise a name (one not already canonical is refused), or
take a name from anywhere but the CSR and the verified facts.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

from signer.core.policy.checks import Check, Notice
from signer.core.policy.constraints import NameConstraintRules
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
    given_name: str | None = None
    surname: str | None = None


def _same_name(a: str, b: str) -> bool:
    """The CSR's CN names the verified person: the same text, whatever Unicode normalisation
    the member's tool applied (the certificate carries the RA's verified text, unchanged)."""
    return unicodedata.normalize("NFC", a) == unicodedata.normalize("NFC", b)


def _personal(cn: str | None, kind: str, facts: VerifiedFacts, ctx: PolicyContext,
              out: Reasons) -> str | None:
    """The personal name a client or e-mail certificate carries, from the CSR's proposal.

    The CSR's subject is only a proposal (I8): browser and OS tools put the member's name
    (or address) in the CN. The verified name is granted at the assurance threshold; below
    it, or when the CN is a verified address already in the SAN, the certificate is issued
    without it and a notice says so. A CN that names something else is refused."""
    if cn is None:
        return None
    _add_findings(out, check_personal_name(cn))
    if facts.name is not None and _same_name(cn, facts.name):
        if facts.points >= ctx.personal_name_min_points:
            return facts.name
        out.notice(Notice.NAME_OMITTED,
                   f"the name in the CSR is left out: a personal name needs "
                   f"{ctx.personal_name_min_points} assurance points; the member has "
                   f"{facts.points}")
        return None
    if cn in facts.email:
        out.notice(Notice.NAME_OMITTED, f"the CN {ascii(cn)} is left out; the verified address "
                                        "is in the subjectAltName")
        return None
    out.add(Check.NAME_UNVERIFIED, f"CN {ascii(cn)} is not the verified personal name")
    return None


def judge_constraints(names: Names, kind: str | None, constraints: NameConstraintRules | None,
                      issuer: str, out: Reasons) -> Names:
    """RFC 5280 §4.2.1.10: every SAN within the issuing CA's name constraints, or refused
    (``name.constraints``); a subject outside its directory-name constraints is left out with
    a notice (the names stay in the SAN), or refused when nothing would be left."""
    if constraints is None or constraints.empty or kind in ("subca", "ocsp", None):
        return names
    for d in names.dns:
        if not constraints.dns_allowed(d):
            out.add(Check.NAME_CONSTRAINTS, f"DNS name {ascii(d)} is outside CA {issuer!r}'s "
                                            "name constraints")
    for e in names.emails:
        if not constraints.email_allowed(e):
            out.add(Check.NAME_CONSTRAINTS, f"e-mail address {ascii(e)} is outside CA "
                                            f"{issuer!r}'s name constraints")
    if names.common_name is not None and kind == "server" \
            and not constraints.dns_allowed(names.common_name):
        out.add(Check.NAME_CONSTRAINTS, f"CN {ascii(names.common_name)} is outside CA "
                                        f"{issuer!r}'s name constraints")
    has_subject = names.common_name is not None or names.personal_name is not None
    if has_subject and (constraints.permitted_dirnames or constraints.excluded_dirnames):
        # Our subscriber subjects are a CN (and givenName, surname), never the CA's own
        # organisation: they cannot lie inside a directoryName subtree.
        if not (names.dns or names.emails):
            out.add(Check.NAME_CONSTRAINTS, f"CA {issuer!r}'s directory-name constraints "
                                            "leave no room for this subject, and no SAN "
                                            "would remain")
            return names
        out.notice(Notice.SUBJECT_OMITTED, f"the subject is left out: CA {issuer!r}'s "
                                           "directory-name constraints do not cover it; the "
                                           "names are in the subjectAltName")
        return Names(dns=names.dns, emails=names.emails)
    return names


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
    if kind == "email":
        personal = _personal(cn, kind, facts, ctx, out)
        if not emails:
            out.add(Check.NAME_MISSING, "an email certificate needs a verified email address")
        if personal is not None and facts.given_name and facts.surname:
            for part in (facts.given_name, facts.surname):
                _add_findings(out, check_personal_name(part))
            return Names(common_name=personal, emails=emails, personal_name=personal,
                         given_name=facts.given_name, surname=facts.surname)
        if personal is not None:
            out.notice(Notice.MAILBOX_VALIDATED, "the RA verified no given name and surname: "
                                                 "the certificate is mailbox-validated, "
                                                 "without the name (S/MIME BR §7.1.4.2.1)")
        return Names(emails=emails)
    if kind == "client":
        personal = _personal(cn, kind, facts, ctx, out)
        if not (dns or emails or personal):
            out.add(Check.NAME_MISSING, "a client certificate needs a verified name")
        return Names(common_name=personal, dns=dns, emails=emails, personal_name=personal)
    if kind == "ocsp":
        # A delegated responder is named by the CN the RA verified (its CA's responder).
        responder = cn if cn is not None else facts.name
        if asked.dns or asked.emails or asked.ips:
            out.add(Check.NAME_TYPE, "an OCSP responder certificate carries no "
                                     "subjectAltName (BR §7.1.2.8.2)")
        if responder is None:
            out.add(Check.NAME_MISSING, "an OCSP responder certificate needs a verified CN")
            return Names()
        _add_findings(out, check_personal_name(responder))
        if facts.name is None or not _same_name(responder, facts.name):
            out.add(Check.NAME_UNVERIFIED, f"CN {ascii(responder)} is not the verified name")
            return Names()
        return Names(common_name=facts.name)
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
