"""The auditor's checks: the log, the bundles, the ledger, and every signature, offline.

``audit_verify`` needs only the ceremony log, the appliance's public key and (optionally)
result bundles, an anchor checkpoint held elsewhere, and the ledger. It reports the first
discrepancy of each kind; it never repairs anything.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from signer.core.checkpoint import (
    checkpoint_of_note_unverified,
    parse_signed_checkpoint,
    parse_tlog_proof,
    tlog_proof_extra,
)
from signer.core.merkle import leaf_hash, verify_consistency, verify_inclusion
from signer.errors import LogError, SignerError
from signer.service.audit_ledger import cross_check
from signer.store.ledger import Ledger
from signer.store.log import CeremonyLog, LogReport, verify_log
from transfer import bundle as tb
from transfer.errors import TransferError


def _der_sha256_cert(pem: str) -> tuple[x509.Certificate, str]:
    cert = x509.load_pem_x509_certificate(pem.encode())
    return cert, hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _der_sha256_crl(pem: str) -> tuple[x509.CertificateRevocationList, str]:
    crl = x509.load_pem_x509_crl(pem.encode())
    return crl, hashlib.sha256(crl.public_bytes(serialization.Encoding.DER)).hexdigest()


def verify_bundle_proofs(body: tb.ResultBody, appliance_key: bytes) -> int:
    """Check the result bundle's log evidence; returns the number of inclusion proofs checked.

    Every certificate and CRL must be in the signed log: its tlog-proof's extra line is the
    log entry that recorded it (hashed as the leaf), and the entry must name its digest.
    """
    name = body.appliance
    try:
        cp = parse_signed_checkpoint(body.log.checkpoint, name, appliance_key, origin=name)
        if body.log.previous_checkpoint is not None:
            prev = parse_signed_checkpoint(body.log.previous_checkpoint, name, appliance_key,
                                           origin=name)
            verify_consistency(prev.size, cp.size, prev.root, cp.root,
                               list(body.log.consistency_proof))
        wanted = [("certificate", o.id, _der_sha256_cert(o.certificate)[1])
                  for o in body.outcomes if o.status == "issued" and o.certificate]
        wanted += [("CRL", f"{c.ca}#{c.number}", _der_sha256_crl(c.crl)[1]) for c in body.crls]
        for what, ident, digest in wanted:
            proof = body.log.inclusion.get(digest)
            if proof is None:
                raise SignerError(f"{what} {ident} has no inclusion proof in the bundle")
            index, hashes, note = parse_tlog_proof(proof)
            if note != body.log.checkpoint:
                raise SignerError(f"{what} {ident}: its proof is against another checkpoint")
            line = tlog_proof_extra(proof)
            if line is None:
                raise SignerError(f"{what} {ident}: the proof does not carry its log entry")
            verify_inclusion(leaf_hash(line), index, cp.size, hashes, cp.root)
            entry = json.loads(line)
            data = entry.get("data", {})
            if entry.get("seq") != index or digest not in (data.get("cert_sha256"),
                                                           data.get("crl_sha256")):
                raise SignerError(f"{what} {ident}: the log entry records another object")
    except LogError as exc:
        raise SignerError(f"result bundle log evidence: {exc}") from None
    return len(wanted)


@dataclass
class AuditReport:
    log: LogReport
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    bundles: int = 0
    batches_rejudged: int = 0
    proofs: int = 0
    certificates: int = 0
    crls: int = 0

    @property
    def ok(self) -> bool:
        return self.log.ok and not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "log": json.loads(self.log.to_json()), "problems": self.problems,
                "notes": self.notes, "bundles": self.bundles, "inclusion_proofs": self.proofs,
                "certificates_checked": self.certificates, "crls_checked": self.crls,
                "batches_rejudged": self.batches_rejudged}

    def text(self) -> str:
        lg = self.log
        lines = [f"ceremony log: {lg.entries} entries, {lg.checkpoints} signed checkpoints: "
                 + ("OK" if lg.ok else f"FAILED at entry {lg.error_seq} (line {lg.error_line}): "
                    f"{lg.first_error}")]
        if self.certificates or self.crls:
            lines.append(f"ledger: {self.certificates} certificates and {self.crls} CRLs checked "
                         f"against the log and their CA keys; {self.batches_rejudged} batches "
                         "judged again")
        if self.bundles:
            lines.append(f"bundles: {self.bundles} verified, {self.proofs} inclusion proofs")
        lines += [f"PROBLEM: {p}" for p in self.problems]
        lines += [f"note: {n}" for n in self.notes]
        lines.append("RESULT: " + ("OK" if self.ok else "DISCREPANCIES FOUND"))
        return "\n".join(lines)


def log_origin(path: Path) -> str:
    """The origin of the first checkpoint in the log (its signature is checked later)."""
    with open(path, "rb") as f:
        for line in f:
            if b'"type":"checkpoint"' in line:
                try:
                    note = json.loads(line)["data"]["note"]
                    return checkpoint_of_note_unverified(note).origin
                except (ValueError, KeyError, LogError):
                    break
    raise SignerError(f"{path}: no checkpoint found; cannot tell the log's origin")


def audit_verify(
    log_path: Path, appliance_key: bytes, *, origin: str | None = None,
    bundles: list[Path] | None = None, anchor: str | None = None, ledger: Ledger | None = None,
    version: str = "", open_from: int | None = None,
) -> AuditReport:
    origin = origin or log_origin(log_path)
    report = AuditReport(verify_log(log_path, origin, origin, appliance_key, anchor=anchor,
                                    open_from=open_from))
    if not report.log.ok:
        return report
    log = CeremonyLog.open(log_path, origin)
    records = _records(log_path)
    for path in bundles or []:
        try:
            raw = path.read_bytes()
            res = tb.parse_result_bundle(raw, appliance_key)
            report.proofs += verify_bundle_proofs(res.body, appliance_key)
            cp = parse_signed_checkpoint(res.body.log.checkpoint, origin, appliance_key,
                                         origin=origin)
            if cp.size > log.size or log.root_at(cp.size) != cp.root:
                raise SignerError("its checkpoint is not a state of this log (truncated or forked)")
            for c in res.body.chain:
                _, digest = _der_sha256_cert(c.certificate)
                if digest not in records:
                    raise SignerError(f"chain certificate {c.ca!r} is not in the log")
            report.bundles += 1
        except (OSError, SignerError, TransferError, LogError, ValueError) as exc:
            report.problems.append(f"bundle {path.name}: {exc}")
    if ledger is not None:
        found = cross_check(log_path, ledger, version)
        report.problems += found.problems
        report.notes += found.notes
        report.certificates, report.crls = found.certificates, found.crls
        report.batches_rejudged = found.rejudged
    return report


def _records(path: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    with open(path, "rb") as f:
        for line in f:
            if b'"cert_sha256"' in line or b'"crl_sha256"' in line:
                entry = json.loads(line)
                if entry["type"] in ("cert.issued", "ca.created", "crl.issued"):
                    d = entry["data"]
                    out[d.get("cert_sha256") or d["crl_sha256"]] = entry
    return out
