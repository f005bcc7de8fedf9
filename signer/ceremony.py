"""The ceremony service: the one place where CLI and TUI actions become token operations.

Each public method validates everything it can before touching the token, writes its intent
to the ceremony log before the token signs (I2), verifies what the token returned (I5), and
records the result in the ledger and the log before any file is exported. The CLI and TUI
hold no business logic: they call these methods and render the results.

Steps of a CA certificate ceremony (mirrored in OPERATIONS.md):
 1. validate names, subject, validity and output paths;
 2. load the signing key and check its attributes (I1) and that it matches the issuer (I5);
 3. log the intent (I2);
 4. lint a throwaway-key copy, sign in the token, compare TBS, lint again (I6);
 5. record in the ledger and the log; write the PEM into HOME.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from hsm.errors import HSMAuthError, HSMError
from hsm.keys import TokenKey
from hsm.token import ALGORITHMS, KeyAttributes, Token, TokenStatus
from signer import airgap, integrity, quorum
from signer.ceremony_log import CeremonyLog, Entry
from signer.config import Config, default_toml, load_config, parse_quorum
from signer.errors import AirGapError, ConfigError, LogError, SignerError
from signer.files import OutputError, check_new_output, write_new
from signer.ledger import CARecord, Ledger
from signer.lint import key_kind, lint_certificate, sign_certificate
from signer.logstate import LogState
from signer.profiles import (
    ProfileError,
    build_root,
    build_sub,
    new_serial,
    parse_dn,
    serial_hex,
    spki_sha256,
)
from transfer.errors import TransferError

VERSION = "0.1.0"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
SYS_NET_ENV = "AIRGAP_SIGNER_SYS_NET"  # tests point this at a fake /sys/class/net


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def format_time(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> dt.datetime:
    """``--at``: ISO 8601 in UTC (a trailing Z or +00:00), seconds precision."""
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SignerError(f"--at {text!r}: not an ISO 8601 time (e.g. 2026-11-29T10:00:00Z)") from None
    if t.tzinfo is None or t.utcoffset() != dt.timedelta(0):
        raise SignerError(f"--at {text!r}: give the time in UTC (end it with Z)")
    return t.replace(microsecond=0)


@dataclass
class Credentials:
    """How to log in: a PIN, or SLIP-39 share texts. Never logged or printed (I10)."""

    pin: str | None = None
    shares: list[str] = field(default_factory=list)
    prompt: Callable[[str], str] | None = None

    def wipe(self) -> None:
        self.pin = None
        self.shares.clear()


@dataclass(frozen=True)
class HomePaths:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "signer.toml"

    @property
    def ledger(self) -> Path:
        return self.root / "ledger.sqlite"

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    @property
    def log(self) -> Path:
        return self.root / "log" / "ceremony.jsonl"

    @property
    def certs(self) -> Path:
        return self.root / "certs"

    @property
    def crls(self) -> Path:
        return self.root / "crls"

    @property
    def results(self) -> Path:
        return self.root / "results"


def _sys_net() -> Path:
    return Path(os.environ.get(SYS_NET_ENV, "/sys/class/net"))


def _check_name(name: str, what: str) -> None:
    if not NAME_RE.match(name):
        raise SignerError(f"{what} {name!r}: use 1-32 characters a-z, 0-9, '-' or '_'")


class Appliance:
    """A signer home: configuration, ledger and ceremony log, and the token when logged in."""

    def __init__(self, home: Path) -> None:
        self.paths = HomePaths(home)
        if not self.paths.config.exists():
            raise ConfigError(f"{home}: not a signer home (run `signer init` first)")
        self.config: Config = load_config(self.paths.config)
        self.ledger = Ledger(self.paths.ledger)
        try:
            self.log = CeremonyLog.open(self.paths.log, self.config.appliance_name)
        except LogError as exc:  # issue 5: name the problem and the documented way out
            from signer.recovery import CONFIRMATION, PROCEDURE

            self.ledger.close()
            raise LogError(
                f"the ceremony log does not verify: {exc}; no ceremony can start. A crash tail "
                f'is recovered with `signer audit recover --confirm "{CONFIRMATION}"`; anything '
                f"else is for the auditors (see {PROCEDURE})") from None
        self.token: Token | None = None
        self.time: dt.datetime | None = None
        self.interfaces: list[str] = []
        self.share_indices: list[int] = []
        self.session_start = self.log.size

    # -- set-up ------------------------------------------------------------------------------

    @classmethod
    def init(
        cls, home: Path, *, module: str, token_label: str, creds: Credentials,
        rehearsal: bool, quorum_spec: str | None, shares_out: Path | None,
        at: dt.datetime | None, name: str | None = None,
    ) -> tuple[Appliance, list[Path]]:
        paths = HomePaths(home)
        if paths.config.exists():
            raise SignerError(f"{home}: already initialised; a home is never re-initialised")
        if at is None and not rehearsal:
            raise SignerError("confirm the ceremony time with --at YYYY-MM-DDTHH:MM:SSZ (I9)")
        m_n = parse_quorum(quorum_spec) if quorum_spec else None
        if m_n and shares_out is None:
            raise SignerError("--quorum needs --shares-out DIR for the custodians' share files")
        if shares_out is not None and not m_n:
            raise SignerError("--shares-out is only used with --quorum")
        if shares_out is not None:
            if shares_out.exists() and any(shares_out.iterdir()):
                raise OutputError(f"{shares_out}: not empty; share files are never overwritten")
        if home.exists() and any(p.name != "log" for p in home.iterdir()):
            raise OutputError(f"{home}: exists and is not empty")

        token = Token(module, label=token_label)
        pin = _obtain_pin(creds, f"user PIN of token {token_label!r}")
        token.login(pin)
        log_label = "appliance-log"
        if any(k.label == log_label for k in token.list_keys()):
            raise SignerError(
                f"token {token_label!r} already holds a key {log_label!r}: use a fresh token")

        share_files: list[Path] = []
        if m_n:
            master, mnemonics = quorum.split_secret(*m_n)
            shares_out.mkdir(parents=True, exist_ok=True)  # type: ignore[union-attr]
            for i, words in enumerate(mnemonics, 1):
                p = shares_out / f"share-{i}-of-{m_n[1]}.txt"  # type: ignore[operator]
                write_new(p, (words + "\n").encode(), mode=0o600)
                share_files.append(p)
            new_pin = quorum.derive_pin(master)
            token.set_user_pin(pin, new_pin)
            del master, mnemonics, new_pin

        log_attrs = token.generate_key(log_label, "ed25519")
        log_pub = token.public_key(log_label)
        assert isinstance(log_pub, ed25519.Ed25519PublicKey)

        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(home, 0o700)  # I10: the ledger, the log and the config are the owner's only
        for d in (paths.log_dir, paths.certs, paths.crls, paths.results):
            d.mkdir(mode=0o700, exist_ok=True)
        origin = name or f"airgap-signer/{token_label}"
        CeremonyLog.open(paths.log, origin, create=True)
        write_new(paths.config, default_toml(
            name=origin, module=module, token_label=token_label, rehearsal=rehearsal,
            quorum=quorum_spec).encode(), mode=0o600)
        app = cls(home)
        app.token = token
        app.ledger.set_meta("log_public_key", log_pub.public_bytes_raw().hex())
        app.ledger.set_meta("created", format_time(at or utc_now()))
        app._open_session(at)
        app._log("appliance.init", {
            "rehearsal": rehearsal, "module": module, "token": token_label,
            "quorum": quorum_spec or None, "share_files": [p.name for p in share_files],
            "log_key": log_attrs.to_json(), "log_public_key": log_pub.public_bytes_raw().hex(),
            "config_sha256": app.config.digest,
        })
        app.close()
        return app, share_files

    # -- sessions ----------------------------------------------------------------------------

    @property
    def rehearsal(self) -> bool:
        return self.config.rehearsal

    def login(self, creds: Credentials, at: dt.datetime | None = None, *,
              recovery: bool = False) -> None:
        """Open the token, log in with a PIN or shares, and open a logged session.

        The log must verify first (issue 5); ``recovery`` (only `audit recover`) also accepts
        a log whose sole fault is an unsigned tail, so that the recovery can be logged.
        """
        if at is None and not self.rehearsal:
            # I9: the ceremony time is confirmed by the operator; a production appliance
            # never takes it silently from its own (possibly wrong) clock.
            raise SignerError("confirm the ceremony time with --at YYYY-MM-DDTHH:MM:SSZ (I9)")
        token = Token(self.config.module, label=self.config.token_label)
        if self.config.quorum:
            shares = list(creds.shares)
            if not shares and creds.prompt:
                m, _ = parse_quorum(self.config.quorum)
                for i in range(m):
                    shares.append(creds.prompt(f"share {i + 1} of {m} (words, not echoed): "))
            if not shares:
                raise SignerError("this token is unlocked by custodian shares: give --share FILE")
            master, self.share_indices = quorum.combine(shares)
            pin = quorum.derive_pin(master)
            del master
            try:
                token.login(pin)
            except HSMAuthError:
                raise HSMAuthError(
                    "the shares combine, but not to this token's PIN (shares of another quorum?)"
                ) from None
        else:
            if creds.shares:
                raise SignerError("this token is unlocked by a PIN, not by shares")
            pin = _obtain_pin(creds, f"user PIN of token {self.config.token_label!r}")
            token.login(pin)
        creds.wipe()
        # Kept in memory for this session only, for signing worker processes (I10: never
        # written, logged or shown); dropped at close().
        self._session_pin: str | None = pin
        self.token = token
        try:
            self._check_log_key()
            self._check_log_verifies(recovery)
            self._open_session(at)
        except BaseException:
            self._token().close()
            self.token = None
            self._session_pin = None
            raise
        # I2: finish what a crash left between the ledger and the log, before anything else.
        from signer.completion import complete_interrupted

        try:
            complete_interrupted(self)
        except BaseException as exc:  # the refusal is logged and the session closes, signed
            self.refuse("login", exc)
            self.close()
            raise

    def _check_log_verifies(self, recovery: bool) -> None:
        from signer.recovery import check_log_for_session

        root = check_log_for_session(self.paths.log, self.config.appliance_name,
                                     self.log_public_key(), recovery=recovery)
        # The facts this session acts on were folded when the log was opened; they must be
        # the facts of the log that just verified (nothing changed the file in between).
        if root is not None and root != self.log.root_at(self.log.size).hex():
            raise LogError("the ceremony log changed on disk while the session was opening")

    def open_public(self) -> Token:
        """The token without login, for `token status`."""
        token = Token(self.config.module, label=self.config.token_label)
        token.open()
        return token

    def _check_log_key(self) -> None:
        pinned = self.ledger.get_meta("log_public_key")
        pub = self._token().public_key(self.config.log_key)
        raw = pub.public_bytes_raw() if isinstance(pub, ed25519.Ed25519PublicKey) else b""
        if raw.hex() != pinned:
            raise SignerError("the token's log key differs from the one pinned at init (another token?)")

    def _open_session(self, at: dt.datetime | None) -> None:
        t = at or utc_now()
        last = self.log.last_time
        if last is not None and format_time(t) < last:
            raise SignerError(
                f"ceremony time {format_time(t)} is earlier than the last recorded ceremony "
                f"time {last} (I9)")
        self.time = t
        self.session_start = self.log.size
        self.interfaces = airgap.interfaces_up(_sys_net())
        token = self._token()
        st = token.status()
        if self.log.state.config_sha256 != self.config.digest:
            # The policy in force, in full, whenever it changes: auditors re-judge each batch
            # with the policy that judged it, and see every change (who, when: this session).
            self._log("config", {"sha256": self.config.digest, "text": self.config.text})
        self._log("session.open", {
            "version": VERSION, "config_sha256": self.config.digest, "rehearsal": self.rehearsal,
            "token": {"label": st.label, "serial": st.serial, "model": st.model},
            "interfaces_up": self.interfaces, "share_indices": self.share_indices,
        })

    def close(self) -> str | None:
        """Close the session: log it and sign a checkpoint over the whole log."""
        note = None
        try:
            if self.token is not None and self.token.logged_in and self.time is not None:
                self._log("session.close", {})
                note = self.checkpoint()
        finally:  # even when the checkpoint fails (token lost): never leave a login behind
            if self.token is not None:
                self.token.close()
            self.token = None
            self._session_pin = None
            self.ledger.close()
        return note

    def checkpoint(self) -> str:
        key = self._token().signing_key(self.config.log_key)
        pub = key.public_key()
        assert isinstance(pub, ed25519.Ed25519PublicKey)
        return self.log.checkpoint(
            format_time(self._time()), self.config.appliance_name, pub.public_bytes_raw(), key.sign)

    def previous_checkpoint(self) -> tuple[int, Any, str] | None:
        """The last checkpoint signed before this session: the previous ceremony's."""
        earlier = [c for c in self.log.checkpoints() if c[0] < self.session_start]
        return earlier[-1] if earlier else None

    def worker_credentials(self) -> tuple[str, str, str]:
        """(module, token label, PIN) for signing worker processes of this session."""
        pin = getattr(self, "_session_pin", None)
        if pin is None:
            raise SignerError("not logged in to the token")
        return self.config.module, self.config.token_label, pin

    def token_key(self, label: str) -> TokenKey:
        return self._token().signing_key(label)

    def _token(self) -> Token:
        if self.token is None:
            raise SignerError("not logged in to the token")
        return self.token

    def _time(self) -> dt.datetime:
        if self.time is None:
            raise SignerError("no ceremony time confirmed")
        return self.time

    def _log(self, kind: str, data: dict[str, Any]) -> Entry:
        return self.log.append(kind, data, format_time(self._time()))

    def log_event(self, kind: str, data: dict[str, Any]) -> Entry:
        """Append one entry at the ceremony time (the session must be open)."""
        return self._log(kind, data)

    def log_many(self, kind: str, items: list[dict[str, Any]]) -> list[Entry]:
        """Append entries of one kind with one write and one fsync."""
        if not items:
            return []
        return self.log.append_many(kind, items, format_time(self._time()))

    @property
    def state(self) -> LogState:
        """The facts folded from the log: what the ledger's rows are checked against."""
        return self.log.state

    @property
    def ceremony_time(self) -> dt.datetime:
        return self._time()

    def require_airgap(self) -> None:
        """I12: refuse to sign with a network interface up, unless this is a rehearsal home."""
        if self.interfaces and not self.rehearsal:
            self._log("refused", {"reason": "airgap", "interfaces_up": self.interfaces})
            raise AirGapError(
                f"network interface(s) up: {', '.join(self.interfaces)}; signing is refused "
                "on a non-rehearsal appliance (I12)")

    def refuse(self, what: str, error: BaseException) -> None:
        """Record a refusal in the log (best effort: the error itself is what the user sees)."""
        if self.token is not None and self.time is not None:
            text = str(error) if isinstance(error, (SignerError, HSMError, TransferError)) \
                else f"internal error {type(error).__name__}"
            try:
                self._log("refused", {"command": what, "error": text[:500]})
            except SignerError:
                pass

    # -- keys --------------------------------------------------------------------------------

    def token_status(self) -> TokenStatus:
        return self._token().status()

    def generate_key(self, label: str, algorithm: str) -> KeyAttributes:
        if algorithm not in ALGORITHMS or algorithm == "ed25519":
            allowed = ", ".join(a for a in ALGORITHMS if a != "ed25519")
            raise SignerError(f"algorithm {algorithm!r} is not allowed for a CA key ({allowed})")
        self._log("key.intent", {"label": label, "algorithm": algorithm})
        attrs = self._token().generate_key(label, algorithm)
        if not attrs.safe:
            raise SignerError(f"key {label!r} came back unsafe: {', '.join(attrs.problems)}")
        pub = self._token().public_key(label)
        self._log("key.generated", {"label": label, "algorithm": algorithm,
                                    "spki_sha256": spki_sha256(pub),
                                    "attributes": attrs.to_json()})
        return attrs

    def list_keys(self) -> list[KeyAttributes]:
        return self._token().list_keys()

    def ca_key(self, rec: CARecord) -> TokenKey:
        """The CA's key, after checking I1 and that it matches the CA certificate."""
        key = self._token().signing_key(rec.key_label)
        if spki_sha256(key.public_key()) != rec.spki_sha256:
            raise SignerError(
                f"key {rec.key_label!r} in the token does not match CA {rec.name!r}'s certificate")
        return key

    # -- CAs ---------------------------------------------------------------------------------

    def create_root(self, name: str, key_label: str, subject: str, days: int | None) -> CARecord:
        return self._create_ca(name, key_label, subject, days, issuer=None)

    def create_sub(self, name: str, issuer: str, key_label: str, subject: str,
                   profile: str, days: int | None) -> CARecord:
        if profile != "subca":
            raise SignerError(f"profile {profile!r}: sub-CA certificates use profile 'subca'")
        return self._create_ca(name, key_label, subject, days, issuer=issuer)

    def _create_ca(self, name: str, key_label: str, subject: str, days: int | None,
                   issuer: str | None) -> CARecord:
        # Step 1: validate before the token is asked anything.
        _check_name(name, "CA name")
        if self.ledger.get_ca(name) or name in self.state.cas:
            raise SignerError(f"CA {name!r} already exists")
        dn = parse_dn(subject)
        cap = self.config.root_max_days if issuer is None else self.config.sub_max_days
        days = cap if days is None and issuer is None else days
        issuer_rec = None
        if issuer is not None:
            issuer_rec = integrity.verified_ca(self.ledger, self.state, issuer)
            if issuer_rec is None:
                raise SignerError(f"unknown issuer CA {issuer!r}")
            issuer_end = dt.datetime.fromisoformat(issuer_rec.not_after)
            if not dt.datetime.fromisoformat(issuer_rec.not_before) <= self._time() < issuer_end:
                raise SignerError(f"issuer CA {issuer!r} is not valid at the ceremony time "
                                  f"{format_time(self._time())}")
        if days is None:
            days = cap
            if issuer_rec is not None:  # default: as long as the issuer allows
                remaining = (dt.datetime.fromisoformat(issuer_rec.not_after) - self._time()).days
                days = max(1, min(cap, remaining))
        if not 1 <= days <= cap:
            raise ProfileError(f"--days {days}: the profile allows 1 to {cap} days")
        out = self.paths.certs / f"{name}.pem"
        check_new_output(out)
        self.require_airgap()
        # Step 2: keys.
        key = self._token().signing_key(key_label)
        public = key.public_key()
        spki = spki_sha256(public)
        for ca in integrity.verified_cas(self.ledger, self.state):
            if ca.spki_sha256 == spki:
                raise SignerError(f"key {key_label!r} already belongs to CA {ca.name!r}")
        if key_kind(public) not in ("rsa-3072", "rsa-4096", "ec-p256", "ec-p384"):
            raise SignerError(f"key {key_label!r} ({key_kind(public)}) is not allowed for a CA")
        now = self._time()
        serial = new_serial()
        issuer_name = issuer or name
        while self.ledger.serial_used(issuer_name, serial_hex(serial)):
            serial = new_serial()
        if issuer_rec is None:
            builder = build_root(dn, public, serial, now, days)
            signing_key: TokenKey = key
            issuer_cert = None
        else:
            issuer_cert = x509.load_der_x509_certificate(issuer_rec.cert_der)
            builder = build_sub(dn, public, serial, now, days, issuer_cert, issuer_rec.name,
                                self.config.crl_base, self.config.aia_base,
                                self.config.ca_policies_oids)
            signing_key = self.ca_key(issuer_rec)
        # Step 3: write-ahead.
        what = f"CA {name!r}"
        self._log("ca.intent", {"ca": name, "issuer": issuer_name, "key": key_label,
                                "serial": serial_hex(serial), "subject": dn.rfc4514_string(),
                                "days": days})
        # Step 4: lint, sign, verify.
        linted = lint_certificate(builder, signing_key.public_key(), "pkix", what)
        cert = sign_certificate(linted, signing_key, what)
        cert.verify_directly_issued_by(cert if issuer_cert is None else issuer_cert)
        # Step 5: record, then export.
        der = cert.public_bytes(serialization.Encoding.DER)
        rec = CARecord(
            name=name, kind="root" if issuer is None else "sub", issuer=issuer_name,
            key_label=key_label, key_algorithm=key_kind(public), spki_sha256=spki,
            serial=serial_hex(serial), cert_der=der, cert_sha256=hashlib.sha256(der).hexdigest(),
            not_before=cert.not_valid_before_utc.isoformat(),
            not_after=cert.not_valid_after_utc.isoformat(), created_at=format_time(now),
        )
        self.ledger.add_ca(rec)
        entry = self._log("ca.created", {
            "ca": name, "kind": rec.kind, "issuer": issuer_name, "serial": rec.serial,
            "cert_sha256": rec.cert_sha256, "spki_sha256": spki, "key": key_label,
            "key_algorithm": rec.key_algorithm,
            "key_attributes": self._token().key_attributes(key_label).to_json(),
            "lint_findings": [str(f) for f in linted.findings],
        })
        self.ledger.mark_ca_logged(name, entry.seq)
        write_new(out, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
        return rec

    def list_cas(self) -> list[CARecord]:
        return self.ledger.list_cas()

    def ca_pem(self, name: str) -> str:
        rec = self.ledger.get_ca(name)
        if rec is None:
            raise SignerError(f"unknown CA {name!r}")
        cert = x509.load_der_x509_certificate(rec.cert_der)
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    def log_public_key(self) -> bytes:
        hexkey = self.ledger.get_meta("log_public_key")
        if not hexkey:
            raise SignerError("no log key is pinned in this home")
        return bytes.fromhex(hexkey)


def _obtain_pin(creds: Credentials, what: str) -> str:
    if creds.pin is not None:
        return creds.pin
    if creds.prompt is not None:
        return creds.prompt(f"{what}: ")
    raise SignerError(f"no PIN given for the {what}: use --pin-file FILE")


def terminal_prompt(text: str) -> str:
    """Read a secret from the terminal without echo (never from scrollback, I10)."""
    try:
        return getpass.getpass(text)
    except (EOFError, KeyboardInterrupt):
        raise SignerError("no PIN or share entered") from None
