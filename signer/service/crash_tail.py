"""A crash tail completed at the next login (DESIGN I2: the next run completes or rolls back).

A power cut or a kill leaves the entries written since the last signed checkpoint unsigned.
The next login completes them without the custodians' ``audit recover`` only when each one
grants nothing by itself or records a signature the token made, so that an insider who
appends entries to the log between sessions cannot get them signed:

- notes: ``session.open``/``session.close`` (the policy in force changes only with a
  ``config`` entry), ``refused``, ``token.opened``, ``checkpoint.requested``, ``batch.sign``,
  ``batch.export``/``batch.exported``, ``log.state`` (the digest of a state file that, its
  checkpoint missing, no login trusts: ``signer.store.log.opening`` wants the signed
  checkpoint right after it);
- ``issue.intent``: completion (I2) rolls it forward only with a certificate the CA signed for
  that request's accepted decision;
- ``cert.issued`` and ``issue.failed``: each after its own ``issue.intent`` in the same tail;
  a certificate must be the ledger's row for that very request, hash to ``cert_sha256``, carry
  the serial and the public key the logged decision accepted, and verify under its CA.

Anything else (a trusted RA key, a verdict, an approval, a configuration, a revocation, a key,
a CA, an earlier recovery) still needs two custodians and ``audit recover``; the refusal names
what the tail holds. The entries judged are the session's own (read back through the log it
will sign, each checked against its leaf hash), never a second read of the file.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cryptography import x509

from signer.core.profiles import spki_sha256
from signer.errors import SignerError
from signer.service import integrity
from signer.service.completion import announced
from signer.store.log import Entry
from signer.store.log.recovery import RECOVERY_TYPE, CrashTail, refuse_crash_tail

if TYPE_CHECKING:
    from signer.service.session import Session

NOTES = frozenset({"session.open", "session.close", "refused", "token.opened",
                   "checkpoint.requested", "batch.sign", "batch.export", "batch.exported",
                   "log.state"})
ISSUANCE = frozenset({"issue.intent", "cert.issued", "issue.failed"})


def judge(s: Session, tail: CrashTail, entries: Sequence[Entry]) -> None:
    """Raise (the ``audit recover`` refusal) unless every tail entry may be completed."""
    kinds = Counter(e.type for e in entries)
    others = sorted(k for k in kinds if k not in NOTES | ISSUANCE)
    if others:
        raise refuse_crash_tail(tail.report, "; its unsigned entries include "
                                + ", ".join(f"{kinds[k]} {k}" for k in others)
                                + ", which custodians must review")
    intents: set[tuple[Any, ...]] = set()
    for e in entries:
        d = e.data
        key = (d.get("ca"), d.get("serial"), d.get("batch"), d.get("id"))
        if e.type == "issue.intent":
            intents.add(key)
            continue
        if e.type not in ISSUANCE:
            continue
        problem = ("no intent to issue precedes it in the same session" if key not in intents
                   else _certificate_problem(s, d) if e.type == "cert.issued" else None)
        if problem:
            raise refuse_crash_tail(tail.report, f"; entry {e.seq} ({e.type}): {problem}")


def _certificate_problem(s: Session, d: dict[str, Any]) -> str | None:
    row = s.ledger.certificate(str(d.get("ca")), str(d.get("serial")))
    if row is None or hashlib.sha256(row.cert_der).hexdigest() != d.get("cert_sha256") \
            or (row.batch_id, row.request_id) != (d.get("batch"), d.get("id")):
        return "its certificate is not the ledger's for that request"
    ca = s.ledger.get_ca(row.ca)
    try:
        staged = integrity.verified_batch(s.ledger, s.state, str(row.batch_id))
        req = next((r for r in staged.requests if r.row.id == row.request_id), None)
        cert = x509.load_der_x509_certificate(row.cert_der)
        if ca is None or d.get("spki_sha256") != spki_sha256(cert.public_key()) \
                or not announced(cert, x509.load_der_x509_certificate(ca.cert_der), req,
                                 row.serial):
            return "its certificate is not the one that request's accepted decision announced"
    except (SignerError, ValueError, TypeError):
        return f"its certificate does not verify under CA {row.ca!r} for that request"
    return None


def record(s: Session, entries: Sequence[Entry], tail: CrashTail) -> None:
    """Log what was completed; the session's checkpoint then signs the tail with it."""
    kinds = Counter(e.type for e in entries)
    s.log_event(RECOVERY_TYPE, {
        "found": "unsigned_tail", "completed_at_login": True,
        "first_error": tail.report.first_error or "",
        "unsigned_entries": len(entries), "bytes_removed": 0,
        "types": dict(sorted(kinds.items()))})
