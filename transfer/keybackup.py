"""The key backup file: CA keys (and the log key) wrapped under the home's trusted backup key.

    {"format": "airgap-signer/key-backup", "version": 1, "body": BASE64,
     "signature": {"alg": "ed25519" | "ecdsa-sha256", "key_id": HEX, "value": BASE64}}

``body`` is canonical JSON: ``appliance`` (the home's origin), ``created`` (ceremony time),
``log_size`` (entries in the log when it was made), ``backup_key`` (the check value of the
backup secret: which backup quorum restores it) and ``keys``, each with ``label``, ``token``,
``algorithm``, ``key_id`` (hex CKA_ID), ``public_key`` (base64 DER SubjectPublicKeyInfo) and
``wrapped`` (base64 CKM_AES_KEY_WRAP_PAD output). The signature is the appliance's log key over
``airgap-signer/key-backup/v1\\n`` + body bytes (transfer.appkey), so a file from another home, or
one edited after it was made, is refused before anything touches a token. The wrapped keys are
useless without the backup quorum; the file may travel on ordinary media.

Pure: bytes in, bytes out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from transfer.appkey import AppKey, AppKeyError, load_app_key
from transfer.errors import TransferError

FORMAT = "airgap-signer/key-backup"
VERSION = 1
MAX_FILE = 1 << 20
MAX_KEYS = 64
_ALGORITHMS = ("rsa-3072", "rsa-4096", "ec-p256", "ec-p384", "ed25519")
_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")  # a token name (signer.core.tokens)
_HEX = re.compile(r"(?:[0-9a-f]{2}){1,32}")


class BackupFileError(TransferError):
    """A key backup file that is malformed, oversized, or not signed by this home's key."""


@dataclass(frozen=True)
class BackedUpKey:
    label: str
    token: str
    algorithm: str
    key_id: bytes
    public_key_der: bytes
    wrapped: bytes

    @property
    def spki_sha256(self) -> str:
        return hashlib.sha256(self.public_key_der).hexdigest()


@dataclass(frozen=True)
class KeyBackup:
    appliance: str
    created: str
    log_size: int
    backup_key: str
    keys: tuple[BackedUpKey, ...]


def _message(body: bytes) -> bytes:
    return f"{FORMAT}/v{VERSION}\n".encode() + body


def _canonical(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise BackupFileError(f"backup file: {what} is not base64 text")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BackupFileError(f"backup file: {what} is not base64") from None
    if _b64(raw) != text:
        raise BackupFileError(f"backup file: {what} is not canonical base64")
    return raw


def encode_backup(backup: KeyBackup, sign: Callable[[bytes], bytes], public: AppKey) -> bytes:
    """The signed file; the signature is checked before the bytes are returned (I5)."""
    body = _canonical({
        "appliance": backup.appliance, "created": backup.created, "log_size": backup.log_size,
        "backup_key": backup.backup_key,
        "keys": [{"label": k.label, "token": k.token, "algorithm": k.algorithm,
                  "key_id": k.key_id.hex(), "public_key": _b64(k.public_key_der),
                  "wrapped": _b64(k.wrapped)} for k in backup.keys]})
    signature = sign(_message(body))
    if not public.verify(signature, _message(body)):
        raise BackupFileError("backup file: the log key's signature does not verify (I5)")
    raw = _canonical({"format": FORMAT, "version": VERSION, "body": _b64(body), "signature": {
        "alg": "ed25519" if public.is_ed25519 else "ecdsa-sha256",
        "key_id": hashlib.sha256(public.raw).hexdigest(), "value": _b64(signature)}}) + b"\n"
    parse_backup(raw, public.raw)  # what is written is what a restore accepts
    return raw


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise BackupFileError(f"backup file: duplicate key {k!r}")
        out[k] = v
    return out


def _object(doc: Any, keys: set[str], what: str) -> dict[str, Any]:
    if not isinstance(doc, dict) or set(doc) != keys:
        raise BackupFileError(f"backup file: {what} must have exactly {', '.join(sorted(keys))}")
    return doc


def parse_backup(raw: bytes, appliance_key: bytes) -> KeyBackup:
    """Verify the file under the home's pinned log key, then parse it strictly."""
    if len(raw) > MAX_FILE:
        raise BackupFileError(f"backup file: larger than {MAX_FILE} bytes")
    try:
        doc = json.loads(raw.decode("utf-8"), object_pairs_hook=_pairs)
        key = load_app_key(appliance_key)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BackupFileError(f"backup file: not JSON ({exc})") from None
    except AppKeyError as exc:
        raise BackupFileError(f"backup file: {exc}") from None
    d = _object(doc, {"format", "version", "body", "signature"}, "the file")
    if d["format"] != FORMAT or d["version"] != VERSION:
        raise BackupFileError(f"backup file: not an {FORMAT} v{VERSION} file")
    sig = _object(d["signature"], {"alg", "key_id", "value"}, "signature")
    if sig["key_id"] != hashlib.sha256(key.raw).hexdigest():
        raise BackupFileError("backup file: not signed by this home's log key (another home?)")
    body = _unb64(d["body"], "body")
    if not key.verify(_unb64(sig["value"], "signature"), _message(body)):
        raise BackupFileError("backup file: the signature does not verify (altered or damaged)")
    b = _object(json.loads(body.decode(), object_pairs_hook=_pairs),
                {"appliance", "created", "log_size", "backup_key", "keys"}, "body")
    if not isinstance(b["keys"], list) or not 0 < len(b["keys"]) <= MAX_KEYS:
        raise BackupFileError(f"backup file: 1 to {MAX_KEYS} keys expected")
    keys = []
    for i, k in enumerate(b["keys"]):
        k = _object(k, {"label", "token", "algorithm", "key_id", "public_key", "wrapped"},
                    f"key {i}")
        label_ok = isinstance(k["label"], str) and 0 < len(k["label"]) <= 64 and \
            k["label"].isprintable()
        if not label_ok or not isinstance(k["token"], str) or not _NAME.fullmatch(k["token"]) \
                or k["algorithm"] not in _ALGORITHMS or not _HEX.fullmatch(str(k["key_id"])):
            raise BackupFileError(f"backup file: key {i} has an invalid label, token, algorithm "
                                  "or key_id")
        keys.append(BackedUpKey(k["label"], k["token"], k["algorithm"], bytes.fromhex(k["key_id"]),
                                _unb64(k["public_key"], f"key {i} public_key"),
                                _unb64(k["wrapped"], f"key {i} wrapped")))
    return KeyBackup(str(b["appliance"]), str(b["created"]), int(b["log_size"]),
                     str(b["backup_key"]), tuple(keys))
