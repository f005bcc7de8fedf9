"""The policy engine: a verdict, with every reason, for each certificate request (DESIGN §4).

What it does: parses a CSR strictly, checks its self-signature, signature algorithm, key (in
itself, `signer.core.policy.keys`, and for its profile, `signer.core.policy.key_rules`), requested extensions and
names (`signer.core.policy.names`) against the facts the RA verified and the profile and issuer
rules, and returns a frozen `Decision` holding the only things issuance may use (I8): the public
key, the verified names the CSR asked for, the personal name when assurance allows it, and the
validity granted. Every rejection has a stable `Check` code and a sentence
(`signer.core.policy.checks`); `python -m signer.core.policy --markdown` prints the table kept in
docs/checks.md. Verdicts respect the result bundle's limits (`signer.core.policy.limits`), so a judged
batch can always be exported.

What it deliberately does not: any I/O, clock or randomness (the only outside calls are
`PolicyContext.key_owner` and the blocklist lookups, passed in), copy any extension or subject
attribute from the CSR into a certificate (requested extensions are only inspected to reject
powers or usages that are never granted), or normalise names (a name not already canonical is
refused, see `signer.core.policy.syntax`).

The data types live in `signer.core.policy.model` and the codes in `signer.core.policy.checks`; both are
re-exported here, so `signer.core.policy` is the one import callers need.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, SignatureAlgorithmOID

from signer.core import progress
from signer.core.policy.checks import CHECK_DOCS, Check, render_markdown
from signer.core.policy.csr import (
    signature_unused_bits,
    subject_public_key,
    subject_public_key_algorithm,
)
from signer.core.policy.key_rules import check_key_for_profile
from signer.core.policy.keys import check_public_key, key_type
from signer.core.policy.limits import cap_reasons, check_certificate_size, fit_batch
from signer.core.policy.model import (
    Decision,
    IssuerInfo,
    PolicyContext,
    ProfileKind,
    ProfileRules,
    Reason,
    Reasons,
    Request,
    ResultLimits,
    VerifiedFacts,
)
from signer.core.policy.names import Names, asked_names, judge_constraints, judge_names
from signer.errors import PolicyError

__all__ = [
    "CHECK_DOCS", "Check", "Decision", "IssuerInfo", "PolicyContext", "ProfileKind",
    "ProfileRules", "Reason", "Request", "ResultLimits", "VerifiedFacts", "enforce", "evaluate",
    "evaluate_batch", "parse_csr", "render_markdown",
]

# RFC 5758 §3.2, RFC 4055 §5, RFC 8410 §3: SHA-2 family signatures, and Ed25519.
_GOOD_SIGALGS = frozenset({
    SignatureAlgorithmOID.RSA_WITH_SHA256, SignatureAlgorithmOID.RSA_WITH_SHA384,
    SignatureAlgorithmOID.RSA_WITH_SHA512, SignatureAlgorithmOID.ECDSA_WITH_SHA256,
    SignatureAlgorithmOID.ECDSA_WITH_SHA384, SignatureAlgorithmOID.ECDSA_WITH_SHA512,
    SignatureAlgorithmOID.ED25519, SignatureAlgorithmOID.RSASSA_PSS,
})
_PSS_HASHES = frozenset({"sha256", "sha384", "sha512"})
# Leaf profile kinds and the usage their certificates carry (signer.core.profiles), as named
# in a CA's extendedKeyUsage (signer.core.ca_profiles.EKUS).
LEAF_EKU = {"server": "serverAuth", "client": "clientAuth", "email": "emailProtection"}
# Usages a subscriber may never obtain, leaf or sub-CA (BR §7.1.2.7.10, §7.1.2.10.6, RFC 5280
# §4.2.1.12): signing code, timestamps or OCSP responses, or any usage at all.
_FORBIDDEN_EKUS = {
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE: "anyExtendedKeyUsage",
}
# The key usages a CA certificate may carry (BR §7.1.2.10.7): the sub-CA profile grants
# keyCertSign and cRLSign (and digitalSignature); asking for any other is asking for a usage
# that a CA key must never have.
_CA_KEY_USAGES = frozenset({"digital_signature", "key_cert_sign", "crl_sign"})
_KEY_USAGE_BITS = ("digital_signature", "content_commitment", "key_encipherment",
                   "data_encipherment", "key_agreement", "key_cert_sign", "crl_sign")
# DER of the key algorithms accepted (RFC 8017 App. C rsaEncryption, RFC 5480 §2.1.1
# id-ecPublicKey, RFC 8410 §3 id-Ed25519): a key of these that does not load is invalid.
_RSA_OID = bytes.fromhex("06092a864886f70d010101")
_EC_OID = bytes.fromhex("06072a8648ce3d0201")
_ED25519_OID = bytes.fromhex("06032b6570")
_KEY_ALGORITHMS = frozenset({_RSA_OID, _EC_OID, _ED25519_OID})


def parse_csr(data: bytes, max_bytes: int) -> tuple[x509.CertificateSigningRequest | None,
                                                     list[Reason]]:
    """Strictly parse a PEM or DER CSR; the size cap comes first so big input is never parsed."""
    if len(data) > max_bytes:
        return None, [Reason(Check.CSR_SIZE, f"CSR of {len(data)} bytes exceeds {max_bytes}")]
    if not data:
        return None, [Reason(Check.CSR_PARSE, "CSR is empty")]
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            if data.count(b"-----BEGIN") != 1:
                return None, [Reason(Check.CSR_PARSE, "PEM input must hold exactly one CSR")]
            csr = x509.load_pem_x509_csr(data)
        else:
            csr = x509.load_der_x509_csr(data)  # rejects trailing bytes
        # Loading is lazy: touch every part we rely on so a malformed one fails here.
        _ = csr.subject, csr.extensions, csr.signature_algorithm_oid
        if signature_unused_bits(csr.public_bytes(serialization.Encoding.DER)):
            # DER (X.690 §11.2): a signature is whole octets; OpenSSL ignores the count.
            return None, [Reason(Check.CSR_PARSE, "CSR signature BIT STRING has unused bits")]
    except Exception as exc:  # hostile input: every failure is a refusal, never a crash
        return None, [Reason(Check.CSR_PARSE,
                             f"CSR is not a valid PKCS#10 request ({type(exc).__name__})")]
    return csr, []


def _check_signature(csr: x509.CertificateSigningRequest, out: Reasons) -> None:
    oid = csr.signature_algorithm_oid
    label = getattr(oid, "_name", None) or oid.dotted_string
    if oid not in _GOOD_SIGALGS:
        # No csr.signature as well: cryptography declines to verify SHA-1/MD5 signatures at all,
        # so "does not verify" would be a guess; the algorithm alone refuses the request.
        out.add(Check.CSR_SIGALG, f"CSR signature algorithm {label} is not accepted "
                                  "(SHA-1 and MD5 are broken; use SHA-256 or better)")
        return
    if oid == SignatureAlgorithmOID.RSASSA_PSS:
        try:
            hash_name = csr.signature_hash_algorithm.name if csr.signature_hash_algorithm else ""
        except Exception:
            hash_name = ""
        if hash_name not in _PSS_HASHES:
            out.add(Check.CSR_SIGALG, "CSR RSA-PSS signature does not use SHA-256 or better")
    try:
        valid = csr.is_signature_valid
    except Exception:  # unsupported or undecodable key: no proof of possession either way
        valid = False
    if not valid:
        out.add(Check.CSR_SIGNATURE, "CSR self-signature does not verify (no proof of "
                                     "possession of the private key)")


def _load_key(csr: x509.CertificateSigningRequest,
              out: Reasons) -> CertificatePublicKeyTypes | None:
    """The CSR's key object; a key that does not load is refused with the reason it failed."""
    algorithm, parameters = _algorithm(csr)
    if algorithm == _EC_OID and parameters[:1] != b"\x06":
        # RFC 5480 §2.1.1: namedCurve only; specifiedCurve and implicitCurve MUST NOT be used
        # (explicit parameters with another generator are the CurveBall attack, CVE-2020-0601).
        out.add(Check.KEY_CURVE, "the CSR's EC key has explicit or implicit curve parameters; "
                                 "only a named curve is accepted (RFC 5480 §2.1.1)")
        return None
    try:
        return csr.public_key()
    except UnsupportedAlgorithm:
        if algorithm == _EC_OID:
            out.add(Check.KEY_CURVE, "the CSR's elliptic curve is not supported; use P-256 or "
                                     "P-384")
        else:
            out.add(Check.KEY_TYPE, "the CSR's key algorithm is not supported")
    except Exception as exc:
        if algorithm in _KEY_ALGORITHMS:
            # cryptography refuses an EC point off its curve or at infinity, bad lengths and
            # RSA exponents outside 3 <= e < n (SEC 1 §3.2.2.1, RFC 8017 §3.1).
            out.add(Check.KEY_INVALID, f"the CSR's public key is not a valid key "
                                       f"({type(exc).__name__}: {str(exc)[:200]})")
        else:
            out.add(Check.KEY_TYPE, "the CSR's key algorithm is not supported")
    return None


def _algorithm(csr: x509.CertificateSigningRequest) -> tuple[bytes, bytes]:
    try:
        return subject_public_key_algorithm(csr.tbs_certrequest_bytes)
    except Exception:
        return b"", b""


def _check_key(request: Request, csr: x509.CertificateSigningRequest, rules: ProfileRules | None,
               ctx: PolicyContext, out: Reasons) -> tuple[bytes | None, str | None, str | None]:
    public = _load_key(csr, out)
    if public is None:
        return None, None, None
    try:
        encoded: bytes | None = subject_public_key(csr.tbs_certrequest_bytes)
    except Exception:  # cryptography parsed it, so this is a bug in our reader: refuse
        out.add(Check.KEY_INVALID, "the CSR's subjectPublicKey could not be read as sent")
        encoded = None
    found = check_public_key(public, encoded=encoded, blocklist=ctx.blocklist)
    for f in found:
        out.add(Check(f"key.{f.kind}"), f.message)
    ktype = key_type(public)
    if rules is not None and not any(f.kind in ("type", "curve") for f in found):
        for f in check_key_for_profile(rules.kind, ktype):
            out.add(Check(f"key.{f.kind}"), f.message)
    # Hash the canonical re-encoding, as the CA side does (profiles.spki_sha256): a compressed
    # and an uncompressed EC point are the same key and must collide here.
    der = public.public_bytes(serialization.Encoding.DER,
                              serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashlib.sha256(der).hexdigest()
    if any(i.public_key_sha256.lower() == digest for i in ctx.issuers.values()):
        out.add(Check.KEY_CA, "the key is a CA key of this appliance")
    owner = ctx.key_owner(digest)
    if owner is not None and owner != request.subscriber:
        out.add(Check.KEY_DUPLICATE, "the key is already certified for another subscriber")
    return der, digest, ktype


def _key_usages(value: x509.KeyUsage) -> list[str]:
    used = [bit for bit in _KEY_USAGE_BITS if getattr(value, bit)]
    if value.key_agreement:  # encipherOnly/decipherOnly are defined only with keyAgreement
        used += [bit for bit in ("encipher_only", "decipher_only") if getattr(value, bit)]
    return used


def _check_extensions(csr: x509.CertificateSigningRequest, rules: ProfileRules | None,
                      out: Reasons) -> None:
    """Requested extensions are ignored (I8), except a request for powers or usages that the
    profile never grants: that is refused outright (DESIGN §4 Names, last paragraph)."""
    kind = rules.kind if rules else None
    subca = kind == "subca"
    path_len = rules.path_len if rules else 0
    for ext in csr.extensions:
        value = ext.value
        if isinstance(value, x509.BasicConstraints):
            if not subca and value.ca:
                out.add(Check.EXT_CA, "CSR requests basicConstraints CA:TRUE (RFC 5280 §4.2.1.9)")
            elif subca and value.ca and (value.path_length or 0) > path_len:
                # An absent pathLen is what `openssl req -extensions v3_ca` writes; the profile
                # grants its own pathLen either way, so only a deeper chain is refused.
                out.add(Check.EXT_CA, f"CSR requests pathLenConstraint {value.path_length}; "
                                      f"sub-CAs are issued with pathLen {path_len} "
                                      "(BR §7.1.2.10.4)")
        elif isinstance(value, x509.KeyUsage):
            used = _key_usages(value)
            if not subca and ("key_cert_sign" in used or "crl_sign" in used):
                out.add(Check.EXT_USAGE, "CSR requests keyCertSign or cRLSign "
                                         "(RFC 5280 §4.2.1.3)")
            elif subca and (extra := [u for u in used if u not in _CA_KEY_USAGES]):
                out.add(Check.EXT_USAGE, f"CSR requests key usage {', '.join(extra)} for a CA "
                                         "(BR §7.1.2.10.7: keyCertSign, cRLSign, "
                                         "digitalSignature only)")
        elif isinstance(value, x509.ExtendedKeyUsage):
            for oid in value:
                if oid == ExtendedKeyUsageOID.OCSP_SIGNING and kind == "ocsp":
                    continue  # what the ocsp profile grants (BR §7.1.2.8.5)
                if oid in _FORBIDDEN_EKUS:
                    out.add(Check.EXT_USAGE, f"CSR requests extended key usage "
                                             f"{_FORBIDDEN_EKUS[oid]} (BR §7.1.2.7.10, "
                                             "§7.1.2.10.6)")


def _check_issuer(request: Request, rules: ProfileRules | None, ctx: PolicyContext,
                  out: Reasons) -> IssuerInfo | None:
    if rules is None:
        out.add(Check.PROFILE_UNKNOWN, f"profile {request.profile!r} is not configured")
    issuer = ctx.issuers.get(request.ca)
    if issuer is None:
        out.add(Check.CA_UNKNOWN, f"issuing CA {request.ca!r} does not exist")
        return None
    if rules is None:
        return issuer
    if rules.kind == "subca":
        if not issuer.is_root:
            out.add(Check.CA_PROFILE, f"sub-CA certificates are issued by the root only, "
                                      f"not by {issuer.name!r}")
    elif issuer.is_root and not ctx.root_may_issue_leaves:
        out.add(Check.CA_ROOT_LEAF, f"the root {issuer.name!r} may not issue leaf certificates")
        return issuer
    if rules.name not in issuer.profiles and not out.has(Check.CA_PROFILE):
        out.add(Check.CA_PROFILE, f"CA {issuer.name!r} may not issue profile {rules.name!r}")
    usage = LEAF_EKU.get(rules.kind)
    if issuer.ekus is not None and usage is not None and usage not in issuer.ekus:
        # RFC 5280 §4.2.1.12 as relying parties apply it (OpenSSL, Chrome, NSS): a CA
        # restricted to some usages cannot vouch for a certificate of another.
        out.add(Check.CA_EKU, f"CA {issuer.name!r} is restricted to "
                              f"{', '.join(sorted(issuer.ekus))}; a {rules.kind} certificate "
                              f"needs {usage}")
    return issuer


def _granted_days(rules: ProfileRules, points: int, ctx: PolicyContext) -> int:
    if rules.kind in ("subca", "ocsp"):
        return rules.max_days  # custodians approve each one; points describe persons
    if points >= ctx.personal_name_min_points:
        return rules.max_days
    # CAcert: shorter validity below 50 points; never longer than the profile's cap.
    return min(rules.max_days, rules.max_days_low_points)


def _judge(request: Request, ctx: PolicyContext) -> Decision:
    """Every check on one request, with every reason found (not yet fitted to the limits)."""
    out = Reasons()
    rules = ctx.profiles.get(request.profile)
    facts = request.verified
    issuer = _check_issuer(request, rules, ctx, out)
    csr, parse_reasons = parse_csr(request.csr, ctx.max_csr_bytes)
    for r in parse_reasons:
        out.add(Check(r.code), r.message)
    der = digest = ktype = None
    names = Names()
    if csr is not None:
        _check_signature(csr, out)
        der, digest, ktype = _check_key(request, csr, rules, ctx, out)
        _check_extensions(csr, rules, out)
        names = judge_names(asked_names(csr, out), rules, facts, ctx, out)
        if issuer is not None:
            names = judge_constraints(names, rules.kind if rules else None, issuer.constraints,
                                      issuer.name, out)
    if issuer is not None and facts.points < issuer.min_points:
        out.add(Check.ASSURANCE_POINTS, f"CA {issuer.name!r} needs {issuer.min_points} "
                                        f"assurance points; the subscriber has {facts.points}")
    if rules is not None and facts.points < rules.min_points:
        out.add(Check.ASSURANCE_POINTS, f"profile {rules.name!r} needs {rules.min_points} "
                                        f"assurance points; the subscriber has {facts.points}")
    reasons = tuple(out.items)
    accepted = not reasons
    return Decision(
        request_id=request.id, accepted=accepted, reasons=reasons, ca=request.ca,
        profile=request.profile, public_key_der=der, spki_sha256=digest, key_type=ktype,
        common_name=names.common_name, dns_names=names.dns, emails=names.emails,
        personal_name=names.personal_name,
        days=_granted_days(rules, facts.points, ctx) if accepted and rules else 0,
        needs_approval=rules is not None and rules.kind in ("subca", "ocsp"),
        notices=tuple(out.notices) if accepted else (),
        given_name=names.given_name, surname=names.surname,
    )


def _refuse(decision: Decision, *extra: Reason) -> Decision:
    return dataclasses.replace(decision, accepted=False, days=0,
                               reasons=(*decision.reasons, *extra))


def _fit(decision: Decision, limits: ResultLimits) -> Decision:
    """One request's verdict within the result format's per-request limits."""
    too_big = check_certificate_size(decision, limits)
    if too_big is not None:
        decision = _refuse(decision, too_big)
    return dataclasses.replace(decision, reasons=cap_reasons(decision.reasons, limits))


def evaluate(request: Request, ctx: PolicyContext) -> Decision:
    """Run every check on one request and return the verdict with all reasons found (at most
    as many as a result carries; see `signer.core.policy.limits`)."""
    return _fit(_judge(request, ctx), ctx.limits)


def evaluate_batch(requests: Sequence[Request], ctx: PolicyContext) -> list[Decision]:
    """evaluate() each request; then a key may be certified once per batch, for one subscriber,
    and the batch's result must fit the result bundle.

    A key in requests of two subscribers is refused in all of them (they cannot both hold it,
    and picking the first would make the verdict depend on order). A key that several
    otherwise-acceptable requests of one subscriber share is refused in those too; repeats in
    requests already refused for other reasons certify nothing and are left alone. Last, if
    the outcomes would not fit one result bundle, the largest are refused (`fit_batch`).
    """
    decisions = []
    for done, r in enumerate(requests, 1):
        decisions.append(_judge(r, ctx))
        progress.report("judging the requests", done, len(requests))
    subscribers: dict[str, set[str]] = {}
    accepted: Counter[str] = Counter()
    for r, d in zip(requests, decisions, strict=True):
        if d.spki_sha256 is not None:
            subscribers.setdefault(d.spki_sha256, set()).add(r.subscriber)
            accepted[d.spki_sha256] += d.accepted
    result = []
    for d in decisions:
        key = d.spki_sha256
        message = None
        if key is not None and len(subscribers[key]) > 1:
            message = f"the key appears in requests of {len(subscribers[key])} subscribers"
        elif key is not None and d.accepted and accepted[key] > 1:
            message = f"the key appears in {accepted[key]} requests of this batch"
        if message is not None:
            d = _refuse(d, Reason(Check.KEY_DUPLICATE,
                                  message + " (a key is certified once per batch)"))
        result.append(_fit(d, ctx.limits))
    return fit_batch(result, ctx.limits)


def enforce(decision: Decision) -> None:
    """Raise PolicyError for the first reason; a decision without reasons passes."""
    if decision.reasons:
        first = decision.reasons[0]
        raise PolicyError(str(first.code), first.message)
    if not decision.accepted:
        raise PolicyError("policy", "request rejected without a reason")
