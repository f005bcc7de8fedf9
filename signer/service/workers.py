"""Signing worker processes: each opens its own token session and issues certificates.

python-pkcs11 keeps login state per process and initialises the module without OS locking,
so parallel signing uses processes (``spawn``: a fork would share the parent's PKCS#11 state).
A worker receives the PIN once at start-up through its pipe; it never writes it anywhere, and
it turns core dumps off before it logs in (I10). Workers only build, lint, sign and verify:
recording in the ledger and the log stays with the ceremony process, which logs every intent
before handing a job out (I2).
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from cryptography import x509

from hsm.token import Token
from signer.core.config import Config, parse_config
from signer.core.issuance import Failed, Issued, Job, issue_one
from signer.core.profiles import spki_sha256
from signer.errors import SignerError
from signer.store.secrets import harden_process

_state: dict[str, Any] = {}


def _init(module: str, label: str, pin: str, config_text: str) -> None:
    harden_process()
    token = Token(module, label=label)
    token.login(pin)
    # The ceremony process's configuration, as it read it (not the file, which could change).
    _state.update(token=token, config=parse_config(config_text), keys={}, certs={})


def _issue(ca: str, key_label: str, ca_der: bytes, ca_spki: str, jobs: list[Job],
           now: dt.datetime) -> list[Issued | Failed]:
    keys, certs = _state["keys"], _state["certs"]
    if ca not in keys:
        key = _state["token"].signing_key(key_label)  # I1 checked on load
        if spki_sha256(key.public_key()) != ca_spki:
            raise SignerError(f"key {key_label!r} does not match CA {ca!r}")
        keys[ca], certs[ca] = key, x509.load_der_x509_certificate(ca_der)
    cfg: Config = _state["config"]
    return [issue_one(cfg, job, keys[ca], certs[ca], now) for job in jobs]


class WorkerPool:
    """A pool of signing processes logged in to the same token."""

    def __init__(self, n: int, module: str, label: str, pin: str, config_text: str) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.n = n
        self.pool = ProcessPoolExecutor(n, mp_context=ctx, initializer=_init,
                                        initargs=(module, label, pin, config_text))

    def submit(self, ca: str, key_label: str, ca_der: bytes, ca_spki: str, jobs: list[Job],
               now: dt.datetime) -> Future[list[Issued | Failed]]:
        return self.pool.submit(_issue, ca, key_label, ca_der, ca_spki, jobs, now)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
