"""I2 at login: finish what a crash left between the ledger and the log, or refuse.

Artifacts (CA certificates, certificates, CRLs, staged batches, revocations) reach the ledger
first and the log right after. Each is preceded by an intent in the log (``ca.intent``,
``issue.intent``, ``crl.intent``, ``batch.intent``, ``revoke.intent``), so a row that reached
the ledger but not the log is completed here only when the log holds the intent it answers
and the row is what the intent announced (a signature by the CA key, the digests of the
staged decisions). A row with no intent was not made by this appliance's last session: it was
written into the ledger by someone else, and no ceremony starts until the auditors look.

RA trust, replacement and revocation go to the log first; a ledger row lagging behind the
log (a crash in between) is brought up to date from the log, which is the source of truth.
Every completion is logged, marked ``recovered``.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from signer.core.clock import format_time
from signer.core.crl import crl_signed_by
from signer.core.decision import decision_sha256
from signer.core.profiles import spki_sha256
from signer.service import integrity
from signer.service.integrity import IntegrityError
from signer.service.lifecycle_recovery import complete_lifecycle
from signer.store.files import write_new
from signer.store.ledger import LEDGER_CRL_MAX, CertRow, CRLRow, RARow
from signer.store.log.events import (
    BatchImported,
    BatchIntent,
    Event,
    RevokeIntent,
    Verdict,
    ca_created,
    cert_issued,
    crl_issued,
)
from signer.store.log.state import digest_list

if TYPE_CHECKING:  # the session calls this module at login; it imports no service module
    from signer.service.session import Session


def _fail(what: str) -> IntegrityError:
    return IntegrityError(f"the ledger holds {what} that no logged intent announced (edited "
                          f"between sessions?); no ceremony can start: {integrity.AUDIT_HINT}")


def complete_interrupted(session: Session) -> None:
    complete_lifecycle(session)  # first: a re-certified CA's row names its new certificate
    _complete_cas(session)
    _complete_batches(session)
    _complete_certificates(session)
    _complete_crls(session)
    _complete_revocations(session)
    _sync_ras(session)
    integrity.check_counts(session.ledger, session.state)


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def announced(cert: x509.Certificate, issuer: x509.Certificate,
              req: integrity.StagedRequest | None, serial: str) -> bool:
    """The certificate a request's accepted decision announced: for its key, with ``serial``,
    signed by its CA (what completion and the crash-tail judge both require of a row)."""
    return req is not None and req.decision.accepted \
        and spki_sha256(cert.public_key()) == req.decision.spki_sha256 \
        and format(cert.serial_number, "x") == serial and _issued_by(cert, issuer)


def _complete_cas(session: Session) -> None:
    state = session.state
    for rec in session.ledger.unlogged_cas():
        fact = state.cas.get(rec.name)
        if fact is not None:  # logged; the ledger's index was not updated (a crash)
            integrity.check_ca(rec, state)
            session.ledger.mark_ca_logged(rec.name, fact.seq)
            continue
        if state.pending_cas.get(rec.name) != rec.serial:
            raise _fail(f"CA {rec.name!r}")
        cert = x509.load_der_x509_certificate(rec.cert_der)
        issuer = cert if rec.kind == "root" else x509.load_der_x509_certificate(
            _issuer_der(session, rec.issuer))
        if not _issued_by(cert, issuer) or hashlib.sha256(rec.cert_der).hexdigest() \
                != rec.cert_sha256:
            raise _fail(f"CA {rec.name!r} (its certificate does not verify)")
        entry = session.record(ca_created(rec, None, [], recovered=True))
        session.ledger.mark_ca_logged(rec.name, entry.seq)
        out = session.paths.certs / f"{rec.name}.pem"
        if not out.exists():
            write_new(out, cert.public_bytes(serialization.Encoding.PEM))


def _issuer_der(session: Session, name: str) -> bytes:
    rec = integrity.verified_ca(session.ledger, session.state, name)
    if rec is None:
        raise _fail(f"a CA whose issuer {name!r} is unknown")
    return rec.cert_der


def _complete_batches(session: Session) -> None:

    state = session.state
    for b in session.ledger.unlogged_batches():
        fact = state.batches.get(b.id)
        if fact is not None:  # logged; the ledger's index was not updated (a crash)
            integrity.verified_batch(session.ledger, state, b.id)
            session.ledger.mark_batch_logged(b.id, fact.seq)
            continue
        intent = state.pending_batches.get(b.id)
        rows = session.ledger.batch_requests(b.id)
        revs = session.ledger.batch_revocations(b.id)
        raw = session.ledger.batch_raw(b.id) or b""
        if intent is None or (intent["ra"], intent["sequence"], intent["digest"],
                              intent["decisions_sha256"], intent["revocations_sha256"]) != (
                b.ra, b.sequence, hashlib.sha256(raw).hexdigest(),
                digest_list(decision_sha256(r.decision) for r in rows),
                integrity.revocation_rows_digest(revs)):
            raise _fail(f"staged batch {b.id!r}")
        entry = session.record(BatchImported.of(BatchIntent.from_data(intent), recovered=True))
        session.record_all([Verdict.of(b.id, r.decision, recovered=True) for r in rows])
        session.ledger.mark_batch_logged(b.id, entry.seq)


def _complete_certificates(session: Session) -> None:
    state = session.state
    rows = session.ledger.unlogged_certificates()
    if not rows:
        return
    events: list[Event] = []
    issuers: dict[str, x509.Certificate] = {}
    decisions: dict[str, dict[str, integrity.StagedRequest]] = {}
    rows = _mark_already_logged(session, rows, "cert.issued")
    for row in rows:
        if state.pending_certs.get((row.ca, row.serial)) != (row.batch_id, row.request_id) \
                or row.batch_id is None or row.request_id is None:
            raise _fail(f"certificate {row.serial} of CA {row.ca!r}")
        if row.batch_id not in decisions:
            staged = integrity.verified_batch(session.ledger, state, row.batch_id)
            decisions[row.batch_id] = {s.row.id: s for s in staged.requests}
        req = decisions[row.batch_id].get(row.request_id)
        if row.ca not in issuers:
            issuers[row.ca] = x509.load_der_x509_certificate(_issuer_der(session, row.ca))
        cert = x509.load_der_x509_certificate(row.cert_der)
        if req is None or not announced(cert, issuers[row.ca], req, row.serial):
            raise _fail(f"certificate {row.serial} of CA {row.ca!r} (not the one announced)")
        events.append(cert_issued(row, cert, req.decision.subscriber, req.decision.profile,
                                  recovered=True))
    entries = session.record_all(events)
    session.ledger.mark_certificates_logged([(e.data["ca"], e.data["serial"], e.seq)
                                         for e in entries])


def _mark_already_logged(session: Session, rows: list[CertRow], kind: str) -> list[CertRow]:
    """Rows whose entries are in the log although the ledger's index does not say so (killed
    between logging and indexing) get their index; the others are returned. The log is read
    once, only when the intents do not account for every row."""
    pending = session.state.pending_certs if kind == "cert.issued" else session.state.pending_revocations
    unexplained = {(r.ca, r.serial): r for r in rows if (r.ca, r.serial) not in pending}
    if not unexplained:
        return rows
    found: list[tuple[str, str, int]] = []
    for e in session.log.scan(frozenset({kind})):
        key = (str(e.data.get("ca")), str(e.data.get("serial")))
        row = unexplained.get(key)
        if row is None:
            continue
        same = (e.data.get("cert_sha256") == hashlib.sha256(row.cert_der).hexdigest()
                if kind == "cert.issued" else
                (e.data.get("reason"), e.data.get("revoked_at")) == (row.revocation_reason,
                                                                      row.revoked_at))
        if same:
            found.append((row.ca, row.serial, e.seq))
            del unexplained[key]
    if kind == "cert.issued":
        session.ledger.mark_certificates_logged(found)
    else:
        session.ledger.mark_revocations_logged(found)
    done = {(ca, serial) for ca, serial, _ in found}
    return [r for r in rows if (r.ca, r.serial) not in done]


def _complete_crls(session: Session) -> None:
    state = session.state
    _adopt_stored_crls(session)
    for row in session.ledger.unlogged_crls():
        logged = state.crls.get((row.ca, row.number))
        if logged is not None and logged[1] == hashlib.sha256(row.der).hexdigest():
            session.ledger.mark_crl_logged(row.ca, row.number, logged[0])
            continue
        if (row.ca, row.number) not in state.pending_crls:
            raise _fail(f"CRL {row.number} of CA {row.ca!r}")
        crl = x509.load_der_x509_crl(row.der)
        issuer = x509.load_der_x509_certificate(_issuer_der(session, row.ca))
        if not crl_signed_by(crl, issuer) \
                or hashlib.sha256(row.der).hexdigest() != row.sha256:
            raise _fail(f"CRL {row.number} of CA {row.ca!r} (it does not verify)")
        entry = session.record(crl_issued(row, len(crl), None, recovered=True))
        session.ledger.mark_crl_logged(row.ca, row.number, entry.seq)
        stored = session.paths.crls / f"{row.ca}-{row.number}.crl"
        if not stored.exists():
            write_new(stored, crl.public_bytes(serialization.Encoding.PEM))


def _adopt_stored_crls(session: Session) -> None:
    """A CRL is kept in HOME/crls before the ledger and the log record it: a crash in between
    leaves the file, which is recorded now if it is the CRL its logged intent announced (that
    CA's key signed it, with that number)."""
    for ca, number in sorted(session.state.pending_crls):
        stored = session.paths.crls / f"{ca}-{number}.crl"
        if session.ledger.crl_row(ca, number) is not None or not stored.exists():
            continue
        issuer = x509.load_der_x509_certificate(_issuer_der(session, ca))
        try:
            crl = x509.load_pem_x509_crl(stored.read_bytes())
            same = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number \
                == number and crl.issuer == issuer.subject and crl_signed_by(crl, issuer)
        except (OSError, ValueError, x509.ExtensionNotFound):
            same = False
        if not same:
            raise _fail(f"a file {stored.name} for CRL {number} of CA {ca!r}")
        der = crl.public_bytes(serialization.Encoding.DER)
        row = CRLRow(ca, number, format_time(crl.last_update_utc),
                     format_time(crl.next_update_utc or crl.last_update_utc),
                     der if len(der) <= LEDGER_CRL_MAX else b"",
                     hashlib.sha256(der).hexdigest(), None)
        session.ledger.add_crl(row)
        entry = session.record(crl_issued(row, len(crl), None, recovered=True))
        session.ledger.mark_crl_logged(ca, number, entry.seq)


def _complete_revocations(session: Session) -> None:
    state = session.state
    rows = _mark_already_logged(session, session.ledger.unlogged_revocations(), "revoked")
    if not rows:
        return
    events: list[Event] = []
    for row in rows:
        intent = state.pending_revocations.get((row.ca, row.serial))
        if intent is None or intent["reason"] != row.revocation_reason:
            raise _fail(f"a revocation of certificate {row.serial} of CA {row.ca!r}")
        events.append(integrity.revoked_event(session.log, row, str(row.revoked_at),
                                              RevokeIntent.from_data(intent), recovered=True))
    entries = session.record_all(events)
    session.ledger.mark_revocations_logged([(e.data["ca"], e.data["serial"], e.seq)
                                        for e in entries])


def _sync_ras(session: Session) -> None:
    """RA facts are logged first; bring a ledger row that lags behind (a crash) up to date."""
    state, ledger = session.state, session.ledger
    for fact in state.ras.values():
        row = ledger.ra(fact.name)
        if row is None:
            ledger.trust_ra(RARow(fact.name, bytes.fromhex(fact.public_key), fact.key_id,
                                  fact.last_sequence, session.log.last_time or "", None))
            row = ledger.ra(fact.name)
        if row is not None and row.key_id != fact.key_id \
                and state.key_ids.get(row.key_id) == fact.name:
            ledger.replace_ra_key(fact.name, bytes.fromhex(fact.public_key), fact.key_id)
        if row is not None and fact.revoked and row.revoked_at is None:
            ledger.revoke_ra(fact.name, session.log.last_time or "")
