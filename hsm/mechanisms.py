"""Which PKCS#11 mechanisms each appliance operation needs, and how signing adapts to a token.

Mechanisms are named as python-pkcs11 names them (``SHA256_RSA_PKCS``; ``CKM_`` is added for
people). A ``SignPlan`` says how one host-side signing operation (``SignMechanism``) is done on a
given token: RSA PKCS#1 v1.5 through ``CKM_SHA*_RSA_PKCS`` when offered, else ``CKM_RSA_PKCS``
over a DigestInfo built on the host (RFC 8017 §9.2, the fixed DER prefixes of its Note 1: no
other encoding is done here); RSA-PSS through ``CKM_SHA*_RSA_PKCS_PSS``, else ``CKM_RSA_PKCS_PSS``
over a host hash, parameters always explicit (salt = digest length, MGF1 with the same hash);
ECDSA always over a host hash (SoftHSM 2.6 has no ``CKM_ECDSA_SHA*``); EdDSA as ``CKM_EDDSA``.

``requirements`` lists every mechanism that the configured algorithms need, with the
alternatives that would do, so ``token status`` can say what is missing before a ceremony.

Pure: decisions from a set of mechanism names; ``hsm.p11`` carries them out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hsm.errors import MechanismUnsupportedError
from hsm.keys import SignMechanism

ALGORITHMS = ("rsa-3072", "rsa-4096", "ec-p256", "ec-p384", "ed25519")
LOG_KEY_ALGORITHMS = ("ed25519", "ec-p256", "ec-p384")

# RFC 8017 §9.2 Note 1: DER of DigestInfo up to the digest, for each hash the appliance uses.
DIGEST_INFO_PREFIX = {
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}
DIGEST_SIZE = {"sha256": 32, "sha384": 48, "sha512": 64}

_KEYGEN = {"rsa": "RSA_PKCS_KEY_PAIR_GEN", "ec": "EC_KEY_PAIR_GEN",
           "ed25519": "EC_EDWARDS_KEY_PAIR_GEN"}


def keygen_mechanism(algorithm: str) -> str:
    """The key-pair generation mechanism for ``algorithm``."""
    return _KEYGEN[family(algorithm)]


def digest_info(hash_name: str, digest: bytes) -> bytes:
    """DER DigestInfo for ``digest`` (the input of ``CKM_RSA_PKCS`` signing)."""
    if hash_name not in DIGEST_INFO_PREFIX or len(digest) != DIGEST_SIZE[hash_name]:
        raise MechanismUnsupportedError(f"no DigestInfo for a {len(digest)}-byte {hash_name}")
    return DIGEST_INFO_PREFIX[hash_name] + digest


def family(algorithm: str) -> str:
    if algorithm.startswith("rsa-"):
        return "rsa"
    if algorithm.startswith("ec-"):
        return "ec"
    if algorithm == "ed25519":
        return "ed25519"
    raise MechanismUnsupportedError(f"unknown algorithm {algorithm!r}")


@dataclass(frozen=True)
class SignPlan:
    """One signing operation on one token: the token mechanism and what the host does first.

    ``host_hash``: hash the data on the host first (name of the hash) or None to send the data;
    ``digest_info``: wrap the host hash in a DigestInfo; ``pss``: (hash, MGF1 hash, salt length)
    for the explicit CK_RSA_PKCS_PSS_PARAMS.
    """

    mechanism: str
    host_hash: str | None = None
    digest_info: bool = False
    pss: tuple[str, str, int] | None = None


def _split(mech: SignMechanism) -> tuple[str, str]:
    _, kind, hname = mech.value.split("-")  # "rsa-pkcs1-sha256", "rsa-pss-sha384"
    return kind, hname


def sign_plan(mech: SignMechanism, offered: Iterable[str]) -> SignPlan:
    """How to carry out ``mech`` with what the token offers; refused when it cannot be done."""
    have = set(offered)
    if mech is SignMechanism.ECDSA:
        plan = SignPlan("ECDSA")  # the caller (TokenECPrivateKey) hashes on the host
    elif mech is SignMechanism.EDDSA:
        plan = SignPlan("EDDSA")
    else:
        kind, h = _split(mech)
        upper = h.upper()
        if kind == "pkcs1":
            combined = f"{upper}_RSA_PKCS"
            plan = SignPlan(combined) if combined in have else \
                SignPlan("RSA_PKCS", host_hash=h, digest_info=True)
        else:
            combined = f"{upper}_RSA_PKCS_PSS"
            pss = (h, h, DIGEST_SIZE[h])
            plan = SignPlan(combined, pss=pss) if combined in have else \
                SignPlan("RSA_PKCS_PSS", host_hash=h, pss=pss)
    if plan.mechanism not in have:
        raise MechanismUnsupportedError(
            f"the token offers neither CKM_{plan.mechanism} nor a combined mechanism "
            f"for {mech.value}")
    return plan


@dataclass(frozen=True)
class Need:
    """One thing the appliance needs of the token: any of ``alternatives`` will do."""

    purpose: str
    alternatives: tuple[str, ...]

    def met(self, offered: frozenset[str]) -> bool:
        return any(a in offered for a in self.alternatives)

    def describe(self) -> str:
        return " or ".join(f"CKM_{a}" for a in self.alternatives)


def _sign_needs(algorithm: str, hashes: Iterable[str], pss: bool) -> list[Need]:
    fam = family(algorithm)
    out = [Need(f"{algorithm} key generation", (_KEYGEN[fam],))]
    if fam == "ec":
        out.append(Need(f"{algorithm} signing (host-hashed ECDSA)", ("ECDSA",)))
    elif fam == "ed25519":
        out.append(Need(f"{algorithm} signing", ("EDDSA",)))
    else:
        for h in hashes:
            out.append(Need(f"{algorithm} PKCS#1 v1.5 with {h}",
                            (f"{h.upper()}_RSA_PKCS", "RSA_PKCS")))
            if pss:
                out.append(Need(f"{algorithm} RSA-PSS with {h}",
                                (f"{h.upper()}_RSA_PKCS_PSS", "RSA_PKCS_PSS")))
    return out


def requirements(algorithms: Iterable[str], log_key: str, *, hashes: Iterable[str] = ("sha256",),
                 pss: bool = False, backup: bool = False) -> list[Need]:
    """Every mechanism the configured CA algorithms, the log key and a backup need."""
    needs: list[Need] = []
    for alg in [*algorithms, log_key]:
        if alg not in ALGORITHMS:
            raise MechanismUnsupportedError(f"unknown algorithm {alg!r}")
        for n in _sign_needs(alg, tuple(hashes), pss):
            if n not in needs:
                needs.append(n)
    if backup:
        needs.append(Need("key backup and restore (RFC 5649 wrap)", ("AES_KEY_WRAP_PAD",)))
    return needs


@dataclass(frozen=True)
class MechanismReport:
    """For ``token status``: each need with whether the token meets it."""

    needs: tuple[Need, ...]
    offered: frozenset[str]

    @property
    def missing(self) -> list[Need]:
        return [n for n in self.needs if not n.met(self.offered)]

    @property
    def ok(self) -> bool:
        return not self.missing

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok,
                "needs": [{"purpose": n.purpose, "any_of": [f"CKM_{a}" for a in n.alternatives],
                           "met": n.met(self.offered)} for n in self.needs]}

    def summary(self) -> str:
        if self.ok:
            return "every mechanism needed is offered"
        return "missing: " + "; ".join(f"{n.purpose} needs {n.describe()}" for n in self.missing)


def log_key_algorithm(offered: Iterable[str]) -> str:
    """Ed25519 when the token offers EdDSA key generation and signing, else ECDSA P-256."""
    have = set(offered)
    if {"EC_EDWARDS_KEY_PAIR_GEN", "EDDSA"} <= have:
        return "ed25519"
    if {"EC_KEY_PAIR_GEN", "ECDSA"} <= have:
        return "ec-p256"
    raise MechanismUnsupportedError(
        "the token offers neither EdDSA nor ECDSA key generation and signing for the log key")
