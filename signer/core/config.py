"""``signer.toml``: the appliance's configuration, parsed strictly.

Unknown keys and wrong types are errors that name the key (``ConfigError``); nothing here
talks to the token or the clock. Defaults follow CAcert's policy (DESIGN §4) and today's
CA/Browser Forum caps; every value a ceremony depends on is written out in the file that
``init`` creates, so the file on disk is the whole truth.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tomllib
from dataclasses import dataclass, field
from typing import Any

from signer.core.ca_profiles import CAProfile, builtin_profiles, parse_ca_profile
from signer.core.policy import ProfileRules
from signer.core.tokens import DEFAULT_PIN_PLAN, MAIN, TokenConfig
from signer.errors import ConfigError

LEAF_KINDS = ("server", "client", "email", "subca", "ocsp")
OCSP_MAX_DAYS = 90  # a delegated responder carries id-pkix-ocsp-nocheck: keep it short


# A leaf profile in signer.toml is exactly what the policy engine judges requests against.
LeafProfile = ProfileRules


@dataclass(frozen=True)
class CAPolicy:
    """Per-CA settings, keyed by the CA's name (the name given to ``ca root``/``ca sub``)."""

    name: str
    min_points: int = 0
    profiles: tuple[str, ...] = ("server", "client", "email")
    crl_days: int = 7


@dataclass(frozen=True)
class Config:
    appliance_name: str
    rehearsal: bool
    module: str
    token_label: str
    log_key: str
    quorum: str | None
    crl_base: str
    aia_base: str
    root_max_days: int
    sub_max_days: int
    root_crl_days: int
    ca_policies_oids: tuple[str, ...]
    leaf_policy_oids: dict[str, tuple[str, ...]]
    root_may_issue_leaves: bool
    personal_name_min_points: int
    max_names: int
    key_blocklist: str | None
    next_ceremony: dt.date | None
    profiles: dict[str, LeafProfile]
    cas: dict[str, CAPolicy]
    ca_profiles: dict[str, CAProfile] = field(default_factory=dict)
    digest: str = field(default="")
    text: str = field(default="", repr=False)  # the TOML as read (logged when it changes)
    tokens: dict[str, TokenConfig] = field(default_factory=dict)  # MAIN is [token]
    backup: str | None = None  # "M/N": CA keys extractable only under the trusted backup key

    @property
    def main_token(self) -> TokenConfig:
        return self.tokens[MAIN]

    def ca_policy(self, name: str) -> CAPolicy:
        return self.cas.get(name, CAPolicy(name=name))

    def ca_profile(self, name: str) -> CAProfile:
        """A CA certificate profile by name (``[ca_profiles]``, or a built-in one)."""
        prof = self.ca_profiles.get(name)
        if prof is None:
            raise ConfigError(f"no CA profile {name!r} in signer.toml (ca_profiles: "
                              f"{', '.join(sorted(self.ca_profiles))})")
        return prof


def default_toml(
    *, name: str, module: str, token_label: str, rehearsal: bool, quorum: str | None,
    backup: str | None = None, pin_plan: str = DEFAULT_PIN_PLAN, key_id_bytes: int = 2,
    serial: str | None = None, login: str = "pin",
) -> str:
    """The ``signer.toml`` that ``init`` writes: every setting spelled out."""
    q = f'"{quorum}"' if quorum else '""'
    b = f'"{backup}"' if backup else '""'
    ser = f'\nserial = "{serial}"' if serial else ""
    return f"""\
# airgap-signer configuration. Unknown keys are errors; see README.md.

[appliance]
name = "{name}"               # origin of the ceremony log's checkpoints
rehearsal = {"true" if rehearsal else "false"}            # a rehearsal home may sign with the network up (I12)
# next_ceremony = 2027-03-01   # CRLs warn when their nextUpdate ends before this date

[token]                         # the main token: the log key, and CA keys made without --token
module = "{module}"
label = "{token_label}"{ser}
log_key = "appliance-log"     # the appliance's key (Ed25519 or ECDSA): checkpoints, results
quorum = {q}                   # "M/N" when the PIN is derived from SLIP-39 shares
backup = {b}                   # "M/N": CA keys may be wrapped, only under the trusted backup key
pin_plan = "{pin_plan}"          # derived PIN: encoding:length[:prefix], fitted to the token
key_id_bytes = {key_id_bytes}               # CKA_ID length of new keys
login = "{login}"                 # or "protected-path" (the token's PIN pad asks)
# [tokens.root]                 # another token, e.g. the root's, opened only when it signs
# module = "/usr/lib/softhsm/libsofthsm2.so"
# label = "root-token"          # or serial = "..." or uri = "pkcs11:token=...;serial=..."

[urls]
crl_base = "http://crl.example.org/"   # CRL distribution points: <crl_base><ca>.crl
aia_base = "http://ca.example.org/"    # AIA caIssuers: <aia_base><ca>.crt

[ca]
root_max_days = 9131            # 25 years
sub_max_days = 3653             # 10 years
root_crl_days = 365             # the root's CRL (ARL) window
policies = ["2.5.29.32.0"]     # certificatePolicies in sub-CA certificates (anyPolicy)

[policy]
root_may_issue_leaves = false   # CAcert's old Class 1 root did; every output says so when on
personal_name_min_points = 50
max_names = 100
# key_blocklist = "/media/usb/badkeys"  # badkeys' blocklist directory or a .dat list, carried
#                                       # across the gap: Debian weak keys and other known keys

[policy.leaf_policies]          # certificatePolicies per leaf profile (CA/B Forum reserved OIDs)
server = ["2.23.140.1.2.1"]
client = ["2.23.140.1.2.1"]
email = ["2.23.140.1.5.1.3"]
subca = ["2.5.29.32.0"]

[profiles.server]
kind = "server"
max_days = 200                  # CA/B Forum BR cap from 2026-03-15
max_days_low_points = 180

[profiles.client]
kind = "client"
max_days = 730
max_days_low_points = 180

[profiles.email]
kind = "email"
max_days = 730
max_days_low_points = 180

[profiles.subca]
kind = "subca"
max_days = 1826
max_days_low_points = 1826
min_points = 100
ca_profile = "subca"            # the [ca_profiles] table its certificates follow

[profiles.ocsp]                 # a delegated OCSP responder (id-kp-OCSPSigning, ocsp-nocheck)
kind = "ocsp"
max_days = 30                   # never checked for revocation: keep it short (at most 90)
max_days_low_points = 30

# CA certificates: `ca root --profile`, `ca sub --profile`, `ca recertify`, `ca cross-sign`,
# `ca rollover`. Keys: kind (root, sub, cross), path_len, ekus (serverAuth, clientAuth,
# emailProtection), permitted_dns / excluded_dns, permitted_email / excluded_email,
# permitted_ip / excluded_ip (CIDR), permitted_dirnames (RFC 4514), policies, crl_url and
# aia_url ("{{issuer}}" is the issuing CA's name), hash (auto, sha256, sha384, sha512),
# rsa_pss, max_days.
[ca_profiles.root]
kind = "root"
hash = "auto"                   # matched to the key: P-384 -> SHA-384, P-256 and RSA -> SHA-256

[ca_profiles.subca]
kind = "sub"
path_len = 0
ekus = []                       # none: linted against RFC 5280 only
policies = ["2.5.29.32.0"]

[ca_profiles.cross]             # cross-certificates and a rollover's link certificates
kind = "cross"
policies = ["2.5.29.32.0"]

[cas.class1]
min_points = 0
profiles = ["server", "client", "email", "ocsp"]
crl_days = 7

[cas.class3]
min_points = 50
profiles = ["server", "client", "email", "ocsp"]
crl_days = 7

[cas.root]
profiles = ["subca"]
crl_days = 365
"""


class _Table:
    """A TOML table read once, strictly: every key must be consumed or it is an error."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{path or 'signer.toml'}: expected a table")
        self.data = data
        self.path = path
        self.seen: set[str] = set()

    def _name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def _get(self, key: str, default: Any, kind: type | tuple[type, ...], what: str) -> Any:
        self.seen.add(key)
        if key not in self.data:
            if default is _REQUIRED:
                raise ConfigError(f"{self._name(key)}: missing")
            return default
        value = self.data[key]
        if isinstance(value, bool) and kind is not bool:
            raise ConfigError(f"{self._name(key)}: expected {what}, got a boolean")
        if not isinstance(value, kind):
            raise ConfigError(f"{self._name(key)}: expected {what}")
        return value

    def text(self, key: str, default: Any = None) -> Any:
        return self._get(key, default, str, "a string")

    def flag(self, key: str, default: Any = None) -> Any:
        return self._get(key, default, bool, "true or false")

    def number(self, key: str, default: Any = None, lo: int = 0, hi: int = 10**6) -> Any:
        v = self._get(key, default, int, "an integer")
        if v is not None and not lo <= v <= hi:
            raise ConfigError(f"{self._name(key)}: must be between {lo} and {hi}")
        return v

    def texts(self, key: str, default: Any = None) -> Any:
        v = self._get(key, default, list, "a list of strings")
        if v is not None and not all(isinstance(x, str) for x in v):
            raise ConfigError(f"{self._name(key)}: expected a list of strings")
        return tuple(v) if v is not None else None

    def table(self, key: str, required: bool = True) -> _Table:
        self.seen.add(key)
        if key not in self.data:
            if required:
                raise ConfigError(f"{self._name(key)}: missing table")
            return _Table({}, self._name(key))
        return _Table(self.data[key], self._name(key))

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise ConfigError(f"{self._name(unknown[0])}: unknown key")


_REQUIRED = object()


def _oid_list(values: tuple[str, ...], where: str) -> tuple[str, ...]:
    for v in values:
        parts = v.split(".")
        if len(parts) < 2 or not all(p.isdigit() for p in parts):
            raise ConfigError(f"{where}: {v!r} is not an OID")
    return values


def parse_config(text: str) -> Config:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"signer.toml: not valid TOML ({exc})") from None
    top = _Table(raw, "")

    app = top.table("appliance")
    name = app.text("name", _REQUIRED)
    rehearsal = app.flag("rehearsal", False)
    app.seen.add("next_ceremony")
    nc = app.data.get("next_ceremony")
    if nc is not None and (not isinstance(nc, dt.date) or isinstance(nc, dt.datetime)):
        raise ConfigError("appliance.next_ceremony: expected a date (YYYY-MM-DD)")
    app.done()

    tokens, log_key, quorum, backup = _parse_tokens(top)
    module, label = tokens[MAIN].module, tokens[MAIN].label or ""

    urls = top.table("urls")
    crl_base = urls.text("crl_base", _REQUIRED)
    aia_base = urls.text("aia_base", _REQUIRED)
    for key, v in (("crl_base", crl_base), ("aia_base", aia_base)):
        if not v.startswith("http://") or not v.endswith("/"):
            raise ConfigError(f"urls.{key}: must be an http:// URL ending in '/' (RFC 5280 §4.2.1.13)")
    urls.done()

    ca = top.table("ca")
    root_max = ca.number("root_max_days", 9131, 1, 40 * 366)
    sub_max = ca.number("sub_max_days", 3653, 1, 40 * 366)
    root_crl = ca.number("root_crl_days", 365, 1, 366)
    ca_pol = _oid_list(ca.texts("policies", ("2.5.29.32.0",)), "ca.policies")
    ca.done()

    pol = top.table("policy")
    root_leaves = pol.flag("root_may_issue_leaves", False)
    pn_min = pol.number("personal_name_min_points", 50, 0, 1000)
    max_names = pol.number("max_names", 100, 1, 100)
    key_blocklist = pol.text("key_blocklist", "") or None
    lp = pol.table("leaf_policies", required=False)
    leaf_pols: dict[str, tuple[str, ...]] = {}
    for k in list(lp.data):
        leaf_pols[k] = _oid_list(lp.texts(k), f"policy.leaf_policies.{k}")
    lp.done()
    pol.done()

    ca_profiles = builtin_profiles(ca_pol, root_max, sub_max)
    cpt = top.table("ca_profiles", required=False)
    for cname in list(cpt.data):
        cpt.seen.add(cname)
        ca_profiles[cname] = parse_ca_profile(cname, cpt.data[cname], default_policies=ca_pol,
                                              root_max_days=root_max, sub_max_days=sub_max)
    cpt.done()

    profiles: dict[str, LeafProfile] = {}
    pt = top.table("profiles")
    for pname in list(pt.data):
        t = pt.table(pname)
        kind = t.text("kind", _REQUIRED)
        if kind not in LEAF_KINDS:
            raise ConfigError(f"profiles.{pname}.kind: must be one of {', '.join(LEAF_KINDS)}")
        ca_prof = None
        if kind == "subca":
            ca_prof = t.text("ca_profile", "subca")
            if ca_prof not in ca_profiles or ca_profiles[ca_prof].kind != "sub":
                raise ConfigError(f"profiles.{pname}.ca_profile: {ca_prof!r} is not a CA "
                                  "profile of kind 'sub'")
        profiles[pname] = LeafProfile(
            name=pname,
            kind=kind,  # checked against LEAF_KINDS above
            max_days=t.number("max_days", _REQUIRED, 1, 3653),
            max_days_low_points=t.number("max_days_low_points", _REQUIRED, 1, 3653),
            allow_wildcard=t.flag("allow_wildcard", False),
            allow_ip=t.flag("allow_ip", False),
            allow_internal=t.flag("allow_internal", False),
            min_points=t.number("min_points", 0, 0, 1000),
            clip_to_issuer=t.flag("clip_to_issuer", False),
            ca_profile=ca_prof,
            path_len=(ca_profiles[ca_prof].path_len or 0) if ca_prof else 0,
        )
        if kind == "ocsp" and profiles[pname].max_days > OCSP_MAX_DAYS:
            raise ConfigError(f"profiles.{pname}.max_days: a delegated OCSP responder "
                              f"certificate is never checked for revocation (id-pkix-ocsp-"
                              f"nocheck, RFC 6960 §4.2.2.2.1): at most {OCSP_MAX_DAYS} days")
        t.done()
    pt.done()

    cas: dict[str, CAPolicy] = {}
    ct = top.table("cas", required=False)
    for cname in list(ct.data):
        t = ct.table(cname)
        profs = t.texts("profiles", ("server", "client", "email"))
        for p in profs:
            if p not in profiles:
                raise ConfigError(f"cas.{cname}.profiles: unknown profile {p!r}")
        cas[cname] = CAPolicy(
            name=cname,
            min_points=t.number("min_points", 0, 0, 1000),
            profiles=profs,
            crl_days=t.number("crl_days", 7, 1, 366),
        )
        t.done()
    ct.done()
    top.done()

    return Config(
        appliance_name=name, rehearsal=rehearsal, module=module, token_label=label,
        log_key=log_key, quorum=quorum, crl_base=crl_base, aia_base=aia_base,
        root_max_days=root_max, sub_max_days=sub_max, root_crl_days=root_crl,
        ca_policies_oids=ca_pol, leaf_policy_oids=leaf_pols,
        root_may_issue_leaves=root_leaves, personal_name_min_points=pn_min,
        max_names=max_names, key_blocklist=key_blocklist, next_ceremony=nc, profiles=profiles, cas=cas,
        ca_profiles=ca_profiles, digest=hashlib.sha256(text.encode()).hexdigest(), text=text,
        tokens=tokens, backup=backup,
    )


def _token(t: _Table, name: str, module_default: Any) -> TokenConfig:
    return TokenConfig(
        name=name, module=t.text("module", module_default), label=t.text("label"),
        serial=t.text("serial"), uri=t.text("uri"),
        key_id_bytes=t.number("key_id_bytes", 2, 1, 32),
        pin_plan=t.text("pin_plan", DEFAULT_PIN_PLAN), login=t.text("login", "pin"))


def _parse_tokens(top: _Table) -> tuple[dict[str, TokenConfig], str, str | None, str | None]:
    """[token] (the main token, with the home-wide settings) and every [tokens.NAME]."""
    tok = top.table("token")
    main = _token(tok, MAIN, _REQUIRED)
    log_key = tok.text("log_key", "appliance-log")
    quorum = tok.text("quorum", "") or None
    if quorum is not None:
        parse_quorum(quorum, "token.quorum")
    backup = tok.text("backup", "") or None
    if backup is not None:
        parse_quorum(backup, "token.backup")
    tok.done()
    tokens = {MAIN: main}
    more = top.table("tokens", required=False)
    for name in sorted(more.data):
        if name == MAIN:
            raise ConfigError(f"tokens.{MAIN}: the main token is [token]")
        t = more.table(name)
        tokens[name] = _token(t, name, main.module)
        t.done()
    more.done()
    return tokens, log_key, quorum, backup


def parse_quorum(value: str, where: str = "--quorum") -> tuple[int, int]:
    try:
        m_s, n_s = value.split("/")
        m, n = int(m_s), int(n_s)
    except ValueError:
        raise ConfigError(f"{where}: expected M/N, e.g. 2/3") from None
    if not 1 <= m <= n <= 16:
        raise ConfigError(f"{where}: need 1 <= M <= N <= 16")
    return m, n
