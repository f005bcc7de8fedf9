"""Request and result bundles: the signed files that cross the air gap (DESIGN §5 Formats).

Pure encode / decode / verify over bytes; the byte-level contract is docs/FORMATS.md.
Every model is a frozen dataclass that validates itself, so an invalid bundle cannot exist
as an object, and every error is a one-line ``BundleError`` naming the field path.
Modules: ``fields`` (limits, strict JSON, field checks), ``models``, ``wire`` (JSON form to
models and back), ``envelope`` (signatures and the public API).

Deliberately not here: sequence and replay checks (the signer's ledger, I7), judging CSRs
(policy), X.509 and Merkle verification (the caller), file I/O, and the HSM: signing is a
callback returning the raw signature, and verification takes key bytes (transfer.appkey: raw
Ed25519 for RAs and most appliances, a DER SubjectPublicKeyInfo for an ECDSA appliance key).
"""

from transfer.bundle.envelope import (
    encode_request_bundle,
    encode_result_bundle,
    key_id,
    parse_request_bundle,
    parse_result_bundle,
    peek_request_bundle_header,
    read_own_request_bundle,
    signed_message,
)
from transfer.bundle.fields import (
    DEFAULT_CA,
    MAX_CAS,
    MAX_CSR,
    MAX_FACT_CHARS,
    MAX_FACTS,
    MAX_INT,
    MAX_MESSAGE_CHARS,
    MAX_PROOF_HASHES,
    MAX_REASONS,
    MAX_REQUEST_FILE,
    MAX_REQUESTS,
    MAX_RESULT_FILE,
    MAX_REVOCATIONS,
    MAX_SUBSCRIBER_CHARS,
    MAX_TEXT,
    REQUEST_FORMAT,
    RESULT_FORMAT,
    REVOCATION_REASONS,
    VERSION,
    Sign,
)
from transfer.bundle.models import (
    ChainCertificate,
    IssuedCrl,
    LogProofs,
    Outcome,
    Reason,
    RequestBody,
    RequestBundle,
    RequestItem,
    ResultBody,
    ResultBundle,
    Revocation,
    RevocationOutcome,
    VerifiedFacts,
)

__all__ = [
    "ChainCertificate",
    "DEFAULT_CA",
    "IssuedCrl",
    "LogProofs",
    "MAX_CAS",
    "MAX_CSR",
    "MAX_FACTS",
    "MAX_FACT_CHARS",
    "MAX_INT",
    "MAX_MESSAGE_CHARS",
    "MAX_PROOF_HASHES",
    "MAX_REASONS",
    "MAX_REQUESTS",
    "MAX_REQUEST_FILE",
    "MAX_RESULT_FILE",
    "MAX_REVOCATIONS",
    "MAX_SUBSCRIBER_CHARS",
    "MAX_TEXT",
    "Outcome",
    "REQUEST_FORMAT",
    "RESULT_FORMAT",
    "REVOCATION_REASONS",
    "Reason",
    "RequestBody",
    "RequestBundle",
    "RequestItem",
    "ResultBody",
    "ResultBundle",
    "Revocation",
    "RevocationOutcome",
    "Sign",
    "VERSION",
    "VerifiedFacts",
    "encode_request_bundle",
    "encode_result_bundle",
    "key_id",
    "parse_request_bundle",
    "parse_result_bundle",
    "peek_request_bundle_header",
    "read_own_request_bundle",
    "signed_message",
]
