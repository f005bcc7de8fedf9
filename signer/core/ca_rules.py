"""The rules a CA certificate must meet before a key ceremony asks the token anything.

Each rule raises ``PolicyError`` with its stable code (``signer.core.policy.checks``) and one
sentence: the validity inside the issuer's (``ca.validity``), a key fit for a CA
(``ca.key``), the profile's kind and hash for the issuing key (``ca.profile``, ``ca.hash``),
name constraints the certificate itself and its issuer allow (``ca.constraints``), usages
within the issuer's (``ca.eku``). Pure: certificates, keys and times are passed in.

Deliberately not here: which CA is meant (the service reads the ledger and the log), and
building or signing (``signer.core.profiles``, ``signer.core.lint``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from signer.core.ca_profiles import EKU_NAMES, CAKind, CAProfile, hash_problem
from signer.core.policy.checks import CeremonyCheck
from signer.core.policy.constraints import NameConstraintRules
from signer.core.policy.syntax import check_dns_name
from signer.core.sigalg import SignatureChoice, key_kind
from signer.errors import PolicyError

CA_KEY_KINDS = ("rsa-3072", "rsa-4096", "ec-p256", "ec-p384")


def refuse(code: CeremonyCheck, message: str) -> PolicyError:
    return PolicyError(str(code), message)


def check_profile_kind(profile: CAProfile, kinds: Iterable[CAKind], what: str) -> None:
    allowed = tuple(kinds)
    if profile.kind not in allowed:
        raise refuse(CeremonyCheck.CA_PROFILE, f"profile {profile.name!r} is of kind {profile.kind!r}; "
                                       f"{what} takes a profile of kind "
                                       f"{' or '.join(repr(k) for k in allowed)}")


def check_ca_key(public: Any, label: str) -> None:
    kind = key_kind(public)
    if kind not in CA_KEY_KINDS:
        raise refuse(CeremonyCheck.CA_KEY, f"key {label!r} ({kind}) is not allowed for a CA "
                                   f"({', '.join(CA_KEY_KINDS)})")


def check_hash(profile: CAProfile, issuer_public: Any) -> SignatureChoice | None:
    """The signature the profile asks of the issuing key, if that key may make it."""
    problem = hash_problem(profile, issuer_public)
    if problem:
        raise refuse(CeremonyCheck.CA_HASH, problem)
    if profile.hash == "auto":
        return None
    return SignatureChoice(profile.hash, profile.rsa_pss)


def validity_days(now: dt.datetime, days: int | None, profile: CAProfile,
                  issuer_cert: x509.Certificate | None, issuer_name: str) -> int:
    """``days`` (default: as long as the profile and the issuer allow), checked: the issuer
    valid now, the new certificate ending no later than the issuer (never clipped)."""
    if issuer_cert is not None:
        if not issuer_cert.not_valid_before_utc <= now < issuer_cert.not_valid_after_utc:
            raise refuse(CeremonyCheck.CA_VALIDITY, f"issuer CA {issuer_name!r} is not valid at the "
                                            f"ceremony time {now:%Y-%m-%dT%H:%M:%SZ}")
        remaining = int((issuer_cert.not_valid_after_utc - now).total_seconds() // 86400)
        if days is None:
            days = max(1, min(profile.max_days, remaining))
        if days > remaining:
            raise refuse(CeremonyCheck.CA_VALIDITY, f"--days {days} would end after issuer CA "
                                            f"{issuer_name!r} (valid until "
                                            f"{issuer_cert.not_valid_after_utc:%Y-%m-%d}, "
                                            f"{remaining} days from now)")
    days = profile.max_days if days is None else days
    if not 1 <= days <= profile.max_days:
        raise refuse(CeremonyCheck.CA_VALIDITY, f"--days {days}: profile {profile.name!r} allows 1 to "
                                        f"{profile.max_days} days")
    return days


def _subject_names(subject: x509.Name) -> tuple[list[str], list[str]]:
    """DNS-like CNs and e-mail addresses of a CA subject, which relying parties hold against
    name constraints (RFC 5280 §4.2.1.10 for emailAddress; CNs by legacy clients)."""
    dns, emails = [], []
    for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME):
        v = str(a.value)
        if "." in v and " " not in v and not check_dns_name(
                v, allow_wildcard=False, allow_ip=False, allow_internal=True):
            dns.append(v)
    for a in subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS):
        emails.append(str(a.value))
    return dns, emails


def _violations(rules: NameConstraintRules, subject: x509.Name) -> list[str]:
    dns, emails = _subject_names(subject)
    out = [f"its CN {d!r}" for d in dns if not rules.dns_allowed(d)]
    out += [f"its e-mail address {e!r}" for e in emails if not rules.email_allowed(e)]
    if rules.permitted_dirnames or rules.excluded_dirnames:
        if not rules.dirname_allowed(subject):
            out.append(f"its subject {subject.rfc4514_string()!r}")
    return out


def check_constraints(profile: CAProfile, subject: x509.Name,
                      issuer_cert: x509.Certificate | None) -> None:
    """The certificate would not break its own profile's constraints, nor its issuer's
    (which apply to it, RFC 5280 §6.1.3(b)), nor claim subtrees its issuer does not allow."""
    own = _violations(profile.constraints, subject) if not profile.constraints.empty else []
    if own:
        raise refuse(CeremonyCheck.CA_CONSTRAINTS, f"profile {profile.name!r}: the CA certificate "
                                           f"itself would violate its name constraints "
                                           f"({own[0]} is outside them)")
    issuer_rules = (NameConstraintRules.of_certificate(issuer_cert)
                    if issuer_cert is not None else None)
    if issuer_rules is None:
        return
    theirs = _violations(issuer_rules, subject) + profile.constraints.within(issuer_rules)
    if theirs:
        raise refuse(CeremonyCheck.CA_CONSTRAINTS, f"profile {profile.name!r}: outside the issuer's "
                                           f"name constraints ({theirs[0]})")


def check_path_len(profile: CAProfile, issuer_cert: x509.Certificate | None,
                   issuer_name: str) -> None:
    """RFC 5280 §4.2.1.9: a CA whose pathLenConstraint is 0 certifies no CA, and a CA below
    an issuer with pathLen n may allow at most n - 1 more."""
    if issuer_cert is None:
        return
    try:
        bc = issuer_cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        bc = None
    if bc is None or not bc.ca:
        raise refuse(CeremonyCheck.CA_PROFILE, f"issuer {issuer_name!r} is not a CA")
    if bc.path_length is None:
        return
    if bc.path_length == 0:
        raise refuse(CeremonyCheck.CA_PROFILE, f"issuer CA {issuer_name!r} has pathLen 0: it "
                                               "may not certify another CA")
    if profile.path_len is None or profile.path_len >= bc.path_length:
        raise refuse(CeremonyCheck.CA_PROFILE, f"profile {profile.name!r} allows a deeper "
                                               f"chain than issuer CA {issuer_name!r} (pathLen "
                                               f"{bc.path_length})")


def issuer_ekus(cert: x509.Certificate) -> frozenset[str] | None:
    """The usages a CA certificate is restricted to (names), or None if unrestricted."""
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    return frozenset(EKU_NAMES.get(o, o.dotted_string) for o in eku)


def check_eku(profile: CAProfile, issuer_cert: x509.Certificate | None,
              issuer_name: str) -> None:
    allowed = issuer_ekus(issuer_cert) if issuer_cert is not None else None
    if allowed is None:
        return
    extra = [e for e in profile.ekus if e not in allowed] if profile.ekus else ["any usage"]
    if extra:
        raise refuse(CeremonyCheck.CA_EKU, f"profile {profile.name!r} asks for {extra[0]}, but issuer "
                                   f"CA {issuer_name!r} is restricted to "
                                   f"{', '.join(sorted(allowed))}")
