"""Making a home (`signer init`): the configuration, the ledger, the log, the log key.

With a quorum, a random master secret is split with SLIP-39 into the custodians' share files
and the token's user PIN is re-keyed to a PIN derived from it; nobody ever learns the PIN.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hsm.backup import backup_log_key_algorithm
from hsm.modules import check_trusted_module
from hsm.pins import PinPlan, derive_pin, plan_pin
from hsm.token import Token
from signer.core import quorum
from signer.core.clock import format_time, utc_now
from signer.core.config import default_toml, parse_quorum
from signer.core.profiles import spki_sha256
from signer.errors import SignerError
from signer.service.cards import write_share_cards
from signer.service.session import Credentials, Session, obtain_pin
from signer.store.files import OutputError, write_new
from signer.store.home import HomePaths
from signer.store.log import CeremonyLog
from signer.version import session_facts
from transfer.appkey import app_key

LOG_KEY_LABEL = "appliance-log"
LOG_KEY_ALGORITHMS = ("ed25519", "ec-p256", "ec-p384")


@dataclass
class InitOptions:
    """What `signer init` was asked for, beyond the home and the token."""

    rehearsal: bool = False
    quorum: str | None = None  # "M/N": the user PIN derived from SLIP-39 shares
    shares_out: Path | None = None
    backup: str | None = None  # "M/N": a backup quorum and trusted-wrap CA keys
    backup_shares_out: Path | None = None
    so_pin: str | None = None  # imports the backup key (with --backup)
    log_key_algorithm: str | None = None  # default: Ed25519 when the token offers it
    pin_prefix: str = ""  # YubiHSM 2: the authentication key id, e.g. "0001"
    pinpad: bool = False  # CKF_PROTECTED_AUTHENTICATION_PATH: the PIN pad asks
    name: str | None = None
    share_cards: Path | None = None  # printable cards (HTML and PDF), besides or instead of files


@dataclass
class InitResult:
    share_files: list[Path] = field(default_factory=list)
    backup_share_files: list[Path] = field(default_factory=list)
    log_key_algorithm: str = ""
    backup_fingerprint: str | None = None


def init_home(home: Path, *, module: str, token_label: str, creds: Credentials,
              at: dt.datetime | None, options: InitOptions) -> InitResult:
    """Create HOME on a token; returns the share files written (one per custodian)."""
    try:
        return _init(home, module, token_label, creds, at, options)
    finally:
        creds.wipe()
        options.so_pin = None


def _check(home: Path, paths: HomePaths, at: dt.datetime | None, o: InitOptions) -> None:
    if paths.config.exists():
        raise SignerError(f"{home}: already initialised; a home is never re-initialised")
    if at is None and not o.rehearsal:
        raise SignerError("confirm the ceremony time with --at YYYY-MM-DDTHH:MM:SSZ (I9)")
    if o.quorum and o.shares_out is None and o.share_cards is None:
        raise SignerError("--quorum needs --shares-out DIR (share files) or --share-cards DIR "
                          "(printable cards) for the custodians' shares")
    if o.share_cards is not None and not o.quorum:
        raise SignerError("--share-cards is only used with --quorum")
    for spec, out, opt, what in ((o.quorum, o.shares_out, "--shares-out", "--quorum"),
                                 (o.quorum, o.share_cards, "--share-cards", "--quorum"),
                                 (o.backup, o.backup_shares_out, "--backup-shares-out",
                                  "--backup")):
        if spec:
            parse_quorum(spec, what)
        if spec and out is None and what == "--backup":
            raise SignerError(f"{what} needs {opt} DIR for the custodians' share files")
        if out is not None and not spec:
            raise SignerError(f"{opt} is only used with {what}")
        if out is not None and out.exists() and any(out.iterdir()):
            raise OutputError(f"{out}: not empty; share files are never overwritten")
    if o.backup_shares_out is not None and o.backup_shares_out in (o.shares_out, o.share_cards):
        raise SignerError("unlock shares and backup shares go to different directories "
                          "(different custodians' envelopes)")
    if o.backup and not o.so_pin:
        raise SignerError("--backup needs the token's SO PIN (--so-pin-file FILE): the "
                          "Security Officer imports the backup key")
    if o.pinpad and o.quorum:
        raise SignerError("a PIN pad token is unlocked on its PIN pad, not by custodian shares")
    if o.log_key_algorithm is not None and o.log_key_algorithm not in LOG_KEY_ALGORITHMS:
        raise SignerError(f"--log-key-algorithm: one of {', '.join(LOG_KEY_ALGORITHMS)}")
    if home.exists() and any(p.name != "log" for p in home.iterdir()):
        raise OutputError(f"{home}: exists and is not empty")


def _write_shares(out: Path, mnemonics: list[str], stem: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for i, words in enumerate(mnemonics, 1):
        p = out / f"{stem}-{i}-of-{len(mnemonics)}.txt"
        write_new(p, (words + "\n").encode(), mode=0o600)
        files.append(p)
    return files


def _set_fact(mnemonics: list[str], spec: str) -> dict[str, Any]:
    m, n = parse_quorum(spec)
    return {"identifier": quorum.set_identifier(mnemonics), "threshold": m, "shares": n}


def _init(home: Path, module: str, token_label: str, creds: Credentials,
          at: dt.datetime | None, o: InitOptions) -> InitResult:
    paths = HomePaths(home)
    _check(home, paths, at, o)
    check_trusted_module(module)
    token = Token(module, label=token_label)
    pin = "" if o.pinpad else obtain_pin(creds, f"user PIN of token {token_label!r}")
    if o.pinpad:
        token.login_protected()
    else:
        token.login(pin)
    if token.label_in_use(LOG_KEY_LABEL):
        token.close()
        raise SignerError(
            f"token {token_label!r} already holds a key {LOG_KEY_LABEL!r}: use a fresh token")
    result = InitResult()
    facts: dict[str, Any] = {"unlock_set": None, "backup_set": None}

    if o.backup and o.backup_shares_out is not None and o.so_pin:
        # The SO imports the backup secret as the trusted wrapping key; it is never written
        # anywhere but in the custodians' backup shares (issue 13, I1 revised).
        token.close()
        secret, mnemonics = quorum.split_secret(*parse_quorum(o.backup))
        result.backup_fingerprint = token.import_backup_key(o.so_pin, secret)
        del secret
        result.backup_share_files = _write_shares(o.backup_shares_out, mnemonics,
                                                  "backup-share")
        facts["backup_set"] = {**_set_fact(mnemonics, o.backup),
                               "fingerprint": result.backup_fingerprint}
        del mnemonics
        if o.pinpad:
            token.login_protected()
        else:
            token.login(pin)

    plan = PinPlan()
    if o.quorum:  # fitted first: a token whose PIN cannot hold it is refused before any key
        plan = plan_pin(token.pin_limits(), prefix=o.pin_prefix, token=f"token {token_label!r}")

    algorithm = o.log_key_algorithm or (
        backup_log_key_algorithm(token) if o.backup else token.log_key_algorithm())
    log_attrs = token.generate_key(LOG_KEY_LABEL, algorithm, backup=bool(o.backup))
    log_pub = app_key(token.public_key(LOG_KEY_LABEL))
    result.log_key_algorithm = log_pub.algorithm

    if o.quorum:
        # The log key first (share cards carry its fingerprint); every share file and card
        # is written before the PIN is re-keyed: a failed write leaves the old PIN working.
        master, mnemonics = quorum.split_secret(*parse_quorum(o.quorum))
        new_pin = derive_pin(master, plan)
        del master
        if o.shares_out is not None:
            result.share_files = _write_shares(o.shares_out, mnemonics, "share")
        if o.share_cards is not None:
            result.share_files += [f for card in write_share_cards(
                o.share_cards, mnemonics, appliance=o.name or f"airgap-signer/{token_label}",
                log_public_key=log_pub.raw, made_at=at or utc_now(),
                rehearsal=o.rehearsal) for f in (card.html, card.pdf)]
        facts["unlock_set"] = _set_fact(mnemonics, o.quorum)
        del mnemonics
        token.set_user_pin(pin, new_pin)
        pin = new_pin
        del new_pin

    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(home, 0o700)  # I10: the ledger, the log and the config are the owner's only
    for d in (paths.log_dir, paths.certs, paths.crls, paths.results):
        d.mkdir(mode=0o700, exist_ok=True)
    origin = o.name or f"airgap-signer/{token_label}"
    CeremonyLog.open(paths.log, origin, create=True)
    write_new(paths.config, default_toml(
        name=origin, module=module, token_label=token_label, rehearsal=o.rehearsal,
        quorum=o.quorum, backup=o.backup, pin_plan=plan.to_config(),
        login="protected-path" if o.pinpad else "pin").encode(), mode=0o600)
    s = Session(home)
    s.ledger.set_meta("log_public_key", log_pub.raw.hex())
    s.ledger.set_meta("created", format_time(at or utc_now()))
    s.adopt_token(token, at, None if o.pinpad else pin)  # logged in above, PIN re-keyed
    del pin
    try:
        s.log_event("appliance.init", {
            **session_facts(), "rehearsal": o.rehearsal, "module": module, "token": token_label,
            "token_serial": token.serial, "quorum": o.quorum or None, "backup": o.backup or None,
            "share_files": [p.name for p in result.share_files],
            "backup_share_files": [p.name for p in result.backup_share_files],
            "pin_plan": plan.to_config(), "login": "protected-path" if o.pinpad else "pin",
            "log_key_label": LOG_KEY_LABEL, "log_key": log_attrs.to_json(),
            "log_key_algorithm": log_pub.algorithm, "log_public_key": log_pub.raw.hex(),
            "log_key_spki_sha256": spki_sha256(log_pub.key),
            "config_sha256": s.config.digest, **facts,
        })
    finally:
        s.close()
    return result
