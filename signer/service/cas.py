"""The key ceremony: CA keys generated in the token, the root and its sub-CAs.

Steps of a CA certificate ceremony (mirrored in OPERATIONS.md §3):
 1. validate names, subject, validity and output paths;
 2. load the signing key and check its attributes (I1) and that it matches the issuer (I5);
 3. log the intent (I2);
 4. lint a throwaway-key copy, sign in the token, compare TBS, lint again (I6);
 5. record in the ledger and the log; write the PEM into HOME.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from hsm.keys import TokenKey
from hsm.token import ALGORITHMS, KeyAttributes
from signer.core.clock import format_time
from signer.core.lint import key_kind, lint_certificate, sign_certificate
from signer.core.profiles import (
    ProfileError,
    build_root,
    build_sub,
    new_serial,
    parse_dn,
    serial_hex,
    spki_sha256,
)
from signer.core.tokens import MAIN
from signer.errors import SignerError
from signer.service import integrity
from signer.service.session import Session
from signer.store.files import check_new_output, write_new
from signer.store.home import check_name
from signer.store.ledger import CARecord
from signer.store.log.events import CaIntent, ca_created

CA_KEY_KINDS = ("rsa-3072", "rsa-4096", "ec-p256", "ec-p384")
__all__ = ["CA_KEY_KINDS", "CARecord", "ca_pem", "create_root", "create_sub", "generate_key",
           "list_cas", "list_keys"]


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


def ca_pem(s: Session, name: str) -> str:
    rec = s.ledger.get_ca(name)
    if rec is None:
        raise SignerError(f"unknown CA {name!r}")
    cert = x509.load_der_x509_certificate(rec.cert_der)
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def create_root(s: Session, name: str, key_label: str, subject: str,
                days: int | None) -> CARecord:
    return _create_ca(s, name, key_label, subject, days, issuer=None)


def create_sub(s: Session, name: str, issuer: str, key_label: str, subject: str,
               profile: str, days: int | None) -> CARecord:
    if profile != "subca":
        raise SignerError(f"profile {profile!r}: sub-CA certificates use profile 'subca'")
    return _create_ca(s, name, key_label, subject, days, issuer=issuer)


def _validity_days(s: Session, days: int | None, issuer_rec: CARecord | None) -> int:
    now = s.ceremony_time
    cap = s.config.root_max_days if issuer_rec is None else s.config.sub_max_days
    if issuer_rec is not None:
        if not dt.datetime.fromisoformat(issuer_rec.not_before) <= now \
                < dt.datetime.fromisoformat(issuer_rec.not_after):
            raise SignerError(f"issuer CA {issuer_rec.name!r} is not valid at the ceremony "
                              f"time {format_time(now)}")
    if days is None:
        days = cap
        if issuer_rec is not None:  # default: as long as the issuer allows
            remaining = (dt.datetime.fromisoformat(issuer_rec.not_after) - now).days
            days = max(1, min(cap, remaining))
    if not 1 <= days <= cap:
        raise ProfileError(f"--days {days}: the profile allows 1 to {cap} days")
    return days


def _create_ca(s: Session, name: str, key_label: str, subject: str, days: int | None,
               issuer: str | None) -> CARecord:
    # Step 1: validate before the token is asked anything.
    check_name(name, "CA name")
    if s.ledger.get_ca(name) or name in s.state.cas:
        raise SignerError(f"CA {name!r} already exists")
    dn = parse_dn(subject)
    issuer_rec = None
    if issuer is not None:
        issuer_rec = integrity.verified_ca(s.ledger, s.state, issuer)
        if issuer_rec is None:
            raise SignerError(f"unknown issuer CA {issuer!r}")
    days = _validity_days(s, days, issuer_rec)
    out = s.paths.certs / f"{name}.pem"
    check_new_output(out)
    s.require_airgap()
    # Step 2: keys.
    key = s.token_key(key_label)
    public = key.public_key()
    spki = spki_sha256(public)
    for ca in integrity.verified_cas(s.ledger, s.state):
        if ca.spki_sha256 == spki:
            raise SignerError(f"key {key_label!r} already belongs to CA {ca.name!r}")
    if key_kind(public) not in CA_KEY_KINDS:
        raise SignerError(f"key {key_label!r} ({key_kind(public)}) is not allowed for a CA")
    now = s.ceremony_time
    serial = new_serial()
    issuer_name = issuer or name
    while s.ledger.serial_used(issuer_name, serial_hex(serial)):
        serial = new_serial()
    signing_key: TokenKey = key
    issuer_cert = None
    if issuer_rec is None:
        builder = build_root(dn, public, serial, now, days)
    else:
        issuer_cert = x509.load_der_x509_certificate(issuer_rec.cert_der)
        builder = build_sub(dn, public, serial, now, days, issuer_cert, issuer_rec.name,
                            s.config.crl_base, s.config.aia_base, s.config.ca_policies_oids)
        signing_key = s.ca_key(issuer_rec)
    # Step 3: write-ahead.
    what = f"CA {name!r}"
    s.record(CaIntent(ca=name, issuer=issuer_name, key=key_label, serial=serial_hex(serial),
                   subject=dn.rfc4514_string(), days=days))
    # Step 4: lint, sign, verify.
    linted = lint_certificate(builder, signing_key.public_key(), "pkix", what)
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
