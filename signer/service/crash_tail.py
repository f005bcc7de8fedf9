"""A crash tail completed at the next login (DESIGN I2: the next run completes or rolls back).

A power cut or a kill leaves the entries written since the last signed checkpoint unsigned.
The next login completes them without the custodians' ``audit recover`` only when each one
grants nothing by itself or records a signature the token made, so that an insider who
appends entries to the log between sessions cannot get them signed:

- notes: ``session.open``/``session.close``, ``refused``, ``token.opened``,
  ``checkpoint.requested``, ``batch.sign``, ``batch.export``/``batch.exported``, ``issue.failed``,
  ``log.state`` (the digest of a state file that, its checkpoint missing, no login trusts:
  ``signer.store.log.opening`` wants the signed checkpoint right after it);
- ``issue.intent``: completion (I2) rolls it forward only with a certificate the CA key signed;
- ``cert.issued``: the ledger's certificate must hash to ``cert_sha256`` and verify under the
  certificate of the CA it names.

Anything else (a trusted RA key, a verdict, an approval, a configuration, a revocation, a key,
a CA) still needs two custodians and ``audit recover``; the refusal names what the tail holds.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from signer.store.log.recovery import RECOVERY_TYPE, CrashTail, refuse_crash_tail

if TYPE_CHECKING:
    from signer.service.session import Session

NOTES = frozenset({"session.open", "session.close", "refused", "token.opened",
                   "checkpoint.requested", "batch.sign", "batch.export", "batch.exported",
                   "issue.failed", "issue.intent", "log.state"})
SIGNED = frozenset({"cert.issued"})


def judge(s: Session, tail: CrashTail) -> None:
    """Raise (the ``audit recover`` refusal) unless every tail entry may be completed."""
    kinds = Counter(str(e.get("type")) for e in tail.entries)
    others = sorted(k for k in kinds if k not in NOTES | SIGNED)
    if others:
        raise refuse_crash_tail(tail.report, "; its unsigned entries include "
                                + ", ".join(f"{kinds[k]} {k}" for k in others)
                                + ", which custodians must review")
    for e in tail.entries:
        if e.get("type") in SIGNED:
            problem = _certificate_problem(s, e.get("data") or {})
            if problem:
                raise refuse_crash_tail(tail.report, f"; entry {e.get('seq')}: {problem}")


def _certificate_problem(s: Session, data: dict[str, Any]) -> str | None:
    row = s.ledger.certificate(str(data.get("ca")), str(data.get("serial")))
    if row is None or hashlib.sha256(row.cert_der).hexdigest() != data.get("cert_sha256"):
        return "its certificate is not in the ledger"
    ca = s.ledger.get_ca(row.ca)
    if ca is None:
        return f"CA {row.ca!r} is not in the ledger"
    try:
        x509.load_der_x509_certificate(row.cert_der).verify_directly_issued_by(
            x509.load_der_x509_certificate(ca.cert_der))
    except (ValueError, TypeError, InvalidSignature):
        return f"its certificate does not verify under CA {row.ca!r}"
    return None


def record(s: Session, tail: CrashTail) -> None:
    """Log what was completed; the session's checkpoint then signs the tail with it."""
    kinds = Counter(str(e.get("type")) for e in tail.entries)
    s.log_event(RECOVERY_TYPE, {
        "found": "unsigned_tail", "completed_at_login": True,
        "first_error": tail.report.first_error or "",
        "unsigned_entries": len(tail.entries), "bytes_removed": 0,
        "types": dict(sorted(kinds.items()))})
