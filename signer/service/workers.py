"""Signing worker processes: each opens its own token session and issues certificates.

python-pkcs11 keeps login state per process and initialises the module without OS locking,
so parallel signing uses processes (``spawn``: a fork would share the parent's PKCS#11 state).
A worker receives the PIN once at start-up through its pipe; it never writes it anywhere, and
it turns core dumps off before it logs in (I10). Workers only build, lint, sign and verify:
recording in the ledger and the log stays with the ceremony process, which logs every intent
before handing a job out (I2).

One pool serves one token (a CA key may live on a token other than the main one, issue 13).
A key restored from a backup is opened only under the public key the log recorded for it, as
the ceremony process opens it (``Session.token_key``). The pool starts its processes at once and
each builds the linters it will need while the ceremony process prepares the first chunk:
start-up (interpreter, imports, pkilint's containers, login) overlaps with useful work instead
of delaying the first certificates.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_der_public_key

from hsm.token import Token
from signer.core.config import Config, parse_config
from signer.core.issuance import Failed, Issued, Job, issue_one
from signer.core.lint import prepare_linters
from signer.core.profiles import spki_sha256
from signer.errors import SignerError
from signer.store.secrets import harden_process

_state: dict[str, Any] = {}


def _init(module: str, label: str, serial: str | None, pin: str, config_text: str,
          kinds: tuple[str, ...], opening: Any) -> None:
    harden_process()
    # One process at a time finds the token and logs in: SoftHSM's file store, listed by one
    # process while another logs in, answered CKR_GENERAL_ERROR about once in 40 pool starts.
    with opening:
        token = Token(module, label=label, serial=serial)
        token.login(pin)
    # The ceremony process's configuration, as it read it (not the file, which could change).
    _state.update(token=token, config=parse_config(config_text), keys={}, certs={})
    prepare_linters(kinds)


def _ready() -> None:
    """A no-op job: submitting it starts the processes (and their ``_init``) at once."""


def _issue(ca: str, key_label: str, restored_public_der: bytes | None, ca_der: bytes,
           ca_spki: str, jobs: list[Job], now: dt.datetime) -> list[Issued | Failed]:
    keys, certs = _state["keys"], _state["certs"]
    if ca not in keys:
        extra = {} if restored_public_der is None else {
            "restored_public": load_der_public_key(restored_public_der)}
        key = _state["token"].signing_key(key_label, **extra)  # I1 checked on load
        if spki_sha256(key.public_key()) != ca_spki:
            raise SignerError(f"key {key_label!r} does not match CA {ca!r}")
        keys[ca], certs[ca] = key, x509.load_der_x509_certificate(ca_der)
    cfg: Config = _state["config"]
    return [issue_one(cfg, job, keys[ca], certs[ca], now) for job in jobs]


class WorkerPool:
    """A pool of signing processes logged in to one token."""

    def __init__(self, n: int, module: str, label: str, serial: str | None, pin: str,
                 config_text: str, kinds: tuple[str, ...] = ()) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.n = n
        self.pool = ProcessPoolExecutor(n, mp_context=ctx, initializer=_init,
                                        initargs=(module, label, serial, pin, config_text,
                                                  kinds, ctx.Lock()))
        self.pool.submit(_ready)  # start them now (spawn starts nothing before a job)

    def submit(self, ca: str, key_label: str, restored_public_der: bytes | None, ca_der: bytes,
               ca_spki: str, jobs: list[Job],
               now: dt.datetime) -> Future[list[Issued | Failed]]:
        return self.pool.submit(_issue, ca, key_label, restored_public_der, ca_der, ca_spki,
                                jobs, now)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
