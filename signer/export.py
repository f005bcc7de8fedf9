"""Step 4 of a batch ceremony: the result bundle, signed by the appliance key in the token.

The bundle carries every outcome, the CA chain, the CRLs issued for the batch, the latest
log checkpoint, a consistency proof from the previous ceremony's checkpoint, and for each
certificate and CRL a C2SP tlog-proof whose ``extra`` line is the exact log entry that
recorded it, so the online side and auditors can check it against the signed log.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from signer.ceremony import Appliance, format_time
from signer.checkpoint import format_tlog_proof
from signer.errors import SignerError
from signer.files import check_new_output, write_new
from transfer import bundle as tb

_RECORD_TYPES = (b'"type":"cert.issued"', b'"type":"crl.issued"', b'"type":"ca.created"')


def log_records(path: Path, batch_id: str | None = None) -> dict[str, tuple[int, bytes]]:
    """Map certificate/CRL SHA-256 -> (seq, exact entry line) from the log, in one pass."""
    found: dict[str, tuple[int, bytes]] = {}
    with open(path, "rb") as f:
        for line in f:
            if not any(t in line for t in _RECORD_TYPES):
                continue
            line = line.rstrip(b"\n")
            entry = json.loads(line)
            data = entry["data"]
            if batch_id is not None and data.get("batch") != batch_id:
                continue
            digest = data.get("cert_sha256") or data.get("crl_sha256")
            if digest:
                found[digest] = (entry["seq"], line)
    return found


def export_batch(app: Appliance, batch_id: str, out: Path) -> dict[str, Any]:
    b = app.ledger.batch(batch_id)
    if b is None:
        raise SignerError(f"unknown batch {batch_id!r}")
    check_new_output(out)
    app.require_airgap()
    issued = app.ledger.issued_for_batch(batch_id)
    outcomes = []
    for r in app.ledger.batch_requests(batch_id):
        d = json.loads(r["decision"])
        cert = issued.get(r["id"])
        if cert is not None:
            pem = x509.load_der_x509_certificate(bytes(cert["cert_der"])).public_bytes(
                serialization.Encoding.PEM).decode()
            outcomes.append(tb.Outcome(r["id"], "issued", cert["serial"], pem, ()))
        elif r["verdict"] == "accept" and d["needs_approval"] and not r["approved"]:
            outcomes.append(tb.Outcome(r["id"], "rejected", None, None, (tb.Reason(
                "approval.missing", "the custodians did not approve this sub-CA request"),)))
        elif r["verdict"] == "accept":
            raise SignerError(f"request {r['id']} is accepted but not signed yet: "
                              f"run `signer batch sign {batch_id}` first")
        else:
            outcomes.append(tb.Outcome(r["id"], "rejected", None, None, tuple(
                tb.Reason(x["code"], x["message"]) for x in d["reasons"])))
    revocations = []
    for rv in app.ledger.batch_revocations(batch_id):
        if rv["status"] == "pending":
            raise SignerError(f"revocations of batch {batch_id} are not processed yet: run "
                              f"`signer batch sign {batch_id}` first")
        revocations.append(tb.RevocationOutcome(
            rv["ca"], rv["serial"], "revoked" if rv["status"] == "revoked" else "rejected",
            tuple(tb.Reason(x["code"], x["message"]) for x in json.loads(rv["reasons"]))))
    chain = [tb.ChainCertificate(ca.name, x509.load_der_x509_certificate(ca.cert_der).public_bytes(
        serialization.Encoding.PEM).decode()) for ca in app.ledger.list_cas()]
    crl_rows = app.ledger.crls_for_batch(batch_id)
    crls = [tb.IssuedCrl(c["ca"], c["number"], x509.load_der_x509_crl(bytes(c["der"])).public_bytes(
        serialization.Encoding.PEM).decode()) for c in crl_rows]

    # The log: record the export, then sign a checkpoint covering everything so far.
    app._log("batch.export", {"batch": batch_id, "out": out.name})
    prev = app.previous_checkpoint()
    note = app.checkpoint()
    size = app.log.checkpoints()[-1][1].size
    records = log_records(app.log.path, batch_id)
    wanted = [c["cert_sha256"] for c in issued.values()] + [c["sha256"] for c in crl_rows]
    inclusion = {}
    for digest in wanted:
        if digest not in records:
            raise SignerError(f"certificate or CRL {digest[:16]} is not in the ceremony log (I2)")
        seq, line = records[digest]
        inclusion[digest] = format_tlog_proof(seq, app.log.inclusion_proof(seq, size), note,
                                              extra=line)
    consistency: tuple[bytes, ...] = ()
    if prev is not None:
        consistency = tuple(app.log.consistency_proof(prev[1].size, size))
    body = tb.ResultBody(
        request_digest=b["digest"], batch_id=batch_id, ra=b["ra"], sequence=b["sequence"],
        issued_at=format_time(app._time()), rehearsal=app.rehearsal,
        appliance=app.config.appliance_name, outcomes=tuple(outcomes),
        revocations=tuple(revocations), chain=tuple(chain), crls=tuple(crls),
        log=tb.LogProofs(checkpoint=note, previous_checkpoint=prev[2] if prev else None,
                         consistency_proof=consistency, inclusion=inclusion),
    )
    key = app.token_key(app.config.log_key)
    pub = key.public_key()
    assert isinstance(pub, ed25519.Ed25519PublicKey)
    raw = tb.encode_result_bundle(body, key.sign, pub.public_bytes_raw())
    digest = hashlib.sha256(raw).hexdigest()
    write_new(out, raw)
    keep = app.paths.results / f"{batch_id}-{size}.res"
    if not keep.exists():
        write_new(keep, raw)
    app._log("batch.exported", {"batch": batch_id, "sha256": digest, "checkpoint_size": size,
                                "certificates": len(issued), "crls": len(crl_rows)})
    with app.ledger.transaction() as db:
        db.execute("UPDATE batches SET state = 'exported' WHERE id = ?", (batch_id,))
    return {"batch": batch_id, "out": str(out), "sha256": digest, "certificates": len(issued),
            "crls": len(crl_rows), "checkpoint_size": size}
