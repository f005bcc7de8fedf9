"""The session: one home open, and when unlocked, one token login and one confirmed time.

Long because the unlock sequence (log check, login, ratchet, crash tail, completion) and the
close that must sign whatever ended it are one ordering that reads best in one place; the
parts that stand alone already live beside it (tokenset, completion, crash_tail).

Both shells drive the appliance through this class and the service functions that take it;
neither holds business logic. A session is *read-only* when opened (configuration, ledger and,
when first asked for, the facts folded from the log: enough for `ca list` or `batch show`; read
from the state kept beside the log, not by reading the log), and *unlocked* by ``unlock``: the
log is verified (what is new since its last verified state, ``signer.store.log.opening``), the
token logged in (PIN, or custodians' shares), the
confirmed ceremony time (I9) and the air-gap probe (I12) recorded in a ``session.open`` entry,
and what a crash left half-recorded completed (I2, ``signer.service.completion``).

Every refusal of an unlocked session is logged (``run`` and ``refuse``), and ``close`` ends
it with a signed checkpoint, whatever happened (an exception, SIGTERM, SIGHUP or a lost
terminal: the shells route all of them here). Credentials have one owner: ``unlock`` wipes
them once, whatever the outcome; the PIN stays in memory only for signing worker processes
of this session and is dropped at ``close`` (I10).
"""

from __future__ import annotations

import datetime as dt
import getpass
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from cryptography.hazmat.primitives.serialization import load_der_public_key

from hsm.errors import HSMAuthError, HSMError, KeyUnsafeError
from hsm.keys import TokenKey
from hsm.token import KeyAttributes, Token, TokenStatus
from signer.core.checkpoint import Checkpoint
from signer.core.clock import format_time, utc_now
from signer.core.config import Config, parse_quorum
from signer.core.profiles import spki_sha256
from signer.core.tokens import MAIN
from signer.errors import AirGapError, ConfigError, LogError, SignerError
from signer.service import crash_tail
from signer.service.completion import complete_interrupted
from signer.service.tokenset import TokenSet
from signer.store import airgap
from signer.store.home import HomePaths, load_config, sys_net
from signer.store.ledger import CARecord, Ledger
from signer.store.log import CeremonyLog, Entry, events
from signer.store.log.custody import BACKUP
from signer.store.log.opening import open_for_session, open_read_only
from signer.store.log.recovery import CONFIRMATION, PROCEDURE, CrashTail
from signer.store.log.state import LogState
from signer.store.secrets import read_secret_file, secure_process
from signer.version import session_facts
from transfer.appkey import AppKey, AppKeyError, app_key, load_app_key, signer_for
from transfer.errors import TransferError

T = TypeVar("T")
ERRORS = (SignerError, HSMError, TransferError)  # what a shell shows as one line, exit 1
__all__ = ["ERRORS", "Credentials", "Session", "obtain_pin", "read_secret_file",
           "secure_process", "terminal_prompt", "unlocked_session"]


@dataclass
class Credentials:
    """How to log in: a PIN, or SLIP-39 share texts. Never logged or printed (I10)."""

    pin: str | None = None
    shares: list[str] = field(default_factory=list)
    prompt: Callable[[str], str] | None = None
    token_pins: dict[str, str] = field(default_factory=dict)  # other tokens, without a quorum

    def wipe(self) -> None:
        self.pin = None
        self.shares.clear()
        self.token_pins.clear()


def terminal_prompt(text: str) -> str:
    """Read a secret from the terminal without echo (never from scrollback, I10)."""
    try:
        return getpass.getpass(text)
    except (EOFError, KeyboardInterrupt):
        raise SignerError("no PIN or share entered") from None


def obtain_pin(creds: Credentials, what: str) -> str:
    if creds.pin is not None:
        return creds.pin
    if creds.prompt is not None:
        return creds.prompt(f"{what}: ")
    raise SignerError(f"no PIN given for the {what}: use --pin-file FILE")


class Session:
    """A signer home: configuration, ledger and ceremony log; the token when unlocked."""

    def __init__(self, home: Path) -> None:
        self.paths = HomePaths(home)
        if not self.paths.config.exists():
            raise ConfigError(f"{home}: not a signer home (run `signer init` first)")
        self.config: Config = load_config(self.paths.config)
        self.ledger = Ledger(self.paths.ledger)
        self._log: CeremonyLog | None = None  # opened when first needed (``log``)
        self.tokens = TokenSet(self.config, lambda: self.state.custody, self._token_opened)
        self._main: Token | None = None
        self._time: dt.datetime | None = None
        self._crash_tail: CrashTail | None = None
        self._tail_entries: list[Entry] = []
        self.interfaces: list[str] = []
        self.share_indices: list[int] = []
        self.session_start = 0
        self._interrupted = threading.Event()
        self._closed = False

    # -- facts ---------------------------------------------------------------------------------

    @property
    def rehearsal(self) -> bool:
        return self.config.rehearsal

    @property
    def log(self) -> CeremonyLog:
        """The ceremony log: verified when the session is unlocked; before, a read-only view
        (its facts from the state kept beside it, ``signer.store.log.opening``)."""
        if self._log is None:
            try:
                self._log = open_read_only(self.paths.log, self.config.appliance_name)
            except LogError as exc:  # name the problem and the documented way out
                raise LogError(
                    f"the ceremony log does not verify: {exc}; no ceremony can start. A crash "
                    f'tail is recovered with `signer audit recover --confirm "{CONFIRMATION}"`;'
                    f" anything else is for the auditors (see {PROCEDURE})") from None
        return self._log

    @property
    def state(self) -> LogState:
        """The facts folded from the log: what the ledger's rows are checked against."""
        return self.log.state

    @property
    def unlocked(self) -> bool:
        return self._main is not None and self._main.logged_in and self._time is not None

    @property
    def ceremony_time(self) -> dt.datetime:
        if self._time is None:
            raise SignerError("no ceremony time confirmed: unlock the session first")
        return self._time

    @property
    def token(self) -> Token:
        if self._main is None:
            raise SignerError("not logged in to the token")
        return self._main

    def log_public_key(self) -> bytes:
        hexkey = self.ledger.get_meta("log_public_key")
        if not hexkey:
            raise SignerError("no log key is pinned in this home")
        return bytes.fromhex(hexkey)

    # -- unlocking -----------------------------------------------------------------------------

    def unlock(self, creds: Credentials, at: dt.datetime | None = None, *,
               recovery: bool = False) -> None:
        """Verify the log, log in, open a logged session, complete an interrupted one.

        ``recovery`` (only `audit recover`) also accepts a log whose sole fault is an unsigned
        tail, so that the recovery itself can be logged. ``creds`` are wiped whatever happens.
        """
        try:
            if at is None and not self.rehearsal:
                # I9: a production appliance never takes the time from its own clock.
                raise SignerError("confirm the ceremony time with --at YYYY-MM-DDTHH:MM:SSZ (I9)")
            self._main = self._login(creds)
        finally:
            creds.wipe()
        try:
            self._check_log_key()
            self._check_log_verifies(recovery)
            self._open(at)
            if self._crash_tail is not None:
                crash_tail.record(self, self._tail_entries, self._crash_tail)
        except BaseException:
            self._drop_token()
            raise
        try:  # I2: finish what a crash left between the ledger and the log, before anything
            complete_interrupted(self)
        except BaseException as exc:  # the refusal is logged and the session closes, signed
            if self._crash_tail is not None:
                # Never sign a crash tail whose completion failed: it stays unsigned (with
                # this session's entries) for the custodians' `audit recover`.
                self._drop_token()
                raise
            self.refuse("login", exc)
            self.close()
            raise

    def _login(self, creds: Credentials) -> Token:
        shares = list(creds.shares)
        pin = creds.pin
        main = self.config.main_token
        if self.config.quorum:
            if not shares and creds.prompt:
                m, _ = parse_quorum(self.config.quorum)
                for i in range(m):
                    shares.append(creds.prompt(f"share {i + 1} of {m} (words, not echoed): "))
        elif not shares and main.login != "protected-path":
            pin = obtain_pin(creds, f"user PIN of token {self.config.token_label!r}")
        try:
            self.tokens.take_pins(pin, dict(creds.token_pins), shares)
        finally:
            del pin, shares
        self.share_indices = self.tokens.share_indices
        try:
            return self.tokens.get(MAIN)
        except HSMAuthError:
            if self.config.quorum:
                raise HSMAuthError("the shares combine, but not to this token's PIN (shares "
                                   "of another quorum?)") from None
            raise

    def token_for(self, name: str) -> Token:
        """Token ``name``, logged in: opened only when an operation needs a key on it."""
        return self.tokens.get(name)

    def _token_opened(self, name: str, token: Token) -> None:
        if self._time is not None and name != MAIN:  # the main token is in session.open
            self.log_event("token.opened", {"token": name, "label": token.label,
                                            "serial": token.serial})

    def _check_log_key(self) -> None:
        pinned = self.ledger.get_meta("log_public_key")
        try:
            raw = app_key(self.token.public_key(self.config.log_key)).raw
        except AppKeyError:
            raw = b""
        if raw.hex() != pinned:
            raise SignerError("the token's log key differs from the one pinned at init "
                              "(another token?)")

    def _check_log_verifies(self, recovery: bool) -> None:
        # The facts this session acts on are the ones folded by the pass that verified them
        # (any read-only view opened before is replaced).
        self._log, root = open_for_session(self.paths.log, self.config.appliance_name,
                                           self.log_public_key(), recovery_session=recovery)
        if isinstance(root, CrashTail):  # I2: a clean crash tail is completed, if it may be
            # Judged on the entries of the very log the verifying pass built (each read back
            # against its leaf hash), never on a second read of the file.
            first = self.log.size - root.report.unsigned_tail
            self._tail_entries = [self.log.read_entry(i) for i in range(first, self.log.size)]
            crash_tail.judge(self, root, self._tail_entries)
            self._crash_tail = root

    def _open(self, at: dt.datetime | None) -> None:
        t = at or utc_now()
        last = self.log.last_time
        if last is not None and format_time(t) < last:
            raise SignerError(
                f"ceremony time {format_time(t)} is earlier than the last recorded ceremony "
                f"time {last} (I9)")
        self._time = t
        self.session_start = self.log.size
        self.interfaces = airgap.interfaces_up(sys_net())
        st = self.token.status()
        config_changed = self.state.config_sha256 != self.config.digest
        # What software this is, first: an appliance that cannot name its dependency lock does
        # not sign (session_facts raises).
        self.log_event("session.open", {
            **session_facts(), "config_sha256": self.config.digest,
            "rehearsal": self.rehearsal,
            "token": {"label": st.label, "serial": st.serial, "model": st.model},
            "interfaces_up": self.interfaces, "share_indices": self.share_indices,
        })
        if config_changed:
            # The policy in force, in full, whenever it changes: auditors judge each batch
            # again with the policy that judged it, and see every change.
            self.record(events.Config(self.config.digest, self.config.text))

    def adopt_token(self, token: Token, at: dt.datetime | None, pin: str | None = None) -> None:
        """`init` only: the token it logged in to, for the home's first session."""
        self.tokens.adopt(MAIN, token, pin)
        self._main = token
        self._open(at)

    def _drop_token(self) -> None:
        self.tokens.close()
        self._main = None

    # -- the log -------------------------------------------------------------------------------

    def log_event(self, kind: str, data: dict[str, Any]) -> Entry:
        """Append one entry at the ceremony time (the session must be unlocked)."""
        return self.log.append(kind, data, format_time(self.ceremony_time))

    def record(self, event: events.Event) -> Entry:
        """Append one record (a typed event) at the ceremony time."""
        return self.log_event(event.TYPE, event.data())

    def record_all(self, records: Sequence[events.Event]) -> list[Entry]:
        """Append records of one type with one write and one fsync."""
        if not records:
            return []
        kinds = {e.TYPE for e in records}
        if len(kinds) != 1:
            raise SignerError(f"one append is one event type, not {sorted(kinds)}")
        return self.log_many(records[0].TYPE, [e.data() for e in records])

    def log_many(self, kind: str, items: list[dict[str, Any]]) -> list[Entry]:
        """Append entries of one kind with one write and one fsync."""
        if not items:
            return []
        return self.log.append_many(kind, items, format_time(self.ceremony_time))

    def refuse(self, what: str, error: BaseException) -> None:
        """Record a refusal in the log (best effort: the error itself is what the user sees)."""
        if not self.unlocked:
            return
        text = str(error) if isinstance(error, ERRORS) else f"internal error {type(error).__name__}"
        try:
            self.log_event("refused", {"command": what, "error": text[:500]})
        except SignerError:
            pass

    def run(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(self, *args)``, its refusal logged: the way both shells call the service."""
        try:
            return fn(self, *args, **kwargs)
        except BaseException as exc:
            self.refuse(what, exc)
            raise

    def checkpoint(self) -> str:
        """Sign the tree of every entry so far in the token, log it and publish it."""
        public, sign = self.log_signer()
        return self.log.checkpoint(format_time(self.ceremony_time), self.config.appliance_name,
                                   public.raw, sign)

    def log_signer(self) -> tuple[AppKey, Callable[[bytes], bytes]]:
        """The appliance's key in the token (checkpoints, result bundles, backup files): the
        pinned public key and a callback that signs with the token's key."""
        pinned = load_app_key(self.log_public_key())
        key = self.token.signing_key(self.config.log_key, **self._restored(self.config.log_key))
        try:
            return pinned, signer_for(key, pinned)
        except AppKeyError as exc:
            raise SignerError(f"the appliance's log key: {exc}") from None

    def previous_checkpoint(self) -> tuple[int, Checkpoint, str] | None:
        """The last checkpoint signed before this session: the previous ceremony's."""
        earlier = [c for c in self.log.checkpoints() if c[0] < self.session_start]
        return earlier[-1] if earlier else None

    # -- interruption and closing ----------------------------------------------------------------

    def interrupt(self) -> None:
        """Ask long work to stop at its next safe point (SIGTERM, SIGHUP, a lost terminal);
        callable from any thread or a signal handler."""
        self._interrupted.set()

    @property
    def interrupted(self) -> bool:
        return self._interrupted.is_set()

    def close(self) -> str | None:
        """End the session: log it and sign a checkpoint over the whole log; idempotent."""
        if self._closed:
            return None
        self._closed = True
        note = None
        try:
            if self.unlocked:
                self.log_event("session.close", {})
                note = self.checkpoint()
        finally:  # even when the checkpoint fails (token lost): never leave a login behind
            self._drop_token()
            self.ledger.close()
        return note

    # -- the token -----------------------------------------------------------------------------

    def require_airgap(self) -> None:
        """I12: refuse to sign with a network interface up, unless this is a rehearsal home."""
        if self.interfaces and not self.rehearsal:
            self.log_event("refused", {"reason": "airgap", "interfaces_up": self.interfaces})
            raise AirGapError(
                f"network interface(s) up: {', '.join(self.interfaces)}; signing is refused "
                "on a non-rehearsal appliance (I12)")

    def token_status(self) -> TokenStatus:
        return self.token.status()

    def list_keys(self, token: str = MAIN) -> list[KeyAttributes]:
        return self.token_for(token).list_keys()

    def _restored(self, label: str) -> dict[str, Any]:
        """A key restored from a backup was not generated in this token: it is accepted only
        under the public key the log recorded for it (hsm.token.Token.signing_key)."""
        fact = self.state.custody.keys.get(label)
        if fact is None or not fact.restored or fact.public_key_der is None:
            return {}
        return {"restored_public": load_der_public_key(fact.public_key_der)}

    def key_token(self, label: str) -> str:
        """The name of the token that holds key ``label`` (the log says; main by default)."""
        return self.state.custody.token_of(label)

    def token_key(self, label: str) -> TokenKey:
        """Key ``label`` on the token the log says holds it, after checking I1."""
        token = self.token_for(self.key_token(label))
        key = token.signing_key(label, **self._restored(label))
        # Wrappable under the trusted key only in a home the log says was made with a backup
        # quorum (I1 revised); elsewhere I1 stays strict. The log decides, not signer.toml.
        if BACKUP not in self.state.custody.sets and token.key_attributes(label).extractable:
            raise KeyUnsafeError(f"key {label!r} is not safe to use: extractable (wrappable) "
                                 "in a home made without a backup quorum (I1)")
        return key

    def ca_key(self, rec: CARecord) -> TokenKey:
        """The CA's key, after checking I1 and that it matches the CA certificate."""
        key = self.token_key(rec.key_label)
        if spki_sha256(key.public_key()) != rec.spki_sha256:
            raise SignerError(
                f"key {rec.key_label!r} in the token does not match CA {rec.name!r}'s certificate")
        return key

    def worker_credentials(self, token: str = MAIN) -> tuple[str, str, str]:
        """(module, token label, PIN) for signing worker processes of this session."""
        pin = self.tokens.pin(token)
        if pin is None:
            raise SignerError(f"token {token!r} is not logged in with a PIN")
        found = self.token_for(token)
        return self.tokens.config_of(token).module, found.label, pin

    def open_public_token(self, name: str = MAIN) -> Token:
        """A token without login, for `token status`."""
        token = self.tokens.find(name)
        token.open()
        return token


@contextmanager
def unlocked_session(home: Path, creds: Credentials, at: dt.datetime | None, *,
                     recovery: bool = False,
                     closed: Callable[[str | None], None] | None = None) -> Iterator[Session]:
    """An unlocked session for one command; closed (signed) on the way out, whatever happens.

    ``closed`` receives the closing checkpoint note (for the witnesses)."""
    session = Session(home)
    try:
        session.unlock(creds, at, recovery=recovery)
    except BaseException:
        session.ledger.close()
        raise
    try:
        yield session
    finally:
        note = session.close()
        if closed is not None:
            closed(note)
