"""Step 4 of a batch ceremony: the result bundle, signed by the appliance key in the token.

The bundle carries every outcome, the CA chain, the CRLs issued for the batch, the latest
log checkpoint, a consistency proof from the previous ceremony's checkpoint, and for each
certificate and CRL a C2SP tlog-proof whose ``extra`` line is the exact log entry that
recorded it, so the online side and auditors can check it against the signed log.

Every outcome comes from the log's facts: decisions whose digests match the import, failures
and revocation outcomes as logged, certificates and CRLs whose log entries (read back by their
recorded index and checked against the tree) name exactly their bytes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from signer.core import progress
from signer.core.checkpoint import format_tlog_proof
from signer.core.clock import format_time
from signer.errors import LogError, SignerError
from signer.service import integrity
from signer.service.session import Session
from signer.store.files import check_new_output, write_new
from signer.store.log import Entry
from transfer import bundle as tb
from transfer.usb import read_file


def _logged(session: Session, seq: int | None, kind: str, digest: str, what: str,
            batch_id: str, request_id: str | None = None) -> Entry:
    """The log entry recording ``what``: at its recorded index, naming exactly its digest."""
    try:
        if seq is None:
            raise LogError("no log entry recorded")
        entry = session.log.read_entry(seq)
    except LogError as exc:
        raise SignerError(f"{what} is not in the ceremony log (I2): {exc}") from None
    d = entry.data
    ok = entry.type == kind and digest in (d.get("cert_sha256"), d.get("crl_sha256")) \
        and d.get("batch") == batch_id and (request_id is None or d.get("id") == request_id)
    if not ok:
        raise integrity.IntegrityError(
            f"the ledger disagrees with the ceremony log: {what} is not the one its log entry "
            f"records ({integrity.AUDIT_HINT})")
    return entry


def _outcomes(session: Session, staged: integrity.StagedBatch,
              entries: dict[str, Entry]) -> list[tb.Outcome]:
    batch_id = staged.fact.id
    issued = session.ledger.issued_for_batch(batch_id)
    outcomes = []
    for done, s in enumerate(staged.requests, 1):
        progress.report("exporting the outcomes", done, len(staged.requests))
        d, rid = s.decision, s.row.id
        cert = issued.get(rid)
        if cert is not None:
            digest = hashlib.sha256(cert.cert_der).hexdigest()
            entries[digest] = _logged(session, cert.log_seq, "cert.issued", digest,
                                      f"the certificate of request {rid}", batch_id, rid)
            pem = x509.load_der_x509_certificate(cert.cert_der).public_bytes(
                serialization.Encoding.PEM).decode()
            # An issued outcome's reasons are its notices: what it was granted differently
            # from its CSR's proposal (docs/FORMATS.md).
            outcomes.append(tb.Outcome(rid, "issued", cert.serial, pem, tuple(
                tb.Reason(n.code, n.message) for n in d.notices)))
        elif s.failure is not None:
            outcomes.append(tb.Outcome(rid, "rejected", None, None,
                                       (tb.Reason(s.failure[0], s.failure[1]),)))
        elif d.accepted and d.needs_approval and not s.approved:
            outcomes.append(tb.Outcome(rid, "rejected", None, None, (tb.Reason(
                "approval.missing", "the custodians did not approve this request (a sub-CA or "
                "a delegated OCSP responder)"),)))
        elif d.accepted:
            raise SignerError(f"request {rid} is accepted but not signed yet: "
                              f"run `signer batch sign {batch_id}` first")
        else:
            outcomes.append(tb.Outcome(rid, "rejected", None, None, tuple(
                tb.Reason(r.code, r.message) for r in d.reasons)))
    return outcomes


def _revocations(staged: integrity.StagedBatch) -> list[tb.RevocationOutcome]:
    out = []
    for rv in staged.revocations:
        if rv.verdict == "reject":
            reasons = json.loads(rv.reasons)
            status = "rejected"
        else:
            logged = staged.fact.revocation_outcomes.get(rv.position)
            if logged is None:
                raise SignerError(f"revocations of batch {staged.fact.id} are not processed "
                                  f"yet: run `signer batch sign {staged.fact.id}` first")
            status = logged
            reasons = json.loads(rv.outcome_reasons) if logged == "rejected" else []
            if logged == "rejected" and not reasons:
                reasons = [{"code": "revocation.rejected", "message": "refused at signing"}]
        out.append(tb.RevocationOutcome(rv.ca, rv.serial, status, tuple(
            tb.Reason(x["code"], x["message"]) for x in reasons)))
    return out


def export_batch(session: Session, batch_id: str, out: Path) -> dict[str, Any]:
    staged = integrity.verified_batch(session.ledger, session.state, batch_id)
    integrity.check_batch_issued_count(session.ledger, staged.fact)
    check_new_output(out)
    session.require_airgap()
    entries: dict[str, Entry] = {}
    outcomes = _outcomes(session, staged, entries)
    revocations = _revocations(staged)
    chain = [tb.ChainCertificate(ca.name, x509.load_der_x509_certificate(ca.cert_der).public_bytes(
        serialization.Encoding.PEM).decode()) for ca in integrity.verified_cas(session.ledger,
                                                                              session.state)]
    crl_rows = session.ledger.crls_for_batch(batch_id)
    crls = []
    for c in crl_rows:
        entries[c.sha256] = _logged(session, c.log_seq, "crl.issued", hashlib.sha256(c.der).hexdigest(),
                                    f"CRL {c.number} of {c.ca!r}", batch_id)
        crls.append(tb.IssuedCrl(c.ca, c.number, x509.load_der_x509_crl(c.der).public_bytes(
            serialization.Encoding.PEM).decode()))

    # The log: record the export, then sign a checkpoint covering everything so far.
    session.log_event("batch.export", {"batch": batch_id, "out": out.name})
    prev = session.previous_checkpoint()
    note = session.checkpoint()
    size = session.log.checkpoints()[-1][1].size
    inclusion = {}
    for done, (digest, e) in enumerate(entries.items(), 1):
        progress.report("inclusion proofs", done, len(entries))
        inclusion[digest] = format_tlog_proof(e.seq, session.log.inclusion_proof(e.seq, size),
                                              note, extra=e.line)
    consistency: tuple[bytes, ...] = ()
    if prev is not None:
        consistency = tuple(session.log.consistency_proof(prev[1].size, size))
    body = tb.ResultBody(
        request_digest=staged.fact.digest, batch_id=batch_id, ra=staged.fact.ra,
        sequence=staged.fact.sequence, issued_at=format_time(session.ceremony_time),
        rehearsal=session.rehearsal, appliance=session.config.appliance_name, outcomes=tuple(outcomes),
        revocations=tuple(revocations), chain=tuple(chain), crls=tuple(crls),
        log=tb.LogProofs(checkpoint=note, previous_checkpoint=prev[2] if prev else None,
                         consistency_proof=consistency, inclusion=inclusion),
    )
    public, sign = session.log_signer()
    raw = tb.encode_result_bundle(body, sign, public.raw)
    digest = hashlib.sha256(raw).hexdigest()
    write_new(out, raw, mode=0o644)
    keep = session.paths.results / f"{batch_id}-{size}.res"
    if not keep.exists():
        write_new(keep, raw)
    n_certs = sum(o.status == "issued" for o in outcomes)
    session.log_event("batch.exported", {"batch": batch_id, "sha256": digest,
                                     "checkpoint_size": size, "certificates": n_certs,
                                     "crls": len(crl_rows)})
    session.ledger.set_batch_state(batch_id, "exported")
    return {"batch": batch_id, "out": str(out), "sha256": digest, "certificates": n_certs,
            "crls": len(crl_rows), "checkpoint_size": size}


def export_to_directory(session: Session, batch_id: str,
                        directory: Path) -> tuple[dict[str, Any], bytes]:
    """Export to ``<directory>/<batch>.res`` (a removable medium); the result and its bytes,
    as written and read back by the one output writer."""
    out = directory / f"{batch_id}.res"
    res = export_batch(session, batch_id, out)
    return res, read_file(out, tb.MAX_RESULT_FILE)
