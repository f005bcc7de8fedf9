"""Making a home (`signer init`): the configuration, the ledger, the log, the log key.

With a quorum, a random master secret is split with SLIP-39 into the custodians' share files
and the token's user PIN is re-keyed to a PIN derived from it; nobody ever learns the PIN.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

from hsm.token import Token
from signer.core import quorum
from signer.core.clock import format_time, utc_now
from signer.core.config import default_toml, parse_quorum
from signer.errors import SignerError
from signer.service.cards import write_share_cards
from signer.service.session import Credentials, Session, obtain_pin
from signer.store.files import OutputError, write_new
from signer.store.home import HomePaths
from signer.store.log import CeremonyLog
from signer.version import session_facts

LOG_KEY_LABEL = "appliance-log"


def init_home(home: Path, *, module: str, token_label: str, creds: Credentials,
              rehearsal: bool, quorum_spec: str | None, shares_out: Path | None,
              at: dt.datetime | None, name: str | None = None,
              share_cards: Path | None = None) -> list[Path]:
    """Create HOME on a token; returns the share files and cards written (one per custodian)."""
    try:
        return _init(home, module, token_label, creds, rehearsal, quorum_spec, shares_out, at,
                     name, share_cards)
    finally:
        creds.wipe()


def _init(home: Path, module: str, token_label: str, creds: Credentials, rehearsal: bool,
          quorum_spec: str | None, shares_out: Path | None, at: dt.datetime | None,
          name: str | None, share_cards: Path | None = None) -> list[Path]:
    paths = HomePaths(home)
    if paths.config.exists():
        raise SignerError(f"{home}: already initialised; a home is never re-initialised")
    if at is None and not rehearsal:
        raise SignerError("confirm the ceremony time with --at YYYY-MM-DDTHH:MM:SSZ (I9)")
    m_n = parse_quorum(quorum_spec) if quorum_spec else None
    if m_n and shares_out is None and share_cards is None:
        raise SignerError("--quorum needs --shares-out DIR (share files) or --share-cards DIR "
                          "(printable cards) for the custodians' shares")
    if shares_out is not None and not m_n:
        raise SignerError("--shares-out is only used with --quorum")
    if share_cards is not None and not m_n:
        raise SignerError("--share-cards is only used with --quorum")
    for out in (shares_out, share_cards):
        if out is not None and out.exists() and any(out.iterdir()):
            raise OutputError(f"{out}: not empty; share files are never overwritten")
    if home.exists() and any(p.name != "log" for p in home.iterdir()):
        raise OutputError(f"{home}: exists and is not empty")

    token = Token(module, label=token_label)
    pin = obtain_pin(creds, f"user PIN of token {token_label!r}")
    token.login(pin)
    if any(k.label == LOG_KEY_LABEL for k in token.list_keys()):
        token.close()
        raise SignerError(
            f"token {token_label!r} already holds a key {LOG_KEY_LABEL!r}: use a fresh token")

    # The log key first: share cards carry its fingerprint, and every card is written before
    # the PIN is re-keyed (a failed write must not leave a token nobody can unlock).
    log_attrs = token.generate_key(LOG_KEY_LABEL, "ed25519")
    log_pub = token.public_key(LOG_KEY_LABEL)
    if not isinstance(log_pub, ed25519.Ed25519PublicKey):
        raise SignerError("the token returned a log key that is not Ed25519")

    share_files: list[Path] = []
    if m_n:
        master, mnemonics = quorum.split_secret(*m_n)
        if shares_out is not None:
            shares_out.mkdir(parents=True, exist_ok=True)
            for i, words in enumerate(mnemonics, 1):
                p = shares_out / f"share-{i}-of-{m_n[1]}.txt"
                write_new(p, (words + "\n").encode(), mode=0o600)
                share_files.append(p)
        if share_cards is not None:
            share_files += [f for card in write_share_cards(
                share_cards, mnemonics, appliance=name or f"airgap-signer/{token_label}",
                log_public_key=log_pub.public_bytes_raw(), made_at=at or utc_now(),
                rehearsal=rehearsal) for f in (card.html, card.pdf)]
        new_pin = quorum.derive_pin(master)
        token.set_user_pin(pin, new_pin)
        del master, mnemonics, new_pin
    del pin

    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(home, 0o700)  # I10: the ledger, the log and the config are the owner's only
    for d in (paths.log_dir, paths.certs, paths.crls, paths.results):
        d.mkdir(mode=0o700, exist_ok=True)
    origin = name or f"airgap-signer/{token_label}"
    CeremonyLog.open(paths.log, origin, create=True)
    write_new(paths.config, default_toml(
        name=origin, module=module, token_label=token_label, rehearsal=rehearsal,
        quorum=quorum_spec).encode(), mode=0o600)
    s = Session(home)
    s.ledger.set_meta("log_public_key", log_pub.public_bytes_raw().hex())
    s.ledger.set_meta("created", format_time(at or utc_now()))
    s.adopt_token(token, at)  # the token logged in above, before the PIN was re-keyed
    try:
        s.log_event("appliance.init", {
            **session_facts(), "rehearsal": rehearsal, "module": module, "token": token_label,
            "quorum": quorum_spec or None, "share_files": [p.name for p in share_files],
            "log_key": log_attrs.to_json(), "log_public_key": log_pub.public_bytes_raw().hex(),
            "config_sha256": s.config.digest,
        })
    finally:
        s.close()
    return share_files
