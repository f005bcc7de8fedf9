"""Batches: import a signed request bundle, judge it, sign what policy accepted, export.

Steps of a batch-signing ceremony (mirrored in OPERATIONS.md):
 1. import: verify the RA signature and sequence (I7), parse strictly, judge every request
    (policy, DESIGN §4); all or nothing: a bundle that fails any check stages nothing;
 2. review: custodians read the verdicts and approve root-signed sub-CA requests by id;
 3. sign: for each accepted request, build the TBS from the profile and the verified facts
    only (I8), log the intent (I2), lint, sign in the token, verify (I5), record in the
    ledger and the log; revocations in the bundle are recorded and CRLs issued;
 4. export: the result bundle, signed by the appliance key, with the log checkpoint and an
    inclusion proof for every certificate and CRL in it.
Signing is resumable: a request that has a certificate in the ledger is never signed again.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from signer import policy
from signer.ceremony import Appliance, format_time
from signer.crl import check_reason
from signer.errors import SignerError
from signer.issuance import Issued, Job, issue_one
from signer.profiles import new_serial, serial_hex
from transfer import bundle as tb

CHUNK = 64
WORKER_THRESHOLD = 2 * CHUNK  # below this, starting worker processes costs more than it saves


@dataclass(frozen=True)
class ImportResult:
    batch: str
    digest: str
    ra: str
    sequence: int
    accepted: int
    rejected: int
    revocations: int

    def to_json(self) -> dict[str, Any]:
        return {"batch": self.batch, "digest": self.digest, "ra": self.ra,
                "sequence": self.sequence, "accepted": self.accepted,
                "rejected": self.rejected, "revocations": self.revocations}


def policy_context(app: Appliance) -> policy.PolicyContext:
    cfg = app.config
    issuers = {}
    for ca in app.ledger.list_cas():
        profiles = set(cfg.ca_policy(ca.name).profiles)
        if ca.kind == "root":
            profiles |= {p for p, prof in cfg.profiles.items() if prof.kind == "subca"}
            if cfg.root_may_issue_leaves:
                profiles |= {p for p, prof in cfg.profiles.items() if prof.kind != "subca"}
        issuers[ca.name] = policy.IssuerInfo(
            name=ca.name, is_root=ca.kind == "root", min_points=cfg.ca_policy(ca.name).min_points,
            public_key_sha256=ca.spki_sha256, profiles=frozenset(profiles))
    return policy.PolicyContext(
        issuers=issuers, profiles=cfg.profiles, root_may_issue_leaves=cfg.root_may_issue_leaves,
        personal_name_min_points=cfg.personal_name_min_points, max_names=cfg.max_names,
        key_owner=app.ledger.key_owner, max_csr_bytes=tb.MAX_CSR,
        # Verdicts must fit the result bundle, or a signed batch could not be exported.
        limits=policy.ResultLimits(
            max_reasons=tb.MAX_REASONS, max_message_chars=tb.MAX_MESSAGE_CHARS,
            max_cert_pem_chars=tb.MAX_TEXT, max_result_bytes=tb.MAX_RESULT_FILE),
    )


def _decision_json(d: policy.Decision, subscriber: str) -> str:
    return json.dumps({
        "accepted": d.accepted, "ca": d.ca, "profile": d.profile,
        "reasons": [{"code": str(r.code), "message": r.message} for r in d.reasons],
        "public_key_der": base64.b64encode(d.public_key_der).decode() if d.public_key_der else None,
        "spki_sha256": d.spki_sha256, "key_type": d.key_type, "common_name": d.common_name,
        "dns_names": list(d.dns_names), "emails": list(d.emails),
        "personal_name": d.personal_name, "days": d.days, "needs_approval": d.needs_approval,
        "subscriber": subscriber,
    }, sort_keys=True)


def import_batch(app: Appliance, raw: bytes) -> ImportResult:
    """Step 1: verify, judge and stage a request bundle, all or nothing (I7)."""
    trusted = app.ledger.ra_keys()
    if not trusted:
        raise SignerError("no RA is trusted yet: run `signer ra trust NAME PUBFILE` first")
    rb = tb.parse_request_bundle(raw, trusted)
    body = rb.body
    last = app.ledger.ra_last_sequence(body.ra)
    if body.sequence <= last:
        raise SignerError(f"bundle sequence {body.sequence} from RA {body.ra!r} is not greater "
                          f"than {last}, the last accepted (a replay or rollback, I7)")
    if app.ledger.batch(body.batch_id):
        raise SignerError(f"batch id {body.batch_id!r} was already imported")
    created = body.created
    if created > format_time(app._time()):
        raise SignerError(f"the bundle was created at {created}, after the ceremony time "
                          f"{format_time(app._time())} (I9): confirm the time")
    requests = [policy.Request(
        id=r.id, ca=r.ca, profile=r.profile, csr=r.csr,
        verified=policy.VerifiedFacts(dns=tuple(r.verified.dns), email=tuple(r.verified.email),
                                      name=r.verified.name, points=r.verified.points),
        subscriber=r.subscriber) for r in body.requests]
    decisions = policy.evaluate_batch(requests, policy_context(app))
    rev_rows = []
    for i, rv in enumerate(body.revocations):
        reasons = _check_revocation(app, rv.ca, rv.serial, rv.reason)
        rev_rows.append((body.batch_id, i, rv.ca, rv.serial, rv.reason,
                         "reject" if reasons else "pending", json.dumps(reasons)))
    now = format_time(app._time())
    with app.ledger.transaction() as db:
        db.execute("INSERT INTO batches VALUES (?,?,?,?,?,?,?,?)",
                   (body.batch_id, body.ra, body.sequence, rb.digest, created, now, raw,
                    "imported"))
        db.executemany("INSERT INTO requests VALUES (?,?,?,?,?,?,?,?,0)", [
            (body.batch_id, i, r.id, r.ca, r.profile, r.subscriber,
             "accept" if d.accepted else "reject", _decision_json(d, r.subscriber))
            for i, (r, d) in enumerate(zip(requests, decisions, strict=True))])
        db.executemany("INSERT INTO revocation_requests VALUES (?,?,?,?,?,?,?)", rev_rows)
        db.execute("UPDATE ra_keys SET last_sequence = ? WHERE name = ?", (body.sequence, body.ra))
    accepted = sum(d.accepted for d in decisions)
    app._log("batch.imported", {"batch": body.batch_id, "ra": body.ra, "sequence": body.sequence,
                                "digest": rb.digest, "created": created,
                                "requests": len(requests), "accepted": accepted,
                                "rejected": len(requests) - accepted,
                                "revocations": len(rev_rows)})
    app.log_many("verdict", [
        {"batch": body.batch_id, "id": r.id, "ca": r.ca, "profile": r.profile,
         "verdict": "accept" if d.accepted else "reject",
         "codes": [str(x.code) for x in d.reasons], "spki_sha256": d.spki_sha256}
        for r, d in zip(requests, decisions, strict=True)])
    return ImportResult(body.batch_id, rb.digest, body.ra, body.sequence, accepted,
                        len(requests) - accepted, len(rev_rows))


def _check_revocation(app: Appliance, ca: str, serial: str, reason: str) -> list[dict[str, str]]:
    try:
        check_reason(reason)
    except SignerError as exc:
        return [{"code": "revocation.reason", "message": str(exc)}]
    row = app.ledger.certificate(ca, serial)
    if row is None:
        return [{"code": "revocation.unknown", "message": f"CA {ca!r} issued no certificate {serial}"}]
    if row["revoked_at"] is not None:
        return [{"code": "revocation.duplicate", "message": f"certificate {serial} is already revoked"}]
    if row["profile"].startswith("ca-"):
        return [{"code": "revocation.ca", "message": "a CA certificate is revoked only in a key ceremony"}]
    return []


def show_batch(app: Appliance, batch_id: str) -> dict[str, Any]:
    b = app.ledger.batch(batch_id)
    if b is None:
        raise SignerError(f"unknown batch {batch_id!r}")
    issued = app.ledger.issued_for_batch(batch_id)
    reqs = []
    for r in app.ledger.batch_requests(batch_id):
        d = json.loads(r["decision"])
        cert = issued.get(r["id"])
        reqs.append({
            "id": r["id"], "ca": r["ca"], "profile": r["profile"], "verdict": r["verdict"],
            "reasons": d["reasons"], "serial": cert["serial"] if cert else None,
            "names": d["dns_names"] + d["emails"], "key_type": d["key_type"],
            "needs_approval": d["needs_approval"], "approved": bool(r["approved"]),
            "subscriber": r["subscriber"],
        })
    revs = [{"ca": r["ca"], "serial": r["serial"], "reason": r["reason"], "status": r["status"],
             "reasons": json.loads(r["reasons"])} for r in app.ledger.batch_revocations(batch_id)]
    return {"batch": batch_id, "ra": b["ra"], "sequence": b["sequence"], "digest": b["digest"],
            "state": b["state"], "requests": reqs, "revocations": revs,
            "rehearsal": app.rehearsal}


@dataclass(frozen=True)
class SignReport:
    batch: str
    issued: int
    already: int
    awaiting_approval: list[str]
    revoked: int
    crls: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"batch": self.batch, "issued": self.issued, "already_issued": self.already,
                "awaiting_approval": self.awaiting_approval, "revoked": self.revoked,
                "crls": self.crls}


Progress = Callable[[int, int], bool]  # (done, total) -> keep going


def sign_batch(app: Appliance, batch_id: str, approve: list[str] | None = None,
               progress: Progress | None = None) -> SignReport:
    """Step 3: sign the accepted requests; resumable and idempotent."""
    b = app.ledger.batch(batch_id)
    if b is None:
        raise SignerError(f"unknown batch {batch_id!r}")
    app.require_airgap()
    rows = app.ledger.batch_requests(batch_id)
    by_id = {r["id"]: r for r in rows}
    for rid in approve or []:
        r = by_id.get(rid)
        if r is None:
            raise SignerError(f"--approve-ca {rid}: no such request in batch {batch_id!r}")
        if not json.loads(r["decision"])["needs_approval"] or r["verdict"] != "accept":
            raise SignerError(f"--approve-ca {rid}: not an accepted sub-CA request")
    for rid in approve or []:
        if not by_id[rid]["approved"]:
            with app.ledger.transaction() as db:
                db.execute("UPDATE requests SET approved = 1 WHERE batch_id = ? AND id = ?",
                           (batch_id, rid))
            app._log("approval", {"batch": batch_id, "id": rid,
                                  "share_indices": app.share_indices})
    from signer.export import log_records
    from signer.revocation import log_unlogged_crls

    _log_unlogged_import(app, batch_id)
    logged = log_records(app.log.path)  # one pass serves both checks below
    _log_unlogged_certificates(app, batch_id, logged)
    log_unlogged_crls(app, logged=logged)
    rows = app.ledger.batch_requests(batch_id)
    issued = app.ledger.issued_for_batch(batch_id)
    todo, waiting = [], []
    for r in rows:
        if r["verdict"] != "accept" or r["id"] in issued:
            continue
        d = json.loads(r["decision"])
        if d["needs_approval"] and not r["approved"]:
            waiting.append(r["id"])
            continue
        todo.append((r, d))
    app._log("batch.sign", {"batch": batch_id, "to_sign": len(todo),
                            "already_issued": len(issued), "awaiting_approval": waiting})
    workers = app.signing_workers() if len(todo) >= WORKER_THRESHOLD else 0
    signer = _Issuer(app, batch_id, workers)
    done = 0
    try:
        for start in range(0, len(todo), CHUNK):
            signer.submit(todo[start:start + CHUNK])
            done += len(todo[start:start + CHUNK])
            if progress is not None and not progress(done, len(todo)):
                signer.drain()
                app._log("batch.cancelled", {"batch": batch_id, "submitted": done})
                break
        signer.drain()
    finally:
        signer.close()
    revoked, crls = _apply_revocations(app, batch_id)
    state = "signed" if done == len(todo) and not waiting else "partial"
    with app.ledger.transaction() as db:
        db.execute("UPDATE batches SET state = ? WHERE id = ?", (state, batch_id))
    return SignReport(batch_id, done, len(issued), waiting, revoked, crls)


class _Issuer:
    """Issues chunks of certificates, in this process or in signing worker processes.

    The ceremony process chooses serials, logs each chunk's intents (I2), hands the chunk
    out, and records what comes back in the ledger and the log. With workers, the next chunk
    is logged and handed out while the previous one is being signed.
    """

    def __init__(self, app: Appliance, batch_id: str, workers: int) -> None:
        self.app = app
        self.batch_id = batch_id
        self.cas: dict[str, tuple[Any, x509.Certificate]] = {}
        self.pool = None
        if workers > 1:
            from signer.workers import WorkerPool

            module, label, pin = app.worker_credentials()
            self.pool = WorkerPool(workers, module, label, pin, app.paths.config)
        self.in_flight: list[tuple[list[tuple[Any, dict[str, Any], Job]], list[Any]]] = []

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()

    def _ca(self, ca: str) -> tuple[Any, x509.Certificate]:
        if ca not in self.cas:
            rec = self.app.ledger.get_ca(ca)
            if rec is None:
                raise SignerError(f"CA {ca!r} is gone from the ledger")
            key = self.app.ca_key(rec) if self.pool is None else rec
            self.cas[ca] = (key, x509.load_der_x509_certificate(rec.cert_der))
        return self.cas[ca]

    def _prepare(self, chunk: list[tuple[Any, dict[str, Any]]]) -> list[tuple[Any, dict[str, Any], Job]]:
        app = self.app
        prepared = []
        used: set[tuple[str, str]] = set()
        for r, d in chunk:
            # A key certified for another subscriber since import is refused now too.
            owner = app.ledger.key_owner(d["spki_sha256"])
            if owner is not None and owner != d["subscriber"]:
                app._log("refused", {"batch": self.batch_id, "id": r["id"],
                                     "code": "key.duplicate"})
                continue
            serial = new_serial()
            while (d["ca"], serial_hex(serial)) in used or app.ledger.serial_used(
                    d["ca"], serial_hex(serial)):
                serial = new_serial()
            used.add((d["ca"], serial_hex(serial)))
            self._ca(d["ca"])
            prepared.append((r, d, Job(r["id"], d, serial)))
        # I2: the intent to sign is durable before the token is asked.
        app.log_many("issue.intent", [
            {"batch": self.batch_id, "id": r["id"], "ca": d["ca"], "serial": serial_hex(j.serial)}
            for r, d, j in prepared])
        return prepared

    def submit(self, chunk: list[tuple[Any, dict[str, Any]]]) -> None:
        """Log a chunk's intents and start signing it; record the oldest chunk if two are out."""
        prepared = self._prepare(chunk)
        if self.pool is None:
            now = self.app._time()
            issued = [issue_one(self.app.config, j, *self._ca(d["ca"]), now) for _, d, j in prepared]
            self._record(prepared, issued)
            return
        futures = []
        by_ca: dict[str, list[Job]] = {}
        for _, d, j in prepared:
            by_ca.setdefault(d["ca"], []).append(j)
        for ca, jobs in by_ca.items():
            rec, _ = self._ca(ca)
            step = max(1, -(-len(jobs) // self.pool.n))
            for i in range(0, len(jobs), step):
                futures.append(self.pool.submit(ca, rec.key_label, rec.cert_der, rec.spki_sha256,
                                                jobs[i:i + step], self.app._time()))
        self.in_flight.append((prepared, futures))
        if len(self.in_flight) > 1:
            self._collect_oldest()

    def drain(self) -> None:
        while self.in_flight:
            self._collect_oldest()

    def _collect_oldest(self) -> None:
        prepared, futures = self.in_flight.pop(0)
        issued: list[Issued] = []
        error: BaseException | None = None
        for f in futures:
            try:
                issued.extend(f.result())
            except BaseException as exc:  # recorded below; re-raised after what did succeed
                error = error or exc
        done = {i.request_id for i in issued}
        self._record([p for p in prepared if p[2].request_id in done], issued)
        if error is not None:
            self.in_flight.clear()
            raise error

    def _record(self, prepared: list[tuple[Any, dict[str, Any], Job]], issued: list[Issued]) -> None:
        app = self.app
        by_id = {i.request_id: i for i in issued}
        rows, events = [], []
        for r, d, job in prepared:
            out = by_id[job.request_id]
            cert = x509.load_der_x509_certificate(out.der)
            _, issuer_cert = self._ca(d["ca"])
            if cert.serial_number != job.serial or cert.issuer != issuer_cert.subject:
                raise SignerError(f"request {r['id']}: the signed certificate is not the one prepared")
            sha = hashlib.sha256(out.der).hexdigest()
            rows.append((d["ca"], serial_hex(job.serial), d["profile"], d["subscriber"],
                         self.batch_id, r["id"], d["spki_sha256"],
                         cert.not_valid_before_utc.isoformat(), cert.not_valid_after_utc.isoformat(),
                         out.der, sha, format_time(app._time())))
            events.append({"batch": self.batch_id, "id": r["id"], "ca": d["ca"],
                           "serial": serial_hex(job.serial), "profile": d["profile"],
                           "cert_sha256": sha, "tbs_sha256": out.tbs_sha256,
                           "spki_sha256": d["spki_sha256"],
                           "not_after": cert.not_valid_after_utc.isoformat()})
        app.ledger.add_certificates(rows)
        app.log_many("cert.issued", events)


def _log_unlogged_import(app: Appliance, batch_id: str) -> None:
    """Recovery: log an import that reached the ledger but not the log (a crash between).

    ``import_batch`` stages the batch in one ledger transaction, then logs it; after a kill in
    between, a re-import is refused (I7: already staged), so the record is completed here from
    the staged rows, marked ``recovered``, before anything is signed from the batch.
    """
    imported, verdicts = False, set()
    with open(app.log.path, "rb") as f:
        for line in f:
            if b'"type":"batch.imported"' in line or b'"type":"verdict"' in line:
                entry = json.loads(line)
                if entry["data"].get("batch") == batch_id:
                    if entry["type"] == "batch.imported":
                        imported = True
                    else:
                        verdicts.add(entry["data"]["id"])
    b = app.ledger.batch(batch_id)
    rows = app.ledger.batch_requests(batch_id)
    if not imported and b is not None:
        accepted = sum(r["verdict"] == "accept" for r in rows)
        app._log("batch.imported", {
            "batch": batch_id, "ra": b["ra"], "sequence": b["sequence"], "digest": b["digest"],
            "created": b["created"], "requests": len(rows), "accepted": accepted,
            "rejected": len(rows) - accepted,
            "revocations": len(app.ledger.batch_revocations(batch_id)), "recovered": True})
    app.log_many("verdict", [
        {"batch": batch_id, "id": r["id"], "ca": r["ca"], "profile": r["profile"],
         "verdict": r["verdict"], "codes": [x["code"] for x in d["reasons"]],
         "spki_sha256": d["spki_sha256"], "recovered": True}
        for r in rows if r["id"] not in verdicts for d in (json.loads(r["decision"]),)])


def _log_unlogged_certificates(app: Appliance, batch_id: str,
                               logged: Mapping[str, object]) -> int:
    """I2 recovery: log certificates that reached the ledger but not the log (a crash between).

    ``_Issuer._record`` inserts a chunk into the ledger, then logs it; a kill in between leaves
    signed, verified (I5), linted (I6) certificates that the log does not name, and a resumed
    run would skip them as already issued. Log them now, marked ``recovered``, before anything
    else happens in this batch (export refuses certificates that are not in the log).
    """
    events = []
    for rid, row in app.ledger.issued_for_batch(batch_id).items():
        if row["cert_sha256"] in logged:
            continue
        cert = x509.load_der_x509_certificate(bytes(row["cert_der"]))
        events.append({"batch": batch_id, "id": rid, "ca": row["ca"], "serial": row["serial"],
                       "profile": row["profile"], "cert_sha256": row["cert_sha256"],
                       "tbs_sha256": hashlib.sha256(cert.tbs_certificate_bytes).hexdigest(),
                       "spki_sha256": row["spki_sha256"],
                       "not_after": cert.not_valid_after_utc.isoformat(), "recovered": True})
    app.log_many("cert.issued", events)
    return len(events)


def _apply_revocations(app: Appliance, batch_id: str) -> tuple[int, list[str]]:
    from signer.revocation import issue_crl

    pending = [r for r in app.ledger.batch_revocations(batch_id) if r["status"] == "pending"]
    cas = set()
    for r in pending:
        reasons = _check_revocation(app, r["ca"], r["serial"], r["reason"])
        status = "reject" if reasons else "revoked"
        if not reasons:
            app.ledger.revoke(r["ca"], r["serial"], format_time(app._time()), r["reason"])
            app._log("revoked", {"batch": batch_id, "ca": r["ca"], "serial": r["serial"],
                                 "reason": r["reason"]})
            cas.add(r["ca"])
        with app.ledger.transaction() as db:
            db.execute("UPDATE revocation_requests SET status = ?, reasons = ? "
                       "WHERE batch_id = ? AND position = ?",
                       (status, json.dumps(reasons), batch_id, r["position"]))
    crls = [f"{ca}#{issue_crl(app, ca, batch_id=batch_id).number}" for ca in sorted(cas)]
    return sum(1 for r in pending), crls


