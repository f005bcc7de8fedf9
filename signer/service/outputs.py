"""The forms of a certificate a relying party expects, besides one PEM block.

- ``pem``: the certificate alone, PEM (RFC 7468);
- ``der``: the certificate alone, DER;
- ``fullchain``: the certificate then its issuers up to, not including, the root, PEM (what
  TLS servers send, RFC 8446 §4.4.2: the root is the relying party's own);
- ``p7b``: PKCS#7 certs-only (RFC 2315 §9.1 SignedData without signers), DER, the whole chain
  with the root (what Windows and Java tools import).

Used by `ca show --out` and by `result verify`, which writes each form for every certificate.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from signer.store.files import check_new_output, write_new

FORMATS = ("pem", "der", "fullchain", "p7b")
SUFFIXES = {"pem": ".pem", "der": ".der", "fullchain": ".fullchain.pem", "p7b": ".p7b"}


def _self_issued(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject


def encode(chain: Sequence[x509.Certificate], fmt: str) -> bytes:
    """``chain``: the certificate first, then each issuer, the root (if known) last."""
    if not chain:
        raise ValueError("an empty chain")
    if fmt == "pem":
        return chain[0].public_bytes(serialization.Encoding.PEM)
    if fmt == "der":
        return chain[0].public_bytes(serialization.Encoding.DER)
    if fmt == "fullchain":
        keep = [c for i, c in enumerate(chain) if i == 0 or not _self_issued(c)]
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in keep)
    if fmt == "p7b":
        return pkcs7.serialize_certificates(list(chain), serialization.Encoding.DER)
    raise ValueError(f"unknown format {fmt!r}")


def encode_chain(chain: Sequence[x509.Certificate], fmt: str, out: Path) -> None:
    check_new_output(out)
    write_new(out, encode(chain, fmt), mode=0o644)
