"""The key ceremony: CA keys generated in the token, the root and its sub-CAs.

Steps of a CA certificate ceremony (mirrored in OPERATIONS.md §3):
 1. validate names, subject, the CA profile (``[ca_profiles]``: its kind, hash, name
    constraints and usages against the issuer), validity and output paths;
 2. load the signing key and check its attributes (I1) and that it matches the issuer (I5);
 3. log the intent (I2);
 4. lint a throwaway-key copy with the linter for what the certificate is for, sign in the
    token with the profile's signature, compare TBS, lint again (I6);
 5. record in the ledger and the log; write the PEM into HOME.
A CA's further certificates (re-certification, cross-certificates, a rollover's links) follow
the same steps in ``signer.service.lifecycle``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from hsm.keys import TokenKey
from hsm.token import ALGORITHMS, KeyAttributes
from signer.core import ca_rules
from signer.core.ca_profiles import CAProfile
from signer.core.clock import format_time
from signer.core.lint import lint_certificate, sign_certificate
from signer.core.policy.checks import CeremonyCheck
from signer.core.profiles import (
    build_root,
    build_sub,
    ca_lint_kind,
    new_serial,
    parse_dn,
    serial_hex,
    spki_sha256,
)
from signer.core.sigalg import key_kind
from signer.core.tokens import MAIN
from signer.errors import SignerError
from signer.service import integrity
from signer.service.session import Session
from signer.store.files import check_new_output, write_new
from signer.store.home import check_name
from signer.store.ledger import CARecord, CertRow
from signer.store.log.events import CaIntent, ca_created

CA_KEY_KINDS = ca_rules.CA_KEY_KINDS
__all__ = ["CA_KEY_KINDS", "CARecord", "CAView", "ca_pem", "ca_view", "chain_of",
           "create_root", "create_sub", "generate_key", "list_cas", "list_keys"]


def generate_key(s: Session, label: str, algorithm: str, token: str = MAIN) -> KeyAttributes:
    """A CA key pair in token ``token``, generated with I1's template and read back.

    In a home with a backup quorum the key is extractable only under the trusted backup key
    (CKA_WRAP_WITH_TRUSTED: the token refuses any other wrap); otherwise never extractable.
    """
    if algorithm not in ALGORITHMS or algorithm == "ed25519":
        allowed = ", ".join(a for a in ALGORITHMS if a != "ed25519")
        raise SignerError(f"algorithm {algorithm!r} is not allowed for a CA key ({allowed})")
    s.tokens.config_of(token)  # a token signer.toml does not name is refused before anything
    if label in s.state.custody.keys:
        raise SignerError(f"a key labelled {label!r} already exists in this home (on token "
                          f"{s.key_token(label)!r}); labels name one key forever")
    backup = s.config.backup is not None
    s.log_event("key.intent", {"label": label, "algorithm": algorithm, "token": token})
    t = s.token_for(token)
    attrs = t.generate_key(label, algorithm, backup=backup)
    problems = attrs.custody_problems + attrs.origin_problems
    if problems:
        raise SignerError(f"key {label!r} came back unsafe: {', '.join(problems)}")
    if backup and not attrs.wrappable:
        raise SignerError(f"key {label!r} came back without CKA_WRAP_WITH_TRUSTED: it could "
                          "not be backed up")
    pub = t.public_key(label)
    s.log_event("key.generated", {"label": label, "algorithm": algorithm, "token": token,
                                  "backup": backup, "spki_sha256": spki_sha256(pub),
                                  "attributes": attrs.to_json()})
    return attrs


def list_keys(s: Session) -> list[KeyAttributes]:
    return s.list_keys()


def list_cas(s: Session) -> list[CARecord]:
    return s.ledger.list_cas()


# -- showing a CA: its current certificate, its chain, every certificate of its key ----------


def _known(s: Session, name: str) -> CARecord:
    rec = s.ledger.get_ca(name)
    if rec is None:
        raise ca_rules.refuse(CeremonyCheck.CA_UNKNOWN, f"unknown CA {name!r}")
    return rec


def ca_pem(s: Session, name: str) -> str:
    cert = x509.load_der_x509_certificate(_known(s, name).cert_der)
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def chain_of(s: Session, name: str) -> list[x509.Certificate]:
    """The CA's current certificate, then each issuer's current one, up to a root."""
    out: list[x509.Certificate] = []
    seen: set[str] = set()
    rec: CARecord | None = _known(s, name)
    while rec is not None and rec.name not in seen:
        seen.add(rec.name)
        out.append(x509.load_der_x509_certificate(rec.cert_der))
        rec = None if rec.issuer == rec.name else s.ledger.get_ca(rec.issuer)
    return out


@dataclass(frozen=True)
class CAView:
    """What `ca show` prints: the current certificate, the chain, and every certificate of
    the CA's key (re-certifications, links and cross-certificates included)."""

    record: CARecord
    chain: tuple[x509.Certificate, ...]
    certificates: tuple[CertRow, ...]

    def to_json(self) -> dict[str, Any]:
        pem = [c.public_bytes(serialization.Encoding.PEM).decode() for c in self.chain]
        return {"name": self.record.name, "pem": pem[0], "chain": pem,
                "certificates": [{"issuer": r.ca, "serial": r.serial,
                                  "kind": _CERT_KINDS.get(r.profile, r.profile),
                                  "not_before": r.not_before, "not_after": r.not_after,
                                  "sha256": r.cert_sha256,
                                  "current": r.serial == self.record.serial
                                  and r.ca == self.record.issuer,
                                  "revoked": r.revoked_at is not None}
                                 for r in self.certificates]}


_CERT_KINDS = {"ca-root": "root", "ca-sub": "sub", "ca-recert": "recertify",
               "ca-link": "link", "ca-cross": "cross"}


def ca_view(s: Session, name: str) -> CAView:
    rec = _known(s, name)
    return CAView(rec, tuple(chain_of(s, name)), tuple(s.ledger.ca_certificates(f"ca:{name}")))


# -- creating a CA -------------------------------------------------------------------------


def create_root(s: Session, name: str, key_label: str, subject: str,
                days: int | None, profile: str = "root") -> CARecord:
    return _create_ca(s, name, key_label, subject, days, issuer=None, profile_name=profile)


def create_sub(s: Session, name: str, issuer: str, key_label: str, subject: str,
               profile: str, days: int | None) -> CARecord:
    return _create_ca(s, name, key_label, subject, days, issuer=issuer, profile_name=profile)


def _profile(s: Session, name: str, root: bool) -> CAProfile:
    if name not in s.config.ca_profiles:
        raise ca_rules.refuse(CeremonyCheck.CA_PROFILE, f"profile {name!r} is not in [ca_profiles] "
                                                f"({', '.join(sorted(s.config.ca_profiles))})")
    prof = s.config.ca_profile(name)
    ca_rules.check_profile_kind(prof, ("root",) if root else ("sub",),
                                "a root" if root else "a sub-CA")
    return prof


def check_key_free(s: Session, public: Any, key_label: str) -> str:
    """The key's SPKI digest, after checking it is a CA key that no CA of ours holds."""
    spki = spki_sha256(public)
    for ca in integrity.verified_cas(s.ledger, s.state):
        if ca.spki_sha256 == spki:
            raise ca_rules.refuse(CeremonyCheck.CA_KEY, f"key {key_label!r} already belongs to CA "
                                                f"{ca.name!r} (a new certificate for it: "
                                                f"`signer ca recertify {ca.name}`)")
    ca_rules.check_ca_key(public, key_label)
    return spki


def _create_ca(s: Session, name: str, key_label: str, subject: str, days: int | None,
               issuer: str | None, profile_name: str) -> CARecord:
    # Step 1: validate before the token is asked anything.
    check_name(name, "CA name")
    if s.ledger.get_ca(name) or name in s.state.cas or name in s.state.cross_keys:
        raise SignerError(f"CA {name!r} already exists")
    dn = parse_dn(subject)
    profile = _profile(s, profile_name, root=issuer is None)
    issuer_rec = issuer_cert = None
    if issuer is not None:
        issuer_rec = integrity.verified_ca(s.ledger, s.state, issuer)
        if issuer_rec is None:
            raise SignerError(f"unknown issuer CA {issuer!r}")
        issuer_cert = x509.load_der_x509_certificate(issuer_rec.cert_der)
    now = s.ceremony_time
    days = ca_rules.validity_days(now, days, profile, issuer_cert, issuer or name)
    ca_rules.check_constraints(profile, dn, issuer_cert)
    ca_rules.check_eku(profile, issuer_cert, issuer or name)
    ca_rules.check_path_len(profile, issuer_cert, issuer or name)
    out = s.paths.certs / f"{name}.pem"
    check_new_output(out)
    s.require_airgap()
    # Step 2: keys.
    key = s.token_key(key_label)
    public = key.public_key()
    spki = check_key_free(s, public, key_label)
    signing_key: TokenKey = key if issuer_rec is None else s.ca_key(issuer_rec)
    signature = ca_rules.check_hash(profile, signing_key.public_key())
    serial = new_serial()
    issuer_name = issuer or name
    while s.ledger.serial_used(issuer_name, serial_hex(serial)):
        serial = new_serial()
    if issuer_cert is None:
        builder = build_root(dn, public, serial, now, days, profile)
    else:
        builder = build_sub(dn, public, serial, now, days, issuer_cert, issuer_name,
                            s.config.crl_base, s.config.aia_base, (), profile=profile)
    # Step 3: write-ahead.
    what = f"CA {name!r}"
    s.record(CaIntent(ca=name, issuer=issuer_name, key=key_label, serial=serial_hex(serial),
                      subject=dn.rfc4514_string(), days=days, profile=profile.name))
    # Step 4: lint, sign, verify.
    linted = lint_certificate(builder, signing_key.public_key(), ca_lint_kind(profile), what,
                              signature)
    cert = sign_certificate(linted, signing_key, what)
    cert.verify_directly_issued_by(cert if issuer_cert is None else issuer_cert)
    # Step 5: record, then export.
    der = cert.public_bytes(serialization.Encoding.DER)
    rec = CARecord(
        name=name, kind="root" if issuer is None else "sub", issuer=issuer_name,
        key_label=key_label, key_algorithm=key_kind(public), spki_sha256=spki,
        serial=serial_hex(serial), cert_der=der, cert_sha256=hashlib.sha256(der).hexdigest(),
        not_before=cert.not_valid_before_utc.isoformat(),
        not_after=cert.not_valid_after_utc.isoformat(), created_at=format_time(now),
    )
    s.ledger.add_ca(rec)
    attributes = s.token_for(s.key_token(key_label)).key_attributes(key_label).to_json()
    entry = s.record(ca_created(rec, attributes, [str(f) for f in linted.findings]))
    s.ledger.mark_ca_logged(name, entry.seq)
    write_new(out, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return rec
