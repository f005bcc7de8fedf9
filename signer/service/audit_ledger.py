"""The auditor's replay: every fact rebuilt from the log, then compared with the ledger both ways.

Long because it is one pass with one handler per log record type sharing the replay's state
(facts so far, rows in log order); split by record type, each part would need all of it.

The log is read once, in order, alongside the ledger's rows in log order (each row records the
sequence number of the entry that logged it), so memory stays small: per request a 32-byte
decision digest, nothing per certificate. For each entry the matching rows are checked:

- ``ca.created``, ``cert.issued``, ``ca.certified``: a row with these exact DER bytes (hashed
  here, never the stored hash column), CA, serial, subscriber, profile, key and validity; the
  certificate verifies under its CA; an intent came first; a leaf answers an accepting
  decision of its batch (with the custodians' approval where needed) and carries exactly its
  key and names; a CA's further certificate (re-certification, rollover link) is for that
  CA's own key, a cross-certificate for a key that is none of ours; each CA's row names the
  certificate the log last made current;
- ``ocsp.signed``: the response in the ledger with these bytes, signed by its CA, about a
  certificate of that CA, with the status the log's revocations gave it then;
- ``batch.imported``: the stored bundle hashes to the logged digest, its decisions to the
  logged digests, and the bundle, judged again with the RA key, the configuration, the CAs and
  the certified keys of that moment, gives the same decisions;
- ``revoked``, ``crl.issued``: revocations as logged; CRL numbers strictly increasing (I4); each
  CRL lists exactly the revocations logged before it whose certificates had not expired;
- RAs (keys, sequences, revocations), approvals, failures and revocation outcomes of batches.
Then every row the replay did not meet is reported: the ledger holds something the log never
recorded. The list of what cannot be caught is in docs/THREAT-MODEL.md (T10).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp

from signer.core import progress
from signer.core.config import parse_config
from signer.core.crl import REASONS, crl_signed_by
from signer.core.decision import DecisionError, StoredDecision, decision_sha256
from signer.core.ocsp import verify_response
from signer.errors import SignerError
from signer.service.batches import judge, load_key_blocklist
from signer.service.integrity import revocation_rows_digest
from signer.store.ledger import CARecord, CertRow, CRLRow, Ledger
from signer.store.log.state import LogState, digest_list
from transfer import bundle as tb
from transfer.errors import TransferError

MAX_PER_KIND = 20


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    certificates: int = 0
    crls: int = 0
    batches: int = 0
    rejudged: int = 0
    _per_kind: dict[str, int] = field(default_factory=dict)

    def problem(self, kind: str, text: str) -> None:
        n = self._per_kind.get(kind, 0) + 1
        self._per_kind[kind] = n
        if n <= MAX_PER_KIND:
            self.problems.append(text)
        elif n == MAX_PER_KIND + 1:
            self.problems.append(f"(more {kind} problems are not listed)")


def _spki(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).hexdigest()


def _san_names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(g.value) for g in san if isinstance(g, x509.DNSName | x509.RFC822Name)]


_REASON_NAMES = {flag: name for name, flag in REASONS.items()}


def _reason(entry: x509.RevokedCertificate) -> str:
    try:
        flag = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except x509.ExtensionNotFound:
        return "unspecified"
    return _REASON_NAMES.get(flag, str(flag))


class _Merge:
    """A ledger cursor in log order: rows are taken as the log's entries come."""

    def __init__(self, rows: Iterator[Any], key: str) -> None:
        self.rows = rows
        self.key = key
        self.head: Any = next(rows, None)
        self.skipped: list[Any] = []

    def take(self, seq: int) -> Any:
        """The row recorded at log entry ``seq``; rows before it are unmatched."""
        while self.head is not None and (getattr(self.head, self.key) is None
                                         or getattr(self.head, self.key) < seq):
            self.skipped.append(self.head)
            self.head = next(self.rows, None)
        if self.head is not None and getattr(self.head, self.key) == seq:
            row, self.head = self.head, next(self.rows, None)
            return row
        return None

    def rest(self) -> list[Any]:
        out = list(self.skipped)
        while self.head is not None:
            out.append(self.head)
            self.head = next(self.rows, None)
        return out


class Replay:
    def __init__(self, ledger: Ledger, version: str, out: Findings) -> None:
        self.ledger = ledger
        self.version = version
        self.out = out
        self.state = LogState()
        self.configs: dict[str, str] = {}
        self.session_config: str | None = None
        self.session_version: str | None = None
        self.decisions: dict[tuple[str, str], bytes] = {}
        self.verdicts_seen: set[tuple[str, str]] = set()
        self.cas = {c.name: c for c in ledger.list_cas()}
        self.ca_certs: dict[str, x509.Certificate] = {}
        self.batch_seqs = ledger.batch_log_seqs()
        self.certs = _Merge(ledger.certificates_in_log_order(), "log_seq")
        self.revocations = _Merge(ledger.revocations_in_log_order(), "revoked_seq")
        self.crls = _Merge(ledger.all_crls(), "log_seq")
        self.ocsp = _Merge(ledger.ocsp_responses_in_log_order(), "log_seq")
        # Each CA as it was at this point of the log (its certificate then): what a batch
        # was judged with (an issuer's name constraints and usages come from it).
        self.ca_at: dict[str, CARecord] = {}
        self.logged_batches: set[str] = set()
        self.logged_cas: set[str] = set()
        # When, and under which configuration and code, each batch was judged (its intent).
        self.judged_at: dict[str, tuple[int, str | None, str | None]] = {}

    # -- the pass ------------------------------------------------------------------------------

    def run(self, log_path: Path) -> None:
        with open(log_path, "rb") as f:
            total, done = os.fstat(f.fileno()).st_size, 0
            for line in f:
                done += len(line)
                progress.report("replaying the log against the ledger", done, total, "B")
                entry = json.loads(line)
                seq, kind, data = entry["seq"], entry["type"], entry["data"]
                handler = getattr(self, "on_" + kind.replace(".", "_"), None)
                if handler is not None:
                    handler(seq, data)
                self.state.apply(kind, data, seq, entry["time"])
        self.finish()

    def on_appliance_init(self, seq: int, d: dict[str, Any]) -> None:
        pinned = self.ledger.get_meta("log_public_key")
        if d.get("log_public_key") is not None and pinned != d["log_public_key"]:
            self.out.problem("meta", "the ledger's pinned log key is not the one logged at init")

    def on_config(self, seq: int, d: dict[str, Any]) -> None:
        if hashlib.sha256(d["text"].encode()).hexdigest() != d["sha256"]:
            self.out.problem("config", f"entry {seq}: the logged configuration does not hash "
                                       "to its digest")
        self.configs[d["sha256"]] = d["text"]

    def on_key_restored(self, seq: int, d: dict[str, Any]) -> None:
        # A restore brings back the key the log recorded, under the public key it recorded.
        before = self.state.custody.keys.get(d["label"])
        spki = hashlib.sha256(base64.b64decode(d["public_key"])).hexdigest()
        if spki != d["spki_sha256"] or (before is not None and before.spki_sha256
                                        not in (None, d["spki_sha256"])):
            self.out.problem("custody", f"entry {seq}: key {d['label']!r} was restored with "
                                        "another public key than the one the log recorded")

    def on_session_open(self, seq: int, d: dict[str, Any]) -> None:
        self.session_config = d.get("config_sha256")
        self.session_version = d.get("version")

    # -- CAs and certificates ------------------------------------------------------------------

    def _ca_cert(self, name: str) -> x509.Certificate | None:
        if name not in self.ca_certs and name in self.cas:
            self.ca_certs[name] = x509.load_der_x509_certificate(self.cas[name].cert_der)
        return self.ca_certs.get(name)

    def on_ca_created(self, seq: int, d: dict[str, Any]) -> None:
        name = d["ca"]
        self.logged_cas.add(name)
        key = self.state.custody.keys.get(d["key"])
        if key is not None and key.spki_sha256 not in (None, d["spki_sha256"]):
            self.out.problem("custody", f"CA {name!r}: its key is not the key {d['key']!r} "
                                        "the log recorded at generation")
        if self.state.pending_cas.get(name) != d["serial"]:
            self.out.problem("intent", f"CA {name!r}: created without a logged intent")
        rec: CARecord | None = self.cas.get(name)
        if rec is None:
            self.out.problem("ca", f"CA {name!r} is in the log but not in the ledger")
        if rec is not None and (rec.kind, rec.key_label, rec.spki_sha256) != (
                d["kind"], d["key"], d["spki_sha256"]):
            self.out.problem("ca", f"CA {name!r}: the ledger's row is not what entry {seq} "
                                   "logged")
        row = self.certs.take(seq)
        if row is None or hashlib.sha256(row.cert_der).hexdigest() != d["cert_sha256"] \
                or (row.ca, row.serial, row.subscriber) != (d["issuer"], d["serial"],
                                                            f"ca:{name}"):
            self.out.problem("certificate", f"the certificate of CA {name!r} (entry {seq}) is "
                                            "not in the ledger as logged")
            return
        if rec is not None:
            self.ca_at[name] = dataclasses.replace(rec, cert_der=row.cert_der)
        self._check_signed(row, d["issuer"] if d["kind"] == "sub" else name, f"CA {name!r}")

    def on_ca_certified(self, seq: int, d: dict[str, Any]) -> None:
        """A further certificate for a CA key: a re-certification, a link, a cross."""
        what = f"the {d['kind']} certificate {d['serial']} of {d['ca']!r} (entry {seq})"
        intent = self.state.pending_ca_certs.get((d["issuer"], d["serial"]))
        if intent is None or (intent["ca"], intent["kind"], intent["spki_sha256"]) != (
                d["ca"], d["kind"], d["spki_sha256"]):
            self.out.problem("intent", f"{what}: made without a logged intent")
        elif d["kind"] == "cross" and not intent.get("input_sha256"):
            self.out.problem("approval", f"{what}: cross-certified without the custodians' "
                                         "approval of its input")
        row = self.certs.take(seq)
        subscriber = f"{'external' if d['kind'] == 'cross' else 'ca'}:{d['ca']}"
        if row is None or hashlib.sha256(row.cert_der).hexdigest() != d["cert_sha256"] \
                or (row.ca, row.serial, row.subscriber, row.spki_sha256) != (
                    d["issuer"], d["serial"], subscriber, d["spki_sha256"]):
            self.out.problem("certificate", f"{what}: not in the ledger as logged")
            return
        ours = {c.spki_sha256: c.name for c in self.cas.values()}
        if d["kind"] == "cross" and d["spki_sha256"] in ours:
            self.out.problem("certificate", f"{what}: cross-certifies CA "
                                            f"{ours[d['spki_sha256']]!r}'s own key")
        fact = self.state.cas.get(d["ca"])
        if d["kind"] != "cross" and (fact is None or fact.spki_sha256 != d["spki_sha256"]):
            self.out.problem("certificate", f"{what}: not for the key of CA {d['ca']!r}")
        cert = self._check_signed(row, d["issuer"], what)
        if cert is not None and d["current"] and d["ca"] in self.ca_at:
            prev = self.ca_at[d["ca"]]
            self.ca_at[d["ca"]] = dataclasses.replace(prev, cert_der=row.cert_der,
                                                      issuer=d["issuer"], serial=d["serial"])

    def on_ocsp_signed(self, seq: int, d: dict[str, Any]) -> None:
        what = f"the OCSP response for {d['serial']} of {d['ca']!r} (entry {seq})"
        if (d["ca"], d["serial"], d["this_update"]) not in self.state.pending_ocsp:
            self.out.problem("intent", f"{what}: signed without a logged intent")
        row = self.ocsp.take(seq)
        if row is None or hashlib.sha256(row.der).hexdigest() != d["response_sha256"] \
                or (row.ca, row.serial, row.status) != (d["ca"], d["serial"], d["status"]):
            self.out.problem("ocsp", f"{what}: not in the ledger as logged")
            return
        cert = self.ledger.certificate(d["ca"], d["serial"])
        issuer = self._ca_cert(d["ca"])
        try:
            resp = ocsp.load_der_ocsp_response(row.der)
            if issuer is None:
                raise ValueError("no such CA")
            verify_response(resp, issuer)
        except (ValueError, InvalidSignature):
            self.out.problem("signature", f"{what}: does not verify against its CA")
            return
        if cert is None or cert.log_seq is None or cert.log_seq > seq:
            self.out.problem("ocsp", f"{what}: about a certificate the CA had not issued then")
            return
        revoked = cert.revoked_seq is not None and cert.revoked_seq < seq
        if d["status"] != ("revoked" if revoked else "good"):
            self.out.problem("ocsp", f"{what}: says {d['status']}, the log says "
                                     f"{'revoked' if revoked else 'good'} then")

    def _check_signed(self, row: CertRow, issuer: str, what: str) -> x509.Certificate | None:
        try:
            cert = x509.load_der_x509_certificate(row.cert_der)
            ca = self._ca_cert(issuer)
            if ca is None:
                raise ValueError("no such CA")
            cert.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            self.out.problem("signature", f"{what}: does not verify against CA {issuer!r}")
            return None
        self.out.certificates += 1
        if format(cert.serial_number, "x") != row.serial \
                or cert.not_valid_after_utc.isoformat() != row.not_after \
                or cert.not_valid_before_utc.isoformat() != row.not_before \
                or _spki(cert) != row.spki_sha256:
            self.out.problem("certificate", f"{what}: the ledger's serial, validity or key "
                                            "columns are not the certificate's")
        return cert

    def on_cert_issued(self, seq: int, d: dict[str, Any]) -> None:
        what = f"certificate {d['serial']} of {d['ca']!r} (entry {seq})"
        if self.state.pending_certs.get((d["ca"], d["serial"])) != (d["batch"], d["id"]):
            self.out.problem("intent", f"{what}: issued without a logged intent")
        row = self.certs.take(seq)
        if row is None or hashlib.sha256(row.cert_der).hexdigest() != d["cert_sha256"]:
            self.out.problem("certificate", f"{what}: not in the ledger with these bytes")
            return
        if (row.ca, row.serial, row.profile, row.subscriber, row.batch_id, row.request_id,
                row.spki_sha256) != (d["ca"], d["serial"], d["profile"], d["subscriber"],
                                     d["batch"], d["id"], d["spki_sha256"]) \
                or row.not_after != d["not_after"]:
            self.out.problem("certificate", f"{what}: the ledger's row is not what was logged "
                                            "(CA, serial, profile, subscriber, request, key or "
                                            "notAfter)")
        cert = self._check_signed(row, d["ca"], what)
        if cert is not None:
            self._check_answers_decision(cert, d, what)

    def _check_answers_decision(self, cert: x509.Certificate, d: dict[str, Any],
                                what: str) -> None:
        """A leaf is issued only for an accepting decision, with its key and its names."""
        key = (d["batch"], d["id"])
        req = self.ledger.request(d["batch"], d["id"])
        if key not in self.decisions or req is None \
                or bytes.fromhex(decision_sha256(req.decision)) != self.decisions[key]:
            self.out.problem("decision", f"{what}: no logged decision of batch {d['batch']!r} "
                                         f"for request {d['id']!r} backs it")
            return
        dec = StoredDecision.from_json(req.decision)
        fact = self.state.batches.get(d["batch"])
        if not dec.accepted:
            self.out.problem("decision", f"{what}: issued for a request policy rejected")
        if dec.needs_approval and (fact is None or d["id"] not in fact.approvals):
            self.out.problem("decision", f"{what}: a sub-CA issued without the custodians' "
                                         "logged approval")
        if dec.spki_sha256 != _spki(cert) or dec.ca != d["ca"] or dec.subscriber != \
                d["subscriber"] or sorted(dec.names) != sorted(_san_names(cert)):
            self.out.problem("decision", f"{what}: its key, CA, subscriber or names are not "
                                         "the decision's")

    # -- batches -------------------------------------------------------------------------------

    def on_batch_intent(self, seq: int, d: dict[str, Any]) -> None:
        self.judged_at[d["batch"]] = (seq, self.session_config, self.session_version)

    def on_batch_imported(self, seq: int, d: dict[str, Any]) -> None:
        batch_id = d["batch"]
        self.logged_batches.add(batch_id)
        self.out.batches += 1
        what = f"batch {batch_id!r} (entry {seq})"
        row = self.ledger.batch(batch_id)
        raw = self.ledger.batch_raw(batch_id)
        if row is None or raw is None:
            self.out.problem("batch", f"{what}: logged as imported but not in the ledger")
            return
        if hashlib.sha256(raw).hexdigest() != d["digest"] or (row.ra, row.sequence, row.digest) \
                != (d["ra"], d["sequence"], d["digest"]) or self.batch_seqs.get(batch_id) != seq:
            self.out.problem("batch", f"{what}: the stored bundle, RA or sequence is not the one "
                                      "logged")
        ra = self.state.ras.get(d["ra"])
        if ra is None or ra.key_id != d["ra_key_id"] or ra.revoked:
            self.out.problem("batch", f"{what}: not signed by the key the log trusted for RA "
                                      f"{d['ra']!r} then")
        elif d["sequence"] <= ra.last_sequence:
            self.out.problem("batch", f"{what}: sequence {d['sequence']} does not exceed the RA's "
                                      f"last, {ra.last_sequence} (I7)")
        rows = self.ledger.batch_requests(batch_id)
        digests = [decision_sha256(r.decision) for r in rows]
        if digest_list(digests) != d["decisions_sha256"] or len(rows) != d["requests"]:
            self.out.problem("batch", f"{what}: the ledger's decisions are not the ones logged "
                                      "(verdicts, names or keys changed)")
        else:
            for r, h in zip(rows, digests, strict=True):
                self.decisions[(batch_id, r.id)] = bytes.fromhex(h)
        if revocation_rows_digest(self.ledger.batch_revocations(batch_id)) \
                != d["revocations_sha256"]:
            self.out.problem("batch", f"{what}: the ledger's revocation requests are not the "
                                      "ones logged")
        if ra is not None and hashlib.sha256(raw).hexdigest() == d["digest"]:
            self._rejudge(seq, d, raw, bytes.fromhex(ra.public_key), what)

    def _rejudge(self, seq: int, d: dict[str, Any], raw: bytes, ra_key: bytes, what: str) -> None:
        """The bundle judged again as it was at import: the same decisions, byte for byte."""
        at, config, version = self.judged_at.get(d["batch"], (seq, self.session_config,
                                                             self.session_version))
        text = self.configs.get(config or "")
        if text is None:  # every session logs the policy in force when it changes
            self.out.problem("config", f"{what}: the configuration in force was never logged "
                                       "(a session named a policy no config entry holds)")
            return
        try:
            cfg = parse_config(text)
            blocklist = None
            if d.get("blocklist_sha256"):
                try:
                    blocklist = load_key_blocklist(cfg)
                except SignerError:
                    blocklist = None
                if blocklist is None or blocklist.sha256 != d["blocklist_sha256"]:
                    self.out.notes.append(f"{what}: the key blocklist that judged it is not "
                                          "here; not judged again")
                    return
            body = tb.parse_request_bundle(raw, {d["ra"]: ra_key}).body
            cas = [self.ca_at.get(c.name, c) for c in self.cas.values()
                   if c.name in self.logged_cas]
            judged = judge(cfg, cas, lambda spki: self.ledger.key_owner_before(spki, at), body,
                           blocklist)
        except (SignerError, TransferError) as exc:
            self.out.problem("rejudge", f"{what}: cannot be judged again ({exc})")
            return
        self.out.rejudged += 1
        if digest_list(decision_sha256(s) for _, s in judged) == d["decisions_sha256"]:
            return
        text_ = (f"{what}: judged again, the decisions differ from the logged ones")
        if version == self.version:
            self.out.problem("rejudge", text_)
        else:
            self.out.notes.append(f"{text_} (policy code {version} then, {self.version} now)")

    def on_verdict(self, seq: int, d: dict[str, Any]) -> None:
        key = (d["batch"], d["id"])
        logged = self.decisions.get(key)
        self.verdicts_seen.add(key)
        if logged is not None and logged.hex() != d["decision_sha256"]:
            self.out.problem("batch", f"entry {seq}: the verdict of request {d['id']!r} of batch "
                                      f"{d['batch']!r} is not its import's")

    def on_issue_failed(self, seq: int, d: dict[str, Any]) -> None:
        req = self.ledger.request(d["batch"], d["id"])
        if req is None or req.failure is None or json.loads(req.failure).get("code") != d["code"]:
            self.out.notes.append(f"entry {seq}: request {d['id']!r} of batch {d['batch']!r} "
                                  "failed at signing; the ledger does not say so")

    # -- revocations and CRLs ------------------------------------------------------------------

    def on_revoked(self, seq: int, d: dict[str, Any]) -> None:
        what = f"the revocation of {d['serial']} of {d['ca']!r} (entry {seq})"
        if (d["ca"], d["serial"]) not in self.state.pending_revocations:
            self.out.problem("intent", f"{what}: without a logged intent")
        row = self.revocations.take(seq)
        if row is None or (row.ca, row.serial, row.revoked_at, row.revocation_reason,
                           row.not_after) != (d["ca"], d["serial"], d["revoked_at"],
                                              d["reason"], d["not_after"]):
            self.out.problem("revocation", f"{what}: not in the ledger as logged")

    def on_crl_issued(self, seq: int, d: dict[str, Any]) -> None:
        what = f"CRL {d['number']} of {d['ca']!r} (entry {seq})"
        if (d["ca"], d["number"]) not in self.state.pending_crls:
            self.out.problem("intent", f"{what}: issued without a logged intent")
        if d["number"] <= self.state.crl_numbers.get(d["ca"], 0):
            self.out.problem("crl", f"{what}: its number does not increase (I4)")
        row: CRLRow | None = self.crls.take(seq)
        if row is None or hashlib.sha256(row.der).hexdigest() != d["crl_sha256"] \
                or (row.ca, row.number) != (d["ca"], d["number"]):
            self.out.problem("crl", f"{what}: not in the ledger with these bytes")
            return
        ca = self._ca_cert(d["ca"])
        crl = x509.load_der_x509_crl(row.der)
        if ca is None or not crl_signed_by(crl, ca):
            self.out.problem("signature", f"{what}: does not verify against its CA")
            return
        self.out.crls += 1
        listed = {(format(r.serial_number, "x"),
                   r.revocation_date_utc.strftime("%Y-%m-%dT%H:%M:%SZ"), _reason(r)) for r in crl}
        expected = set(self.ledger.revocations_before(d["ca"], seq,
                                                      crl.last_update_utc.isoformat()))
        if listed != expected:
            missing = sorted(expected - listed)
            self.out.problem("crl", f"{what}: lists {len(listed)} revocations, the log has "
                                    f"{len(expected)} unexpired"
                                    + (f" (missing {missing[0][0]})" if missing else ""))

    # -- the end -------------------------------------------------------------------------------

    def finish(self) -> None:
        for row in self.certs.rest():
            self.out.problem("unlogged", f"certificate {row.serial} of {row.ca!r} is in the "
                                         "ledger but not in the log")
        for row in self.revocations.rest():
            self.out.problem("unlogged", f"the revocation of {row.serial} of {row.ca!r} is in "
                                         "the ledger but not in the log")
        for crl in self.crls.rest():
            self.out.problem("unlogged", f"CRL {crl.number} of {crl.ca!r} is in the ledger but "
                                         "not in the log")
        for name in sorted(set(self.cas) - self.logged_cas):
            self.out.problem("unlogged", f"CA {name!r} is in the ledger but not in the log")
        for o in self.ocsp.rest():
            self.out.problem("unlogged", f"an OCSP response for {o.serial} of {o.ca!r} is in "
                                         "the ledger but not in the log")
        self._check_current_cas()
        for b in self.ledger.list_batches():
            if b.id not in self.logged_batches:
                self.out.problem("unlogged", f"batch {b.id!r} is in the ledger but its import "
                                             "is not in the log")
        for key in sorted(set(self.decisions) - self.verdicts_seen):
            self.out.notes.append(f"request {key[1]!r} of batch {key[0]!r} has no verdict entry")
            break
        self._check_ras()
        self._check_batches()

    def _check_current_cas(self) -> None:
        """Each CA's row names the certificate the log made current last (``ca.created``,
        or a later ``ca.certified`` with ``current``)."""
        for name, fact in self.state.cas.items():
            rec = self.cas.get(name)
            if rec is None:
                continue
            if (hashlib.sha256(rec.cert_der).hexdigest(), rec.cert_sha256, rec.kind,
                    rec.issuer, rec.key_label, rec.spki_sha256, rec.serial, rec.log_seq) != (
                    fact.cert_sha256, fact.cert_sha256, fact.kind, fact.issuer, fact.key,
                    fact.spki_sha256, fact.serial, fact.seq):
                self.out.problem("ca", f"CA {name!r}: the ledger's row is not the certificate "
                                       f"the log made current (entry {fact.seq})")

    def _check_ras(self) -> None:
        rows = {r.name: r for r in self.ledger.list_ras()}
        for name, fact in self.state.ras.items():
            r = rows.pop(name, None)
            if r is None or (r.key_id, hashlib.sha256(r.public_key).hexdigest(),
                             r.last_sequence, r.revoked_at is not None) != (
                    fact.key_id, fact.key_id, fact.last_sequence, fact.revoked):
                self.out.problem("ra", f"RA {name!r}: the ledger's key, sequence or revocation "
                                       "is not the log's")
        for name in rows:
            self.out.problem("ra", f"RA {name!r} is in the ledger but was never trusted in the "
                                   "log")

    def _check_batches(self) -> None:
        for batch_id in sorted(self.logged_batches):
            fact = self.state.batches.get(batch_id)
            if fact is None:
                continue
            for r in self.ledger.batch_requests(batch_id):
                if r.approved and r.id not in fact.approvals:
                    self.out.problem("approval", f"request {r.id!r} of batch {batch_id!r} is "
                                                 "marked approved without a logged approval")
            for rv in self.ledger.batch_revocations(batch_id):
                logged = fact.revocation_outcomes.get(rv.position)
                if rv.verdict == "accept" and rv.status != (logged or "pending"):
                    self.out.problem("revocation", f"revocation {rv.position} of batch "
                                                   f"{batch_id!r} is {rv.status!r} in the "
                                                   f"ledger, {logged or 'pending'!r} in the log")


def cross_check(log_path: Path, ledger: Ledger, version: str) -> Findings:
    out = Findings()
    try:
        Replay(ledger, version, out).run(log_path)
    except (KeyError, TypeError, ValueError, DecisionError) as exc:
        # Said in the auditor's words, not Python's (no exception class names, issue 15).
        why = (f"a field is missing: {exc}" if isinstance(exc, KeyError) else
               f"a field has the wrong type or value: {exc}" if not isinstance(exc, DecisionError)
               else str(exc))
        out.problems.append(f"the log's entries cannot be replayed ({why}); the home "
                            "predates this version or was edited")
    return out
