"""The policy engine's data: what it is given (requests, facts, context) and what it returns.

Frozen dataclasses only; the checks live in `signer.core.policy` and the modules it calls.
`signer.core.policy` re-exports every name here, so callers import them from there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from signer.core.policy.blocklist import Blocklist
from signer.core.policy.checks import Check, Notice
from signer.core.policy.constraints import NameConstraintRules

ProfileKind = Literal["server", "client", "email", "subca", "ocsp"]


@dataclass(frozen=True)
class VerifiedFacts:
    """What the RA verified about the subscriber; the only source of certificate names (I8)."""

    dns: tuple[str, ...]
    email: tuple[str, ...]
    name: str | None
    points: int
    # The parts of the name the RA verified too (optional): with both, an assured member's
    # e-mail certificate is individual-validated (S/MIME BR §7.1.4.2.2).
    given_name: str | None = None
    surname: str | None = None


@dataclass(frozen=True)
class Request:
    id: str
    ca: str
    profile: str
    csr: bytes
    verified: VerifiedFacts
    subscriber: str


@dataclass(frozen=True)
class ProfileRules:
    name: str
    kind: ProfileKind
    max_days: int
    max_days_low_points: int
    allow_wildcard: bool = False
    allow_ip: bool = False
    allow_internal: bool = False
    min_points: int = 0
    clip_to_issuer: bool = False  # a validity past the issuer's end is cut, not refused
    ca_profile: str | None = None  # kind "subca": the CA profile its certificates follow
    path_len: int = 0  # kind "subca": the deepest pathLenConstraint a CSR may ask for


@dataclass(frozen=True)
class IssuerInfo:
    name: str
    is_root: bool
    min_points: int
    public_key_sha256: str  # hex SHA-256 of the CA's SubjectPublicKeyInfo DER
    profiles: frozenset[str]  # profiles this CA may issue
    # From the CA's current certificate: its name constraints, and the extended key usages
    # it is restricted to (None: unrestricted). A leaf outside either would not validate.
    constraints: NameConstraintRules | None = None
    ekus: frozenset[str] | None = None


@dataclass(frozen=True)
class ResultLimits:
    """The result bundle's limits, honoured when verdicts are made so that a judged batch can
    always be exported. The defaults equal `transfer.bundle`'s constants (the policy does not
    import `transfer`; `signer.service.batches.policy_context` passes the real ones in, and a test checks
    the defaults against them); the last three are this appliance's size estimates."""

    max_reasons: int = 100  # MAX_REASONS: reasons per request
    max_message_chars: int = 16 * 1024  # MAX_MESSAGE_CHARS: characters per reason message
    max_cert_pem_chars: int = 64 * 1024  # MAX_TEXT: one certificate PEM
    max_result_bytes: int = 256 * 1024 * 1024  # MAX_RESULT_FILE: the whole signed file
    # The result's other parts, which the policy does not see: the CA chain (at most MAX_CAS
    # PEMs of MAX_TEXT, 4 MiB), the CRLs issued with the batch, the checkpoints.
    reserve_bytes: int = 64 * 1024 * 1024
    # A certificate without its subject, SAN and key: serial, issuer DN, validity, algorithm
    # identifiers, the profile's fixed extensions (AKI, CRL DP and AIA URLs, policies, key
    # usages) and a signature of up to 4096-bit RSA, with the DER headers around them.
    cert_overhead_bytes: int = 4096
    # The inclusion proof (C2SP tlog-proof) for one certificate: the base64 log entry, up to
    # 64 hashes and the signed checkpoint, JSON-escaped, under the certificate's digest.
    inclusion_proof_bytes: int = 8192


@dataclass(frozen=True)
class PolicyContext:
    issuers: Mapping[str, IssuerInfo]
    profiles: Mapping[str, ProfileRules]
    root_may_issue_leaves: bool
    key_owner: Callable[[str], str | None]  # SPKI SHA-256 hex -> subscriber certified, or None
    personal_name_min_points: int = 50
    max_names: int = 100
    max_csr_bytes: int = 16384
    blocklist: Blocklist | None = None  # badkeys-format compromised keys (signer.core.policy.blocklist)
    limits: ResultLimits = field(default_factory=ResultLimits)


@dataclass(frozen=True)
class Reason:
    code: Check | Notice
    message: str


@dataclass(frozen=True)
class Decision:
    """The verdict, and the only request data issuance may use (I8)."""

    request_id: str
    accepted: bool
    reasons: tuple[Reason, ...]
    ca: str
    profile: str
    public_key_der: bytes | None  # SPKI DER of the CSR's key, when parseable
    spki_sha256: str | None
    key_type: str | None  # "rsa-2048", "ec-p256", "ed25519", ...
    common_name: str | None
    dns_names: tuple[str, ...]
    emails: tuple[str, ...]
    personal_name: str | None
    days: int  # validity granted; 0 when rejected
    needs_approval: bool  # profile kinds "subca" and "ocsp": custodians approve explicitly
    notices: tuple[Reason, ...] = ()  # granted differently from the CSR's proposal (I8)
    given_name: str | None = None  # individual-validated e-mail certificates only
    surname: str | None = None


class Reasons:
    """Collects a request's reasons once each, in the order found."""

    def __init__(self) -> None:
        self.items: dict[Reason, None] = {}
        self.notices: dict[Reason, None] = {}

    def add(self, code: Check, message: str) -> None:
        self.items.setdefault(Reason(code, message), None)

    def notice(self, code: Notice, message: str) -> None:
        self.notices.setdefault(Reason(code, message), None)

    def has(self, code: Check) -> bool:
        return any(r.code == code for r in self.items)
