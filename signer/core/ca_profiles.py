"""CA certificate profiles: what a root, sub-CA or cross-certificate carries, declared in
``signer.toml`` (``[ca_profiles.NAME]``) and validated strictly before any ceremony.

What it does: one frozen ``CAProfile`` per table, parsed from plain values with every error
naming its key (``ca_profiles.tls.permitted_ip: ...``); the rules a profile must meet on its
own (a root carries no EKU, policies or constraints, BR §7.1.2.1; a TLS CA never carries
emailProtection, BR §7.1.2.10.6; ...), the signature algorithms a key allows, and the pkilint
linter that matches what a certificate is for.

What it deliberately does not: build certificates (``signer.core.profiles``), talk to the
token, or know about CAs that exist (``signer.service.ca_checks`` judges a profile against a
CA's key, subject and issuer at ceremony time).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from signer.core.policy.constraints import (
    ConstraintSyntaxError,
    NameConstraintRules,
    parse_dirname_subtree,
    parse_dns_subtree,
    parse_email_subtree,
    parse_ip_subtree,
)
from signer.errors import ConfigError

CAKind = Literal["root", "sub", "cross"]
CA_KINDS: tuple[CAKind, ...] = ("root", "sub", "cross")
HASHES = ("auto", "sha256", "sha384", "sha512")

# The usages a CA certificate may be restricted to (BR §7.1.2.10.6, S/MIME BR §7.1.2.2(g)).
# codeSigning, timeStamping, OCSPSigning and anyExtendedKeyUsage are never put in a CA
# certificate by this appliance.
EKUS: Mapping[str, ObjectIdentifier] = {
    "serverAuth": ExtendedKeyUsageOID.SERVER_AUTH,
    "clientAuth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "emailProtection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
}
EKU_NAMES: Mapping[ObjectIdentifier, str] = {v: k for k, v in EKUS.items()}


@dataclass(frozen=True)
class CAProfile:
    name: str
    kind: CAKind
    path_len: int | None  # None: no pathLenConstraint
    ekus: tuple[str, ...]  # names from EKUS; empty: no extendedKeyUsage extension
    constraints: NameConstraintRules
    policies: tuple[str, ...]  # certificatePolicies OIDs (None of them for a root)
    crl_url: str | None  # "{issuer}" is replaced by the issuing CA's name; None: [urls]
    aia_url: str | None
    hash: str  # one of HASHES
    rsa_pss: bool
    max_days: int

    @property
    def lint_kind(self) -> str:
        """The pkilint linter that matches what a certificate of this profile is for."""
        if self.kind == "root":
            return "pkix"
        if "serverAuth" in self.ekus:  # TLS BR §7.1.2.5 / §7.1.2.6 (pkilint's own choice)
            return "tls-ca-constrained" if not self.constraints.empty else "tls-ca"
        if "emailProtection" in self.ekus:  # a non-TLS CA under a TLS-trusted root, §7.1.2.3
            return "smime-ca"
        return "pkix"


def builtin_profiles(policies: tuple[str, ...], root_max_days: int,
                     sub_max_days: int) -> dict[str, CAProfile]:
    """What a ``signer.toml`` without ``[ca_profiles]`` means: today's shapes (a root without
    pathLen; sub-CAs with pathLen 0, no EKU, no constraints; cross-certificates without
    pathLen), hashes matched to the issuer's key."""
    none = NameConstraintRules()
    return {
        "root": CAProfile("root", "root", None, (), none, (), None, None, "auto", False,
                          root_max_days),
        "subca": CAProfile("subca", "sub", 0, (), none, policies, None, None, "auto", False,
                           sub_max_days),
        "cross": CAProfile("cross", "cross", None, (), none, policies, None, None, "auto",
                           False, sub_max_days),
    }


# -- parsing -----------------------------------------------------------------------------------


class _Values:
    """A table's values read once; every key must be consumed (strict)."""

    def __init__(self, data: Mapping[str, Any], path: str) -> None:
        self.data, self.path, self.seen = data, path, set[str]()

    def get(self, key: str, kind: type, what: str, default: Any) -> Any:
        self.seen.add(key)
        if key not in self.data:
            return default
        v = self.data[key]
        if isinstance(v, bool) and kind is not bool or not isinstance(v, kind):
            raise ConfigError(f"{self.path}.{key}: expected {what}")
        return v

    def strings(self, key: str) -> tuple[str, ...]:
        v = self.get(key, list, "a list of strings", [])
        if not all(isinstance(x, str) for x in v):
            raise ConfigError(f"{self.path}.{key}: expected a list of strings")
        if len(set(v)) != len(v):
            raise ConfigError(f"{self.path}.{key}: lists a value twice")
        return tuple(v)

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise ConfigError(f"{self.path}.{unknown[0]}: unknown key")


def _url(v: str | None, where: str) -> str | None:
    if v is None:
        return None
    rest = v.replace("{issuer}", "")
    if not v.startswith("http://") or "{" in rest or "}" in rest or " " in v:
        raise ConfigError(f"{where}: must be an http:// URL (RFC 5280 §4.2.1.13, BR "
                          "§7.1.2.11.2); the only placeholder is {issuer}")
    return v


def _oids(values: tuple[str, ...], where: str) -> tuple[str, ...]:
    for v in values:
        parts = v.split(".")
        if len(parts) < 2 or not all(p.isdigit() for p in parts):
            raise ConfigError(f"{where}: {v!r} is not an OID")
    return values


def parse_ca_profile(name: str, data: Mapping[str, Any], *, default_policies: tuple[str, ...],
                     root_max_days: int, sub_max_days: int) -> CAProfile:
    path = f"ca_profiles.{name}"
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected a table")
    t = _Values(data, path)
    kind = t.get("kind", str, "a string", "sub")
    if kind not in CA_KINDS:
        raise ConfigError(f"{path}.kind: must be one of {', '.join(CA_KINDS)}")
    cap = root_max_days if kind == "root" else sub_max_days
    path_len = t.get("path_len", int, "an integer", 0 if kind == "sub" else None)
    if path_len is not None and not 0 <= path_len <= 8:
        raise ConfigError(f"{path}.path_len: must be between 0 and 8")
    ekus = t.strings("ekus")
    for e in ekus:
        if e not in EKUS:
            raise ConfigError(f"{path}.ekus: {e!r} is not one of {', '.join(EKUS)} (a CA never "
                              "gets codeSigning, timeStamping, OCSPSigning or "
                              "anyExtendedKeyUsage, BR §7.1.2.10.6)")
    try:
        constraints = NameConstraintRules(
            permitted_dns=tuple(parse_dns_subtree(v) for v in t.strings("permitted_dns")),
            excluded_dns=tuple(parse_dns_subtree(v) for v in t.strings("excluded_dns")),
            permitted_email=tuple(parse_email_subtree(v) for v in t.strings("permitted_email")),
            excluded_email=tuple(parse_email_subtree(v) for v in t.strings("excluded_email")),
            permitted_ip=tuple(parse_ip_subtree(v) for v in t.strings("permitted_ip")),
            excluded_ip=tuple(parse_ip_subtree(v) for v in t.strings("excluded_ip")),
            permitted_dirnames=tuple(parse_dirname_subtree(v)
                                     for v in t.strings("permitted_dirnames")),
        )
    except ConstraintSyntaxError as exc:
        raise ConfigError(f"{path}: name constraints: {exc}") from None
    policies = _oids(t.strings("policies") if "policies" in data else default_policies,
                     f"{path}.policies")
    crl_url = _url(t.get("crl_url", str, "a string", None), f"{path}.crl_url")
    aia_url = _url(t.get("aia_url", str, "a string", None), f"{path}.aia_url")
    hash_ = t.get("hash", str, "a string", "auto")
    if hash_ not in HASHES:
        raise ConfigError(f"{path}.hash: must be one of {', '.join(HASHES)}")
    rsa_pss = t.get("rsa_pss", bool, "true or false", False)
    if rsa_pss and hash_ == "auto":
        raise ConfigError(f"{path}.rsa_pss: name the hash too (sha256, sha384 or sha512)")
    max_days = t.get("max_days", int, "an integer", cap)
    if not 1 <= max_days <= cap:
        raise ConfigError(f"{path}.max_days: must be between 1 and {cap} "
                          f"(ca.{'root' if kind == 'root' else 'sub'}_max_days)")
    t.done()
    profile = CAProfile(name, kind, path_len, ekus, constraints,
                        () if kind == "root" and "policies" not in data else policies,
                        crl_url, aia_url, hash_, rsa_pss, max_days)
    problems = profile_problems(profile)
    if problems:
        raise ConfigError(f"{path}: {problems[0]}")
    return profile


def profile_problems(p: CAProfile) -> list[str]:
    """What a profile may not say whatever CA it is used for."""
    out = []
    if p.kind == "root":
        for what, present in (("ekus", p.ekus), ("name constraints", not p.constraints.empty),
                              ("policies", p.policies), ("crl_url", p.crl_url),
                              ("aia_url", p.aia_url)):
            if present:
                out.append(f"a root certificate carries no {what} (BR §7.1.2.1)")
    if "serverAuth" in p.ekus and "emailProtection" in p.ekus:
        out.append("a TLS CA may not also carry emailProtection (BR §7.1.2.10.6); use two "
                   "sub-CAs")
    if p.constraints.permitted_dirnames and "serverAuth" not in p.ekus:
        out.append("permitted_dirnames is for technically constrained TLS CAs (BR §7.1.2.5.2)")
    out += p.constraints.problems()
    if p.kind == "sub" and p.policies == ():
        out.append("a sub-CA certificate needs at least one policy (BR §7.1.2.10.5)")
    return out


# -- signature algorithms ----------------------------------------------------------------------


def hash_problem(profile: CAProfile, issuer_public: Any) -> str | None:
    """Whether the issuer's key may sign with the profile's hash: RSA with SHA-256/384/512
    (PKCS#1 v1.5 or PSS); ECDSA only with the hash of its curve's strength (BR §7.1.3.2.2,
    Mozilla Root Store Policy §5.1.2: P-256 with SHA-256, P-384 with SHA-384)."""
    if profile.hash == "auto":
        return None
    if isinstance(issuer_public, rsa.RSAPublicKey):
        return None
    if profile.rsa_pss:
        return f"profile {profile.name!r} asks for RSA-PSS, but the issuing key is not RSA"
    if isinstance(issuer_public, ec.EllipticCurvePublicKey):
        allowed = {"secp256r1": "sha256", "secp384r1": "sha384"}.get(issuer_public.curve.name)
        if profile.hash != allowed:
            return (f"profile {profile.name!r} asks for {profile.hash}; a "
                    f"{issuer_public.curve.name} key signs with {allowed} only (BR §7.1.3.2.2)")
        return None
    return f"profile {profile.name!r} names a hash, but the issuing key takes none"
