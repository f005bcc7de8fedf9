"""The online side (RA): RA keys, packing request bundles, verifying and unpacking results.

This module runs on a connected machine and never touches a token. CSR bytes travel
verbatim: the packer checks only that files exist and are within the size cap; the
appliance, not the packer, judges them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID

from signer.core.crl import crl_signed_by
from signer.errors import SignerError
from signer.service.audit import verify_bundle_proofs
from signer.service.outputs import FORMATS, SUFFIXES, encode
from signer.store.files import check_new_output, fsync_dir, write_new
from transfer import bundle as tb
from transfer.appkey import AppKeyError, app_key
from transfer.errors import TransferError
from transfer.usb import read_file

MAX_SPEC = 4 * 1024 * 1024
MAX_CSR = 16 * 1024
MAX_KEY_FILE = 64 * 1024


def keygen(out: Path) -> tuple[Path, Path]:
    pub_path = out.with_name(out.name + ".pub")
    check_new_output(out)
    check_new_output(pub_path)
    key = ed25519.Ed25519PrivateKey.generate()
    write_new(out, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()), mode=0o600)
    write_new(pub_path, key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo), mode=0o644)
    return out, pub_path


def _read(path: Path, limit: int) -> bytes:
    """A bounded read of a regular file (a directory or a device is a clear error)."""
    try:
        return read_file(path, limit)
    except TransferError as exc:
        raise SignerError(str(exc)) from None


def load_private_key(path: Path) -> ed25519.Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(_read(path, MAX_KEY_FILE), password=None)
    except (ValueError, TypeError) as exc:
        raise SignerError(f"{path}: not a PEM private key ({exc})") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise SignerError(f"{path}: RA keys are Ed25519")
    return key


def load_public_key(path: Path, *, appliance: bool = False) -> bytes:
    """A public key from PEM, as key bytes: an RA's (Ed25519, 32 raw bytes), or with
    ``appliance`` the appliance's (Ed25519, or ECDSA P-256/P-384 as DER SPKI; transfer.appkey)."""
    try:
        key = serialization.load_pem_public_key(_read(path, MAX_KEY_FILE))
    except (ValueError, TypeError) as exc:
        raise SignerError(f"{path}: not a PEM public key ({exc})") from None
    if appliance:
        try:
            return app_key(key).raw
        except AppKeyError as exc:
            raise SignerError(f"{path}: {exc}") from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise SignerError(f"{path}: expected an Ed25519 public key")
    return key.public_bytes_raw()


def _read_spec(path: Path) -> dict[str, Any]:
    try:
        spec = json.loads(_read(path, MAX_SPEC).decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise SignerError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(spec, dict) or set(spec) - {"requests", "revocations", "batch_id", "ra"}:
        raise SignerError(f"{path}: expected an object with 'requests' and 'revocations'")
    return spec


def pack(spec_path: Path, ra_key: Path, seq: int, out: Path, *, ra: str | None = None,
         created: dt.datetime | None = None) -> tuple[str, str]:
    """Build a signed request bundle from SPEC.json; returns (batch id, digest)."""
    check_new_output(out)
    spec = _read_spec(spec_path)
    key = load_private_key(ra_key)
    ra_name = ra or spec.get("ra") or ra_key.stem
    requests = []
    for i, r in enumerate(spec.get("requests", [])):
        if not isinstance(r, dict) or not isinstance(r.get("csr"), str):
            raise SignerError(f"requests[{i}]: needs a 'csr' path")
        csr_path = (spec_path.parent / r["csr"]).resolve()
        try:
            csr = read_file(csr_path, MAX_CSR)
        except TransferError as exc:
            raise SignerError(f"requests[{i}]: {exc}") from None
        item = dict(r)
        item["csr"] = csr
        requests.append(item)
    when = (created or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    batch_id = spec.get("batch_id") or f"{ra_name}-{seq}"
    body = {"batch_id": batch_id, "ra": ra_name, "sequence": seq, "created": when,
            "requests": requests, "revocations": spec.get("revocations", [])}
    raw = tb.encode_request_bundle(body, key.sign, key.public_key().public_bytes_raw())
    write_new(out, raw, mode=0o644)
    return batch_id, hashlib.sha256(raw).hexdigest()


def check_answers_request(body: tb.ResultBody, request_raw: bytes,
                          chain: dict[str, x509.Certificate]) -> int:
    """The result answers the RA's own request bundle: every certificate is for a request of
    it, with the CSR's key, on the CA asked for, and names only among the facts verified (I8).
    An independent check on the online side of what the appliance promises; returns the
    number of certificates checked."""
    if hashlib.sha256(request_raw).hexdigest() != body.request_digest:
        raise SignerError("the result answers another request bundle (its digest differs)")
    try:
        requests = {r.id: r for r in tb.read_own_request_bundle(request_raw).requests}
    except TransferError as exc:
        raise SignerError(f"the request bundle cannot be read: {exc}") from None
    ids = [o.id for o in body.outcomes]
    if sorted(ids) != sorted(requests):
        raise SignerError("the result's outcomes are not one per request of the bundle")
    n = 0
    for o in body.outcomes:
        if o.status != "issued":
            continue
        req = requests[o.id]
        cert = _load_cert(o.certificate, f"certificate for request {o.id!r}")
        try:
            csr = (x509.load_pem_x509_csr(req.csr) if req.csr.lstrip().startswith(b"-----")
                   else x509.load_der_x509_csr(req.csr))
            csr_key = csr.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        except ValueError:
            raise SignerError(f"request {o.id!r}: a certificate was issued for an unreadable "
                              "CSR") from None
        cert_key = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        if cert_key != csr_key:
            raise SignerError(f"request {o.id!r}: the certificate is not for the CSR's key")
        issuer = chain.get(req.ca)
        if issuer is None or cert.issuer != issuer.subject:
            raise SignerError(f"request {o.id!r}: not issued by CA {req.ca!r} as asked")
        verified = set(req.verified.dns) | set(req.verified.email)
        names = set(_names_of(cert))
        cns = {a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)}
        allowed_cn = verified | ({req.verified.name} if req.verified.name else set())
        parts = {(a.oid, a.value) for a in cert.subject
                 if a.oid in (NameOID.GIVEN_NAME, NameOID.SURNAME)}
        allowed_parts = {(NameOID.GIVEN_NAME, req.verified.given_name),
                         (NameOID.SURNAME, req.verified.surname)}
        if not names <= verified or not cns <= allowed_cn or not parts <= allowed_parts:
            raise SignerError(f"request {o.id!r}: the certificate names something the RA did "
                              "not verify")
        n += 1
    return n


def _names_of(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(g.value) for g in san]


def verify_result(path: Path, trust: Path, out_dir: Path,
                  request: Path | None = None) -> dict[str, Any]:
    """Verify a result bundle as the online side does, then unpack it into ``out_dir``."""
    appliance_key = load_public_key(trust, appliance=True)
    raw = _read(path, tb.MAX_RESULT_FILE)
    res = tb.parse_result_bundle(raw, appliance_key)
    body = res.body
    chain = {c.ca: _load_cert(c.certificate, f"chain certificate {c.ca!r}") for c in body.chain}
    roots = [c for c in chain.values() if c.issuer == c.subject]
    if not roots:
        raise SignerError("the result bundle carries no root certificate")
    for name, cert in chain.items():
        _check_issued_by_chain(cert, chain, f"chain certificate {name!r}")
    files: dict[str, bytes] = {}
    for o in body.outcomes:
        if o.status != "issued":
            continue
        cert = _load_cert(o.certificate, f"certificate for request {o.id!r}")
        _check_issued_by_chain(cert, chain, f"certificate for request {o.id!r}")
        if format(cert.serial_number, "x") != o.serial:
            raise SignerError(f"certificate for request {o.id!r} has another serial")
        files[f"certs/{o.id}.pem"] = (o.certificate or "").encode()  # as signed, not re-encoded
        to_root = _path_to_root(cert, chain)
        for fmt in FORMATS:  # what relying parties and servers load (signer.service.outputs)
            if fmt != "pem":
                files[f"certs/{o.id}{SUFFIXES[fmt]}"] = encode(to_root, fmt)
    for c in body.crls:
        try:
            crl = x509.load_pem_x509_crl(c.crl.encode())
        except ValueError:
            raise SignerError(f"CRL {c.number} of {c.ca!r} is not a valid X.509 CRL") from None
        issuer = chain.get(c.ca)
        if issuer is None or not crl_signed_by(crl, issuer):
            raise SignerError(f"CRL {c.number} of {c.ca!r} does not verify")
        files[f"crls/{c.ca}-{c.number}.crl"] = c.crl.encode()
    proofs = verify_bundle_proofs(body, appliance_key)
    answered = None
    if request is not None:
        answered = check_answers_request(body, _read(request, tb.MAX_REQUEST_FILE), chain)
    for name, cert in chain.items():
        files[f"chain/{name}.pem"] = cert.public_bytes(serialization.Encoding.PEM)
        files[f"chain/{name}.der"] = cert.public_bytes(serialization.Encoding.DER)
        files[f"chain/{name}.p7b"] = encode(_path_to_root(cert, chain), "p7b")
    files["checkpoint"] = body.log.checkpoint.encode()
    summary = {"batch": body.batch_id, "request_digest": body.request_digest,
               "issued": sum(o.status == "issued" for o in body.outcomes),
               "rejected": sum(o.status == "rejected" for o in body.outcomes),
               "crls": len(body.crls), "proofs_verified": proofs, "rehearsal": body.rehearsal,
               "checked_against_request": answered,
               "outcomes": [{"id": o.id, "status": o.status, "serial": o.serial,
                             "reasons": [{"code": r.code, "message": r.message} for r in o.reasons]}
                            for o in body.outcomes]}
    files["outcomes.json"] = json.dumps(summary, indent=2, sort_keys=True).encode()
    _write_tree(out_dir, files)
    return summary


def _check_issued_by_chain(cert: x509.Certificate, chain: dict[str, x509.Certificate],
                           what: str) -> None:
    """``cert`` has its issuer among the bundle's CA certificates and verifies against it."""
    issuer = next((c for c in chain.values() if c.subject == cert.issuer), None)
    if issuer is None:
        raise SignerError(f"{what} has no issuer in the bundle's chain")
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        raise SignerError(f"{what} does not verify") from None


def _path_to_root(cert: x509.Certificate,
                  chain: dict[str, x509.Certificate]) -> list[x509.Certificate]:
    """``cert`` then its issuers from the bundle's chain (each already verified), up to a
    self-issued root; as many steps as the chain has certificates, at most."""
    path = [cert]
    while path[-1].issuer != path[-1].subject and len(path) <= len(chain):
        issuer = next((c for c in chain.values() if c.subject == path[-1].issuer), None)
        if issuer is None:
            break
        path.append(issuer)
    return path


def _load_cert(pem: str | None, what: str) -> x509.Certificate:
    """The bundle checks PEM shape only; X.509 is checked here (a ValueError is no answer)."""
    try:
        if pem is None:
            raise ValueError("no certificate")
        return x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        raise SignerError(f"{what} is not a valid X.509 certificate") from None


def _write_tree(out_dir: Path, files: dict[str, bytes]) -> None:
    if out_dir.exists() and any(out_dir.iterdir()):
        raise SignerError(f"{out_dir}: not empty; results are never unpacked over other files")
    out_dir.mkdir(parents=True, exist_ok=True)
    for rel, data in sorted(files.items()):
        p = out_dir / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        write_new(p, data, mode=0o644)
    fsync_dir(out_dir)
    os.sync()
