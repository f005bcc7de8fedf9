"""The few DER structures the appliance reads and writes itself: a signed object's outer
SEQUENCE (certificate, CRL), the TBS's ``signature`` field, and CRL entries.

A certificate and a CRL share one shape (RFC 5280 §4.1, §5.1):
``SEQUENCE { tbs, signatureAlgorithm AlgorithmIdentifier, signatureValue BIT STRING }``.
The token's signature is attached to the exact TBS bytes that were linted (``encode_signed``),
and every signed object is taken apart again (``split_signed``) to check, by comparing bytes,
what pkilint would otherwise have to be run a second time for (revised I6): the TBS is the
linted one, the outer algorithm equals the TBS ``signature`` field, the signature value is a
well-formed BIT STRING, and nothing follows.

Deliberately strict and small: definite, minimal lengths only; low tag numbers only; no
general ASN.1 (``cryptography`` parses everything else, and parses every result again).
"""

from __future__ import annotations

from dataclasses import dataclass

from signer.errors import SignerError

SEQUENCE = 0x30
BIT_STRING = 0x03
INTEGER = 0x02
OCTET_STRING = 0x04
ENUMERATED = 0x0A
UTC_TIME = 0x17
GENERALIZED_TIME = 0x18
CONTEXT_0 = 0xA0  # [0] EXPLICIT, constructed


class DERError(SignerError):
    """Bytes that are not the DER this module expects."""


def encode_length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + encode_length(len(content)) + content


def read_header(buf: bytes | memoryview, pos: int, limit: int | None = None
                ) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the element at ``pos``, which must end by
    ``limit`` (the end of ``buf`` by default); DER only."""
    end = len(buf) if limit is None else limit
    if pos + 2 > end:
        raise DERError("truncated element")
    tag = buf[pos]
    if tag & 0x1F == 0x1F:
        raise DERError("high tag numbers are not used here")
    first = buf[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4:
            raise DERError("indefinite or oversized length")
        if pos + count > end:
            raise DERError("truncated length")
        length = int.from_bytes(buf[pos:pos + count], "big")
        if buf[pos] == 0 or length < 0x80:
            raise DERError("length not minimally encoded")
        pos += count
    if pos + length > end:
        raise DERError("element longer than its container")
    return tag, pos, pos + length


def children(buf: bytes | memoryview, start: int, end: int) -> list[tuple[int, int, int]]:
    """(tag, element start, element end) of each element in ``buf[start:end]``."""
    out = []
    pos = start
    while pos < end:
        tag, _, stop = read_header(buf, pos, end)
        out.append((tag, pos, stop))
        pos = stop
    return out


@dataclass(frozen=True)
class Signed:
    """A certificate or CRL taken apart: the three elements as exact DER (the TBS a view into
    the object's bytes: a large CRL is not copied)."""

    tbs: memoryview
    algorithm: bytes
    signature: bytes  # the BIT STRING's content octets, without the unused-bits octet


def split_signed(der: bytes) -> Signed:
    """Take a certificate or CRL apart, refusing anything but exactly three elements in one
    SEQUENCE that spans the whole input, the last a BIT STRING with no unused bits."""
    tag, start, end = read_header(der, 0)
    if tag != SEQUENCE or end != len(der):
        raise DERError("not one SEQUENCE spanning the whole object")
    parts = children(der, start, end)
    if [t for t, _, _ in parts] != [SEQUENCE, SEQUENCE, BIT_STRING]:
        raise DERError("not SEQUENCE { tbs, signatureAlgorithm, BIT STRING }")
    (_, a0, a1), (_, b0, b1), (_, c0, c1) = parts
    _, sig_start, _ = read_header(der, c0)
    if sig_start >= c1 or der[sig_start] != 0 or sig_start + 1 >= c1:
        raise DERError("the signature BIT STRING is empty or has unused bits")
    view = memoryview(der)
    return Signed(view[a0:a1], bytes(view[b0:b1]), bytes(view[sig_start + 1:c1]))


def encode_signed(tbs: bytes | memoryview, algorithm: bytes, signature: bytes) -> bytes:
    """The signed object: the TBS bytes as given, never re-encoded (one allocation)."""
    bits = tlv(BIT_STRING, b"\x00" + signature)
    n = len(tbs) + len(algorithm) + len(bits)
    return b"".join((bytes((SEQUENCE,)), encode_length(n), tbs, algorithm, bits))


def tbs_signature_field(tbs: bytes | memoryview, kind: str) -> bytes:
    """The DER of the TBS's ``signature`` AlgorithmIdentifier (RFC 5280 §4.1.2.3, §5.1.2.2).

    TBSCertificate: [0] version, serialNumber, *signature*; TBSCertList: version (optional
    INTEGER), *signature*.
    """
    tag, start, end = read_header(tbs, 0)
    if tag != SEQUENCE or end != len(tbs):
        raise DERError("the TBS is not one SEQUENCE")
    parts = children(tbs, start, end)
    expected = ([CONTEXT_0, INTEGER] if kind == "certificate" else
                [INTEGER] if parts and parts[0][0] == INTEGER else [])
    if [t for t, _, _ in parts[:len(expected)]] != expected or len(parts) <= len(expected) \
            or parts[len(expected)][0] != SEQUENCE:
        raise DERError(f"the {kind} TBS has no signature AlgorithmIdentifier where RFC 5280 "
                       "puts it")
    _, s0, s1 = parts[len(expected)]
    return bytes(tbs[s0:s1])


def encode_integer(value: int) -> bytes:
    """A non-negative INTEGER, minimal two's complement (a leading 0x00 when the top bit is set)."""
    if value < 0:
        raise DERError("negative integers are not used here")
    body = value.to_bytes(value.bit_length() // 8 + 1, "big")
    return tlv(INTEGER, body)


__all__ = ["DERError", "Signed", "children", "encode_integer", "encode_length", "encode_signed",
           "read_header", "split_signed", "tbs_signature_field", "tlv"]
