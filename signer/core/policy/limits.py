"""The result bundle's limits, honoured when verdicts are made (so a judged batch exports).

A hostile request must not be able to make its own batch unexportable after the batch was
signed. Every limit of the result format (`transfer.bundle`, passed in as `ResultLimits`)
is therefore applied here, to the verdicts themselves:

- reasons per request: at most `max_reasons`; past it, the first `max_reasons - 1` are kept and
  one `result.reasons` reason counts the rest by code;
- each message: valid Unicode (an unpaired surrogate is backslash-escaped), non-empty, at most
  `max_message_chars` characters; codes are `Check` values, which all fit `[A-Za-z0-9._-]{1,64}`;
- each certificate: an upper bound of its DER size (`certificate_der_bound`) must fit
  `max_cert_pem_chars` as PEM, else the request is refused (`result.cert_size`);
- the batch: the result's encoded size, bounded per outcome (`outcome_bytes`), must fit
  `max_result_bytes` after the base64 envelope and `reserve_bytes` for the parts the policy does
  not see; if it does not, the outcomes that add the most are replaced, largest first (ties:
  the later request first), by a short `result.batch_size` rejection until it fits. This is
  deterministic, and refuses as few requests as possible.

What it deliberately does not: import `transfer` (the limits come in through the context), or
judge anything but sizes.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import Counter
from collections.abc import Sequence

from signer.core.policy.checks import Check
from signer.core.policy.model import Decision, Reason, ResultLimits

ENVELOPE_BYTES = 1024  # the signed envelope around the base64 body: format, key id, signature
SERIAL_HEX = 40  # I3: at most 20 octets
_TRUNCATED = "... (truncated)"


def clean_message(message: str, limits: ResultLimits) -> str:
    """A message the result bundle accepts: UTF-8-encodable, 1..max_message_chars characters."""
    text = message.encode("utf-8", "backslashreplace").decode("utf-8") or "(no message)"
    if len(text) > limits.max_message_chars:
        text = text[:limits.max_message_chars - len(_TRUNCATED)] + _TRUNCATED
    return text


def cap_reasons(reasons: Sequence[Reason], limits: ResultLimits) -> tuple[Reason, ...]:
    """Clean every message and keep at most `max_reasons` reasons (module docstring)."""
    cleaned = [Reason(r.code, clean_message(r.message, limits)) for r in reasons]
    if len(cleaned) <= limits.max_reasons:
        return tuple(cleaned)
    kept, rest = cleaned[:limits.max_reasons - 1], cleaned[limits.max_reasons - 1:]
    counts = Counter(str(r.code) for r in rest)
    summary = ", ".join(f"{code} x{n}" for code, n in sorted(counts.items()))
    more = Reason(Check.RESULT_REASONS, clean_message(
        f"{len(rest)} more reasons are not listed (a result carries {limits.max_reasons} per "
        f"request): {summary}", limits))
    return (*kept, more)


def certificate_der_bound(decision: Decision, limits: ResultLimits) -> int:
    """An upper bound of the DER size of the certificate a decision would produce."""
    size = limits.cert_overhead_bytes + len(decision.public_key_der or b"")
    for part in (decision.common_name, decision.given_name, decision.surname):
        if part is not None:
            # Name > RDN SET > AttributeTypeAndValue SEQUENCE > OID + UTF8String: < 20 octets.
            size += len(part.encode("utf-8", "backslashreplace")) + 20
    names = (*decision.dns_names, *decision.emails)
    if names:
        # Extension SEQUENCE, OID, critical flag, OCTET STRING, GeneralNames SEQUENCE: < 24;
        # each GeneralName: a tag and at most three length octets.
        size += 24 + sum(len(n.encode("utf-8", "backslashreplace")) + 4 for n in names)
    return size


def pem_newlines(der_bytes: int) -> int:
    """Line breaks of a PEM CERTIFICATE block as `cryptography` writes it (RFC 7468: base64
    in lines of 64 characters between the two boundary lines)."""
    return math.ceil(4 * math.ceil(der_bytes / 3) / 64) + 2


def pem_chars(der_bytes: int) -> int:
    """Characters of that PEM block, line breaks included."""
    return len("-----BEGIN CERTIFICATE-----") + 4 * math.ceil(der_bytes / 3) \
        + len("-----END CERTIFICATE-----") + pem_newlines(der_bytes)


def _dumps(value: object) -> int:
    # The result bundle's canonical JSON (transfer.bundle._dumps).
    return len(json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True))


def outcome_bytes(decision: Decision, limits: ResultLimits) -> int:
    """An upper bound of the JSON bytes a decision's outcome adds to the result body."""
    if not decision.accepted:
        return 1 + _dumps({"certificate": None, "id": decision.request_id, "reasons": [
            {"code": str(r.code), "message": r.message} for r in decision.reasons],
            "serial": None, "status": "rejected"})
    der = certificate_der_bound(decision, limits)
    # In JSON each line break of the PEM is written as two characters, "\\n".
    return 1 + _dumps({"certificate": "", "id": decision.request_id, "reasons": [],
                       "serial": "f" * SERIAL_HEX, "status": "issued"}) \
        + pem_chars(der) + pem_newlines(der) + limits.inclusion_proof_bytes


def check_certificate_size(decision: Decision, limits: ResultLimits) -> Reason | None:
    """A `result.cert_size` reason if the certificate could exceed one PEM's limit."""
    if not decision.accepted:
        return None
    bound = pem_chars(certificate_der_bound(decision, limits))
    if bound <= limits.max_cert_pem_chars:
        return None
    return Reason(Check.RESULT_CERT_SIZE, f"the certificate could take {bound} characters of "
                                          f"PEM; a result carries at most "
                                          f"{limits.max_cert_pem_chars}")


def body_budget(limits: ResultLimits) -> int:
    """Bytes of outcomes a result body may hold: the file cap less the envelope, base64's
    4/3 and the reserve for the chain, CRLs and checkpoints."""
    return (limits.max_result_bytes - ENVELOPE_BYTES) * 3 // 4 - limits.reserve_bytes


def _refusal(decision: Decision, extra: int, limits: ResultLimits) -> Decision:
    reason = Reason(Check.RESULT_BATCH_SIZE, clean_message(
        f"the batch's result would exceed {limits.max_result_bytes} bytes; the largest "
        f"outcomes are refused first, and this one would add about {extra} bytes", limits))
    return dataclasses.replace(decision, accepted=False, reasons=(reason,), days=0)


def fit_batch(decisions: Sequence[Decision], limits: ResultLimits) -> list[Decision]:
    """Replace the largest outcomes by short refusals until the batch's result fits."""
    full = [outcome_bytes(d, limits) for d in decisions]
    short = [_refusal(d, max(0, f), limits) for d, f in zip(decisions, full, strict=True)]
    small = [outcome_bytes(s, limits) for s in short]
    extra = [max(0, f - s) for f, s in zip(full, small, strict=True)]
    room = body_budget(limits) - sum(small)
    over = sum(extra) - room
    result = list(decisions)
    if over <= 0:
        return result
    for i in sorted(range(len(decisions)), key=lambda i: (-extra[i], -i)):
        if over <= 0:
            break
        if extra[i] > 0:
            result[i] = short[i]
            over -= extra[i]
    return result
