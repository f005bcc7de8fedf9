"""The tokens one session uses: the main token at unlock, any other when first needed.

A home names its tokens in ``signer.toml`` (``[token]``, ``[tokens.NAME]``); the log says which
token holds each key. A session logs in to the main token when it unlocks (the log key is
there) and to another token only when an operation needs a key on it, so issuing from a sub-CA
never opens the root's token. Every login is logged (``token.opened``) for the auditors.

PINs: with a quorum, each token's PIN is derived from the master secret of the share set that
token is on (the log says which: rotation re-keys token by token, and an interrupted rotation
is finished with the old and the new shares together), under the token's PIN plan, with the
token's name as context. Without a quorum, the main token takes ``--pin-file`` and another
token ``--token-pin NAME=FILE``. A token with ``login = "protected-path"`` asks on its PIN pad.
PINs stay in memory for this session only (worker processes log in with them) and are dropped
at close (I10).
"""

from __future__ import annotations

from collections.abc import Callable

from hsm.modules import check_trusted_module
from hsm.pins import LoginMode, PinPlan, derive_pin
from hsm.token import Token
from signer.core import quorum
from signer.core.config import Config
from signer.core.tokens import MAIN, TokenConfig
from signer.errors import SignerError
from signer.store.log.custody import BACKUP, CustodyState


class TokenSet:
    """Open tokens by name; each logged in with its own PIN on first use."""

    def __init__(self, config: Config, custody: Callable[[], CustodyState],
                 opened: Callable[[str, Token], None] | None = None) -> None:
        self.config = config
        self._custody = custody  # read afresh: the log's facts grow during the session
        self._opened = opened
        self._tokens: dict[str, Token] = {}
        self._pins: dict[str, str | None] = {}  # None: the PIN pad asks
        self.share_indices: list[int] = []
        self.given_sets: list[int] = []

    @property
    def custody(self) -> CustodyState:
        return self._custody()

    def config_of(self, name: str) -> TokenConfig:
        cfg = self.config.tokens.get(name)
        if cfg is None:
            raise SignerError(f"the ceremony log puts keys on token {name!r}, which signer.toml "
                              f"does not name: add a [tokens.{name}] table")
        return cfg

    def find(self, name: str) -> Token:
        """The token, found but not logged in."""
        cfg = self.config_of(name)
        check_trusted_module(cfg.module)  # signer.toml is HOME's: anyone with file access
        return Token(cfg.module, label=cfg.label, serial=cfg.serial, uri=cfg.uri,
                     key_id_bytes=cfg.key_id_bytes)

    # -- credentials -------------------------------------------------------------------------

    def take_pins(self, pin: str | None, token_pins: dict[str, str],
                  shares: list[str]) -> None:
        """Work out every configured token's PIN from what the custodians gave."""
        if self.config.quorum:
            if pin is not None or token_pins:
                raise SignerError("this home is unlocked by custodian shares, not by PINs")
            self._pins = self._derived_pins(shares)
            return
        if shares:
            raise SignerError("this token is unlocked by a PIN, not by shares")
        unknown = sorted(set(token_pins) - set(self.config.tokens))
        if unknown:
            raise SignerError(f"--token-pin names {unknown[0]!r}, which signer.toml does not")
        self._pins = {MAIN: pin, **token_pins}
        for name, cfg in self.config.tokens.items():
            if cfg.login == "protected-path":
                self._pins[name] = None

    def _derived_pins(self, shares: list[str]) -> dict[str, str | None]:
        if not shares:
            raise SignerError("this token is unlocked by custodian shares: give --share FILE")
        sets = quorum.combine_sets(shares)
        for ident in sets:
            known = self.custody.set_named(ident)
            if known is None:
                continue  # a set the log does not know: the login says whether it fits
            state, s = known
            if s.purpose == BACKUP:
                raise quorum.ShareError(
                    f"share set {ident} holds the backup secret, not the unlock secret: "
                    "give unlock shares")
            if state == "retired":
                raise quorum.ShareError(
                    f"share set {ident} (made {s.since}) was retired by rotation: its shares "
                    "no longer unlock anything")
        first = next(iter(sets.values()))
        self.share_indices = first.indices
        self.given_sets = sorted(sets)
        pins: dict[str, str | None] = {}
        for name, cfg in self.config.tokens.items():
            if cfg.login == "protected-path":
                pins[name] = None
                continue
            on = self.custody.token_sets.get(name)
            rec = sets.get(on) if on is not None else (first if len(sets) == 1 else None)
            if rec is None:
                continue  # opening this token will say which shares it needs
            plan = PinPlan.from_config(cfg.pin_plan)
            pins[name] = derive_pin(rec.secret, plan, "" if name == MAIN else name)
        sets.clear()  # the secrets are not kept: only the PINs, for this session
        return pins

    def pin(self, name: str) -> str | None:
        return self._pins.get(name)

    def set_pin(self, name: str, pin: str) -> None:
        """After a re-key (rotation): the PIN this token now has."""
        self._pins[name] = pin

    # -- logins ------------------------------------------------------------------------------

    def get(self, name: str) -> Token:
        """The token ``name``, logged in (found and logged in on first use)."""
        token = self._tokens.get(name)
        if token is not None and token.logged_in:
            return token
        if name not in self._pins:
            ident = self.custody.token_sets.get(name)
            if ident is not None and self.config.quorum:
                given = ", ".join(map(str, self.given_sets))
                raise quorum.ShareError(
                    f"the shares given are of share set {given}, but token {name!r} is on "
                    f"share set {ident}: shares of another quorum?")
            raise SignerError(f"no PIN for token {name!r}: give --token-pin {name}=FILE")
        token = self.find(name)
        pin = self._pins[name]
        if pin is None:
            token.login(mode=LoginMode.PROTECTED_PATH)
        else:
            token.login(pin)
        self._tokens[name] = token
        if self._opened is not None:
            self._opened(name, token)
        return token

    def adopt(self, name: str, token: Token, pin: str | None) -> None:
        """`init` and `key restore`: a token already logged in, and its PIN."""
        self._tokens[name] = token
        self._pins[name] = pin

    @property
    def open_names(self) -> list[str]:
        return sorted(n for n, t in self._tokens.items() if t.logged_in)

    def close(self) -> None:
        for token in self._tokens.values():
            token.close()
        self._tokens.clear()
        self._pins.clear()

