"""Name constraints (RFC 5280 §4.2.1.10): what a constrained CA may certify, as pure data.

What it does: holds the permitted and excluded subtrees of a CA profile or of a CA certificate
(DNS names, mailbox domains, IP ranges, directory names), converts them to and from the X.509
extension, answers whether one name lies inside them, and judges a set of constraints on its
own (well-formed, no permitted subtree wholly excluded) and against an issuer's.

The matching follows RFC 5280 §4.2.1.10 and what relying parties do (OpenSSL's
``v3_ncons.c``, Chrome): a dNSName constraint ``example.org`` covers the name itself and every
name below it; an rfc822Name constraint is a mailbox (``a@example.org``), a host
(``example.org``: mailboxes at that host only) or a domain (``.example.org``: mailboxes at
hosts below it); an iPAddress constraint is a network; a directoryName constraint covers the
DNs it prefixes. A name is inside when no excluded subtree of its type covers it and, if the
constraints permit any subtree of its type, one of them does.

What it deliberately does not: decide which certificates must be checked (the policy engine
and the CA ceremonies do), or accept any other name type.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConstraintSyntaxError(ValueError):
    """A subtree is not well-formed (named in the message)."""


@dataclass(frozen=True)
class NameConstraintRules:
    """Permitted and excluded subtrees, per name type; empty tuples mean "no constraint"."""

    permitted_dns: tuple[str, ...] = ()
    excluded_dns: tuple[str, ...] = ()
    permitted_email: tuple[str, ...] = ()
    excluded_email: tuple[str, ...] = ()
    permitted_ip: tuple[IPNetwork, ...] = ()
    excluded_ip: tuple[IPNetwork, ...] = ()
    permitted_dirnames: tuple[x509.Name, ...] = ()
    excluded_dirnames: tuple[x509.Name, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.permitted_dns or self.excluded_dns or self.permitted_email
                    or self.excluded_email or self.permitted_ip or self.excluded_ip
                    or self.permitted_dirnames or self.excluded_dirnames)

    # -- the extension ---------------------------------------------------------------------

    def to_extension(self) -> x509.NameConstraints | None:
        if self.empty:
            return None

        def subtrees(dns: tuple[str, ...], email: tuple[str, ...], ips: tuple[IPNetwork, ...],
                     dirs: tuple[x509.Name, ...]) -> list[x509.GeneralName] | None:
            out: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
            out += [x509.RFC822Name(e) for e in email]
            out += [x509.IPAddress(n) for n in ips]
            out += [x509.DirectoryName(n) for n in dirs]
            return out or None

        return x509.NameConstraints(
            permitted_subtrees=subtrees(self.permitted_dns, self.permitted_email,
                                        self.permitted_ip, self.permitted_dirnames),
            excluded_subtrees=subtrees(self.excluded_dns, self.excluded_email,
                                       self.excluded_ip, self.excluded_dirnames))

    @classmethod
    def of_certificate(cls, cert: x509.Certificate) -> NameConstraintRules | None:
        """The constraints a CA certificate carries, or None. Subtree types this module does
        not know are kept out of ``permitted``, so they never widen what is allowed; a CA
        certificate carrying one is reported by ``unknown_subtrees``."""
        try:
            nc = cert.extensions.get_extension_for_class(x509.NameConstraints).value
        except x509.ExtensionNotFound:
            return None
        return cls.of_extension(nc)

    @classmethod
    def of_extension(cls, nc: x509.NameConstraints) -> NameConstraintRules:
        def split(trees: Iterable[x509.GeneralName] | None) -> tuple[
                tuple[str, ...], tuple[str, ...], tuple[IPNetwork, ...], tuple[x509.Name, ...]]:
            trees = list(trees or ())
            return (tuple(g.value for g in trees if isinstance(g, x509.DNSName)),
                    tuple(g.value for g in trees if isinstance(g, x509.RFC822Name)),
                    tuple(g.value for g in trees if isinstance(g, x509.IPAddress)
                          and isinstance(g.value, IPNetwork)),
                    tuple(g.value for g in trees if isinstance(g, x509.DirectoryName)))

        pd, pe, pi, pn = split(nc.permitted_subtrees)
        ed, ee, ei, en = split(nc.excluded_subtrees)
        return cls(pd, ed, pe, ee, pi, ei, pn, en)

    # -- matching --------------------------------------------------------------------------

    def dns_allowed(self, name: str) -> bool:
        """A dNSName (a leading ``*.`` is a wildcard over one label) inside the subtrees."""
        wildcard = name.startswith("*.")
        base = name[2:] if wildcard else name
        for sub in self.excluded_dns:
            # A wildcard is outside if any name it stands for could be excluded.
            if _dns_within(base, sub) or (wildcard and _dns_within(sub, base) and sub != base):
                return False
        if not self.permitted_dns:
            return True
        return any(_dns_within(base, sub) for sub in self.permitted_dns)

    def email_allowed(self, address: str) -> bool:
        if any(_email_within(address, sub) for sub in self.excluded_email):
            return False
        return not self.permitted_email or any(_email_within(address, sub)
                                               for sub in self.permitted_email)

    def ip_allowed(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        if any(address in net for net in self.excluded_ip if net.version == address.version):
            return False
        # IPv4 and IPv6 are one name form (iPAddress): when some ranges are permitted, an
        # address of the other family matches none of them (OpenSSL's nc_ip agrees).
        return not self.permitted_ip or any(address in n for n in self.permitted_ip
                                            if n.version == address.version)

    def dirname_allowed(self, name: x509.Name) -> bool:
        """An empty subject is always inside (RFC 5280 §4.2.1.10 constrains DNs present)."""
        if not list(name):
            return True
        if any(_dn_within(name, sub) for sub in self.excluded_dirnames):
            return False
        return not self.permitted_dirnames or any(_dn_within(name, sub)
                                                  for sub in self.permitted_dirnames)

    # -- judging a set of constraints ------------------------------------------------------

    def problems(self) -> list[str]:
        """Why these constraints make no sense on their own (each a sentence)."""
        out = []
        for sub in self.permitted_dns:
            if any(_dns_within(sub, ex) for ex in self.excluded_dns):
                out.append(f"permitted DNS subtree {sub!r} is wholly excluded")
        for sub in self.permitted_email:
            if any(_email_subtree_within(sub, ex) for ex in self.excluded_email):
                out.append(f"permitted e-mail subtree {sub!r} is wholly excluded")
        for net in self.permitted_ip:
            if any(net.version == ex.version and net.subnet_of(ex)  # type: ignore[arg-type]
                   for ex in self.excluded_ip):
                out.append(f"permitted IP range {net} is wholly excluded")
        for dn in self.permitted_dirnames:
            if any(_dn_within(dn, ex) for ex in self.excluded_dirnames):
                out.append(f"permitted directory name {dn.rfc4514_string()!r} is wholly "
                           "excluded")
        return out

    def within(self, issuer: NameConstraintRules) -> list[str]:
        """Why a subordinate with these constraints would promise more than ``issuer``
        allows: each permitted subtree must lie inside the issuer's (RFC 5280 §6.1.4 would
        intersect them anyway; a certificate that claims more is misleading)."""
        out = []
        if issuer.permitted_dns:
            if not self.permitted_dns:
                out.append("the issuer permits only some DNS names; this profile permits all")
            out += [f"permitted DNS subtree {s!r} is outside the issuer's"
                    for s in self.permitted_dns if not issuer.dns_allowed(s)]
        out += [f"permitted DNS subtree {s!r} is excluded by the issuer"
                for s in self.permitted_dns
                if any(_dns_within(s, ex) for ex in issuer.excluded_dns)]
        if issuer.permitted_email:
            if not self.permitted_email:
                out.append("the issuer permits only some e-mail domains; this profile permits "
                           "all")
            out += [f"permitted e-mail subtree {s!r} is outside the issuer's"
                    for s in self.permitted_email
                    if not any(_email_subtree_within(s, p) for p in issuer.permitted_email)]
        if issuer.permitted_ip:
            if not self.permitted_ip:
                out.append("the issuer permits only some IP ranges; this profile permits all")
            out += [f"permitted IP range {n} is outside the issuer's" for n in self.permitted_ip
                    if not any(n.version == p.version and n.subnet_of(p)  # type: ignore[arg-type]
                               for p in issuer.permitted_ip)]
        return out


# -- subtree relations ---------------------------------------------------------------------


def _dns_within(name: str, subtree: str) -> bool:
    """RFC 5280 §4.2.1.10: "host.example.com" is inside "example.com", "xexample.com" is not."""
    name, subtree = name.lower(), subtree.lower().lstrip(".")
    return not subtree or name == subtree or name.endswith("." + subtree)


def _email_within(address: str, subtree: str) -> bool:
    local, _, host = address.rpartition("@")
    if "@" in subtree:  # a mailbox
        return address.lower() == subtree.lower() if local else False
    if subtree.startswith("."):  # a domain: hosts below it, not the domain itself
        return host.lower().endswith(subtree.lower())
    return host.lower() == subtree.lower()  # a host


def _email_subtree_within(inner: str, outer: str) -> bool:
    """Every mailbox ``inner`` covers is covered by ``outer``."""
    if "@" in inner:
        return _email_within(inner, outer)
    if inner.startswith("."):
        return outer.startswith(".") and (inner.lower() == outer.lower()
                                         or inner.lower().endswith(outer.lower()))
    return _email_within("x@" + inner, outer) and "@" not in outer


def _dn_within(name: x509.Name, subtree: x509.Name) -> bool:
    """RFC 5280 §7.1: the subtree's RDNs are the first RDNs of the name (exact values: a
    relying party's case folding can only widen a match, never narrow it)."""
    rdns, prefix = list(name.rdns), list(subtree.rdns)
    return len(prefix) <= len(rdns) and rdns[:len(prefix)] == prefix


# -- parsing subtrees from configuration -------------------------------------------------------


def parse_dns_subtree(value: str) -> str:
    """A dNSName subtree: lower-case LDH labels (A-labels for IDNs), no wildcard, no dot
    first or last (RFC 5280 §4.2.1.10 defines the subtree by the name itself)."""
    if not value or value != value.lower() or value.startswith(".") or value.endswith(".") \
            or "*" in value or not value.isascii() \
            or not all(_ldh_label(label) for label in value.split(".")):
        raise ConstraintSyntaxError(f"{value!r} is not a DNS subtree (lower-case A-labels, no "
                                    "wildcard, no leading or trailing dot)")
    return value


def parse_email_subtree(value: str) -> str:
    """An rfc822Name subtree: ``a@example.org``, ``example.org`` or ``.example.org``."""
    local, at, host = value.rpartition("@")
    domain = host.removeprefix(".") if not at else host
    if (at and not local) or (at and host.startswith(".")) or not domain:
        raise ConstraintSyntaxError(f"{value!r} is not an e-mail subtree (a mailbox, a host or "
                                    "a .domain)")
    parse_dns_subtree(domain)
    return value


def parse_ip_subtree(value: str) -> IPNetwork:
    """An iPAddress subtree: a network in CIDR form without host bits."""
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ConstraintSyntaxError(f"{value!r} is not an IP range in CIDR form without host "
                                    f"bits ({exc})") from None


def parse_dirname_subtree(value: str) -> x509.Name:
    try:
        name = x509.Name.from_rfc4514_string(value)
    except ValueError as exc:
        raise ConstraintSyntaxError(f"{value!r} is not an RFC 4514 DN ({exc})") from None
    if not list(name):
        raise ConstraintSyntaxError("an empty directory name would permit every DN")
    return name


def _ldh_label(label: str) -> bool:
    return 0 < len(label) <= 63 and label[0] != "-" and label[-1] != "-" \
        and all(c.isalnum() or c == "-" for c in label)
