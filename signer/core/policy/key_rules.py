"""Which key types each profile kind may certify: a pure rule table (DESIGN §4 Keys).

The leaf rows say what the linter that judges the profile's certificates accepts (I6), so a
request the linter would refuse at signing time is refused at import instead, with its own code
(`key.profile`), and never stops `batch sign` halfway. tests/signer/test_key_rules.py builds a
real certificate for every (key type x profile kind) with `signer.core.profiles` and lints it with
`signer.core.lint`, so this table and pkilint cannot drift apart:

- server (pkilint CA/B Forum TLS, DV): RSA and ECDSA; Ed25519 is a prohibited SPKI algorithm
  (TLS BR §6.1.5 and §7.1.3.1.1 list RSA and ECDSA P-256/P-384/P-521 only);
- email (pkilint CA/B Forum S/MIME, mailbox): RSA, ECDSA P-256/P-384 and Ed25519 (S/MIME BR
  §7.1.3.1.1 allows id-Ed25519, RFC 8410);
- client (pkilint RFC 5280): RSA, ECDSA and Ed25519 (RFC 8410 §3);
- ocsp (pkilint CA/B Forum TLS, OCSP responder): RSA and ECDSA (TLS BR §6.1.5; a responder
  signs for a TLS-trusted CA).

The sub-CA row is stricter than its linter (RFC 5280 accepts any key): DESIGN §4 wants CA keys
of at least 3072 bits RSA, and Ed25519 is refused for CAs because no CA/B Forum profile allows
it for a CA that issues TLS or S/MIME certificates (`key.subca`).

P-521 and other curves, DSA and Ed448 never reach this table: `signer.core.policy.keys` refuses them for
every profile (`key.curve`, `key.type`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from signer.core.policy.key_findings import KeyFinding
from signer.core.policy.keys import key_family

CA_RSA_MIN_BITS = 3072  # DESIGN §4: CA keys >= 3072 bits

LEAF_KEY_FAMILIES: Mapping[str, frozenset[str]] = MappingProxyType({
    "server": frozenset({"rsa", "ec-p256", "ec-p384"}),  # TLS BR §6.1.5, §7.1.3.1.1
    "client": frozenset({"rsa", "ec-p256", "ec-p384", "ed25519"}),  # RFC 5280, RFC 8410
    "email": frozenset({"rsa", "ec-p256", "ec-p384", "ed25519"}),  # S/MIME BR §7.1.3.1.1
    "ocsp": frozenset({"rsa", "ec-p256", "ec-p384"}),  # TLS BR §6.1.5, §7.1.2.8
})
SUBCA_KEY_FAMILIES = frozenset({"rsa", "ec-p256", "ec-p384"})  # DESIGN §4 CA keys


def key_allowed(kind: str, ktype: str) -> bool:
    """True if a certificate of profile kind `kind` may carry a key of type `ktype`."""
    family = key_family(ktype)
    if kind == "subca":
        return family in SUBCA_KEY_FAMILIES and not (
            family == "rsa" and int(ktype.removeprefix("rsa-")) < CA_RSA_MIN_BITS)
    return family in LEAF_KEY_FAMILIES.get(kind, frozenset())


def check_key_for_profile(kind: str, ktype: str) -> list[KeyFinding]:
    """The profile rule for a key that `signer.core.policy.keys` found acceptable in itself."""
    if key_allowed(kind, ktype):
        return []
    if kind == "subca":
        return [KeyFinding("subca", f"a sub-CA key must be RSA of at least {CA_RSA_MIN_BITS} "
                                    f"bits or EC P-256/P-384, not {ktype} (DESIGN §4)")]
    if kind == "server":
        return [KeyFinding("profile", f"a TLS server certificate cannot carry key type {ktype} "
                                      "(TLS BR §6.1.5: RSA or ECDSA P-256/P-384)")]
    return [KeyFinding("profile", f"a {kind} certificate cannot carry key type {ktype}")]
