"""The ledger's rows checked against the log's facts before the service acts on them.

Anyone who can write ``ledger.sqlite`` between sessions could otherwise add names to a staged
decision, flip a verdict, swap an RA key, erase a revocation or roll a counter back. Each check
here compares what an operation is about to use with what the token-signed log recorded
(``signer.store.log.state``); a difference raises ``IntegrityError`` naming the row, and the operation
stops before anything is signed, revoked or exported (the CLI and the TUI log the refusal).

The checks cost little by design: digests and counters are compared, rows are hashed once, the
log is not re-read (its facts were folded when it was opened and verified at login).
Deliberately not here: the auditor's full replay (``signer.service.audit_ledger``), which also catches
what no operation reads (a subscriber name, a CRL's stored bytes, an exported batch).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from cryptography import x509

from signer.core.crl import encode_entry
from signer.core.decision import DecisionError, StoredDecision, decision_sha256
from signer.errors import LogError, SignerError
from signer.store.ledger import CARecord, CertRow, Ledger, RequestRow, RevocationRequestRow
from signer.store.log import CeremonyLog
from signer.store.log.events import Revoked, RevokeIntent
from signer.store.log.state import BatchFact, LogState, digest_list

AUDIT_HINT = "run `signer audit verify` and call the auditors"


class IntegrityError(SignerError):
    """The ledger disagrees with the ceremony log: edited between sessions, or damaged."""


def _fail(what: str) -> IntegrityError:
    return IntegrityError(f"the ledger disagrees with the ceremony log: {what}; nothing was "
                          f"done ({AUDIT_HINT})")


# -- CAs -------------------------------------------------------------------------------------


def check_ca(rec: CARecord, state: LogState) -> CARecord:
    """A CA row is the one ``ca.created`` logged: same certificate, key and place."""
    fact = state.cas.get(rec.name)
    if fact is None:
        raise _fail(f"CA {rec.name!r} is not in the log")
    if hashlib.sha256(rec.cert_der).hexdigest() != fact.cert_sha256 \
            or rec.cert_sha256 != fact.cert_sha256:
        raise _fail(f"CA {rec.name!r}: its certificate is not the one logged")
    if (rec.spki_sha256, rec.key_label, rec.kind, rec.issuer, rec.serial) != (
            fact.spki_sha256, fact.key, fact.kind, fact.issuer, fact.serial):
        raise _fail(f"CA {rec.name!r}: its key, kind, issuer or serial is not the one logged")
    return rec


def verified_ca(ledger: Ledger, state: LogState, name: str) -> CARecord | None:
    rec = ledger.get_ca(name)
    if rec is None:
        if name in state.cas:
            raise _fail(f"CA {name!r} is in the log but not in the ledger")
        return None
    return check_ca(rec, state)


def verified_cas(ledger: Ledger, state: LogState) -> list[CARecord]:
    cas = ledger.list_cas()
    names = {c.name for c in cas}
    missing = sorted(set(state.cas) - names)
    if missing:
        raise _fail(f"CA {missing[0]!r} is in the log but not in the ledger")
    return [check_ca(c, state) for c in cas]


# -- RAs -------------------------------------------------------------------------------------


def check_ra_for_import(ledger: Ledger, state: LogState, name: str) -> None:
    """The RA row an import would advance agrees with the log (key, sequence, revocation)."""
    fact = state.ras.get(name)
    row = ledger.ra(name)
    if fact is None:
        raise _fail(f"RA {name!r} is in the ledger but was never trusted in the log")
    if row is None:
        raise _fail(f"RA {name!r} is trusted in the log but missing from the ledger")
    if row.key_id != fact.key_id or hashlib.sha256(row.public_key).hexdigest() != fact.key_id:
        raise _fail(f"RA {name!r}: its key is not the one trusted in the log")
    if row.last_sequence != fact.last_sequence:
        raise _fail(f"RA {name!r}: its last sequence is {row.last_sequence} in the ledger but "
                    f"{fact.last_sequence} in the log")
    if (row.revoked_at is not None) != fact.revoked:
        raise _fail(f"RA {name!r}: its revocation is not the one logged")


# -- batches ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StagedRequest:
    row: RequestRow
    decision: StoredDecision
    approved: bool  # from the log (custodians' approval entries)
    failure: tuple[str, str] | None  # from the log (``issue.failed``)


@dataclass(frozen=True)
class StagedBatch:
    """A staged batch whose every decision is the one logged at import."""

    fact: BatchFact
    requests: tuple[StagedRequest, ...]
    revocations: tuple[RevocationRequestRow, ...]


def revocation_rows_digest(rows: list[RevocationRequestRow]) -> str:
    """What ``batch.imported`` commits to for the batch's revocations, as judged at import."""
    return digest_list(hashlib.sha256(json.dumps(
        [r.position, r.ca, r.serial, r.reason, r.verdict, r.reasons]).encode()).hexdigest()
        for r in rows)


def verified_batch(ledger: Ledger, state: LogState, batch_id: str) -> StagedBatch:
    """The staged batch, every row checked against the facts logged at import."""
    fact = state.batches.get(batch_id)
    batch = ledger.batch(batch_id)
    if batch is None:
        if fact is not None:
            raise SignerError(f"batch {batch_id!r} was imported (the log says so) but is not "
                              "staged in the ledger: import the same bundle file again to "
                              "complete it")
        raise SignerError(f"unknown batch {batch_id!r}")
    if fact is None:
        raise _fail(f"batch {batch_id!r} is staged but its import is not in the log")
    raw = ledger.batch_raw(batch_id) or b""
    if (batch.ra, batch.sequence, batch.digest) != (fact.ra, fact.sequence, fact.digest) \
            or hashlib.sha256(raw).hexdigest() != fact.digest:
        raise _fail(f"batch {batch_id!r}: its bundle, RA or sequence is not the one logged")
    rows = ledger.batch_requests(batch_id)
    digests = [decision_sha256(r.decision) for r in rows]
    if len(rows) != fact.requests or digest_list(digests) != fact.decisions_sha256:
        raise _fail(f"batch {batch_id!r}: its staged decisions are not the ones logged at "
                    "import (verdicts, names or keys were changed)")
    staged = []
    for pos, r in enumerate(rows):
        try:
            d = StoredDecision.from_json(r.decision)
        except DecisionError:
            raise _fail(f"batch {batch_id!r}: request {r.id} has a malformed decision") from None
        if (r.position, r.id, r.ca, r.profile, r.subscriber, r.verdict) != (
                pos, d.request_id, d.ca, d.profile, d.subscriber,
                "accept" if d.accepted else "reject"):
            raise _fail(f"batch {batch_id!r}: request {r.id}'s row does not match its "
                        "logged decision")
        if r.approved and r.id not in fact.approvals:
            raise _fail(f"batch {batch_id!r}: request {r.id} is marked approved but no "
                        "custodian approval is logged")
        staged.append(StagedRequest(r, d, r.id in fact.approvals, fact.failed.get(r.id)))
    revs = ledger.batch_revocations(batch_id)
    if revocation_rows_digest(revs) != fact.revocations_sha256:
        raise _fail(f"batch {batch_id!r}: its revocation requests are not the ones logged")
    for rv in revs:
        logged = fact.revocation_outcomes.get(rv.position)
        if rv.status != "pending" and rv.verdict == "accept" and rv.status != logged:
            raise _fail(f"batch {batch_id!r}: revocation {rv.position} is {rv.status!r} in the "
                        f"ledger but {logged or 'pending'!r} in the log")
    return StagedBatch(fact, tuple(staged), tuple(revs))


def check_batch_issued_count(ledger: Ledger, fact: BatchFact) -> None:
    """As many certificates of the batch in the ledger as the log says were issued."""
    n = ledger.batch_certificate_count(fact.id)
    if n != fact.issued:
        raise _fail(f"batch {fact.id!r}: {n} certificates in the ledger, {fact.issued} in the "
                    "log (a row was deleted or added)")


# -- revocations and CRLs ----------------------------------------------------------------------


@dataclass(frozen=True)
class CRLEntries:
    """What a CRL of a CA lists, from ledger rows that reproduce the log's revocations."""

    count: int  # entries listed (revoked, not expired)
    revoked: int  # every revocation of the CA
    chunks: list[bytes] = field(repr=False)  # the DER entries, in log order
    sample: bytes = field(repr=False, default=b"")  # entries of every shape (for the lint)


def verified_crl_entries(ledger: Ledger, state: LogState, ca: str, unexpired_at: str,
                         this_update: str, sample: bool = False) -> CRLEntries:
    """The entries a CRL of ``ca`` must list (I4: every revocation whose certificate has not
    expired at ``unexpired_at``), after checking, in constant memory, that the ledger's rows are
    exactly the logged revocations: as many, and each run of them with the logged digests of
    its CRL entries and notAfter dates (``signer.store.log.state``); that no serial repeats;
    and that none is dated after ``this_update``."""
    logged = state.revocations.get(ca)
    count = logged.count if logged else 0
    with ledger.reading():
        rows, certs = ledger.revocation_rows(ca), ledger.revoked_certificate_count(ca)
        if rows != count or certs != count:
            raise _fail(f"the revocations of CA {ca!r} are not the ones logged ({certs} in the "
                        f"ledger, {count} in the log; a revocation was erased or added)")
        chunks: list[bytes] = []
        listed = 0
        for run in state.revocation_runs(ca):
            n, entries, not_after, expired, parts = ledger.revocation_run(
                ca, run.first, run.last, unexpired_at)
            if (n, entries, not_after) != (run.count, run.entries_sha256, run.not_after_sha256):
                raise _fail(f"the revocations of CA {ca!r} logged at entries {run.first} to "
                            f"{run.last} are not the ones in the ledger (changed, erased or "
                            "added)")
            chunks += parts
            listed += n - expired
        if ledger.repeated_serials(ca):
            raise _fail(f"a certificate of CA {ca!r} is revoked twice (I4)")
        shapes = ledger.crl_entry_shapes(ca, unexpired_at) if sample and listed else b""
    if logged is not None and logged.latest > this_update:
        raise SignerError(f"CA {ca!r} has a revocation dated {logged.latest}, after this CRL's "
                          f"thisUpdate {this_update} (I4)")
    return CRLEntries(listed, count, chunks, shapes)


def verified_revocation(ledger: Ledger, state: LogState, ca: str, serial: str,
                        at: str) -> tuple[str, str] | None:
    """(revoked at, reason) when certificate ``serial`` of ``ca`` is revoked, else None, as
    the log decided: the CA's revocation rows are checked against the logged runs first
    (``verified_crl_entries``), then the row's date and reason must make exactly its checked
    CRL entry."""
    verified_crl_entries(ledger, state, ca, "", at)
    found = ledger.revocation_of(ca, serial)
    if found is None:
        return None
    when, reason, entry = found
    if when is None or reason is None or encode_entry(serial, when, reason) != entry:
        raise _fail(f"the revocation of certificate {serial} of CA {ca!r} is not the one logged")
    return when, reason


def verified_next_crl_number(ledger: Ledger, state: LogState, ca: str) -> int:
    last = ledger.last_crl_number(ca)
    logged = state.crl_numbers.get(ca, 0)
    if last != logged:
        raise _fail(f"CA {ca!r}: the last CRL number is {last} in the ledger but {logged} in "
                    "the log (I4)")
    return logged + 1


def check_counts(ledger: Ledger, state: LogState) -> None:
    """As many certificates in the ledger as the log has issued (rows deleted or invented)."""
    n = ledger.certificate_count()
    if n != state.certificates:
        raise _fail(f"{n} certificates in the ledger, {state.certificates} in the log")


# -- one certificate's log entry ---------------------------------------------------------


def logged_not_after(log: CeremonyLog, row: CertRow) -> str:
    """The certificate's notAfter as its ``cert.issued`` entry recorded it (not the ledger's
    column: that could have been edited to drop the entry from CRLs early, I4)."""
    if row.log_seq is None:
        raise IntegrityError(
            f"certificate {row.serial} of CA {row.ca!r} has no log entry: "
            f"{AUDIT_HINT}")
    try:
        entry = log.read_entry(row.log_seq)
    except LogError as exc:
        raise IntegrityError(f"certificate {row.serial}: {exc}") from None
    d = entry.data
    if entry.type not in ("cert.issued", "ca.created", "ca.certified") \
            or d.get("serial") != row.serial \
            or d.get("cert_sha256") != hashlib.sha256(row.cert_der).hexdigest():
        raise IntegrityError(
            f"the ledger disagrees with the ceremony log: certificate {row.serial} of CA "
            f"{row.ca!r} is not the one its log entry records ({AUDIT_HINT})")
    cert = x509.load_der_x509_certificate(row.cert_der)
    return cert.not_valid_after_utc.isoformat()


def revoked_event(log: CeremonyLog, row: CertRow, when: str, intent: RevokeIntent,
                  recovered: bool = False) -> Revoked:
    """The ``revoked`` record of a revocation its intent announced."""
    return Revoked(ca=row.ca, serial=row.serial, reason=intent.reason, revoked_at=when,
                   not_after=logged_not_after(log, row), batch=intent.batch,
                   position=intent.position, recovered=recovered)
