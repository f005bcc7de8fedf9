"""Share sets and tokens after `init`: rotation, the custodian's share check, adding a token.

Rotation of the unlock set (``quorum rotate``): in a session unlocked by the current shares,
a new secret is split, the new share files are written, and every token of the home is
re-keyed, one by one, to the PIN the new secret derives (each step logged: ``quorum.rotate``,
``quorum.rekeyed`` per token, ``quorum.rotated``). The old shares then derive PINs no token
accepts, and the log names their set as retired, so they are refused with that reason before
any login is tried. An interrupted rotation leaves tokens on two sets; the log says which
token is on which, a session takes shares of both, and running the rotation again finishes it
(on a third set).

Rotation of the backup set (``quorum rotate --backup``): the SO replaces the trusted backup key
in every token that holds keys, and a new backup file is made under it at once. Keys are not
re-wrapped one by one (the new file is the re-wrap). Backup files made under the old set stay
restorable with the old backup shares: destroy both (OPERATIONS.md says so).

Adding a token (``token add``): its table goes into signer.toml, and with a quorum its user
PIN is re-keyed to the one the current unlock shares derive for it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from hsm import backup as hsm_backup
from hsm.modules import check_trusted_module
from hsm.pins import PinPlan, derive_pin, plan_pin
from hsm.token import Token
from signer.core import quorum
from signer.core.config import parse_config, parse_quorum
from signer.core.tokens import MAIN, TokenConfig, token_toml
from signer.errors import SignerError
from signer.service.backup import BackupResult, backup_keys
from signer.service.cards import write_share_cards
from signer.service.session import Credentials, Session, unlocked_session
from signer.store.files import OutputError, write_new
from signer.store.log.custody import BACKUP, UNLOCK

__all__ = ["RotateResult", "ShareCheck", "add_token", "check_share", "rotate_backup",
           "rotate_unlock"]


@dataclass
class RotateResult:
    purpose: str
    identifier: int
    previous: int | None
    threshold: int
    shares: int
    files: list[Path] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    backup: BackupResult | None = None


def _new_shares(s: Session, out: Path | None, spec: str, stem: str,
                cards: Path | None) -> tuple[bytes, int, list[Path], int, int]:
    """A new secret split M of N, its shares written as files and/or printable cards before
    any token changes (a failed write leaves the old set in force)."""
    m, n = parse_quorum(spec)
    if out is None and cards is None:
        raise SignerError("the new shares need --shares-out DIR (files) or --share-cards DIR "
                          "(printable cards)")
    for d in (out, cards):
        if d is not None and d.exists() and any(d.iterdir()):
            raise OutputError(f"{d}: not empty; share files are never overwritten")
    secret, mnemonics = quorum.split_secret(m, n)
    files = []
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for i, words in enumerate(mnemonics, 1):
            p = out / f"{stem}-{i}-of-{n}.txt"
            write_new(p, (words + "\n").encode(), mode=0o600)
            files.append(p)
    if cards is not None:
        files += [f for card in write_share_cards(
            cards, mnemonics, appliance=s.config.appliance_name,
            log_public_key=s.log_public_key(), made_at=s.ceremony_time,
            rehearsal=s.config.rehearsal) for f in (card.html, card.pdf)]
    ident = quorum.set_identifier(mnemonics)
    del mnemonics
    return secret, ident, files, m, n


def _enrolled(s: Session) -> list[str]:
    """The tokens whose PIN the unlock secret derives: the main one and every one the log says
    was added (not signer.toml, which anyone with file access could trim: a token left out
    would keep the PIN the retired shares derive)."""
    names = sorted({MAIN} | set(s.state.custody.tokens))
    missing = [n for n in names if n not in s.config.tokens]
    if missing:
        raise SignerError(f"token {missing[0]!r} was added to this home (the log says so) but "
                          f"signer.toml does not name it: add its [tokens.{missing[0]}] table; "
                          "a rotation re-keys every token")
    return names


def rotate_unlock(s: Session, spec: str, shares_out: Path | None,
                  cards: Path | None = None) -> RotateResult:
    if not s.config.quorum:
        raise SignerError("this home is unlocked by a PIN: there is no share set to rotate")
    names = _enrolled(s)
    for name in names:  # every token present and logged in before anything changes
        s.token_for(name)
    current = s.state.custody.sets.get(UNLOCK)
    previous = current.identifier if current else None
    secret, ident, files, m, n = _new_shares(s, shares_out, spec, "share", cards)
    s.log_event("quorum.rotate", {"set": UNLOCK, "identifier": ident, "threshold": m,
                                  "shares": n, "tokens": names, "previous": previous})
    for name in names:
        old = s.tokens.pin(name)
        if old is None:
            raise SignerError(f"token {name!r} has no PIN to re-key (a PIN pad token)")
        new = derive_pin(secret, PinPlan.from_config(s.tokens.config_of(name).pin_plan),
                         "" if name == MAIN else name)
        s.token_for(name).set_user_pin(old, new)
        s.tokens.set_pin(name, new)
        s.log_event("quorum.rekeyed", {"token": name, "identifier": ident})
    del secret
    s.log_event("quorum.rotated", {"set": UNLOCK, "identifier": ident, "threshold": m,
                                   "shares": n, "previous": previous})
    return RotateResult(UNLOCK, ident, previous, m, n, files, names)


def rotate_backup(s: Session, spec: str, shares_out: Path | None, so_pin: str,
                  backup_out: Path, cards: Path | None = None) -> RotateResult:
    if s.config.backup is None or BACKUP not in s.state.custody.sets:
        raise SignerError("this home was made without --backup: there is no backup set")
    if not so_pin:
        raise SignerError("the SO PIN replaces the backup key: give --so-pin-file FILE")
    if backup_out.exists():
        raise OutputError(f"{backup_out}: already exists; outputs are never overwritten")
    names = sorted({f.token for f in s.state.custody.keys.values()})
    for name in names:
        s.token_for(name)
    previous = s.state.custody.sets[BACKUP].identifier
    secret, ident, files, m, n = _new_shares(s, shares_out, spec, "backup-share", cards)
    fingerprint = hsm_backup.backup_key_fingerprint(secret)
    s.log_event("quorum.rotate", {"set": BACKUP, "identifier": ident, "threshold": m,
                                  "shares": n, "tokens": names, "previous": previous,
                                  "fingerprint": fingerprint})
    for name in names:
        token, pin = s.token_for(name), s.tokens.pin(name)
        token.close()  # the SO works alone on the token (PKCS#11: one of SO and user)
        hsm_backup.import_backup_key(token, so_pin, secret, replace=True)
        if pin is None:
            token.login_protected()
        else:
            token.login(pin)
        s.log_event("backup.key.replaced", {"token": name, "fingerprint": fingerprint})
    del secret
    s.log_event("quorum.rotated", {"set": BACKUP, "identifier": ident, "threshold": m,
                                   "shares": n, "previous": previous,
                                   "fingerprint": fingerprint})
    made = backup_keys(s, backup_out)
    return RotateResult(BACKUP, ident, previous, m, n, files, names, made)


@dataclass(frozen=True)
class ShareCheck:
    index: int
    threshold: int
    identifier: int
    purpose: str | None  # UNLOCK, BACKUP, or None: a set this home's log does not know
    state: str | None  # "current" or "retired"
    since: str | None

    def sentence(self) -> str:
        head = f"share {self.index} (threshold {self.threshold}) of share set {self.identifier}"
        if self.purpose is None:
            return f"{head}: a set this home does not know (another home's?)"
        if self.state == "retired":
            return f"{head}: the RETIRED {self.purpose} set (made {self.since}); it opens nothing"
        return f"{head}: the current {self.purpose} set, made {self.since}"


def check_share(s: Session, text: str) -> ShareCheck:
    """Which set a share belongs to, without unlocking anything (for sealing envelopes)."""
    info, _ = quorum.inspect_share(text)
    known = s.state.custody.set_named(info.identifier)
    if known is None:
        return ShareCheck(info.index, info.threshold, info.identifier, None, None, None)
    state, ss = known
    return ShareCheck(info.index, info.threshold, info.identifier, ss.purpose, state, ss.since)


def add_token(home: Path, cfg: TokenConfig, *, pin_prefix: str, initial_pin: str,
              creds: Credentials, at: dt.datetime | None) -> TokenConfig:
    """Name another token in signer.toml; with a quorum, re-key its PIN to the derived one."""
    try:
        return _add_token(home, cfg, pin_prefix, initial_pin, creds, at)
    finally:
        creds.wipe()


def _add_token(home: Path, cfg: TokenConfig, pin_prefix: str, initial_pin: str,
               creds: Credentials, at: dt.datetime | None) -> TokenConfig:
    s = Session(home)
    try:
        if cfg.name in s.state.custody.tokens:
            raise SignerError(f"token {cfg.name!r} was added already")
        check_trusted_module(cfg.module)
        token = Token(cfg.module, label=cfg.label, serial=cfg.serial, uri=cfg.uri,
                      key_id_bytes=cfg.key_id_bytes)
        try:
            token.login(initial_pin)
            clash = sorted(set(s.state.custody.keys) & {k.label for k in token.list_keys()})
            if clash:
                raise SignerError(f"token {token.label!r} already holds a key labelled "
                                  f"{clash[0]!r}: add a fresh token")
            plan = plan_pin(token.pin_limits(), prefix=pin_prefix,
                            token=f"token {token.label!r}") if s.config.quorum else PinPlan()
        finally:
            token.close()
        if cfg.name not in s.config.tokens:  # a re-run after a crash finds it written already
            cfg = TokenConfig(cfg.name, cfg.module, cfg.label, cfg.serial, cfg.uri,
                              cfg.key_id_bytes, plan.to_config(), cfg.login)
            text = s.config.text.rstrip("\n") + "\n\n" + token_toml(cfg)
            parse_config(text)  # what is written must read back
            write_new(s.paths.config, text.encode(), replace=True, mode=0o600)
        else:
            cfg = s.config.tokens[cfg.name]
    finally:
        s.ledger.close()
    if s.config.quorum:
        unlock = Credentials(shares=list(creds.shares))
    else:
        unlock = Credentials(pin=creds.pin, token_pins={**creds.token_pins,
                                                        cfg.name: initial_pin})
    with unlocked_session(home, unlock, at) as s2:
        current = s2.state.custody.sets.get(UNLOCK)
        derived = s2.tokens.pin(cfg.name)
        if s2.config.quorum and derived is not None:
            t = s2.tokens.find(cfg.name)
            t.set_user_pin(initial_pin, derived)
            t.close()
        found = s2.token_for(cfg.name)  # logs in with the PIN it will have from now on
        s2.log_event("token.added", {
            "token": cfg.name, "label": found.label, "serial": found.serial,
            "model": found.facts.model, "pin_plan": cfg.pin_plan, "login": cfg.login,
            "unlock_set": current.identifier if current and s2.config.quorum else None})
    return cfg
