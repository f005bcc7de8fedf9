"""Batches: import a signed request bundle and judge it; show what was staged.

Steps of a batch-signing ceremony (mirrored in OPERATIONS.md):
 1. import: verify the RA signature with the RA key trusted in the log and the sequence the
    log last accepted (I7), parse strictly, judge every request (policy, DESIGN §4); all or
    nothing: a bundle that fails any check stages nothing. The log commits to every staged
    decision (a digest per request, one per batch) before and after the ledger stages them;
 2. review: custodians read the verdicts and approve root-signed sub-CA requests by id;
 3. sign (``signer.service.signing``): only decisions whose digests match the log are signed;
 4. export (``signer.service.export``): the result bundle, signed by the appliance key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

from signer.core import policy
from signer.core.ca_rules import issuer_ekus
from signer.core.clock import format_time
from signer.core.config import Config
from signer.core.decision import StoredDecision, decision_sha256
from signer.core.policy.blocklist import Blocklist
from signer.core.profiles import constraints_of
from signer.errors import SignerError
from signer.service import integrity
from signer.service.integrity import IntegrityError
from signer.service.revocation import check_revocation
from signer.service.session import Session
from signer.store.blocklist import load_blocklist
from signer.store.ledger import BatchRow, CARecord, Ledger, RequestRow, RevocationRequestRow
from signer.store.log.events import BatchImported, BatchIntent, Verdict
from signer.store.log.state import digest_list
from transfer import bundle as tb
from transfer.usb import read_file


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


def policy_context(cfg: Config, cas: Sequence[CARecord], key_owner: Callable[[str], str | None],
                   blocklist: Blocklist | None = None) -> policy.PolicyContext:
    """The policy engine's view of the CAs and the configuration (the auditor rebuilds the
    same from the log to re-judge a batch)."""
    issuers = {}
    for ca in cas:
        profiles = set(cfg.ca_policy(ca.name).profiles)
        if ca.kind == "root":
            profiles |= {p for p, prof in cfg.profiles.items() if prof.kind == "subca"}
            if cfg.root_may_issue_leaves:
                profiles |= {p for p, prof in cfg.profiles.items() if prof.kind != "subca"}
        cert = x509.load_der_x509_certificate(ca.cert_der)
        issuers[ca.name] = policy.IssuerInfo(
            name=ca.name, is_root=ca.kind == "root", min_points=cfg.ca_policy(ca.name).min_points,
            public_key_sha256=ca.spki_sha256, profiles=frozenset(profiles),
            # What its current certificate restricts (issue 14): names and usages.
            constraints=constraints_of(cert), ekus=issuer_ekus(cert))
    return policy.PolicyContext(
        issuers=issuers, profiles=cfg.profiles, root_may_issue_leaves=cfg.root_may_issue_leaves,
        personal_name_min_points=cfg.personal_name_min_points, max_names=cfg.max_names,
        key_owner=key_owner, max_csr_bytes=tb.MAX_CSR, blocklist=blocklist,
        # Verdicts must fit the result bundle, or a signed batch could not be exported.
        limits=policy.ResultLimits(
            max_reasons=tb.MAX_REASONS, max_message_chars=tb.MAX_MESSAGE_CHARS,
            max_cert_pem_chars=tb.MAX_TEXT, max_result_bytes=tb.MAX_RESULT_FILE),
    )


def requests_of(body: tb.RequestBody) -> list[policy.Request]:
    return [policy.Request(
        id=r.id, ca=r.ca, profile=r.profile, csr=r.csr,
        verified=policy.VerifiedFacts(dns=tuple(r.verified.dns), email=tuple(r.verified.email),
                                      name=r.verified.name, points=r.verified.points,
                                      given_name=r.verified.given_name,
                                      surname=r.verified.surname),
        subscriber=r.subscriber) for r in body.requests]


def load_key_blocklist(cfg: Config) -> Blocklist | None:
    """The compromised-key list the operator carried across the gap (signer.toml), if any."""
    return load_blocklist(Path(cfg.key_blocklist)) if cfg.key_blocklist else None


def judge(cfg: Config, cas: Sequence[CARecord], key_owner: Callable[[str], str | None],
          body: tb.RequestBody, blocklist: Blocklist | None = None,
          ) -> list[tuple[StoredDecision, str]]:
    """Every request's decision and its stored form (canonical JSON), in bundle order."""
    requests = requests_of(body)
    decisions = policy.evaluate_batch(requests, policy_context(cfg, cas, key_owner, blocklist))
    out = []
    for r, d in zip(requests, decisions, strict=True):
        sd = StoredDecision.of(d, r.subscriber)
        out.append((sd, sd.to_json()))
    return out


def judge_revocations(ledger: Ledger, body: tb.RequestBody) -> list[RevocationRequestRow]:
    rows = []
    for i, rv in enumerate(body.revocations):
        reasons = check_revocation(ledger, rv.ca, rv.serial, rv.reason)
        rows.append(RevocationRequestRow(
            body.batch_id, i, rv.ca, rv.serial, rv.reason, "reject" if reasons else "accept",
            json.dumps(reasons), "rejected" if reasons else "pending", "[]"))
    return rows


def import_batch(session: Session, raw: bytes) -> ImportResult:
    """Step 1: verify, judge and stage a request bundle, all or nothing (I7)."""
    state, ledger = session.state, session.ledger
    trusted = state.trusted_ra_keys()  # from the log, never from the ledger
    claimed, _ = tb.peek_request_bundle_header(raw)  # unverified: only to say why, below
    if claimed in state.ras and state.ras[claimed].revoked:
        raise SignerError(f"RA {claimed!r} was revoked: its bundles are refused")
    if not trusted:
        raise SignerError("no RA is trusted yet: run `signer ra trust NAME PUBFILE` first")
    rb = tb.parse_request_bundle(raw, trusted)
    body = rb.body
    integrity.check_ra_for_import(ledger, state, body.ra)
    last = state.ras[body.ra].last_sequence
    if body.sequence <= last:
        raise SignerError(f"bundle sequence {body.sequence} from RA {body.ra!r} is not greater "
                          f"than {last}, the last accepted (a replay or rollback, I7)")
    if body.batch_id in state.batches or ledger.batch(body.batch_id):
        raise SignerError(f"batch id {body.batch_id!r} was already imported")
    now = format_time(session.ceremony_time)
    if body.created > now:
        raise SignerError(f"the bundle was created at {body.created}, after the ceremony time "
                          f"{now} (I9): confirm the time")
    cas = integrity.verified_cas(ledger, state)
    blocklist = load_key_blocklist(session.config)
    judged = judge(session.config, cas, ledger.key_owner, body, blocklist)
    stored = [s for _, s in judged]
    revs = judge_revocations(ledger, body)
    accepted = sum(d.accepted for d, _ in judged)
    intent = BatchIntent(
        batch=body.batch_id, ra=body.ra, ra_key_id=rb.key_id, sequence=body.sequence,
        digest=rb.digest, created=body.created, requests=len(stored), accepted=accepted,
        rejected=len(stored) - accepted, revocations=len(revs),
        decisions_sha256=digest_list(decision_sha256(s) for s in stored),
        revocations_sha256=integrity.revocation_rows_digest(revs),
        # Which compromised-key list judged the batch (auditors judge again with the same).
        blocklist_sha256=blocklist.sha256 if blocklist else None)
    # I2: the intent (every decision's digest) is durable before the ledger stages anything.
    session.record(intent)
    requests = [RequestRow(body.batch_id, i, r.id, r.ca, r.profile, r.subscriber,
                           "accept" if d.accepted else "reject", s, False)
                for i, (r, (d, s)) in enumerate(zip(body.requests, judged, strict=True))]
    ledger.stage_batch(BatchRow(body.batch_id, body.ra, body.sequence, rb.digest, body.created,
                                now, "imported"), raw, requests, revs)
    entry = session.record(BatchImported.of(intent))
    session.record_all([Verdict.of(body.batch_id, s) for s in stored])
    ledger.mark_batch_logged(body.batch_id, entry.seq)
    return ImportResult(body.batch_id, rb.digest, body.ra, body.sequence, accepted,
                        len(stored) - accepted, len(revs))


def import_file(session: Session, path: Path) -> ImportResult:
    """Import a bundle from a file (a removable medium): a regular file, size-capped."""
    return import_batch(session, read_file(path, tb.MAX_REQUEST_FILE))


def show_batch(session: Session, batch_id: str) -> dict[str, Any]:
    """What was staged, for review. Checked against the log's facts: a difference is shown."""
    b = session.ledger.batch(batch_id)
    if b is None:
        raise SignerError(f"unknown batch {batch_id!r}")
    warning = None
    try:
        staged = integrity.verified_batch(session.ledger, session.state, batch_id)
        failures = {s.row.id: s.failure for s in staged.requests}
        approvals = {s.row.id for s in staged.requests if s.approved}
    except IntegrityError as exc:
        warning = str(exc)
        failures, approvals = {}, set()
    issued = session.ledger.issued_for_batch(batch_id)
    reqs = []
    for r in session.ledger.batch_requests(batch_id):
        d = json.loads(r.decision)
        cert = issued.get(r.id)
        failure = failures.get(r.id)
        reqs.append({
            "id": r.id, "ca": r.ca, "profile": r.profile, "verdict": r.verdict,
            "reasons": d.get("reasons", []), "serial": cert.serial if cert else None,
            "names": d.get("dns_names", []) + d.get("emails", []),
            "key_type": d.get("key_type"), "needs_approval": d.get("needs_approval", False),
            "approved": r.id in approvals if warning is None else r.approved,
            "subscriber": r.subscriber,
            "failure": {"code": failure[0], "message": failure[1]} if failure else None,
            "notices": d.get("notices", []),
            "decision_sha256": hashlib.sha256(r.decision.encode()).hexdigest(),
        })
    revs = [{"ca": r.ca, "serial": r.serial, "reason": r.reason, "status": r.status,
             "reasons": json.loads(r.reasons) + json.loads(r.outcome_reasons)}
            for r in session.ledger.batch_revocations(batch_id)]
    return {"batch": batch_id, "ra": b.ra, "sequence": b.sequence, "digest": b.digest,
            "state": b.state, "requests": reqs, "revocations": revs,
            "rehearsal": session.rehearsal, "integrity": warning or "ok"}
