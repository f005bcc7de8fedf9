"""Raw DER views of a CSR that `cryptography` does not expose (RFC 2986 §4, RFC 5280 §4.1).

What it does: reads, from DER that `cryptography` has already parsed strictly, the unused-bits
octet of the signature BIT STRING and the subjectPublicKey BIT STRING exactly as the subscriber
sent it. The policy needs both: DER forbids unused bits in a signature (OpenSSL ignores them),
and an EC point's encoding form (RFC 5480 §2.2) and an Ed25519 key's exact 32 bytes are lost
once `cryptography` has turned them into a key object.

What it deliberately does not: validate the structure (the caller parsed it first), decode
anything but tags and lengths, or accept indefinite lengths (DER has none). On malformed input
it raises ValueError or IndexError, which the policy turns into a refusal.
"""

from __future__ import annotations


def _header(der: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of the value, end of the value) of the element at pos (X.690 §8.1)."""
    tag = der[pos]
    length = der[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 4:
            raise ValueError("indefinite or oversized DER length")
        length = int.from_bytes(der[pos:pos + n], "big")
        pos += n
    end = pos + length
    if end > len(der):
        raise ValueError("DER element runs past the end of its input")
    return tag, pos, end


def signature_unused_bits(csr_der: bytes) -> int:
    """The unused-bits octet of the CSR's final element, the signature BIT STRING."""
    _, pos, _ = _header(csr_der, 0)  # CertificationRequest SEQUENCE
    for _ in range(2):  # certificationRequestInfo, signatureAlgorithm
        _, _, pos = _header(csr_der, pos)
    tag, start, _ = _header(csr_der, pos)
    if tag != 0x03:
        raise ValueError("signature is not a BIT STRING")
    return csr_der[start]


def _spki(cri_der: bytes) -> int:
    """Where the subjectPKInfo's content starts in a CertificationRequestInfo.

    CertificationRequestInfo ::= SEQUENCE { version, subject, subjectPKInfo, attributes }
    """
    _, pos, _ = _header(cri_der, 0)
    for _ in range(2):  # version, subject
        _, _, pos = _header(cri_der, pos)
    tag, spki, _ = _header(cri_der, pos)
    if tag != 0x30:
        raise ValueError("subjectPKInfo is not a SEQUENCE")
    return spki


def subject_public_key_algorithm(cri_der: bytes) -> tuple[bytes, bytes]:
    """The subjectPKInfo's algorithm OBJECT IDENTIFIER and its parameters, each as DER (tag,
    length, value); the parameters are b"" when absent.

    SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey }
    AlgorithmIdentifier ::= SEQUENCE { algorithm OBJECT IDENTIFIER, parameters ANY OPTIONAL }
    """
    _, start, end = _header(cri_der, _spki(cri_der))
    tag, _, oid_end = _header(cri_der, start)
    if tag != 0x06:
        raise ValueError("the key algorithm is not an OBJECT IDENTIFIER")
    return cri_der[start:oid_end], cri_der[oid_end:end]


def subject_public_key(cri_der: bytes) -> bytes:
    """The subjectPublicKey BIT STRING's content bits, as sent, from a CertificationRequestInfo."""
    _, _, pos = _header(cri_der, _spki(cri_der))  # algorithm
    tag, start, end = _header(cri_der, pos)
    if tag != 0x03 or start == end or cri_der[start] != 0:
        raise ValueError("subjectPublicKey is not a whole-octet BIT STRING")
    return cri_der[start + 1:end]
