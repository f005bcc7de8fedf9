"""One token, one session, in this process: selection, login, key generation, key use.

A token is chosen by label, serial or RFC 7512 URI (``hsm.selector``). Login is by PIN, or
through the token's protected authentication path (a PIN pad: ``C_Login`` with a NULL PIN).
CA keys are generated with the template of I1 (``backup=True``: extractable only under a trusted
wrap), read back, and handed out as ``cryptography`` objects (``hsm.keys``) whose signatures adapt
to the token (``hsm.mechanisms.sign_plan``) and are verified in software (I5); keys with
CKA_ALWAYS_AUTHENTICATE get a context-specific login before each signature. Backup and restore
live in ``hsm.backup``; every PKCS#11 call goes through ``hsm.p11``.

python-pkcs11 keeps login state per process and initialises the module without OS locking,
so a process holds one ``Token`` with one session; parallel signing uses worker processes.
It does not decide policy (which key may sign what): that is the signer's job.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from hsm import backup, p11
from hsm.attributes import KeyAttributes
from hsm.errors import (
    HSMAuthError,
    HSMError,
    KeyExistsError,
    KeyMissingError,
    KeyUnsafeError,
    MechanismUnsupportedError,
    PinLockedError,
)
from hsm.keys import SignMechanism, TokenKey, spki, wrap_key
from hsm.mechanisms import (
    ALGORITHMS,
    MechanismReport,
    keygen_mechanism,
    log_key_algorithm,
    requirements,
    sign_plan,
)
from hsm.pins import LoginMode, PinLimits, login_mode
from hsm.selector import TokenFacts, TokenSelector, choose_token, token_selector
from hsm.tokeninfo import read_token_info

__all__ = ["ALGORITHMS", "KeyAttributes", "Token", "TokenStatus"]

DEFAULT_KEY_ID_BYTES = 2  # YubiHSM 2 object ids are 16 bits
_DEFAULT_STATUS_ALGORITHMS = ("rsa-3072", "rsa-4096", "ec-p256", "ec-p384")


@dataclass(frozen=True)
class TokenStatus:
    module: str
    label: str
    serial: str
    manufacturer: str
    model: str
    flags: list[str]
    mechanisms: dict[str, bool]  # every mechanism a need names (python-pkcs11 names): offered?
    logged_in: bool
    slot_id: int = 0
    uri: str = ""
    pin_min: int = 0
    pin_max: int | None = None
    protected_authentication_path: bool = False
    log_key_algorithm: str | None = None  # what init would choose on this token
    needs: list[dict[str, Any]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # one sentence per unmet need

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Token:
    """One token, one session, in this process."""

    def __init__(self, module: str, label: str | None = None, serial: str | None = None, *,
                 uri: str | None = None, selector: TokenSelector | None = None,
                 key_id_bytes: int = DEFAULT_KEY_ID_BYTES) -> None:
        self.selector = selector or token_selector(label, serial, uri)
        if not 1 <= key_id_bytes <= 32:
            raise HSMError("a CKA_ID length must be 1..32 bytes")
        self.key_id_bytes = key_id_bytes
        self.module_path = module
        self._lib = p11.load_module(module)
        present = p11.present_tokens(self._lib)
        facts = choose_token([f for f, _ in present], self.selector)
        self.facts: TokenFacts = facts
        self._token = next(t for f, t in present if f is facts)
        self.label = facts.label
        self.serial = facts.serial
        self._session: Any = None
        self._logged_in = False
        self._mode: LoginMode | None = None
        self._context_pin: str | None = None  # for CKU_CONTEXT_SPECIFIC; memory only (I10)
        self._mechanisms: frozenset[str] | None = None

    # -- facts ---------------------------------------------------------------------------

    def _flags(self, *, fresh: bool = False) -> int:
        """The token's flags: as found (for the login mode), or ``fresh`` (try counters)."""
        return p11.fresh_flags(self._lib, self.facts) if fresh else int(self._token.flags)

    def pin_limits(self) -> PinLimits:
        """``ulMinPinLen``..``ulMaxPinLen`` as the token states them now."""
        raw = read_token_info(self.module_path, self.facts.slot_id)
        return PinLimits.from_token_info(raw.min_pin_len, raw.max_pin_len)

    @property
    def protected_authentication_path(self) -> bool:
        return bool(self._flags() & p11.FLAG_PROTECTED_PATH)

    def mechanisms(self) -> frozenset[str]:
        """The mechanisms the token offers, as python-pkcs11 names them (no ``CKM_``)."""
        if self._mechanisms is None:
            self._mechanisms = p11.mechanism_names(self._token)
        return self._mechanisms

    def log_key_algorithm(self) -> str:
        return log_key_algorithm(self.mechanisms())

    def mechanism_report(self, algorithms: tuple[str, ...] = _DEFAULT_STATUS_ALGORITHMS,
                         log_key: str | None = None, *, hashes: tuple[str, ...] = ("sha256",),
                         pss: bool = False, backup: bool = False) -> MechanismReport:
        """Every mechanism ``algorithms``, the log key and a backup need, and which are missing."""
        offered = self.mechanisms()
        if log_key is None:
            try:
                log_key = log_key_algorithm(offered)
            except MechanismUnsupportedError:
                log_key = "ec-p256"  # reported as missing below
        needs = requirements(algorithms, log_key, hashes=hashes, pss=pss, backup=backup)
        return MechanismReport(tuple(needs), offered)

    def status(self, algorithms: tuple[str, ...] = _DEFAULT_STATUS_ALGORITHMS,
               log_key: str | None = None, *, hashes: tuple[str, ...] = ("sha256",),
               pss: bool = False, backup: bool = False) -> TokenStatus:
        report = self.mechanism_report(algorithms, log_key, hashes=hashes, pss=pss,
                                       backup=backup)
        limits = self.pin_limits()
        flags = self._flags(fresh=True)
        try:
            chosen: str | None = log_key_algorithm(report.offered)
        except MechanismUnsupportedError:
            chosen = None
        names = sorted({a for n in report.needs for a in n.alternatives})
        return TokenStatus(
            module=self.module_path, label=self.label, serial=self.serial,
            manufacturer=self.facts.manufacturer, model=self.facts.model,
            flags=p11.flag_names(flags),
            mechanisms={m: m in report.offered for m in names},
            logged_in=self._logged_in, slot_id=self.facts.slot_id,
            uri=TokenSelector(label=self.label, serial=self.serial or None).to_uri(),
            pin_min=limits.min_len, pin_max=limits.max_len,
            protected_authentication_path=bool(flags & p11.FLAG_PROTECTED_PATH),
            log_key_algorithm=chosen, needs=report.to_json()["needs"],
            missing=[f"{n.purpose} needs {n.describe()}" for n in report.missing],
        )

    # -- session -------------------------------------------------------------------------

    def open(self) -> None:
        """Open a read-write public session (for status and listing public objects)."""
        if self._session is None:
            with p11.guard(f"opening token {self.label!r}"):
                self._session = p11.open_session(self._token, None)

    def login(self, pin: str | None = None, *, mode: LoginMode | None = None) -> None:
        """Log in as user: with ``pin``, or (``mode=PROTECTED_PATH``) on the token's PIN pad.

        A wrong PIN is reported as such, with the token's try counters; never the PIN (I10).
        """
        if self._logged_in:
            return
        mode = login_mode(self.protected_authentication_path, mode or LoginMode.PIN)
        if self._session is not None:
            self.close()
        if p11.user_pin_locked(self._flags()):
            raise PinLockedError(f"token {self.label!r}: the user PIN is locked")
        what = f"login to token {self.label!r}"
        try:
            self._session = p11.open_session(self._token, mode, pin)
        except p11.PKCS11Error as exc:
            err = p11.translate(exc, what)
            if type(err) is HSMAuthError and not p11.is_error(exc, "UserNotLoggedIn"):
                err = HSMAuthError(f"{what}: wrong PIN{self._tries_note()}")
            raise err from exc
        self._logged_in = True
        self._mode = mode
        self._context_pin = "" if mode is LoginMode.PROTECTED_PATH else pin

    def _tries_note(self) -> str:
        try:
            return p11.pin_flags_note(self._flags(fresh=True))
        except HSMError:
            return ""

    def login_protected(self) -> None:
        """Log in through the protected authentication path (the PIN pad asks)."""
        self.login(mode=LoginMode.PROTECTED_PATH)

    def set_user_pin(self, old_pin: str, new_pin: str) -> None:
        """Change the user PIN (to re-key the token from a quorum's master secret).

        The new PIN's length is checked against the token's limits first, so a PIN the token
        would refuse (or truncate) is never sent.
        """
        limits = self.pin_limits()
        if len(new_pin) < limits.min_len or (limits.max_len is not None
                                             and len(new_pin) > limits.max_len):
            raise HSMError(f"token {self.label!r} takes PINs of {limits.min_len}.."
                           f"{limits.max_len} characters; the new PIN has {len(new_pin)}")
        self.login(old_pin)
        with p11.guard(f"changing the PIN of token {self.label!r}"):
            self._session.set_pin(old_pin, new_pin)
        self._context_pin = new_pin

    def close(self) -> None:
        if self._session is not None:
            try:
                self._session.close()
            except p11.PKCS11Error:
                pass  # closing a lost session is not an error worth reporting
        self._session = None
        self._logged_in = False
        self._mode = None
        self._context_pin = None

    @property
    def logged_in(self) -> bool:
        return self._logged_in

    @property
    def login_mode(self) -> LoginMode | None:
        return self._mode

    def _need_login(self) -> Any:
        if not self._logged_in:
            raise HSMAuthError(f"token {self.label!r}: log in first")
        return self._session

    # -- keys ----------------------------------------------------------------------------

    def _private(self, label: str) -> Any:
        objs = p11.find(self._need_login(), "private", label)
        if not objs:
            raise KeyMissingError(f"no key labelled {label!r} in token {self.label!r}")
        if len(objs) > 1:
            raise KeyUnsafeError(f"more than one private key is labelled {label!r}")
        return objs[0]

    def _public(self, label: str) -> Any:
        objs = p11.find(self._need_login(), "public", label)
        if len(objs) != 1:
            raise KeyMissingError(f"key {label!r}: expected one public key, found {len(objs)}")
        return objs[0]

    def label_in_use(self, label: str) -> bool:
        session = self._need_login()
        return bool(p11.find(session, "private", label) or p11.find(session, "public", label))

    def new_key_id(self) -> bytes:
        """A random CKA_ID of ``key_id_bytes`` bytes that no object in the token has."""
        session = self._need_login()
        for _ in range(64):
            key_id = os.urandom(self.key_id_bytes)
            if not p11.id_in_use(session, key_id):
                return key_id
        raise HSMError(f"token {self.label!r}: no free {self.key_id_bytes}-byte CKA_ID found")

    def generate_key(self, label: str, algorithm: str, *, backup: bool = False,
                     always_authenticate: bool = False) -> KeyAttributes:
        """Generate a CA key pair with the template of I1, then read it back.

        ``backup``: CKA_EXTRACTABLE with CKA_WRAP_WITH_TRUSTED (a home with a backup quorum).
        """
        if algorithm not in ALGORITHMS:
            raise MechanismUnsupportedError(
                f"algorithm {algorithm!r} is not allowed (choose one of {', '.join(ALGORITHMS)})")
        if not label or len(label) > 64 or not label.isprintable():
            raise HSMError("a key label must be 1-64 printable characters")
        mech = keygen_mechanism(algorithm)
        if mech not in self.mechanisms():  # asked before the token is (SoftHSM obliges anyway)
            raise MechanismUnsupportedError(
                f"token {self.label!r} does not offer CKM_{mech}: no {algorithm} keys on it")
        if self.label_in_use(label):
            raise KeyExistsError(f"a key labelled {label!r} already exists in the token")
        p11.generate_keypair(self._need_login(), algorithm, label, self.new_key_id(),
                             backup=backup, always_authenticate=always_authenticate)
        return self.key_attributes(label)

    def key_attributes(self, label: str) -> KeyAttributes:
        priv = self._private(label)
        pubs = p11.find(self._need_login(), "public", label)
        return p11.read_attributes(priv, pubs[0] if len(pubs) == 1 else None)

    def list_keys(self) -> list[KeyAttributes]:
        session = self._need_login()
        out = []
        for priv in p11.find(session, "private"):
            label = p11.read_attributes(priv, None).label
            pubs = p11.find(session, "public", label) if label else []
            out.append(p11.read_attributes(priv, pubs[0] if len(pubs) == 1 else None))
        return sorted(out, key=lambda k: k.label)

    def public_key(self, label: str) -> PublicKeyTypes:
        return p11.read_public_key(self._public(label))

    def signing_key(self, label: str, *,
                    restored_public: PublicKeyTypes | None = None) -> TokenKey:
        """The CA key as a ``cryptography`` object, after checking its attributes (I1).

        A key restored from a backup (not generated here, not always sensitive) is accepted
        only with ``restored_public``, the public key recorded in the backup and the ledger,
        and only if the token's public key equals it.
        """
        attrs = self.key_attributes(label)
        problems = attrs.custody_problems if restored_public is not None else attrs.problems
        if problems:
            raise KeyUnsafeError(f"key {label!r} is not safe to use: {', '.join(problems)}")
        if not attrs.sign:
            raise KeyUnsafeError(f"key {label!r} is not allowed to sign")
        public = self.public_key(label)
        if restored_public is not None and spki(public) != spki(restored_public):
            raise KeyUnsafeError(f"key {label!r} does not match the public key recorded for it")
        priv = self._private(label)
        context = attrs.always_authenticate

        def raw_sign(mech: SignMechanism, data: bytes) -> bytes:
            plan = sign_plan(mech, self.mechanisms())
            pin = self._context_pin if context else None
            if context and pin is None:
                raise HSMAuthError(f"key {label!r} needs a login per signature: log in again")
            return p11.sign(priv, plan, data, pin, f"signing with key {label!r}")

        return wrap_key(label, public, raw_sign)

    # -- backup (hsm.backup does the work) -------------------------------------------------

    def import_backup_key(self, so_pin: str, secret: bytes) -> str:
        return backup.import_backup_key(self, so_pin, secret)

    def wrap_key(self, label: str) -> bytes:
        return backup.wrap_key(self, label).blob

    def unwrap_key(self, blob: bytes, label: str, algorithm: str,
                   public_key: PublicKeyTypes, key_id: bytes | None = None) -> KeyAttributes:
        return backup.restore_key(self, blob, label, algorithm, public_key, key_id)
