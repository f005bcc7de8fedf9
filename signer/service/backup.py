"""Key backup and restore under the trusted backup key (issue 13; I1 revised).

A home made with ``init --backup M/N`` has a second SLIP-39 secret, held by the backup
custodians, that the Security Officer imported into the token as a trusted AES wrapping key;
its CA keys (and its log key) are extractable only wrapped under that key.

``backup_keys`` wraps every key of the home, on every token that holds one, into one file
signed by the log key (transfer.keybackup), and logs its digest and each key's SPKI digest.

``restore_keys`` puts the keys of one token back onto a fresh token after the first one died:
the file must verify under the home's pinned log key; the backup shares must rebuild the very
secret the file was made under; every key's public key must be the one the ceremony log
recorded (a CA's certificate key, the pinned log key); the SO imports the backup key; each key
is unwrapped with I1's template and proven by a test signature (hsm.backup.restore_key); with a
quorum, the new token's PIN is re-keyed to the one the unlock shares derive. Then a normal
session logs ``key.restored`` for each key and the home carries on: keys restored from a backup
are trusted only under the public key the log recorded for them (``Session.token_key``). Run
again after an interruption, keys already restored (same public key) are kept, not redone.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.serialization import load_der_public_key

from hsm import backup as hsm_backup
from hsm.keys import spki
from hsm.pins import PinPlan, derive_pin
from hsm.token import Token
from signer.core import quorum
from signer.core.clock import format_time
from signer.core.tokens import MAIN
from signer.errors import SignerError
from signer.service.session import Credentials, Session, unlocked_session
from signer.store.files import check_new_output, write_new
from signer.store.log.custody import BACKUP, UNLOCK
from transfer.appkey import load_app_key
from transfer.keybackup import BackedUpKey, KeyBackup, encode_backup, parse_backup
from transfer.words import pgp_words


@dataclass
class BackupResult:
    path: Path
    sha256: str
    keys: list[BackedUpKey] = field(default_factory=list)


def backup_keys(s: Session, out: Path) -> BackupResult:
    """Every key of the home wrapped under the backup key, in one signed file; logged."""
    bset = s.state.custody.sets.get(BACKUP)
    if s.config.backup is None or bset is None:
        raise SignerError("this home was made without --backup: its keys never leave the "
                          "token (I1), so there is nothing to back up")
    check_new_output(out)
    wrapped = []
    for label, fact in sorted(s.state.custody.keys.items()):
        token = s.token_for(fact.token)
        w = hsm_backup.wrap_key(token, label)
        if fact.spki_sha256 is not None and hashlib.sha256(w.public_key_der).hexdigest() != \
                fact.spki_sha256:
            raise SignerError(f"key {label!r} on token {fact.token!r} is not the key the log "
                              "recorded; nothing was written")
        wrapped.append(BackedUpKey(label, fact.token, w.algorithm, w.key_id, w.public_key_der,
                                   w.blob))
    if bset.fingerprint is None:
        raise SignerError("the log does not record the backup key's check value")
    public, sign = s.log_signer()
    raw = encode_backup(KeyBackup(
        appliance=s.config.appliance_name, created=format_time(s.ceremony_time),
        log_size=s.log.size, backup_key=bset.fingerprint, keys=tuple(wrapped)), sign, public)
    write_new(out, raw, mode=0o644)
    digest = hashlib.sha256(raw).hexdigest()
    s.log_event("key.backup", {
        "sha256": digest, "file": out.name, "backup_set": bset.identifier,
        "keys": [{"label": k.label, "token": k.token, "algorithm": k.algorithm,
                  "spki_sha256": k.spki_sha256} for k in wrapped]})
    return BackupResult(out, digest, wrapped)


def spki_words(k: BackedUpKey) -> str:
    """The first 8 bytes of a key's SPKI digest as words, for the witnesses."""
    return " ".join(pgp_words(bytes.fromhex(k.spki_sha256)[:8]))


@dataclass
class RestoreResult:
    token: str
    label: str
    serial: str
    restored: list[BackedUpKey] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # already on the token (a re-run)


def restore_keys(home: Path, raw: bytes, token_name: str, *, so_pin: str,
                 backup_shares: list[str], creds: Credentials, at: dt.datetime | None,
                 closed: Callable[[str | None], None] | None = None) -> RestoreResult:
    """Restore the keys of token ``token_name`` from a backup file onto the token signer.toml
    now names for it (a fresh one); logged in the home's log. ``closed`` receives the
    closing checkpoint note."""
    try:
        return _restore(home, raw, token_name, so_pin, backup_shares, creds, at, closed)
    finally:
        backup_shares.clear()
        creds.wipe()


def _restore(home: Path, raw: bytes, token_name: str, so_pin: str, backup_shares: list[str],
             creds: Credentials, at: dt.datetime | None,
             closed: Callable[[str | None], None] | None) -> RestoreResult:
    s = Session(home)
    try:
        backup, keys = _checked_backup(s, raw, token_name)
        secret = _backup_secret(s, backup, backup_shares)
        unlock_pin = _unlock_pin(s, token_name, creds)
        token = s.tokens.find(token_name)
        initial = creds.token_pins.get(token_name) if token_name != MAIN else creds.pin
        if not so_pin:
            raise SignerError("the token's SO PIN is needed to import the backup key "
                              "(--so-pin-file FILE)")
        if initial is None and s.config.quorum:
            raise SignerError("give the new token's current user PIN (--pin-file, or "
                              f"--token-pin {token_name}=FILE): it is re-keyed to the quorum's")
        result = RestoreResult(token_name, token.label, token.serial)
        _unwrap_all(token, so_pin, secret, initial or unlock_pin or "", keys, result)
        if s.config.quorum and unlock_pin is not None and initial is not None:
            token.set_user_pin(initial, unlock_pin)
        token.close()
    finally:
        s.ledger.close()
    if s.config.quorum:  # the new token now answers to the quorum's PIN, like the others
        unlock = Credentials(shares=list(creds.shares))
    else:
        unlock = Credentials(pin=creds.pin, token_pins=dict(creds.token_pins))
    with unlocked_session(home, unlock, at, closed=closed) as s2:
        s2.log_event("token.restored", {"token": token_name, "label": result.label,
                                        "serial": result.serial,
                                        "backup_sha256": hashlib.sha256(raw).hexdigest()})
        for k in result.restored + [k for k in keys if k.label in result.kept]:
            s2.log_event("key.restored", {
                "label": k.label, "token": token_name, "algorithm": k.algorithm,
                "spki_sha256": k.spki_sha256, "public_key": _b64(k.public_key_der),
                "backup_sha256": hashlib.sha256(raw).hexdigest()})
        for k in keys:  # each restored key signs under the recorded public key, now trusted
            s2.token_key(k.label)
    return result


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _checked_backup(s: Session, raw: bytes,
                    token_name: str) -> tuple[KeyBackup, list[BackedUpKey]]:
    """The file, verified under the pinned log key, its keys for ``token_name`` checked
    against the public keys the log recorded."""
    pinned = s.log_public_key()
    backup = parse_backup(raw, pinned)
    if backup.appliance != s.config.appliance_name:
        raise SignerError(f"the backup file is of appliance {backup.appliance!r}, not this "
                          f"home's {s.config.appliance_name!r}")
    keys = [k for k in backup.keys if k.token == token_name]
    if not keys:
        raise SignerError(f"the backup file holds no key of token {token_name!r}")
    custody = s.state.custody
    ca_spki = {c.key: c.spki_sha256 for c in s.state.cas.values()}
    for k in keys:
        fact = custody.keys.get(k.label)
        recorded = {fact.spki_sha256 if fact else None, ca_spki.get(k.label)} - {None}
        if k.label == s.config.log_key:
            recorded.add(hashlib.sha256(spki(load_app_key(pinned).key)).hexdigest())
        if not recorded:
            raise SignerError(f"key {k.label!r}: the ceremony log records no such key")
        if recorded != {k.spki_sha256}:
            raise SignerError(f"key {k.label!r}: its public key in the backup file is not "
                              "the one the ceremony log recorded; nothing was restored")
        if fact is not None and fact.token != token_name:
            raise SignerError(f"key {k.label!r} belongs on token {fact.token!r}")
    return backup, keys


def _backup_secret(s: Session, backup: KeyBackup, shares: list[str]) -> bytes:
    if not shares:
        raise SignerError("give the backup custodians' shares (--backup-share FILE, M of them)")
    sets = quorum.combine_sets(shares)
    if len(sets) != 1:
        raise quorum.ShareError("the backup shares belong to different share sets")
    rec = next(iter(sets.values()))
    known = s.state.custody.set_named(rec.identifier)
    if known is not None and known[1].purpose == UNLOCK:
        raise quorum.ShareError(f"share set {rec.identifier} holds the unlock secret, not the "
                                "backup secret: give backup shares")
    if hsm_backup.backup_key_fingerprint(rec.secret) != backup.backup_key:
        raise quorum.ShareError(
            f"these backup shares (set {rec.identifier}) do not open this backup file: it "
            "was made under another backup quorum (an older file, or another home's shares)")
    return rec.secret


def _unlock_pin(s: Session, token_name: str, creds: Credentials) -> str | None:
    """With a quorum, the PIN the unlock shares derive for this token (it is re-keyed to it)."""
    if not s.config.quorum:
        return creds.pin if token_name == MAIN else creds.token_pins.get(token_name)
    sets = quorum.combine_sets(list(creds.shares))
    on = s.state.custody.token_sets.get(token_name)
    current = s.state.custody.sets.get(UNLOCK)
    ident = on if on is not None else (current.identifier if current else None)
    rec = sets.get(ident) if ident is not None else next(iter(sets.values()))
    if rec is None:
        raise quorum.ShareError(f"token {token_name!r} is on unlock share set {ident}: give "
                                "shares of that set")
    plan = PinPlan.from_config(s.tokens.config_of(token_name).pin_plan)
    return derive_pin(rec.secret, plan, "" if token_name == MAIN else token_name)


def _unwrap_all(token: Token, so_pin: str, secret: bytes, pin: str, keys: list[BackedUpKey],
                result: RestoreResult) -> None:
    token.open()
    if not _has_backup_key(token, pin):
        token.close()
        token.import_backup_key(so_pin, secret)
    token.login(pin)
    for k in keys:
        public = load_der_public_key(k.public_key_der)
        if token.label_in_use(k.label):
            if spki(token.public_key(k.label)) != k.public_key_der:
                raise SignerError(f"token {token.label!r} already holds a different key "
                                  f"labelled {k.label!r}: restore onto a fresh token")
            result.kept.append(k.label)
            continue
        token.unwrap_key(k.wrapped, k.label, k.algorithm, public, k.key_id)
        result.restored.append(k)


def _has_backup_key(token: Token, pin: str) -> bool:
    token.login(pin)
    try:
        return hsm_backup.has_backup_key(token)
    finally:
        token.close()
