"""A CA's life after its first certificate: re-certification, cross-certification, a root
rollover, and CSRs for other roots to sign ours.

Steps of each ceremony (mirrored in OPERATIONS.md §3a), the same as the key ceremony's:
 1. validate: the CAs against the log (``integrity``), the profile (kind, hash, name
    constraints, usages) against the issuer, the validity inside the issuer's, the output path;
    for a cross-certificate, the custodians' approval of the exact input and its key;
 2. load the issuing key (I1) and check it matches the issuer's certificate (I5); for a
    re-certification, check the CA's own key still matches its certificate;
 3. lint a throwaway-key copy with the linter for what the certificate is for (a refusal
    logs nothing else), then log the intent (``ca.cert.intent``, I2);
 4. sign in the token, compare TBS, lint again (I6), verify under the issuer's certificate;
 5. record in the ledger (a further row of ``certificates``; for a re-certification the
    CA's current certificate too), log it (``ca.certified``), write the PEM into HOME.
A rollover runs these for the new root (as ``ca root`` does) and then for both links, in one
session; run again after an interruption, it does only what is missing.

Every certificate of a CA key stays in the ledger; a CA's *current* certificate (``cas``) is
the one the appliance issues under and puts in result chains. Certificates a CA issued keep
verifying under every certificate of its key: the subject, the key and the subject key
identifier never change.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization

from signer.core import ca_rules
from signer.core.ca_profiles import CAKind, CAProfile
from signer.core.clock import format_time
from signer.core.lint import lint_certificate, sign_certificate
from signer.core.policy.checks import CeremonyCheck
from signer.core.policy.keys import check_public_key
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
from signer.errors import SignerError
from signer.service import cas, integrity
from signer.service.session import Session
from signer.store.files import check_new_output, write_new
from signer.store.home import check_name
from signer.store.ledger import CA_CERT_PROFILES, CARecord, CertRow
from signer.store.log.events import CaCertified, CaCertIntent, CaCsr, CaCsrIntent
from transfer.words import pgp_words

MAX_INPUT = 64 * 1024  # a certificate or CSR to cross-certify


@dataclass(frozen=True)
class Certified:
    ca: str
    issuer: str
    kind: str
    serial: str
    not_after: str
    sha256: str
    path: Path

    def to_json(self) -> dict[str, Any]:
        return {"ca": self.ca, "issuer": self.issuer, "kind": self.kind, "serial": self.serial,
                "not_after": self.not_after, "sha256": self.sha256, "file": str(self.path)}


def _ca(s: Session, name: str) -> CARecord:
    rec = integrity.verified_ca(s.ledger, s.state, name)
    if rec is None:
        raise ca_rules.refuse(CeremonyCheck.CA_UNKNOWN, f"unknown CA {name!r}")
    return rec


def _profile(s: Session, name: str, kinds: tuple[CAKind, ...], what: str) -> CAProfile:
    if name not in s.config.ca_profiles:
        raise ca_rules.refuse(CeremonyCheck.CA_PROFILE, f"profile {name!r} is not in [ca_profiles] "
                                                f"({', '.join(sorted(s.config.ca_profiles))})")
    prof = s.config.ca_profile(name)
    ca_rules.check_profile_kind(prof, kinds, what)
    return prof


def _fresh_serial(s: Session, issuer: str) -> int:
    serial = new_serial()
    while s.ledger.serial_used(issuer, serial_hex(serial)):
        serial = new_serial()
    return serial


def _ski(cert: x509.Certificate) -> x509.SubjectKeyIdentifier | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return None


@dataclass(frozen=True)
class _Order:
    """One further certificate to make: whose key, by whom, of which kind, with what."""

    ca: str  # the CA certified (ours, or the external name of a cross-certificate)
    subscriber: str  # ca:NAME or external:NAME
    kind: str  # recertify | link | cross
    subject: x509.Name
    public: Any
    ski: x509.SubjectKeyIdentifier | None
    issuer: CARecord
    profile: CAProfile
    days: int | None
    current: bool
    input_sha256: str | None = None
    approved_by: list[int] | None = None


def _certify(s: Session, o: _Order) -> Certified:
    """Steps 1 (the issuer's part) to 5 for one further CA certificate."""
    now = s.ceremony_time
    self_signed = o.issuer.name == o.ca and o.kind == "recertify" \
        and o.issuer.kind == "root"
    issuer_cert = x509.load_der_x509_certificate(o.issuer.cert_der)
    days = ca_rules.validity_days(now, o.days, o.profile,
                                  None if self_signed else issuer_cert, o.issuer.name)
    if not self_signed:
        ca_rules.check_constraints(o.profile, o.subject, issuer_cert)
        ca_rules.check_eku(o.profile, issuer_cert, o.issuer.name)
        ca_rules.check_path_len(o.profile, issuer_cert, o.issuer.name)
    serial = _fresh_serial(s, o.issuer.name)
    out = s.paths.certs / f"{o.ca}-{serial_hex(serial)}.pem"
    check_new_output(out)
    s.require_airgap()
    # Step 2: the issuing key, checked against the issuer's certificate (I1, I5).
    key = s.ca_key(o.issuer)
    signature = ca_rules.check_hash(o.profile, key.public_key())
    if self_signed:
        builder = build_root(o.subject, o.public, serial, now, days, o.profile)
    else:
        builder = build_sub(o.subject, o.public, serial, now, days, issuer_cert, o.issuer.name,
                            s.config.crl_base, s.config.aia_base, (), profile=o.profile,
                            ski=o.ski)
    spki = spki_sha256(o.public)
    # Step 4a: lint a throwaway-key copy (a refusal here logs nothing but the refusal).
    what = f"the {o.kind} certificate of {o.ca!r} by {o.issuer.name!r}"
    linted = lint_certificate(builder, key.public_key(),
                              ca_lint_kind(o.profile, cross=o.kind in ("link", "cross")),
                              what, signature)
    # Step 3: write-ahead (I2).
    s.record(CaCertIntent(ca=o.ca, issuer=o.issuer.name, kind=o.kind,
                          serial=serial_hex(serial), subject=o.subject.rfc4514_string(),
                          spki_sha256=spki, days=days, profile=o.profile.name,
                          input_sha256=o.input_sha256, approved_by=o.approved_by))
    # Step 4b: sign, compare TBS, lint again, verify (I5, I6).
    cert = sign_certificate(linted, key, what)
    cert.verify_directly_issued_by(issuer_cert)
    # Step 5: the ledger, the log, then the file (I2).
    der = cert.public_bytes(serialization.Encoding.DER)
    digest = hashlib.sha256(der).hexdigest()
    row = CertRow(ca=o.issuer.name, serial=serial_hex(serial), profile=CA_CERT_PROFILES[o.kind],
                  subscriber=o.subscriber, batch_id=None, request_id=None, spki_sha256=spki,
                  not_before=cert.not_valid_before_utc.isoformat(),
                  not_after=cert.not_valid_after_utc.isoformat(), cert_der=der,
                  cert_sha256=digest, issued_at=format_time(now))
    current_of = o.ca if o.current else None
    s.ledger.add_ca_certificate(row, current_of)
    entry = s.record(CaCertified(
        ca=o.ca, issuer=o.issuer.name, kind=o.kind, serial=row.serial, cert_sha256=digest,
        spki_sha256=spki, not_after=row.not_after, current=o.current, profile=o.profile.name,
        lint_findings=[str(f) for f in linted.findings]))
    s.ledger.mark_ca_certificate_logged(row.ca, row.serial, entry.seq, current_of)
    write_new(out, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return Certified(o.ca, o.issuer.name, o.kind, row.serial, row.not_after, digest, out)


# -- re-certification ----------------------------------------------------------------------------


def recertify(s: Session, name: str, days: int | None = None, issuer: str | None = None,
              profile: str | None = None) -> Certified:
    """A new certificate for a CA's existing key: new serial, same subject and subject key
    identifier, a validity inside the issuer's; it becomes the CA's current certificate.
    A root is certified again by itself; a sub-CA by its issuer, or by ``issuer`` (a new
    root after a rollover). The profile is the one the current certificate was made with,
    unless another is named."""
    rec = _ca(s, name)
    fact = s.state.cas[name]
    current = x509.load_der_x509_certificate(rec.cert_der)
    if rec.kind == "root":
        if issuer not in (None, name):
            raise ca_rules.refuse(CeremonyCheck.CA_PROFILE, f"root {name!r} is certified again by "
                                                    "itself; another root certifies it with a "
                                                    "rollover link or a cross-certificate")
        issuer_rec = rec
        kinds: tuple[CAKind, ...] = ("root",)
    else:
        issuer_rec = _ca(s, issuer or rec.issuer)
        if issuer_rec.name == name:
            raise ca_rules.refuse(CeremonyCheck.CA_PROFILE, f"sub-CA {name!r} cannot certify itself")
        kinds = ("sub",)
    prof = _profile(s, profile or fact.profile or ("root" if rec.kind == "root" else "subca"),
                    kinds, f"re-certifying a {rec.kind} CA")
    # The CA's own key must still be the one its certificate names (a key replaced in the
    # token under the same label is refused here, before anything is logged).
    own = s.token_key(rec.key_label)
    if spki_sha256(own.public_key()) != rec.spki_sha256:
        raise ca_rules.refuse(CeremonyCheck.CA_KEY, f"key {rec.key_label!r} in the token no longer "
                                            f"matches CA {name!r}'s certificate; nothing was "
                                            "signed")
    return _certify(s, _Order(
        ca=name, subscriber=f"ca:{name}", kind="recertify", subject=current.subject,
        public=current.public_key(), ski=_ski(current), issuer=issuer_rec, profile=prof,
        days=days, current=True))


# -- cross-certification ---------------------------------------------------------------------


@dataclass(frozen=True)
class CrossInput:
    """What the custodians are shown before they approve a cross-certificate."""

    sha256: str
    words: str
    kind: str  # "certificate" | "csr"
    subject: x509.Name
    public: Any
    ski: x509.SubjectKeyIdentifier | None


def read_cross_input(data: bytes) -> CrossInput:
    """A PEM or DER CA certificate, or a CSR whose self-signature verifies."""
    digest = hashlib.sha256(data).hexdigest()
    words = " ".join(pgp_words(bytes.fromhex(digest)[:8]))
    loaders = ((x509.load_pem_x509_certificate, x509.load_pem_x509_csr)
               if data.lstrip().startswith(b"-----") else
               (x509.load_der_x509_certificate, x509.load_der_x509_csr))
    try:
        cert = loaders[0](data)
        try:
            bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            bc = None
        if bc is None or not bc.ca:
            raise ca_rules.refuse(CeremonyCheck.CROSS_INPUT, "the certificate is not a CA certificate "
                                                     "(basicConstraints CA:TRUE)")
        return CrossInput(digest, words, "certificate", cert.subject, cert.public_key(),
                          _ski(cert))
    except (ValueError, UnsupportedAlgorithm):
        pass
    try:
        csr = loaders[1](data)
        if not csr.is_signature_valid:
            raise ca_rules.refuse(CeremonyCheck.CROSS_INPUT, "the CSR's self-signature does not "
                                                     "verify")
        return CrossInput(digest, words, "csr", csr.subject, csr.public_key(), None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ca_rules.refuse(CeremonyCheck.CROSS_INPUT, "the input is neither an X.509 "
                                                         "certificate nor a PKCS#10 CSR (PEM or "
                                                         "DER) with a key this appliance reads"
                              ) from None


def cross_sign(s: Session, name: str, issuer: str, data: bytes, approve: str | None,
               days: int | None = None, profile: str = "cross") -> Certified:
    """Our CA ``issuer`` certifies another CA's key under its own subject (same subject,
    same public key), after the custodians approved the exact input by its SHA-256."""
    check_name(name, "cross-certified CA name")
    if len(data) > MAX_INPUT:
        raise ca_rules.refuse(CeremonyCheck.CROSS_INPUT, f"the input is larger than {MAX_INPUT} bytes")
    inp = read_cross_input(data)
    if approve is None or approve.lower() != inp.sha256:
        raise ca_rules.refuse(CeremonyCheck.CROSS_APPROVAL, f"the custodians must approve this "
                                                    f"{inp.kind} ({inp.subject.rfc4514_string()}"
                                                    f"): SHA-256 {inp.sha256} ({inp.words}); "
                                                    "run again with --approve <that SHA-256>")
    spki = spki_sha256(inp.public)
    for ca in integrity.verified_cas(s.ledger, s.state):
        if ca.spki_sha256 == spki:
            raise ca_rules.refuse(CeremonyCheck.CROSS_OWN_KEY, f"the key is CA {ca.name!r}'s own; "
                                                       f"certify it again with `signer ca "
                                                       f"recertify {ca.name}`, never under "
                                                       "another name")
    if name in s.state.cas or s.ledger.get_ca(name) is not None:
        raise ca_rules.refuse(CeremonyCheck.CROSS_NAME, f"{name!r} is a CA of this appliance")
    if s.state.cross_keys.get(name, spki) != spki:
        raise ca_rules.refuse(CeremonyCheck.CROSS_NAME, f"{name!r} was cross-certified before with "
                                                "another key")
    if key_kind(inp.public) not in ca_rules.CA_KEY_KINDS:
        raise ca_rules.refuse(CeremonyCheck.CROSS_KEY, f"a {key_kind(inp.public)} key is not allowed "
                                               f"for a CA ({', '.join(ca_rules.CA_KEY_KINDS)})")
    weak = check_public_key(inp.public)
    if weak:
        raise ca_rules.refuse(CeremonyCheck.CROSS_KEY, weak[0].message)
    prof = _profile(s, profile, ("cross",), "cross-certification")
    issuer_rec = _ca(s, issuer)
    return _certify(s, _Order(
        ca=name, subscriber=f"external:{name}", kind="cross", subject=inp.subject,
        public=inp.public, ski=inp.ski, issuer=issuer_rec, profile=prof, days=days,
        current=False, input_sha256=inp.sha256, approved_by=list(s.share_indices)))


def cross_csr(s: Session, name: str, out: Path) -> dict[str, Any]:
    """A CSR for CA ``name``'s key and subject, signed in the token, for another root to
    cross-certify ours (Boulder's ``cross-csr``). Logged before and after the signature."""
    rec = _ca(s, name)
    check_new_output(out)
    s.require_airgap()
    cert = x509.load_der_x509_certificate(rec.cert_der)
    key = s.ca_key(rec)
    s.record(CaCsrIntent(ca=name, subject=cert.subject.rfc4514_string(),
                         spki_sha256=rec.spki_sha256))
    algorithm = hashes.SHA384() if rec.key_algorithm == "ec-p384" else hashes.SHA256()
    csr = x509.CertificateSigningRequestBuilder().subject_name(cert.subject).sign(key, algorithm)
    try:
        if not csr.is_signature_valid:
            raise InvalidSignature
    except InvalidSignature:
        raise SignerError(f"the CSR of CA {name!r} does not verify (I5)") from None
    der = csr.public_bytes(serialization.Encoding.DER)
    digest = hashlib.sha256(der).hexdigest()
    s.record(CaCsr(ca=name, spki_sha256=rec.spki_sha256, csr_sha256=digest))
    write_new(out, csr.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return {"ca": name, "out": str(out), "sha256": digest,
            "words": " ".join(pgp_words(bytes.fromhex(digest)[:8]))}


# -- root rollover -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Rollover:
    old: str
    new: CARecord
    old_signs_new: Certified | None  # None: made by an earlier, interrupted run
    new_signs_old: Certified | None

    def to_json(self) -> dict[str, Any]:
        return {"old": self.old, "new": self.new.name, "new_serial": self.new.serial,
                "links": [c.to_json() for c in (self.old_signs_new, self.new_signs_old)
                          if c is not None]}


def _linked(s: Session, subject_ca: str, issuer: str) -> bool:
    return any(r.ca == issuer and r.profile == CA_CERT_PROFILES["link"]
               for r in s.ledger.ca_certificates(f"ca:{subject_ca}"))


def rollover(s: Session, old: str, new: str, key_label: str, subject: str,
             days: int | None = None, profile: str = "root", link_profile: str = "cross",
             link_days: int | None = None) -> Rollover:
    """A new root key and certificate, and the two link certificates (the old root certifies
    the new root's key, the new root the old root's), in one logged ceremony. Sub-CAs are
    then certified again under the new root with ``recertify --issuer NEW``."""
    old_rec = _ca(s, old)
    if old_rec.kind != "root":
        raise ca_rules.refuse(CeremonyCheck.ROLLOVER_ROOT, f"CA {old!r} is not a root")
    dn = parse_dn(subject)
    old_cert = x509.load_der_x509_certificate(old_rec.cert_der)
    if dn == old_cert.subject:
        raise ca_rules.refuse(CeremonyCheck.ROLLOVER_SUBJECT, f"the new root's subject is root "
                                                      f"{old!r}'s; give it its own")
    link = _profile(s, link_profile, ("cross",), "a rollover link")
    s.log_event("ca.rollover", {"old": old, "new": new, "key": key_label, "step": "start"})
    new_rec = s.ledger.get_ca(new)
    if new_rec is None:
        new_rec = cas.create_root(s, new, key_label, subject, days, profile)
    else:  # an interrupted rollover: the new root exists; it must be the one asked for
        new_rec = _ca(s, new)
        new_cert = x509.load_der_x509_certificate(new_rec.cert_der)
        if new_rec.kind != "root" or new_rec.key_label != key_label or new_cert.subject != dn:
            raise ca_rules.refuse(CeremonyCheck.ROLLOVER_ROOT, f"CA {new!r} exists and is not the new "
                                                       "root asked for")
    new_cert = x509.load_der_x509_certificate(new_rec.cert_der)
    forward = backward = None
    if not _linked(s, new, old):
        forward = _certify(s, _Order(
            ca=new, subscriber=f"ca:{new}", kind="link", subject=new_cert.subject,
            public=new_cert.public_key(), ski=_ski(new_cert), issuer=old_rec, profile=link,
            days=link_days, current=False))
    if not _linked(s, old, new):
        backward = _certify(s, _Order(
            ca=old, subscriber=f"ca:{old}", kind="link", subject=old_cert.subject,
            public=old_cert.public_key(), ski=_ski(old_cert), issuer=new_rec, profile=link,
            days=link_days or _days_until(s, old_cert, new_cert, link), current=False))
    s.log_event("ca.rollover", {"old": old, "new": new, "key": key_label, "step": "done"})
    return Rollover(old, new_rec, forward, backward)


def _days_until(s: Session, old_cert: x509.Certificate, new_cert: x509.Certificate,
                link: CAProfile) -> int:
    """The new root vouches for the old root's key while the old root lives (and the new
    root allows): certificates under the old root then reach the new root."""
    end = min(old_cert.not_valid_after_utc, new_cert.not_valid_after_utc)
    return max(1, min(link.max_days, int((end - s.ceremony_time).total_seconds() // 86400)))
