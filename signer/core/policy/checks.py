"""The policy's stable check codes and their sentences (DESIGN §4: every rejection has both).

What it does: one `StrEnum` of codes, one sentence per code, and the Markdown table kept in
docs/checks.md (`python -m signer.core.policy --markdown`), so the documentation cannot drift.

What it deliberately does not: decide anything. The engine (`signer.core.policy`) and the checks it
calls (`signer.core.policy.keys`, `signer.core.policy.syntax`, `signer.core.policy.limits`) choose which codes apply.
Codes are a contract with the RA, reviewers and auditors once shipped: add, never rename.
Each code also fits the result bundle's reason-code syntax, `[A-Za-z0-9._-]{1,64}`.
"""

from __future__ import annotations

from enum import StrEnum


class Check(StrEnum):
    """Stable check codes: a contract with the RA, reviewers and auditors once shipped."""

    CSR_PARSE = "csr.parse"
    CSR_SIZE = "csr.size"
    CSR_SIGNATURE = "csr.signature"
    CSR_SIGALG = "csr.sigalg"
    KEY_TYPE = "key.type"
    KEY_INVALID = "key.invalid"
    KEY_SMALL_ORDER = "key.small_order"
    KEY_WEAK = "key.weak"
    KEY_SIZE = "key.size"
    KEY_EXPONENT = "key.exponent"
    KEY_ROCA = "key.roca"
    KEY_SMALL_FACTOR = "key.small_factor"
    KEY_FERMAT = "key.fermat"
    KEY_SHARED_PRIME = "key.shared_prime"
    KEY_PATTERN = "key.pattern"
    KEY_BLOCKLIST = "key.blocklist"
    KEY_CURVE = "key.curve"
    KEY_PROFILE = "key.profile"
    KEY_SUBCA = "key.subca"
    KEY_CA = "key.ca"
    KEY_DUPLICATE = "key.duplicate"
    NAME_UNVERIFIED = "name.unverified"
    NAME_SYNTAX = "name.syntax"
    NAME_WILDCARD = "name.wildcard"
    NAME_IP = "name.ip"
    NAME_INTERNAL = "name.internal"
    NAME_COUNT = "name.count"
    NAME_CN_NOT_SAN = "name.cn_not_san"
    NAME_MISSING = "name.missing"
    NAME_TYPE = "name.type"
    NAME_PERSONAL = "name.personal"
    EXT_CA = "ext.ca"
    EXT_USAGE = "ext.usage"
    PROFILE_UNKNOWN = "profile.unknown"
    CA_UNKNOWN = "ca.unknown"
    CA_ROOT_LEAF = "ca.root_leaf"
    CA_PROFILE = "ca.profile"
    ASSURANCE_POINTS = "assurance.points"
    RESULT_REASONS = "result.reasons"
    RESULT_CERT_SIZE = "result.cert_size"
    RESULT_BATCH_SIZE = "result.batch_size"
    # Issuer constraints on a request (issue 14).
    NAME_CONSTRAINTS = "name.constraints"
    CA_EKU = "ca.eku"


class CeremonyCheck(StrEnum):
    """Stable codes of the CA ceremonies' refusals (issue 14): re-certification,
    cross-certification, rollover, pre-signed OCSP. `ca.unknown` and `ca.profile` are the
    request checks' codes, reused with the same meaning."""

    CA_UNKNOWN = "ca.unknown"
    CA_PROFILE = "ca.profile"
    CA_EKU = "ca.eku"
    CA_VALIDITY = "ca.validity"
    CA_KEY = "ca.key"
    CA_HASH = "ca.hash"
    CA_CONSTRAINTS = "ca.constraints"
    CROSS_APPROVAL = "cross.approval"
    CROSS_INPUT = "cross.input"
    CROSS_OWN_KEY = "cross.own_key"
    CROSS_KEY = "cross.key"
    CROSS_NAME = "cross.name"
    ROLLOVER_ROOT = "rollover.root"
    ROLLOVER_SUBJECT = "rollover.subject"
    OCSP_UNKNOWN = "ocsp.unknown"
    OCSP_STATUS = "ocsp.status"
    OCSP_WINDOW = "ocsp.window"


class Notice(StrEnum):
    """What a request was granted differently from what its CSR proposed (I8): not a
    refusal; the verdict, `batch show` and the result's outcome carry it. Stable codes."""

    NAME_OMITTED = "notice.name_omitted"
    SUBJECT_OMITTED = "notice.subject_omitted"
    MAILBOX_VALIDATED = "notice.mailbox_validated"


CHECK_DOCS: dict[Check, str] = {
    Check.CSR_PARSE: "The CSR is not a well-formed PKCS#10 request in PEM or DER "
                     "(empty, truncated, garbage, or a malformed attribute or extension).",
    Check.CSR_SIZE: "The CSR is larger than the size cap (16 KiB by default); it is not parsed.",
    Check.CSR_SIGNATURE: "The CSR's self-signature does not verify with its own public key, "
                         "so it does not prove possession of the private key (RFC 2986 §3).",
    Check.CSR_SIGALG: "The CSR is signed with an algorithm that is not accepted "
                      "(SHA-1, MD5 and anything but SHA-2 RSA/RSA-PSS/ECDSA or Ed25519).",
    Check.KEY_TYPE: "The key type is not accepted: only RSA, EC P-256/P-384 and Ed25519 "
                    "(DSA, Ed448, X25519 and others are refused).",
    Check.KEY_INVALID: "The public key is not a valid key of its type: it cannot be decoded "
                       "(an EC point off its curve, at infinity or of the wrong length, SEC 1 "
                       "§3.2.2), it uses the EC hybrid point form (RFC 5480 §2.2), it is a "
                       "non-canonical or off-curve Ed25519 encoding (RFC 8032 §5.1.3), or its "
                       "RSA modulus is even (RFC 8017 §3.1); a key that cannot be judged is "
                       "refused too.",
    Check.KEY_SMALL_ORDER: "The Ed25519 key is a point of small order (one of the 8 torsion "
                           "points, for which a signature \"verifies\" for every message, so "
                           "the CSR proves nothing) or has a small-order component (it is not "
                           "in the prime-order subgroup; libsodium "
                           "crypto_core_ed25519_is_valid_point).",
    Check.KEY_WEAK: "The RSA modulus is shorter than 2048 bits.",
    Check.KEY_SIZE: "The RSA modulus is longer than 8192 bits or not a multiple of 8 "
                    "(Mozilla Root Store Policy §5.1).",
    Check.KEY_EXPONENT: "The RSA public exponent is not 65537.",
    Check.KEY_ROCA: "The RSA modulus has the ROCA fingerprint (CVE-2017-15361): the key came "
                    "from a vulnerable Infineon library and can be factored (badkeys roca).",
    Check.KEY_SMALL_FACTOR: "The RSA modulus has a prime factor of at most 65537 "
                            "(badkeys smallfactors).",
    Check.KEY_FERMAT: "The RSA primes are so close that Fermat's method factors the modulus "
                      "within 100 rounds (close primes, CA/B Forum TLS BR §6.1.1.3(4); "
                      "badkeys fermat).",
    Check.KEY_SHARED_PRIME: "The RSA modulus shares a prime with published broken keys, so "
                            "one gcd factors it (badkeys sharedprimes).",
    Check.KEY_PATTERN: "The RSA modulus has a structure no sound generator produces and "
                       "that allows factoring: a 0-byte pattern open to polynomial factoring "
                       "(badkeys rsapoly) or 16 repeated bytes (badkeys pattern).",
    Check.KEY_BLOCKLIST: "The key is on the compromised-key blocklist the operator loaded "
                         "(badkeys format: Debian weak keys of CVE-2008-0166, BR §6.1.1.3(4); "
                         "keys published in documentation and firmware). Runs only when a "
                         "blocklist is configured.",
    Check.KEY_CURVE: "The elliptic curve is not P-256 or P-384 (secp256k1, P-521 and others "
                     "are refused), or it is given by explicit parameters instead of its name "
                     "(RFC 5480 §2.1.1; CVE-2020-0601).",
    Check.KEY_PROFILE: "The key type is not allowed in this profile: TLS server certificates "
                       "take RSA or ECDSA P-256/P-384 only (TLS BR §6.1.5, §7.1.3.1.1), so an "
                       "Ed25519 key is refused there; the rule agrees with the profile's linter.",
    Check.KEY_SUBCA: "A sub-CA key must be RSA of at least 3072 bits, or EC P-256 or P-384 "
                     "(DESIGN §4 CA keys; RSA-2048 and Ed25519 are refused).",
    Check.KEY_CA: "The key is the key of one of this appliance's CAs.",
    Check.KEY_DUPLICATE: "The key is already certified for another subscriber, or the batch "
                         "has it in requests of two subscribers or in two acceptable requests.",
    Check.NAME_UNVERIFIED: "A name in the CSR (SAN, subject CN or emailAddress) is not among "
                           "the facts the RA verified.",
    Check.NAME_SYNTAX: "A name is malformed: DNS names must be lower-case LDH A-labels with "
                       "no trailing dot, empty label, underscore, control character, label over "
                       "63 or name over 253 characters; emails must be ASCII local@domain.",
    Check.NAME_WILDCARD: "A wildcard name is requested but the profile does not allow it, or "
                         "the wildcard covers a whole TLD.",
    Check.NAME_IP: "An IP address is requested but the profile does not allow it.",
    Check.NAME_INTERNAL: "An internal name (single label, or under a reserved or private TLD "
                         "such as .local, .internal, .lan, .corp, .test, .arpa) is requested "
                         "but the profile does not allow it.",
    Check.NAME_COUNT: "The request carries more names than the cap (100 by default).",
    Check.NAME_CN_NOT_SAN: "In a server certificate the CN, when present, must be one of "
                           "the SAN DNS names (BR §7.1.4.3).",
    Check.NAME_MISSING: "The certificate would carry no name it needs: a server certificate "
                        "needs a DNS name, an email certificate an email address, a client "
                        "certificate any name, a sub-CA a CN.",
    Check.NAME_TYPE: "The CSR asks for a SAN type the CA never issues (URI, otherName, "
                     "directoryName, registeredID), or a subject with several CNs.",
    Check.NAME_PERSONAL: "Retired (issue 14): a personal name proposed below the assurance "
                         "points (50 by default) is no longer refused; the certificate is "
                         "issued without it and carries the notice `notice.name_omitted`.",
    Check.EXT_CA: "The CSR asks for CA powers it will never get: basicConstraints CA:TRUE "
                  "in a leaf profile, or a pathLenConstraint above 0 in a sub-CA profile "
                  "(sub-CAs are issued with pathLen 0, BR §7.1.2.10.4).",
    Check.EXT_USAGE: "The CSR requests a forbidden usage: in a leaf profile keyCertSign or "
                     "cRLSign; in a sub-CA profile a key usage other than digitalSignature, "
                     "keyCertSign and cRLSign (BR §7.1.2.10.7); in any profile the extended "
                     "key usages codeSigning, timeStamping, OCSPSigning or anyExtendedKeyUsage.",
    Check.PROFILE_UNKNOWN: "The request names a profile that is not configured.",
    Check.CA_UNKNOWN: "The request names an issuing CA that does not exist.",
    Check.CA_ROOT_LEAF: "The root may not issue leaf certificates (root_may_issue_leaves is "
                        "off).",
    Check.CA_PROFILE: "The issuing CA may not issue this profile (sub-CAs only from the root, "
                      "leaves only from a CA configured for the profile).",
    Check.ASSURANCE_POINTS: "The subscriber has fewer assurance points than the CA or the "
                            "profile requires (Class 3: 50).",
    Check.RESULT_REASONS: "More reasons were found than a result bundle carries for one "
                          "request (100): the first 99 are listed and this one counts the rest "
                          "by code.",
    Check.RESULT_CERT_SIZE: "The certificate would be larger than a result bundle carries "
                            "(64 KiB of PEM text), so it could never be exported.",
    Check.RESULT_BATCH_SIZE: "The batch's result would exceed the result bundle's size cap "
                             "(256 MiB); the largest outcomes are refused first, with this "
                             "short reason instead, until the result fits.",
    Check.NAME_CONSTRAINTS: "A name the certificate would carry lies outside the issuing CA's "
                            "name constraints (RFC 5280 §4.2.1.10): not in a permitted subtree "
                            "of its type, or in an excluded one. Checked at import and again "
                            "at signing (`issue.constraints`).",
    Check.CA_EKU: "The issuing CA's certificate is restricted to extended key usages that do "
                  "not include this profile's (a TLS-only CA cannot issue e-mail "
                  "certificates).",
}

CEREMONY_DOCS: dict[CeremonyCheck, str] = {
    CeremonyCheck.CA_UNKNOWN: "The CA named is not a CA of this appliance.",
    CeremonyCheck.CA_PROFILE: "The CA profile is not in [ca_profiles], or is of the wrong "
                              "kind for the ceremony (root, sub, cross), or the ceremony "
                              "cannot apply to this CA (a root is certified again only by "
                              "itself).",
    CeremonyCheck.CA_EKU: "The CA profile asks for extended key usages its issuer's "
                          "certificate does not have.",
    CeremonyCheck.CA_VALIDITY: "CA ceremony: the issuer is not valid at the ceremony time, or the "
                       "certificate asked for would end after its issuer's (RFC 5280 §6.1; "
                       "never clipped), or exceed the profile's max_days.",
    CeremonyCheck.CA_KEY: "CA ceremony: the key in the token no longer matches the CA's certificate, "
                  "or is not a CA key (RSA >= 3072 bits, EC P-256/P-384), or already "
                  "belongs to another CA.",
    CeremonyCheck.CA_HASH: "CA ceremony: the profile's signature hash is not one the issuing key may "
                   "use (ECDSA P-256 with SHA-256 and P-384 with SHA-384 only, BR "
                   "§7.1.3.2.2; RSA-PSS only with RSA keys).",
    CeremonyCheck.CA_CONSTRAINTS: "CA ceremony: the profile's name constraints are violated by the CA "
                          "certificate itself (its subject's names lie outside them), or "
                          "reach beyond its issuer's constraints.",
    CeremonyCheck.CROSS_APPROVAL: "Cross-certification: the custodians did not approve the exact "
                          "certificate or CSR (its SHA-256, shown in hex and words).",
    CeremonyCheck.CROSS_INPUT: "Cross-certification: the input is not a CA certificate or a CSR whose "
                       "self-signature verifies, or its subject cannot be kept byte for byte.",
    CeremonyCheck.CROSS_OWN_KEY: "Cross-certification: the key is one of this appliance's CA keys; "
                         "a CA of ours is certified again with `ca recertify`, never under "
                         "another name.",
    CeremonyCheck.CROSS_KEY: "Cross-certification: the key is not acceptable for a CA (RSA >= 3072 "
                     "bits, EC P-256/P-384) or is weak (the subscriber key checks).",
    CeremonyCheck.CROSS_NAME: "Cross-certification: the name is one of this appliance's CAs, or was "
                      "used for another CA's key before.",
    CeremonyCheck.ROLLOVER_ROOT: "Root rollover: the CA to roll over is not a root of this appliance, "
                         "or the new root's name or key is taken.",
    CeremonyCheck.ROLLOVER_SUBJECT: "Root rollover: the new root's subject equals the old root's "
                            "(relying parties would confuse the two).",
    CeremonyCheck.OCSP_UNKNOWN: "OCSP: the CA never issued a certificate with this serial (RFC 6960 "
                        "§2.2 'unknown' is not signed ahead of time).",
    CeremonyCheck.OCSP_STATUS: "OCSP: the status asked for is not the certificate's status in the "
                       "ledger and the log (revoke first, then sign 'revoked').",
    CeremonyCheck.OCSP_WINDOW: "OCSP: nextUpdate is not after the ceremony time, is more than 366 "
                       "days after it (BR §4.9.10), or after the CA certificate expires.",
}

NOTICE_DOCS: dict[Notice, str] = {
    Notice.NAME_OMITTED: "The CSR asked for the member's personal name (or a verified e-mail "
                         "address) in the subject, but the member has fewer assurance points "
                         "than a name needs: the certificate is issued without it.",
    Notice.SUBJECT_OMITTED: "The issuing CA's directory-name constraints do not cover the "
                            "subject the certificate would carry: it is issued with an empty "
                            "subject and its names in the SAN only.",
    Notice.MAILBOX_VALIDATED: "The RA verified no given name and surname, or the CSR did not "
                              "ask for the name: the e-mail certificate is mailbox-validated "
                              "(S/MIME BR §7.1.4.2.1).",
}


def render_markdown() -> str:
    """docs/checks.md: every check code and its sentence, generated so it cannot drift."""
    lines = [
        "# Policy checks",
        "",
        "Generated by `python -m signer.core.policy --markdown > docs/checks.md`; do not edit.",
        "Codes are stable: the RA, reviewers and auditors rely on them.",
        "",
        "| code | meaning |",
        "|---|---|",
    ]
    lines += [f"| `{c.value}` | {CHECK_DOCS[c]} |" for c in Check]
    lines += ["", "## CA ceremonies", "",
              "Refusals of `ca recertify`, `ca cross-sign`, `ca rollover` and `ocsp sign`; the "
              "command exits 1 with `signer: error: <code>: <sentence>` and nothing is "
              "signed.", "", "| code | meaning |", "|---|---|"]
    lines += [f"| `{c.value}` | {CEREMONY_DOCS[c]} |" for c in CeremonyCheck]
    lines += ["", "## Notices", "",
              "Not refusals: what a certificate was granted differently from what its CSR "
              "proposed (I8).", "", "| code | meaning |", "|---|---|"]
    lines += [f"| `{c.value}` | {NOTICE_DOCS[c]} |" for c in Notice]
    return "\n".join(lines) + "\n"
