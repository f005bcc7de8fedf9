"""Step 3 of a batch ceremony: sign what policy accepted, as the log recorded it.

Steps (mirrored in OPERATIONS.md):
 1. check the staged batch against the log (every decision's digest, the approvals, the count
    of certificates already issued) and that each issuing CA is the one logged and is valid at
    the ceremony time; anything that disagrees stops here, before the token is asked;
 2. log the custodians' approvals (the log first: it is what signing trusts);
 3. for each chunk: choose serials, log the intents (I2), build from the decision only (I8),
    lint, sign in the token, verify (I5), record in the ledger, then in the log;
    a request that fails on its own (the linter, its validity) is logged as failed and the
    rest of the batch goes on;
 4. apply the batch's revocations and issue the CRLs of the CAs they touch.
Signing is resumable: a request with a certificate, or a logged failure, is never signed again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from signer.core.clock import format_time
from signer.core.issuance import Failed, Issued, Job, issue_one, linter_for
from signer.core.profiles import new_serial, serial_hex
from signer.errors import SignerError
from signer.service import integrity
from signer.service.integrity import StagedRequest
from signer.service.revocation import RevokeItem, check_revocation, issue_crl, revoke_many
from signer.service.session import Session
from signer.service.workers import WorkerPool
from signer.store.ledger import CARecord, CertRow
from signer.store.log.events import (
    Approval,
    IssueFailed,
    IssueIntent,
    RevocationRejected,
    cert_issued,
)

CHUNK = 64
WORKER_THRESHOLD = 2 * CHUNK  # below this, starting worker processes costs more than it saves


@dataclass(frozen=True)
class SignReport:
    batch: str
    issued: int
    already: int
    awaiting_approval: list[str]
    revoked: int
    crls: list[str]
    failed: list[dict[str, str]]

    def to_json(self) -> dict[str, Any]:
        return {"batch": self.batch, "issued": self.issued, "already_issued": self.already,
                "awaiting_approval": self.awaiting_approval, "revoked": self.revoked,
                "crls": self.crls, "failed": self.failed}


Progress = Callable[[int, int], bool]  # (done, total) -> keep going


def signing_workers() -> int:
    """How many signing processes to use: ``SIGNER_WORKERS`` or one per core. Set, it is
    obeyed whatever the batch's size (benches and tests); else small batches sign in this
    process (``WORKER_THRESHOLD``)."""
    value = os.environ.get("SIGNER_WORKERS")
    if value is not None:
        if not value.isdigit():
            raise SignerError("SIGNER_WORKERS must be a whole number")
        return int(value)
    return os.cpu_count() or 1


def _check_ca_valid(rec: CARecord, now: dt.datetime) -> x509.Certificate:
    cert = x509.load_der_x509_certificate(rec.cert_der)
    if not cert.not_valid_before_utc <= now < cert.not_valid_after_utc:
        raise SignerError(
            f"CA {rec.name!r} is not valid at the ceremony time {format_time(now)} (valid "
            f"{format_time(cert.not_valid_before_utc)} to {format_time(cert.not_valid_after_utc)}"
            "): nothing was signed; confirm the time with --at, or renew the CA")
    return cert


def sign_batch(session: Session, batch_id: str, approve: list[str] | None = None,
               progress: Progress | None = None) -> SignReport:
    """Sign the accepted requests; resumable and idempotent."""
    ledger, state = session.ledger, session.state
    staged = integrity.verified_batch(ledger, state, batch_id)  # step 1
    integrity.check_batch_issued_count(ledger, staged.fact)
    ra = state.ras.get(staged.fact.ra)
    if ra is None or ra.revoked:
        raise SignerError(f"RA {staged.fact.ra!r} was revoked after batch {batch_id!r} was "
                          "imported: its requests are not signed")
    session.require_airgap()
    by_id = {s.row.id: s for s in staged.requests}
    for rid in approve or []:
        s = by_id.get(rid)
        if s is None:
            raise SignerError(f"--approve-ca {rid}: no such request in batch {batch_id!r}")
        if not s.decision.needs_approval or not s.decision.accepted:
            raise SignerError(f"--approve-ca {rid}: not an accepted sub-CA request")
    for rid in dict.fromkeys(approve or []):  # step 2: the log first, then the ledger's copy
        if not by_id[rid].approved:
            session.record(Approval(batch=batch_id, id=rid, share_indices=session.share_indices))
        ledger.approve(batch_id, rid)
    approved = {s.row.id for s in staged.requests if s.approved} | set(approve or [])
    issued = ledger.issued_for_batch(batch_id)
    todo: list[StagedRequest] = []
    waiting: list[str] = []
    for s in staged.requests:
        if not s.decision.accepted or s.row.id in issued or s.failure is not None:
            continue
        if s.decision.needs_approval and s.row.id not in approved:
            waiting.append(s.row.id)
            continue
        todo.append(s)
    now = session.ceremony_time
    cas = {}
    for ca in sorted({s.decision.ca for s in todo}):
        rec = integrity.verified_ca(ledger, state, ca)
        if rec is None:
            raise SignerError(f"CA {ca!r} is gone from the ledger")
        _check_ca_valid(rec, now)
        cas[ca] = rec
    session.log_event("batch.sign", {"batch": batch_id, "to_sign": len(todo),
                                 "already_issued": len(issued), "awaiting_approval": waiting})
    workers = signing_workers() if len(todo) >= WORKER_THRESHOLD or \
        "SIGNER_WORKERS" in os.environ else 0
    kinds = tuple(sorted({linter_for(session.config, s.decision) for s in todo}))
    signer = _Issuer(session, batch_id, cas, workers, kinds)
    done = 0
    try:
        for start in range(0, len(todo), CHUNK):  # step 3
            signer.submit(todo[start:start + CHUNK])
            done += len(todo[start:start + CHUNK])
            keep_going = progress is None or progress(done, len(todo))
            if not keep_going or session.interrupted:  # a safe point: between chunks
                signer.drain()
                session.log_event("batch.cancelled", {
                    "batch": batch_id, "submitted": done,
                    "why": "interrupted" if session.interrupted else "cancelled"})
                break
        signer.drain()
    finally:
        signer.close()
    revoked, crls = _apply_revocations(session, staged)  # step 4
    state_name = "signed" if done == len(todo) and not waiting else "partial"
    ledger.set_batch_state(batch_id, state_name)
    return SignReport(batch_id, signer.recorded, len(issued), waiting, revoked, crls,
                      signer.failed)


class _Issuer:
    """Issues chunks of certificates, in this process or in signing worker processes.

    The ceremony process chooses serials, logs each chunk's intents (I2), hands the chunk
    out, and records what comes back in the ledger and the log. With workers, the next chunk
    is logged and handed out while the previous one is being signed.
    """

    def __init__(self, session: Session, batch_id: str, cas: dict[str, CARecord],
                 workers: int, kinds: tuple[str, ...] = ()) -> None:
        self.session = session
        self.batch_id = batch_id
        self.recs = cas
        self.keys: dict[str, Any] = {}
        self.certs = {ca: x509.load_der_x509_certificate(r.cert_der) for ca, r in cas.items()}
        self.failed: list[dict[str, str]] = []
        self.recorded = 0
        # One pool per token holding a CA key of this batch (issue 13: keys on several tokens);
        # a CA whose token has no PIN to hand out (a PIN pad) is signed in this process.
        self.pools: dict[str, WorkerPool] = {}
        self.pool_of: dict[str, WorkerPool] = {}
        if workers > 1:
            for ca, rec in sorted(cas.items()):
                name = session.key_token(rec.key_label)
                if name not in self.pools:
                    try:
                        module, label, pin = session.worker_credentials(name)
                    except SignerError:
                        continue
                    self.pools[name] = WorkerPool(
                        workers, module, label, session.token_for(name).serial, pin,
                        session.config.text, kinds)
                self.pool_of[ca] = self.pools[name]
        self.in_flight: list[tuple[list[tuple[StagedRequest, Job]], list[Any]]] = []

    def close(self) -> None:
        for pool in self.pools.values():
            pool.close()

    def _restored_der(self, label: str) -> bytes | None:
        """A restored key's logged public key: workers open it only under that key, as the
        ceremony process does (``Session.token_key``)."""
        fact = self.session.state.custody.keys.get(label)
        return fact.public_key_der if fact is not None and fact.restored else None

    def _key(self, ca: str) -> Any:
        if ca not in self.keys:
            self.keys[ca] = self.session.ca_key(self.recs[ca])
        return self.keys[ca]

    def _prepare(self, chunk: list[StagedRequest]) -> list[tuple[StagedRequest, Job]]:
        session = self.session
        prepared = []
        used: set[tuple[str, str]] = set()
        for s in chunk:
            d = s.decision
            # A key certified for another subscriber since import is refused now too.
            owner = session.ledger.key_owner(d.spki_sha256 or "")
            if owner is not None and owner != d.subscriber:
                session.log_event("refused", {"batch": self.batch_id, "id": s.row.id,
                                          "code": "key.duplicate"})
                continue
            serial = new_serial()
            while (d.ca, serial_hex(serial)) in used or session.ledger.serial_used(
                    d.ca, serial_hex(serial)):
                serial = new_serial()
            used.add((d.ca, serial_hex(serial)))
            prepared.append((s, Job(s.row.id, d, serial)))
        # I2: the intent to sign is durable before the token is asked.
        session.record_all([IssueIntent(batch=self.batch_id, id=s.row.id, ca=j.decision.ca,
                                     serial=serial_hex(j.serial)) for s, j in prepared])
        return prepared

    def _here(self, jobs: list[Job]) -> list[Issued | Failed]:
        now = self.session.ceremony_time
        return [issue_one(self.session.config, j, self._key(j.decision.ca),
                          self.certs[j.decision.ca], now) for j in jobs]

    def submit(self, chunk: list[StagedRequest]) -> None:
        """Log a chunk's intents and start signing it; record the oldest chunk if two are out."""
        prepared = self._prepare(chunk)
        if not self.pool_of:
            self._record(prepared, self._here([j for _, j in prepared]))
            return
        futures: list[Future[list[Issued | Failed]]] = []
        by_ca: dict[str, list[Job]] = {}
        for _, j in prepared:
            by_ca.setdefault(j.decision.ca, []).append(j)
        for ca, jobs in by_ca.items():
            pool = self.pool_of.get(ca)
            if pool is None:  # its token signs in this process only
                done: Future[list[Issued | Failed]] = Future()
                done.set_result(self._here(jobs))
                futures.append(done)
                continue
            rec = self.recs[ca]
            restored = self._restored_der(rec.key_label)
            step = max(1, -(-len(jobs) // pool.n))
            for i in range(0, len(jobs), step):
                futures.append(pool.submit(ca, rec.key_label, restored, rec.cert_der,
                                           rec.spki_sha256, jobs[i:i + step],
                                           self.session.ceremony_time))
        self.in_flight.append((prepared, futures))
        if len(self.in_flight) > 1:
            self._collect_oldest()

    def drain(self) -> None:
        while self.in_flight:
            self._collect_oldest()

    def _collect_oldest(self) -> None:
        prepared, futures = self.in_flight.pop(0)
        results: list[Issued | Failed] = []
        error: BaseException | None = None
        for f in futures:
            try:
                results.extend(f.result())
            except BaseException as exc:  # recorded below; re-raised after what did succeed
                error = error or exc
        done = {r.request_id for r in results}
        self._record([p for p in prepared if p[1].request_id in done], results)
        if error is not None:
            self.in_flight.clear()
            raise error

    def _record(self, prepared: list[tuple[StagedRequest, Job]],
                results: list[Issued | Failed]) -> None:
        session = self.session
        by_id = {r.request_id: r for r in results}
        rows, certs, failures = [], [], list[IssueFailed]()
        for s, job in prepared:
            out = by_id[job.request_id]
            d = job.decision
            if isinstance(out, Failed):
                failures.append(IssueFailed(batch=self.batch_id, id=s.row.id, ca=d.ca,
                                            serial=serial_hex(job.serial), code=out.code,
                                            message=out.message))
                continue
            cert = x509.load_der_x509_certificate(out.der)
            if cert.serial_number != job.serial or cert.issuer != self.certs[d.ca].subject:
                raise SignerError(f"request {s.row.id}: the signed certificate is not the one "
                                  "prepared")
            row = CertRow(d.ca, serial_hex(job.serial), d.profile, d.subscriber, self.batch_id,
                          s.row.id, d.spki_sha256 or "", cert.not_valid_before_utc.isoformat(),
                          cert.not_valid_after_utc.isoformat(), out.der,
                          hashlib.sha256(out.der).hexdigest(), format_time(session.ceremony_time))
            rows.append(row)
            certs.append(cert)
        if failures:  # the log first: a logged failure is never retried
            session.record_all(failures)
            for f in failures:
                session.ledger.set_failure(self.batch_id, f.id, json.dumps(
                    {"code": f.code, "message": f.message}))
            self.failed.extend({"id": f.id, "code": f.code, "message": f.message}
                               for f in failures)
        if not rows:
            return
        session.ledger.add_certificates(rows)
        entries = session.record_all([cert_issued(r, c, r.subscriber, r.profile)
                                   for r, c in zip(rows, certs, strict=True)])
        session.ledger.mark_certificates_logged([(r.ca, r.serial, e.seq)
                                             for r, e in zip(rows, entries, strict=True)])
        self.recorded += len(rows)


def _apply_revocations(session: Session, staged: integrity.StagedBatch) -> tuple[int, list[str]]:
    """The batch's revocations accepted at import, judged again now, then applied."""
    fact = staged.fact
    items: list[RevokeItem] = []
    rejected: list[tuple[int, str, str, list[dict[str, str]]]] = []
    n = 0
    for rv in staged.revocations:
        if rv.verdict != "accept":
            continue
        logged = fact.revocation_outcomes.get(rv.position)
        if logged is not None:  # done in an earlier run; the ledger's copy may lag (a crash)
            if rv.status != logged:
                session.ledger.set_revocation_outcome(fact.id, rv.position, logged,
                                                  rv.outcome_reasons)
            continue
        n += 1
        reasons = check_revocation(session.ledger, rv.ca, rv.serial, rv.reason)
        if reasons:
            rejected.append((rv.position, rv.ca, rv.serial, reasons))
        else:
            items.append(RevokeItem(rv.ca, rv.serial, rv.reason, fact.id, rv.position))
    if rejected:
        session.record_all([RevocationRejected(batch=fact.id, position=p, ca=ca, serial=serial,
                                            code=reasons[0]["code"],
                                            message=reasons[0]["message"])
                         for p, ca, serial, reasons in rejected])
        for p, _, _, reasons in rejected:
            session.ledger.set_revocation_outcome(fact.id, p, "rejected", json.dumps(reasons))
    revoke_many(session, items)
    for it in items:
        session.ledger.set_revocation_outcome(fact.id, it.position or 0, "revoked", "[]")
    cas = sorted({it.ca for it in items})
    crls = [f"{ca}#{issue_crl(session, ca, batch_id=fact.id).number}" for ca in cas]
    return n, crls
