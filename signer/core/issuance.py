"""Issuing one certificate from a stored decision: build, lint, sign, verify (I5, I6, I8).

``build_certificate`` is pure: the TBS comes from the profile, the configuration and the
decision's verified facts only. ``issue_one`` builds the TBS once, lints it, has the CA key sign
those exact bytes, and checks and verifies the result (revised I6, I5).
The same code runs in the ceremony process and in signing worker processes (``signer.service.workers``),
which each open their own token session (python-pkcs11 keeps login state per process).

A request that cannot be issued for reasons of its own (the linter refuses it, its validity
would outlast the CA) comes back as ``Failed`` with a code, so the rest of its batch is signed;
a token failure is raised and stops the batch between certificates.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from signer.core.ca_profiles import hash_problem
from signer.core.config import Config
from signer.core.decision import StoredDecision
from signer.core.lint import lint_certificate, sign_certificate
from signer.core.profiles import (
    OutsideConstraints,
    ProfileError,
    build_leaf,
    build_sub,
    ca_lint_kind,
    lint_kind,
)
from signer.core.sigalg import SignatureChoice
from signer.errors import LintError

FAILED_LINT = "issue.lint"
FAILED_VALIDITY = "issue.validity"
FAILED_CONSTRAINTS = "issue.constraints"


@dataclass(frozen=True)
class Job:
    """One certificate to issue: request id, the verified decision, the serial chosen upstream."""

    request_id: str
    decision: StoredDecision
    serial: int


@dataclass(frozen=True)
class Issued:
    request_id: str
    der: bytes
    tbs_sha256: str


@dataclass(frozen=True)
class Failed:
    request_id: str
    code: str
    message: str


class ValidityError(ProfileError):
    """The certificate would not fit inside its issuer's validity."""


def _days_within_issuer(days: int, issuer_cert: x509.Certificate, now: dt.datetime,
                        clip: bool) -> int:
    """RFC 5280 §6.1: a certificate valid beyond its issuer is not usable then. Clip only when
    the profile allows it (``clip_to_issuer``); otherwise refuse, as Boulder does."""
    remaining = issuer_cert.not_valid_after_utc - now
    if days * 86400 <= remaining.total_seconds() + 1:
        return days
    if clip and remaining.days >= 1:
        return remaining.days
    raise ValidityError(
        f"a validity of {days} days from {now:%Y-%m-%d} would outlast the issuing CA "
        f"(valid until {issuer_cert.not_valid_after_utc:%Y-%m-%d})"
        + ("" if clip else "; the profile does not clip to the issuer (clip_to_issuer)"))


def linter_for(cfg: Config, d: StoredDecision) -> str:
    """The pkilint linter that judges the certificate of decision ``d``."""
    prof = cfg.profiles[d.profile]
    if prof.kind == "subca":
        return ca_lint_kind(cfg.ca_profile(prof.ca_profile or "subca"))
    return lint_kind(prof.kind, d.personal_name, individual=d.given_name is not None)


def build_certificate(cfg: Config, d: StoredDecision, serial: int, issuer_cert: x509.Certificate,
                      now: dt.datetime) -> tuple[x509.CertificateBuilder, str]:
    """The TBS for a decision and the pkilint linter that judges it."""
    prof = cfg.profiles[d.profile]
    if d.public_key_der is None:
        raise ProfileError(f"request {d.request_id}: no public key in an accepted decision")
    public = serialization.load_der_public_key(d.public_key_der)
    policies = cfg.leaf_policy_oids.get(d.profile, cfg.leaf_policy_oids.get(prof.kind, ()))
    days = _days_within_issuer(d.days, issuer_cert, now, prof.clip_to_issuer)
    if prof.kind == "subca":
        cn = d.personal_name or d.common_name or (d.dns_names or (d.subscriber,))[0]
        subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, cn)])
        ca_prof = cfg.ca_profile(prof.ca_profile or "subca")
        b = build_sub(subject, public, serial, now, days, issuer_cert, d.ca,
                      cfg.crl_base, cfg.aia_base, policies or cfg.ca_policies_oids,
                      profile=ca_prof)
        return b, linter_for(cfg, d)
    b = build_leaf(
        kind=prof.kind, public=public, serial=serial, now=now, days=days,
        issuer_cert=issuer_cert, issuer_name=d.ca, crl_base=cfg.crl_base,
        aia_base=cfg.aia_base, policies=policies, common_name=d.common_name,
        personal_name=d.personal_name, dns_names=d.dns_names, emails=d.emails,
        given_name=d.given_name, surname=d.surname)
    return b, linter_for(cfg, d)


def signature_choice(cfg: Config, d: StoredDecision, issuer_public: Any) -> SignatureChoice | None:
    """A sub-CA certificate is signed as its CA profile says (hash, RSA-PSS), when the issuing
    key allows it; leaves with the hash matched to the key."""
    prof = cfg.profiles[d.profile]
    if prof.kind != "subca":
        return None
    ca_prof = cfg.ca_profile(prof.ca_profile or "subca")
    problem = hash_problem(ca_prof, issuer_public)
    if problem:
        raise LintError(problem)
    return None if ca_prof.hash == "auto" else SignatureChoice(ca_prof.hash, ca_prof.rsa_pss)


def issue_one(cfg: Config, job: Job, key: Any, issuer_cert: x509.Certificate,
              now: dt.datetime) -> Issued | Failed:
    """Lint a throwaway-key copy, sign its TBS with the CA key, check and verify the result
    against the CA certificate's public key (``signer.core.lint.sign_certificate``)."""
    what = f"request {job.request_id}"
    try:
        builder, kind = build_certificate(cfg, job.decision, job.serial, issuer_cert, now)
        linted = lint_certificate(builder, key.public_key(), kind, what,
                                  signature_choice(cfg, job.decision, key.public_key()))
    except ValidityError as exc:
        return Failed(job.request_id, FAILED_VALIDITY, str(exc)[:1000])
    except OutsideConstraints as exc:  # the CA's constraints changed since the import
        return Failed(job.request_id, FAILED_CONSTRAINTS, str(exc)[:1000])
    except LintError as exc:  # before the token is asked: nothing was signed
        return Failed(job.request_id, FAILED_LINT, str(exc)[:1000])
    # I5: verified with the CA certificate's own public key; the TBS names it as issuer.
    cert = sign_certificate(linted, key, what, issuer_public=issuer_cert.public_key())
    return Issued(job.request_id, cert.public_bytes(serialization.Encoding.DER),
                  hashlib.sha256(linted.tbs).hexdigest())
