"""Hostile keys for the key tests: CSRs carrying degenerate keys, with signatures that verify.

`cryptography` will not build a CSR for a key it cannot hold a private key for, so these CSRs
are assembled from DER: a real CSR is the template, its SubjectPublicKeyInfo is swapped for the
hostile one, and the CertificationRequestInfo is signed again, either by the real key behind the
new encoding (EC compressed/hybrid forms) or by a forgery the degenerate key allows:

- a small-order Ed25519 point A: the signature (R, S = 0) with R the encoding of -[k]A
  verifies, since [0]B = R + [k]A (RFC 8032 §5.1.7, cofactorless, as OpenSSL checks it);
  -[k]A is one of the 8 torsion points, so trying those 8 values of R finds it for about 2 in 3
  messages, and another message is tried otherwise;
- a mixed-order point A = [a]B + T (T of order 8) whose `a` the attacker knows: R = [r]B - [j]T,
  S = r + k*a verifies whenever k = j mod 8, one try in 8 (group arithmetic by libsodium);
- RSA with an even modulus, PKCS#1 v1.5 computed by hand (`cryptography` refuses the key).
"""

from __future__ import annotations

import functools
import hashlib
import random
import secrets
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

import gmpy2  # type: ignore[import-untyped]
import nacl.bindings as sodium
from badkeys.rsakeys import sharedprimes  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from tests.signer.policy_fixtures import (
    _enc,
    _key_from_primes,
    _random_prime,
    _tlv,
    ec_key,
    ed25519_key,
    split_csr,
)

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493  # RFC 8032 §5.1: the group order
IDENTITY = bytes([1]) + bytes(31)
ED25519_ALG = bytes.fromhex("300506032b6570")
ECDSA_SHA256 = bytes.fromhex("300a06082a8648ce3d040302")
SHA256_RSA = bytes.fromhex("300d06092a864886f70d01010b0500")
DIGEST_INFO_SHA256 = bytes.fromhex("3031300d060960864801650304020105000420")  # RFC 8017 §9.2


def y_encoding(y: int, sign: int = 0) -> bytes:
    """The 32-byte Ed25519 encoding of y with the sign bit of x (RFC 8032 §5.1.2)."""
    return (y | sign << 255).to_bytes(32, "little")


# The 8 points of small order, canonical encodings (libsodium ge25519_has_small_order; Chalkias
# et al., "Taming the many EdDSAs", 2020, Table 6): order 1, 2, 4 (x 2) and 8 (x 4).
ORDER_8_Y = 0x05FC536D880238B13933C6D305ACDFD5F098EFF289F4C345B027B2C28F95E826  # little-endian
SMALL_ORDER = {
    "identity": y_encoding(1),
    "order-2": y_encoding(P - 1),
    "order-4": y_encoding(0),
    "order-4-neg": y_encoding(0, 1),
    "order-8-a": y_encoding(ORDER_8_Y),
    "order-8-b": y_encoding(ORDER_8_Y, 1),
    "order-8-c": y_encoding(P - ORDER_8_Y),
    "order-8-d": y_encoding(P - ORDER_8_Y, 1),
}
# The same points in their other encodings: x = 0 with the sign bit set (RFC 8032 §5.1.3 step 4
# says decoding fails; OpenSSL decodes them), and y >= p (step 1: decoding fails; OpenSSL and
# libsodium reduce y mod p).
SMALL_ORDER_OTHER = {
    "identity-x-neg": y_encoding(1, 1),
    "order-2-x-neg": y_encoding(P - 1, 1),
    "identity-y+p": y_encoding(P + 1),
    "identity-y+p-x-neg": y_encoding(P + 1, 1),
    "order-4-y=p": y_encoding(P),
    "order-4-y=p-x-neg": y_encoding(P, 1),
}


def ed25519_spki(raw: bytes) -> bytes:
    return _enc(0x30, ED25519_ALG + _enc(0x03, b"\x00" + raw))


def ec_spki(curve: ec.EllipticCurve, point: bytes) -> bytes:
    template = ec.generate_private_key(curve).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    _, start, _ = _tlv(template, 0)
    _, _, alg_end = _tlv(template, start)
    return _enc(0x30, template[start:alg_end] + _enc(0x03, b"\x00" + point))


def _int(value: int) -> bytes:
    return _enc(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def rsa_spki(n: int, e: int) -> bytes:
    alg = bytes.fromhex("300d06092a864886f70d0101010500")
    return _enc(0x30, alg + _enc(0x03, b"\x00" + _enc(0x30, _int(n) + _int(e))))


def template_csr(*, attempt: int = 0, cn: str | None = None, dns: Iterable[str] = (),
                 emails: Iterable[str] = (), key: object = None) -> bytes:
    """A real CSR (Ed25519 unless `key` is given) whose SPKI the helpers below replace; the
    subject's O attribute carries `attempt`, so each attempt signs a different message."""
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"attempt {attempt}")]
    if cn is not None:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    sans = [x509.DNSName(d) for d in dns] + [x509.RFC822Name(e) for e in emails]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    signer = key if key is not None else ed25519_key()
    algorithm = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    csr = builder.sign(signer, algorithm)  # type: ignore[arg-type]
    return csr.public_bytes(serialization.Encoding.DER)


def with_spki(csr_der: bytes, spki: bytes) -> bytes:
    """The CertificationRequestInfo of `csr_der` with its SubjectPublicKeyInfo replaced."""
    cri, _, _ = split_csr(csr_der)
    _, start, end = _tlv(cri, 0)
    parts, i = [], start
    while i < end:
        _, _, part_end = _tlv(cri, i)
        parts.append(cri[i:part_end])
        i = part_end
    version, subject, _, *attributes = parts
    return _enc(0x30, version + subject + spki + b"".join(attributes))


def assemble(cri: bytes, algorithm: bytes, signature: bytes) -> bytes:
    return _enc(0x30, cri + algorithm + _enc(0x03, b"\x00" + signature))


def _ed25519_verifies(point: bytes, signature: bytes, message: bytes) -> bool:
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(point).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def forged_small_order_csr(point: bytes, **names: Iterable[str]) -> bytes:
    """A CSR for a small-order Ed25519 point whose (R, S = 0) signature verifies; for a point
    whose signatures cannot verify (not on the curve), the CSR carries (identity, 0)."""
    for attempt in range(64):
        cri = with_spki(template_csr(attempt=attempt, **names), ed25519_spki(point))  # type: ignore[arg-type]
        for r in SMALL_ORDER.values():
            if _ed25519_verifies(point, r + bytes(32), cri):
                return assemble(cri, ED25519_ALG, r + bytes(32))
    return assemble(cri, ED25519_ALG, IDENTITY + bytes(32))


def _times(point: bytes, j: int) -> bytes:
    total = IDENTITY
    for _ in range(j):
        total = sodium.crypto_core_ed25519_add(total, point)
    return total


@functools.cache
def mixed_order_key(torsion: str = "order-8-a") -> tuple[bytes, int]:
    """(A, a) with A = [a]B + T: a key whose owner knows a, with a torsion component T."""
    a = secrets.randbelow(L - 1) + 1
    a_b = sodium.crypto_scalarmult_ed25519_base_noclamp(a.to_bytes(32, "little"))
    return sodium.crypto_core_ed25519_add(a_b, SMALL_ORDER[torsion]), a


def forged_mixed_order_csr(torsion: str = "order-8-a", **names: Iterable[str]) -> bytes:
    """A CSR for a mixed-order key whose signature verifies (module docstring)."""
    point, a = mixed_order_key(torsion)
    t = SMALL_ORDER[torsion]
    cri = with_spki(template_csr(**names), ed25519_spki(point))  # type: ignore[arg-type]
    while True:
        r = secrets.randbelow(L - 1) + 1
        r_b = sodium.crypto_scalarmult_ed25519_base_noclamp(r.to_bytes(32, "little"))
        for j in range(8):
            big_r = sodium.crypto_core_ed25519_sub(r_b, _times(t, j))
            k = int.from_bytes(hashlib.sha512(big_r + point + cri).digest(), "little") % L
            if k % 8 == j:
                signature = big_r + ((r + k * a) % L).to_bytes(32, "little")
                assert _ed25519_verifies(point, signature, cri)
                return assemble(cri, ED25519_ALG, signature)


def ec_point_csr(point_of: str, curve: str = "p256", **names: Iterable[str]) -> bytes:
    """A CSR whose EC point is re-encoded: "compressed" or "hybrid" (signed again by the real
    key, so the signature verifies), or replaced: "off-curve", "infinity", "short", "long",
    "x-too-big" (then nothing can verify it)."""
    key = ec_key(curve)
    public = key.public_key()
    size = (public.curve.key_size + 7) // 8
    raw = public.public_bytes(serialization.Encoding.X962,
                              serialization.PublicFormat.UncompressedPoint)
    odd = raw[-1] & 1
    point = {
        "compressed": public.public_bytes(serialization.Encoding.X962,
                                          serialization.PublicFormat.CompressedPoint),
        "hybrid": bytes([0x06 | odd]) + raw[1:],
        "off-curve": raw[:-1] + bytes([raw[-1] ^ 1]),
        "infinity": b"\x00",
        "short": raw[:-1],
        "long": raw + b"\x00",
        "x-too-big": b"\x04" + b"\xff" * (2 * size),
    }[point_of]
    cri = with_spki(template_csr(key=key, **names), ec_spki(public.curve, point))  # type: ignore[arg-type]
    signature = key.sign(cri, ec.ECDSA(hashes.SHA256()))
    return assemble(cri, ECDSA_SHA256, signature)


def rsa_csr(n: int, e: int, d: int, **names: Iterable[str]) -> bytes:
    """A CSR for the RSA key (n, e), signed with d by hand (PKCS#1 v1.5, RFC 8017 §8.2)."""
    cri = with_spki(template_csr(**names), rsa_spki(n, e))  # type: ignore[arg-type]
    size = (n.bit_length() + 7) // 8
    t = DIGEST_INFO_SHA256 + hashlib.sha256(cri).digest()
    em = b"\x00\x01" + b"\xff" * (size - len(t) - 3) + b"\x00" + t
    signature = pow(int.from_bytes(em, "big"), d, n).to_bytes(size, "big")
    return assemble(cri, SHA256_RSA, signature)


# ---------------------------------------------------------------- RSA keys badkeys refuses

# A real certificate's key that shares a prime with other public keys (crt.sh id 5534506057;
# badkeys' test vector tests/data/rsa-sharedprimes.key): only the public modulus is written
# here; badkeys' own sharedprimes data yields its factors, as it would for an attacker.
SHARED_PRIME_MODULUS = int(
    "b504bbdb47631e8058d9e5c40ec30d1a2e86598fc1dfb4f218eead0204099f0780be4e40062dc029a389cc74"
    "0b9aaa64cf387ddb3d851f36692a83a2cb812ad2db78276d338053e261d006e667df4dc82d321ca609705c01"
    "a523b9909cc982080dd10d9da3f7c133e8d0511d5a8cdbd3fe3e48d275221970c90194bbbee600782bdd0da3"
    "fc6a98d114886e2926815ecd5297fa3c0f090259b6fa54108fd623bab308e4af414193d11a6f381369d27b8c"
    "d3d8d91a2abcce6c7fa615de5d465ce2d3415768c174e958988b02a05b6ede7f56420f7674c8567bb9a35a18"
    "09df96c394b2868cbad4a440fb342440159a75648c27e94caca533d0ff074663bad66ca5", 16)


def _next_prime(start: int) -> int:
    """The first prime >= start with p - 1 prime to 65537 (gmpy2, which badkeys brings)."""
    candidate = int(gmpy2.next_prime(start - 1))
    while (candidate - 1) % 65537 == 0:
        candidate = int(gmpy2.next_prime(candidate))
    return candidate


@functools.cache
def close_primes_key(gap_bits: int = 400) -> rsa.RSAPrivateKey:
    """RSA-2048 with q the first prime after p + 2^gap_bits: Fermat's method needs about
    (p - q)^2 / (8 sqrt(n)) rounds, so 2^400 falls in round 0 and 2^530 needs ~2^33."""
    rng = random.Random(gap_bits)
    while True:
        p = _random_prime(1024, rng)
        q = _next_prime(p + 2**gap_bits)
        if (p * q).bit_length() == 2048:
            return _key_from_primes(p, q)


@functools.cache
def shared_prime_key() -> rsa.RSAPrivateKey:
    found = sharedprimes(SHARED_PRIME_MODULUS)
    return _key_from_primes(found["p"], found["q"])


@functools.cache
def pattern_key() -> rsa.RSAPrivateKey:
    """A working RSA-2048 key whose modulus starts with 16 equal bytes (badkeys pattern)."""
    rng = random.Random(16)
    target = int.from_bytes(b"\xc5" + b"\xab" * 16 + rng.randbytes(239), "big")
    while True:
        p = _random_prime(1024, rng)
        q = _next_prime(target // p)
        if (p * q).to_bytes(256, "big")[1:17] == b"\xab" * 16:
            return _key_from_primes(p, q)


@functools.cache
def even_modulus() -> tuple[int, int, int]:
    """(n, e, d) with n = 2q: RSA arithmetic still works mod 2q, but n is no RSA modulus."""
    q = _next_prime(random.Random(2).getrandbits(2047) | 1 << 2046)
    return 2 * q, 65537, pow(65537, -1, q - 1)


# ---------------------------------------------------------------- EC explicit parameters

@functools.cache
def explicit_curve_csr(dns: str = "www.example.org") -> bytes:
    """A P-256 CSR whose SPKI spells the curve out (specifiedCurve), as
    `openssl ecparam -param_enc explicit` makes it; cryptography maps it back to P-256."""
    with tempfile.TemporaryDirectory() as d:
        key, csr = Path(d) / "k.pem", Path(d) / "r.csr"
        subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-param_enc", "explicit",
                        "-genkey", "-noout", "-out", str(key)], check=True, capture_output=True)
        subprocess.run(["openssl", "req", "-new", "-key", str(key), "-subj", "/O=explicit",
                        "-addext", f"subjectAltName=DNS:{dns}", "-outform", "DER",
                        "-out", str(csr)], check=True, capture_output=True)
        return csr.read_bytes()


def custom_generator_csr() -> bytes:
    """The explicit-parameters CSR with the base point G replaced by 2G (CurveBall's move,
    CVE-2020-0601): its signature no longer verifies, and the key must not load as P-256."""
    g = [ec.derive_private_key(k, ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint) for k in (1, 2)]
    der = explicit_curve_csr()
    cri, alg, sig = split_csr(der)
    assert g[0] in cri
    return _enc(0x30, cri.replace(g[0], g[1]) + alg + sig)
