"""Issuing one certificate from a policy decision: build, lint, sign, verify (I5, I6, I8).

``build_certificate`` is pure: the TBS comes from the profile, the configuration and the
decision's verified facts only. ``issue_one`` runs the lint-sign-lint sequence with a CA key.
The same code runs in the ceremony process and in signing worker processes (``signer.workers``),
which each open their own token session (python-pkcs11 keeps login state per process).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from signer.config import Config
from signer.lint import lint_certificate, sign_certificate
from signer.profiles import build_leaf, build_sub, lint_kind


@dataclass(frozen=True)
class Job:
    """One certificate to issue: request id, the stored decision, the serial chosen upstream."""

    request_id: str
    decision: dict[str, Any]
    serial: int


@dataclass(frozen=True)
class Issued:
    request_id: str
    der: bytes
    tbs_sha256: str


def build_certificate(cfg: Config, d: dict[str, Any], serial: int, issuer_cert: x509.Certificate,
                      now: dt.datetime) -> tuple[x509.CertificateBuilder, str]:
    """The TBS for a decision and the pkilint linter that judges it."""
    prof = cfg.profiles[d["profile"]]
    public = serialization.load_der_public_key(base64.b64decode(d["public_key_der"]))
    policies = cfg.leaf_policy_oids.get(d["profile"], cfg.leaf_policy_oids.get(prof.kind, ()))
    if prof.kind == "subca":
        cn = d["personal_name"] or d["common_name"] or (d["dns_names"] or [d["subscriber"]])[0]
        subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, cn)])
        days = min(d["days"], (issuer_cert.not_valid_after_utc - now).days)
        b = build_sub(subject, public, serial, now, days, issuer_cert, d["ca"],
                      cfg.crl_base, cfg.aia_base, policies or cfg.ca_policies_oids)
        return b, "pkix"
    b = build_leaf(
        kind=prof.kind, public=public, serial=serial, now=now, days=d["days"],
        issuer_cert=issuer_cert, issuer_name=d["ca"], crl_base=cfg.crl_base,
        aia_base=cfg.aia_base, policies=policies, common_name=d["common_name"],
        personal_name=d["personal_name"], dns_names=tuple(d["dns_names"]),
        emails=tuple(d["emails"]))
    return b, lint_kind(prof.kind, d["personal_name"])


def issue_one(cfg: Config, job: Job, key: Any, issuer_cert: x509.Certificate,
              now: dt.datetime) -> Issued:
    """Lint a throwaway-key copy, sign with the CA key, compare TBS, lint again, verify."""
    builder, kind = build_certificate(cfg, job.decision, job.serial, issuer_cert, now)
    what = f"request {job.request_id}"
    linted = lint_certificate(builder, key.public_key(), kind, what)
    cert = sign_certificate(linted, key, what)
    cert.verify_directly_issued_by(issuer_cert)  # I5, against the CA certificate itself
    return Issued(job.request_id, cert.public_bytes(serialization.Encoding.DER),
                  hashlib.sha256(linted.tbs).hexdigest())
