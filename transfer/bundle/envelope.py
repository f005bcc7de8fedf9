"""The signed envelope (``<format>/v1`` domain separation) and the public API: encode, parse
and verify request and result bundles.

Request bundles are signed by an RA's Ed25519 key. Result bundles are signed by the appliance's
key: Ed25519 (``"alg": "ed25519"``), or ECDSA over SHA-256 on P-256 or P-384
(``"alg": "ecdsa-sha256"``, canonical low-S DER; transfer.appkey) on tokens without Curve25519.
"""


from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from transfer.appkey import MAX_SIGNATURE_BYTES, AppKey, AppKeyError, load_app_key
from transfer.bundle.fields import (
    _HEX64,
    MAX_REQUEST_FILE,
    MAX_RESULT_FILE,
    REQUEST_FORMAT,
    RESULT_FORMAT,
    VERSION,
    Sign,
    _at,
    _check_int,
    _check_name,
    _check_pattern,
    _dumps,
    _DuplicateKeys,
    _fail,
    _kind,
    _loads,
    _short,
)
from transfer.bundle.models import (
    RequestBody,
    RequestBundle,
    ResultBody,
    ResultBundle,
)
from transfer.bundle.wire import (
    _b64,
    _b64e,
    _normalize,
    _obj,
    _parse_body,
    _request_body_from_wire,
    _request_body_to_wire,
    _result_body_from_wire,
    _result_body_to_wire,
    _with_b64,
)
from transfer.errors import BundleError

# --- envelope and signatures ------------------------------------------------------------------

def key_id(public_key_raw: bytes) -> str:
    """Hex SHA-256 of a raw 32-byte Ed25519 public key."""
    return hashlib.sha256(_check_key(public_key_raw, "public key")).hexdigest()


def signed_message(fmt: str, body: bytes) -> bytes:
    """The exact bytes that are signed: ``<format>/v1\\n`` then the body bytes (domain
    separation: a request signature can never pass as a result signature)."""
    return fmt.encode("ascii") + b"/v" + str(VERSION).encode("ascii") + b"\n" + body


def _check_key(key: object, path: str) -> bytes:
    if not isinstance(key, bytes) or len(key) != 32:
        _fail(path, "expected a raw 32-byte Ed25519 public key")
    return key


@dataclass(frozen=True)
class _Envelope:
    body: bytes
    key_id: str
    signature: bytes
    alg: str


def _parse_envelope(raw: bytes, fmt: str, limit: int) -> _Envelope:
    if not isinstance(raw, bytes):
        _fail("bundle", f"expected bytes, got {_kind(raw)}")
    if len(raw) > limit:  # before parsing: the cap is what bounds the parser's work
        _fail("bundle", f"larger than {limit} bytes ({len(raw)})")
    d = _obj(_loads(raw, "bundle"), ("format", "version", "body", "signature"))
    if d["format"] != fmt:
        _fail("format", f"expected {fmt!r}, got {_short(d['format'])}")
    _check_int(d["version"], "version", VERSION, VERSION)
    with _at("signature"):
        s = _obj(d["signature"], ("alg", "key_id", "value"))
        allowed = _ALGS if fmt == RESULT_FORMAT else ("ed25519",)
        if s["alg"] not in allowed:
            _fail("alg", f"expected {' or '.join(map(repr, allowed))}, got {_short(s['alg'])}")
        kid = _check_pattern(s["key_id"], "key_id", _HEX64, "64 lowercase hex digits")
        sig = _b64(s["value"], "value", MAX_SIGNATURE_BYTES)
        if s["alg"] == "ed25519" and len(sig) != 64:
            _fail("value", f"expected a 64-byte signature, got {len(sig)} bytes")
    return _Envelope(body=_b64(d["body"], "body", limit), key_id=kid, signature=sig,
                     alg=s["alg"])


_ALGS = ("ed25519", "ecdsa-sha256")


def _alg(key: AppKey) -> str:
    return "ed25519" if key.is_ed25519 else "ecdsa-sha256"


def _app_key(raw: bytes, path: str) -> AppKey:
    try:
        return load_app_key(raw)
    except AppKeyError as exc:
        _fail(path, str(exc))


def _verify(key: AppKey, fmt: str, env: _Envelope) -> None:
    if env.alg != _alg(key) or not key.verify(env.signature, signed_message(fmt, env.body)):
        _fail("signature", "does not verify (tampered, or signed by another key)")


def _encode(fmt: str, body: bytes, sign: Sign, public_key_raw: bytes, limit: int) -> bytes:
    key = _app_key(public_key_raw, "public_key_raw") if fmt == RESULT_FORMAT else \
        _app_key(_check_key(public_key_raw, "public_key_raw"), "public_key_raw")
    sig = sign(signed_message(fmt, body))
    if not isinstance(sig, bytes) or not 0 < len(sig) <= MAX_SIGNATURE_BYTES or \
            (key.is_ed25519 and len(sig) != 64):
        raise BundleError("signature: the signing callback must return the raw signature "
                          f"({'64 raw bytes' if key.is_ed25519 else 'DER ECDSA'})")
    env = _Envelope(body=body, key_id=hashlib.sha256(key.raw).hexdigest(), signature=sig,
                    alg=_alg(key))
    # Verify before release, so a faulty signer or a mismatched key never leaves (cf. I5).
    _verify(key, fmt, env)
    raw = _dumps({"format": fmt, "version": VERSION, "body": _b64e(body),
                  "signature": {"alg": env.alg, "key_id": env.key_id, "value": _b64e(sig)}})
    if len(raw) > limit:
        raise BundleError(f"bundle: larger than {limit} bytes ({len(raw)})")
    return raw


# --- public API -------------------------------------------------------------------------------

def encode_request_bundle(body: RequestBody | Mapping[str, Any], sign: Sign,
                          public_key_raw: bytes) -> bytes:
    """Pack and sign a request bundle (online side). ``body`` is a RequestBody or a dict in
    the wire shape, where each request's ``csr`` may be the raw CSR bytes (PEM or DER)."""
    if not isinstance(body, RequestBody):
        def csr_b64(r: Mapping[str, Any]) -> object:
            csr = r.get("csr")
            return {**r, "csr": _b64e(bytes(csr))} if isinstance(csr, bytes | bytearray) else r
        reqs = body.get("requests")
        if isinstance(reqs, list | tuple):
            body = {**body, "requests": [_with_b64(r, csr_b64) for r in reqs]}
        body = _normalize(body, _request_body_from_wire)
    if not isinstance(body, RequestBody):  # _normalize builds one or raises
        raise BundleError("body: not a request body")
    return _encode(REQUEST_FORMAT, _dumps(_request_body_to_wire(body)), sign, public_key_raw,
                   MAX_REQUEST_FILE)


def parse_request_bundle(raw: bytes, trusted: Mapping[str, bytes]) -> RequestBundle:
    """Verify and parse a request bundle; ``trusted`` maps RA name -> raw Ed25519 key.

    Accepted only if signed by the key pinned for the RA the body names (I7). The sequence
    is not checked here: compare ``body.sequence`` with the ledger before staging.
    """
    env = _parse_envelope(raw, REQUEST_FORMAT, MAX_REQUEST_FILE)
    signers = sorted(name for name, key in trusted.items()
                     if hashlib.sha256(_check_key(key, f"trusted[{name!r}]")).hexdigest()
                     == env.key_id)
    if not signers:
        _fail("signature.key_id", "not the key of any trusted RA")
    # The body is parsed only after the signature holds: nothing unauthenticated is read.
    _verify(_app_key(trusted[signers[0]], "trusted"), REQUEST_FORMAT, env)
    body: RequestBody = _parse_body(env.body, _request_body_from_wire)
    if body.ra not in signers:
        if body.ra in trusted:
            _fail("ra", f"names RA {body.ra!r}, but the key that signed is pinned for "
                        f"{signers[0]!r}")
        _fail("ra", f"RA {body.ra!r} is not trusted")
    return RequestBundle(raw=raw, digest=hashlib.sha256(raw).hexdigest(), body=body,
                         key_id=env.key_id)


def read_own_request_bundle(raw: bytes) -> RequestBody:
    """The body of a request bundle, its signature NOT checked: only for the RA reading back
    a file it packed itself (the caller matches its SHA-256 with the digest a result names)."""
    env = _parse_envelope(raw, REQUEST_FORMAT, MAX_REQUEST_FILE)
    body: RequestBody = _parse_body(env.body, _request_body_from_wire)
    return body


def peek_request_bundle_header(raw: bytes) -> tuple[str, str]:
    """(RA name, key id) of a request bundle, UNVERIFIED: only for finding the right key or
    saying which RA an unacceptable bundle claims to come from."""
    env = _parse_envelope(raw, REQUEST_FORMAT, MAX_REQUEST_FILE)
    doc = _loads(env.body, "body")
    if not isinstance(doc, dict) or isinstance(doc, _DuplicateKeys):
        _fail("body", f"expected an object, got {_kind(doc)}")
    return _check_name(doc.get("ra"), "ra"), env.key_id


def encode_result_bundle(body: ResultBody | Mapping[str, Any], sign: Sign,
                         public_key_raw: bytes) -> bytes:
    """Pack and sign a result bundle (appliance side; ``sign`` calls the HSM). ``body`` is a
    ResultBody or a dict in the wire shape, where consistency hashes may be raw bytes."""
    if not isinstance(body, ResultBody):
        def hashes_b64(log: Mapping[str, Any]) -> object:
            proof = log.get("consistency_proof")
            if not isinstance(proof, list | tuple):
                return log
            return {**log, "consistency_proof": [
                _b64e(bytes(h)) if isinstance(h, bytes | bytearray) else h for h in proof]}
        body = _normalize({**body, "log": _with_b64(body.get("log"), hashes_b64)},
                          _result_body_from_wire)
    if not isinstance(body, ResultBody):
        raise BundleError("body: not a result body")
    return _encode(RESULT_FORMAT, _dumps(_result_body_to_wire(body)), sign, public_key_raw,
                   MAX_RESULT_FILE)


def parse_result_bundle(raw: bytes, appliance_public_key_raw: bytes) -> ResultBundle:
    """Verify and parse a result bundle against the appliance's pinned key. Certificates,
    CRLs and log proofs are checked only for shape: X.509 and Merkle checks are the caller's."""
    key = _app_key(appliance_public_key_raw, "appliance_public_key_raw")
    env = _parse_envelope(raw, RESULT_FORMAT, MAX_RESULT_FILE)
    if env.key_id != hashlib.sha256(key.raw).hexdigest():
        _fail("signature.key_id", "not the pinned appliance key")
    _verify(key, RESULT_FORMAT, env)
    body: ResultBody = _parse_body(env.body, _result_body_from_wire)
    return ResultBundle(raw=raw, digest=hashlib.sha256(raw).hexdigest(), body=body,
                        key_id=env.key_id)
