"""The facts that decide what is signed, folded from the ceremony log (the source of truth).

The ledger is an index for speed; the log, covered by checkpoints signed in the token, is what
the appliance trusts. ``LogState`` is a pure fold over log entries in order: which RA keys are
trusted (and revoked), each RA's last accepted sequence, each imported batch with the digests
of its staged decisions, the custodians' approvals, each CA's certificate, each CA's last CRL
number and a running hash of its revocations, and the intents still waiting for their result
(a crash between the ledger and the log leaves those). Before the service signs, revokes or
issues a CRL it compares the ledger's rows with these facts; a difference stops the operation.

The state is small and constant per object that matters (a batch, an RA, a CA), never per
certificate: a CA's revocations are folded into *runs* (consecutive ``revoked`` entries of that
CA), each with the SHA-256 of its CRL entries' DER concatenated and of its certificates'
notAfter values joined by commas, so the ledger's rows are checked against the log with two
hashes over bytes SQLite concatenates for each run: no memory and no Python work per entry.

Deliberately not here: I/O (the log package feeds entries in), the full per-certificate replay
an auditor runs (``signer.service.audit_ledger``), and anything about signatures (the log verifier).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from signer.core.crl import encode_entry
from signer.store.log import custody
from signer.store.log.events import REQUIRED_FIELDS

ZERO_HASH = "00" * 32




def digest_list(hex_digests: Iterable[str]) -> str:
    """SHA-256 over a sequence of SHA-256 digests, in order (a batch's decisions)."""
    h = hashlib.sha256()
    n = 0
    for d in hex_digests:
        h.update(bytes.fromhex(d))
        n += 1
    h.update(n.to_bytes(8, "big"))
    return h.hexdigest()


@dataclass
class RAFact:
    name: str
    key_id: str
    public_key: str  # hex, raw Ed25519
    last_sequence: int = 0
    revoked: bool = False


@dataclass
class BatchFact:
    id: str
    ra: str
    ra_key_id: str
    sequence: int
    digest: str  # SHA-256 of the request bundle as imported
    decisions_sha256: str
    revocations_sha256: str
    requests: int
    approvals: set[str] = field(default_factory=set)
    issued: int = 0  # cert.issued entries of this batch
    failed: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (code, message)
    revocation_outcomes: dict[int, str] = field(default_factory=dict)  # position -> status
    seq: int = -1  # of the batch.imported entry


@dataclass
class CAFact:
    name: str
    kind: str
    issuer: str
    key: str
    serial: str
    cert_sha256: str
    spki_sha256: str
    seq: int = -1  # of the entry that logged its current certificate (ca.created, ca.certified)
    profile: str | None = None  # the CA profile of its current certificate, when logged


@dataclass
class RevocationRun:
    """Consecutive ``revoked`` entries of one CA: their first and last seq, how many, the
    SHA-256 of their CRL entries (DER, ``signer.core.crl.encode_entry``) concatenated, and of
    their notAfter values joined by commas (what ``Ledger.revocation_run`` computes)."""

    first: int
    last: int
    count: int
    entries_sha256: str
    not_after_sha256: str


@dataclass
class RevocationChain:
    """A CA's revocations: how many, the latest revocation time, and their runs in log order."""

    count: int = 0
    latest: str = ""
    runs: list[RevocationRun] = field(default_factory=list)


@dataclass
class _OpenRun:
    ca: str
    first: int
    count: int
    entries: Any  # hashlib objects: never persisted (``LogState.seal``)
    not_after: Any

    def add(self, entry: bytes, not_after: str) -> None:
        self.entries.update(entry)
        self.not_after.update((not_after if not self.count else "," + not_after).encode())
        self.count += 1

    def run(self, last: int) -> RevocationRun:
        return RevocationRun(self.first, last, self.count, self.entries.hexdigest(),
                             self.not_after.hexdigest())


@dataclass
class LogState:
    """Folded facts; ``apply`` each entry in log order (``seq`` strictly increasing)."""

    size: int = 0
    config_sha256: str | None = None
    ras: dict[str, RAFact] = field(default_factory=dict)
    key_ids: dict[str, str] = field(default_factory=dict)  # every RA key id ever -> RA name
    batches: dict[str, BatchFact] = field(default_factory=dict)
    cas: dict[str, CAFact] = field(default_factory=dict)
    crl_numbers: dict[str, int] = field(default_factory=dict)
    crls: dict[tuple[str, int], tuple[int, str]] = field(default_factory=dict)  # -> (seq, sha)
    revocations: dict[str, RevocationChain] = field(default_factory=dict)
    certificates: int = 0  # every certificate logged (CA certificates included)
    # Intents without their result yet, for recovering a crash between the ledger and the log:
    # (ca, serial) -> (batch, id); (ca, number); CA name -> serial; batch id -> its digests;
    # (ca, serial) -> the revocation's data. Each stays until its result is logged: an intent
    # abandoned (the token failed before answering) only ever lets the appliance complete the
    # very object it announced, which only the token could have made.
    pending_certs: dict[tuple[str, str], tuple[str | None, str | None]] = field(
        default_factory=dict)
    pending_crls: set[tuple[str, int]] = field(default_factory=set)
    pending_cas: dict[str, str] = field(default_factory=dict)
    pending_batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    pending_revocations: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    custody: custody.CustodyState = field(default_factory=custody.CustodyState)
    # CA lifecycle (issue 14): intents of further CA certificates, (issuer, serial) -> data;
    # the profile a pending ca.intent named; each external CA cross-certified -> its key;
    # intents of OCSP responses, (ca, serial, thisUpdate) -> data.
    pending_ca_certs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    pending_ca_profiles: dict[str, str | None] = field(default_factory=dict)
    cross_keys: dict[str, str] = field(default_factory=dict)
    pending_ocsp: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    # The run being folded; never persisted: any entry but the next ``revoked`` of the same CA
    # seals it (``seal``), and a snapshot is taken only where the next entry does.
    _open_run: _OpenRun | None = field(default=None, repr=False, compare=False)

    def apply(self, type_: str, data: Mapping[str, Any], seq: int, time: str) -> None:
        if self._open_run is not None and not (
                type_ == "revoked" and data.get("ca") == self._open_run.ca):
            self.seal()
        handler = _HANDLERS.get(type_)
        self.size = seq + 1
        if handler is not None:
            handler(self, data, time)
        keeper = custody.HANDLERS.get(type_)
        if keeper is not None:
            keeper(self.custody, data, seq, time)

    def seal(self) -> None:
        """Close the run being folded (what the next entry that does not continue it does)."""
        if self._open_run is None:
            return
        run, self._open_run = self._open_run, None
        self.revocations.setdefault(run.ca, RevocationChain()).runs.append(run.run(self.size - 1))

    def revocation_runs(self, ca: str) -> list[RevocationRun]:
        """``ca``'s runs, the one being folded included (without sealing it)."""
        chain = self.revocations.get(ca)
        runs = list(chain.runs) if chain else []
        run = self._open_run
        if run is not None and run.ca == ca:
            copy = _OpenRun(run.ca, run.first, run.count, run.entries.copy(),
                            run.not_after.copy())
            runs.append(copy.run(self.size - 1))
        return runs

    def trusted_ra_keys(self) -> dict[str, bytes]:
        """RA name -> raw public key, for every RA trusted and not revoked."""
        return {r.name: bytes.fromhex(r.public_key) for r in self.ras.values() if not r.revoked}


def _config(s: LogState, d: Mapping[str, Any], time: str) -> None:
    s.config_sha256 = d["sha256"]


def _ra_trusted(s: LogState, d: Mapping[str, Any], time: str) -> None:
    s.ras[d["ra"]] = RAFact(d["ra"], d["key_id"], d["public_key"])
    s.key_ids[d["key_id"]] = d["ra"]


def _ra_replaced(s: LogState, d: Mapping[str, Any], time: str) -> None:
    ra = s.ras[d["ra"]]
    ra.key_id, ra.public_key = d["key_id"], d["public_key"]
    s.key_ids[d["key_id"]] = d["ra"]


def _ra_revoked(s: LogState, d: Mapping[str, Any], time: str) -> None:
    s.ras[d["ra"]].revoked = True


def _batch_intent(s: LogState, d: Mapping[str, Any], time: str) -> None:
    s.pending_batches[d["batch"]] = dict(d)


def _batch_imported(s: LogState, d: Mapping[str, Any], time: str) -> None:
    s.pending_batches.pop(d["batch"], None)
    s.batches[d["batch"]] = BatchFact(
        id=d["batch"], ra=d["ra"], ra_key_id=d["ra_key_id"], sequence=d["sequence"],
        digest=d["digest"], decisions_sha256=d["decisions_sha256"],
        revocations_sha256=d["revocations_sha256"], requests=d["requests"], seq=s.size - 1)
    ra = s.ras.get(d["ra"])
    if ra is not None:
        ra.last_sequence = max(ra.last_sequence, d["sequence"])


def _approval(s: LogState, d: Mapping[str, Any], time: str) -> None:
    b = s.batches.get(d["batch"])
    if b is not None:
        b.approvals.add(d["id"])


def _issue_intent(s: LogState, d: Mapping[str, Any], time: str) -> None:
    s.pending_certs[(d["ca"], d["serial"])] = (d.get("batch"), d.get("id"))


def _cert_issued(s: LogState, d: Mapping[str, Any], time: str) -> None:
    s.pending_certs.pop((d["ca"], d["serial"]), None)
    s.certificates += 1
    b = s.batches.get(d["batch"])
    if b is not None:
        b.issued += 1


def _issue_failed(s: LogState, d: Mapping[str, Any], time: str) -> None:
    s.pending_certs.pop((d["ca"], d["serial"]), None)
    b = s.batches.get(d["batch"])
    if b is not None:
        b.failed[d["id"]] = (d["code"], d["message"])


def _revoke_intent(s: LogState, d: Mapping[str, Any], time: str) -> None:
    s.pending_revocations[(d["ca"], d["serial"])] = dict(d)


def _revoked(s: LogState, d: Mapping[str, Any], time: str) -> None:
    s.pending_revocations.pop((d["ca"], d["serial"]), None)
    c = s.revocations.setdefault(d["ca"], RevocationChain())
    c.count += 1
    c.latest = max(c.latest, d["revoked_at"])
    entry = encode_entry(d["serial"], d["revoked_at"], d["reason"])
    if s._open_run is None:
        s._open_run = _OpenRun(d["ca"], s.size - 1, 0, hashlib.sha256(), hashlib.sha256())
    s._open_run.add(entry, str(d["not_after"]))
    if d.get("batch") is not None and d.get("position") is not None:
        b = s.batches.get(d["batch"])
        if b is not None:
            b.revocation_outcomes[d["position"]] = "revoked"


def _revocation_rejected(s: LogState, d: Mapping[str, Any], time: str) -> None:
    b = s.batches.get(d["batch"])
    if b is not None:
        b.revocation_outcomes[d["position"]] = "rejected"


def _crl_intent(s: LogState, d: Mapping[str, Any], time: str) -> None:
    s.pending_crls.add((d["ca"], d["number"]))


def _crl_issued(s: LogState, d: Mapping[str, Any], time: str) -> None:
    s.pending_crls.discard((d["ca"], d["number"]))
    s.crl_numbers[d["ca"]] = max(s.crl_numbers.get(d["ca"], 0), d["number"])
    s.crls[(d["ca"], d["number"])] = (s.size - 1, d["crl_sha256"])


def _ca_intent(s: LogState, d: Mapping[str, Any], time: str) -> None:
    s.pending_cas[d["ca"]] = d["serial"]
    s.pending_ca_profiles[d["ca"]] = d.get("profile")


def _ca_created(s: LogState, d: Mapping[str, Any], time: str) -> None:
    s.pending_cas.pop(d["ca"], None)
    s.certificates += 1
    s.cas[d["ca"]] = CAFact(d["ca"], d["kind"], d["issuer"], d["key"], d["serial"],
                            d["cert_sha256"], d["spki_sha256"], s.size - 1,
                            s.pending_ca_profiles.pop(d["ca"], None))


def _ca_cert_intent(s: LogState, d: Mapping[str, Any], time: str) -> None:
    s.pending_ca_certs[(d["issuer"], d["serial"])] = dict(d)


def _ca_certified(s: LogState, d: Mapping[str, Any], time: str) -> None:
    s.pending_ca_certs.pop((d["issuer"], d["serial"]), None)
    s.certificates += 1
    if d["kind"] == "cross":
        s.cross_keys[d["ca"]] = d["spki_sha256"]
    fact = s.cas.get(d["ca"])
    if d["current"] and fact is not None:  # the CA's certificate from now on
        fact.issuer, fact.serial, fact.cert_sha256 = d["issuer"], d["serial"], d["cert_sha256"]
        fact.seq, fact.profile = s.size - 1, d["profile"]


def _ocsp_intent(s: LogState, d: Mapping[str, Any], time: str) -> None:
    s.pending_ocsp[(d["ca"], d["serial"], d["this_update"])] = dict(d)


def _ocsp_signed(s: LogState, d: Mapping[str, Any], time: str) -> None:
    s.pending_ocsp.pop((d["ca"], d["serial"], d["this_update"]), None)


_HANDLERS = {
    # Only a `config` entry (the whole text) changes the policy in force: a session.open that
    # names another digest changes nothing, so a forged one cannot hide a policy change.
    "config": _config,
    "ra.trusted": _ra_trusted, "ra.replaced": _ra_replaced, "ra.revoked": _ra_revoked,
    "batch.intent": _batch_intent, "batch.imported": _batch_imported, "approval": _approval,
    "issue.intent": _issue_intent, "cert.issued": _cert_issued, "issue.failed": _issue_failed,
    "revoke.intent": _revoke_intent, "revoked": _revoked,
    "revocation.rejected": _revocation_rejected,
    "crl.intent": _crl_intent, "crl.issued": _crl_issued,
    "ca.intent": _ca_intent, "ca.created": _ca_created,
    "ca.cert.intent": _ca_cert_intent, "ca.certified": _ca_certified,
    "ocsp.intent": _ocsp_intent, "ocsp.signed": _ocsp_signed,
}


def check_fields(type_: str, data: Mapping[str, Any]) -> str | None:
    """The missing required fields of an entry, comma-separated, or None."""
    missing = REQUIRED_FIELDS.get(type_, frozenset()) - set(data)
    return ", ".join(sorted(missing)) if missing else None
