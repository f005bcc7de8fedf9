"""Syntax of the names a certificate may carry: DNS names, email addresses, personal names.

What it does: pure checks of one string at a time, each returning the problems it sees as
`NameFinding`s (`kind` becomes the check code `name.<kind>` in `signer.core.policy`).

What it deliberately does not: compare names with verified facts, count them, or normalise
them. A name that is not already in its canonical form (lower-case A-labels, no trailing dot) is
refused rather than fixed, so the bytes a subscriber asked for are the bytes we certify.
Internationalised labels are judged by the maintained `idna` library (IDNA2008, RFC 5891-5893:
the code point tables, CONTEXTJ/CONTEXTO rules and the Bidi rule), not by a Punycode round trip.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from typing import Literal, NamedTuple

import idna

NameKind = Literal["syntax", "wildcard", "ip", "internal"]

MAX_DNS_NAME = 253  # RFC 1035 §2.3.4: 255 octets on the wire = 253 characters in text
MAX_LABEL = 63  # RFC 1035 §2.3.4
MAX_LOCAL_PART = 64  # RFC 5321 §4.5.3.1.1
MAX_PERSONAL_NAME = 64  # RFC 5280 Appendix A: ub-common-name

_LDH = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
# RFC 5322 §3.2.3 atext plus dots (dot-atom); quoted local parts are not accepted.
_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")

# Names that are not publicly resolvable, so no CA can validate them (CA/B BR §7.1.2.7.12 and
# the 2015 sunset of internal names): special-use TLDs (RFC 6761, RFC 6762 .local, RFC 8375
# home.arpa, RFC 9476 .alt, RFC 7686 .onion), ICANN's reserved .internal, and TLDs that
# collide with private networks (SAC 045; ICANN's deferred .corp .home .mail).
INTERNAL_TLDS: frozenset[str] = frozenset({
    "local", "internal", "lan", "corp", "home", "localhost", "localdomain", "intranet",
    "private", "test", "example", "invalid", "arpa", "alt", "onion", "mail",
})


class NameFinding(NamedTuple):
    """One problem with a name: `kind` becomes the check code `name.<kind>` in the policy."""

    kind: NameKind
    message: str


def _control_free(text: str) -> bool:
    return not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in text)


def is_ip_literal(name: str) -> bool:
    """True for a textual IPv4/IPv6 address (BR §7.1.2.7.12: IPs belong in iPAddress SANs)."""
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def _a_label_problem(label: str) -> str | None:
    """An xn-- label must be a valid IDNA2008 A-label: it decodes to a U-label that passes
    RFC 5891 §5.4 (the RFC 5892 tables, CONTEXTJ/CONTEXTO, RFC 5893 Bidi) and encodes back to
    exactly these bytes (RFC 5890 §2.3.2.1)."""
    try:
        ulabel = idna.ulabel(label)
        again = idna.alabel(ulabel).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        return "has an xn-- label that is not a valid IDNA2008 A-label (RFC 5891)"
    if again != label or ulabel.isascii():
        return "has an xn-- label that is not the canonical A-label of its U-label (RFC 5891)"
    return None


def _label_problem(label: str) -> str | None:
    if not label:
        return "has an empty label"
    if len(label) > MAX_LABEL:
        return f"has a label longer than {MAX_LABEL} characters"
    if "_" in label:
        return "has an underscore (not a host name, RFC 952/1123; BR §7.1.4.2)"
    if label != label.lower():
        return "is not lower case"
    if not _LDH.fullmatch(label):
        return "has a label that is not letters, digits and inner hyphens (LDH, RFC 5890 §2.3.1)"
    if label[2:4] == "--":
        # RFC 5891 §4.2.3.1: "??--" labels are reserved; only "xn--" A-labels are allowed.
        if not label.startswith("xn--"):
            return "has a reserved label with '--' in positions 3 and 4"
        return _a_label_problem(label)
    return None


def check_dns_name(name: str, *, allow_wildcard: bool, allow_ip: bool,
                   allow_internal: bool) -> list[NameFinding]:
    """Problems with a DNS name as it would appear in a dNSName SAN (RFC 5280 §4.2.1.6)."""
    shown = ascii(name)
    if not name:
        return [NameFinding("syntax", "an empty DNS name")]
    if not _control_free(name):
        return [NameFinding("syntax", f"DNS name {shown} contains a NUL or control character")]
    if not name.isascii():
        return [NameFinding("syntax", f"DNS name {shown} is not ASCII: U-labels must be sent as "
                                      "xn-- A-labels (RFC 5890)")]
    if is_ip_literal(name):
        if allow_ip:
            return [NameFinding("syntax", f"IP address {shown} must be an iPAddress SAN, "
                                          "not a DNS name")]
        return [NameFinding("ip", f"IP address {shown} is not allowed in this profile")]
    if name.endswith("."):
        return [NameFinding("syntax", f"DNS name {shown} has a trailing dot")]
    if len(name) > MAX_DNS_NAME:
        return [NameFinding("syntax", f"DNS name of {len(name)} characters exceeds {MAX_DNS_NAME}")]
    labels = name.split(".")
    found: list[NameFinding] = []
    if labels[0] == "*":
        # BR §7.1.2.7.12 / RFC 6125 §6.4.3: a wildcard is the whole leftmost label only.
        if not allow_wildcard:
            found.append(NameFinding("wildcard", f"wildcard {shown} is not allowed in this profile"))
        elif len(labels) < 3:
            found.append(NameFinding("wildcard", f"wildcard {shown} covers a whole TLD or less"))
        labels = labels[1:]
        if not labels:
            return [NameFinding("syntax", f"DNS name {shown} is a bare wildcard")]
    for label in labels:
        problem = "has a misplaced wildcard" if "*" in label else _label_problem(label)
        if problem:
            found.append(NameFinding("syntax", f"DNS name {shown} {problem}"))
            return found
    if not allow_internal:
        if len(labels) < 2:
            found.append(NameFinding("internal", f"single-label name {shown} is an internal name"))
        elif labels[-1] in INTERNAL_TLDS:
            found.append(NameFinding("internal", f"{shown} is under .{labels[-1]}, "
                                                 "which is not publicly resolvable"))
    if labels[-1].isdigit():
        found.append(NameFinding("syntax", f"DNS name {shown} has an all-numeric TLD"))
    return found


def check_email(address: str, *, allow_internal: bool) -> list[NameFinding]:
    """Problems with a mailbox address as in an rfc822Name SAN (RFC 5280 §4.2.1.6).

    The domain part follows the DNS rules (lower case A-labels); the local part is an ASCII
    dot-atom (RFC 5322 §3.2.3), since SmtpUTF8Mailbox is not issued.
    """
    shown = ascii(address)
    if not _control_free(address) or not address.isascii():
        return [NameFinding("syntax", f"email address {shown} contains a control or "
                                      "non-ASCII character")]
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        return [NameFinding("syntax", f"email address {shown} is not local@domain")]
    if len(local) > MAX_LOCAL_PART or not _LOCAL.fullmatch(local):
        return [NameFinding("syntax", f"email address {shown} has an invalid local part")]
    found = check_dns_name(domain, allow_wildcard=False, allow_ip=False,
                           allow_internal=allow_internal)
    return [NameFinding(f.kind, f"email address {shown}: {f.message}") for f in found]


# Bidi embeddings, overrides and isolates (Unicode UAX #9 §2): they reorder what a reader sees
# (the "Trojan Source" spoofing of a name); ZWJ and ZWNJ stay: Arabic, Persian and Indic names
# need them.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def check_personal_name(name: str) -> list[NameFinding]:
    """Problems with a personal name for a subject CN, givenName or surname.

    Names in any script are accepted as they are (CAcert is international): no normalisation,
    no transliteration; what is refused is what a reader cannot see or that is not a character:
    control characters, bidi overrides, unassigned code points, surrogates, private use.
    The length cap is RFC 5280 App. A ub-common-name, counted in characters."""
    if not name or name != name.strip():
        return [NameFinding("syntax", f"personal name {ascii(name)} is empty or padded")]
    if not _control_free(name) or len(name) > MAX_PERSONAL_NAME:
        return [NameFinding("syntax", f"personal name {ascii(name)} is too long or has "
                                      "control characters")]
    if any(c in _BIDI_CONTROLS or unicodedata.category(c) in ("Cn", "Cs", "Co") for c in name):
        return [NameFinding("syntax", f"personal name {ascii(name)} has a bidi control, an "
                                      "unassigned, surrogate or private-use character")]
    return []
