"""Helpers for the policy tests: cached keys, CSR builders and hostile-CSR crafting.

Keys are made once per test session (functools.cache): RSA generation is the slow part.
Hostile CSRs that `cryptography` refuses to build (SHA-1/MD5 signatures, U-labels in a SAN)
are made by editing the DER of a good CSR and signing the edited CertificationRequestInfo
again with the same key, so each case fails exactly one check and not also csr.signature.
"""

from __future__ import annotations

import functools
import hashlib
import math
import random
from collections.abc import Iterable, Mapping

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.x509.oid import NameOID

from signer.core import policy
from signer.core.policy.constraints import NameConstraintRules

# ---------------------------------------------------------------- keys


@functools.cache
def rsa_key(bits: int = 2048, exponent: int = 65537, tag: str = "") -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=exponent, key_size=bits)


@functools.cache
def ec_key(curve: str, tag: str = "") -> ec.EllipticCurvePrivateKey:
    curves = {"p256": ec.SECP256R1(), "p384": ec.SECP384R1(), "p521": ec.SECP521R1(),
              "k256": ec.SECP256K1()}
    return ec.generate_private_key(curves[curve])


@functools.cache
def ed25519_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


@functools.cache
def ed448_key() -> ed448.Ed448PrivateKey:
    return ed448.Ed448PrivateKey.generate()


@functools.cache
def dsa_key() -> dsa.DSAPrivateKey:
    return dsa.generate_private_key(key_size=1024)  # type check only: size is irrelevant


def _is_probable_prime(n: int, rounds: int = 20) -> bool:
    if n < 2:
        return False
    for p in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    rng = random.Random(n)
    for _ in range(rounds):
        x = pow(rng.randrange(2, n - 1), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _key_from_primes(p: int, q: int, e: int = 65537) -> rsa.RSAPrivateKey:
    d = pow(e, -1, (p - 1) * (q - 1))
    return rsa.RSAPrivateNumbers(
        p=p, q=q, d=d, dmp1=rsa.rsa_crt_dmp1(d, p), dmq1=rsa.rsa_crt_dmq1(d, q),
        iqmp=rsa.rsa_crt_iqmp(p, q), public_numbers=rsa.RSAPublicNumbers(e, p * q),
    ).private_key(unsafe_skip_rsa_key_validation=True)


def _random_prime(bits: int, rng: random.Random, step: int = 2, base: int = 1) -> int:
    """A prime of `bits` bits of the form k*step + base."""
    while True:
        candidate = rng.getrandbits(bits - step.bit_length() + 1) * step + base
        if candidate.bit_length() == bits and (candidate - 1) % 65537 \
                and _is_probable_prime(candidate):
            return candidate


# The primes of the published ROCA detector (crocs-muni/roca detect.py): Infineon RSALib primes
# are p = k*M + (65537^a mod M) with M the primorial of these (Nemec et al., CCS 2017, §2).
ROCA_PRIMES: tuple[int, ...] = (
    3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89,
    97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
)
@functools.cache
def prime_of_bits(bits: int, seed: int = 1) -> int:
    """A prime of exactly `bits` bits, the same one for the same arguments."""
    return _random_prime(bits, random.Random(seed))


ROCA_M = math.prod((2, *ROCA_PRIMES))  # the primorial of the primes up to 167


@functools.cache
def roca_key() -> rsa.RSAPrivateKey:
    """A real 2048-bit key built like Infineon RSALib's: p = k*M + (65537^a mod M) (ROCA §2)."""
    rng = random.Random(2017)
    primes: list[int] = []
    while len(primes) < 2 or math.prod(primes).bit_length() != 2048:
        base = pow(65537, rng.randrange(1, 2**40), ROCA_M)
        primes = [*primes[-1:], _random_prime(1024, rng, step=ROCA_M, base=base)]
    return _key_from_primes(*primes)


@functools.cache
def small_factor_key() -> rsa.RSAPrivateKey:
    """A working 2048-bit RSA key whose modulus is 7919 times a 2035-bit prime."""
    q = _random_prime(2035, random.Random(7919))
    assert (7919 * q).bit_length() == 2048
    return _key_from_primes(7919, q)


def spki_sha256(key: object) -> str:
    der = key.public_key().public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


# ---------------------------------------------------------------- CSRs


def make_csr(key: object = None, *, cn: str | None = None, dns: Iterable[str] = (),
             emails: Iterable[str] = (), ips: Iterable[str] = (),
             subject_email: str | None = None, extensions: Iterable[x509.ExtensionType] = (),
             other_sans: Iterable[x509.GeneralName] = (), pem: bool = False) -> bytes:
    """A CSR signed with `key` (RSA-2048 by default), DER unless pem=True."""
    import ipaddress

    key = key if key is not None else rsa_key()
    attrs = []
    if cn is not None:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    if subject_email is not None:
        attrs.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, subject_email))
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    sans += [x509.RFC822Name(e) for e in emails]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    sans += list(other_sans)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    for ext in extensions:
        builder = builder.add_extension(ext, critical=False)
    no_hash = isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey)
    csr = builder.sign(key, None if no_hash else hashes.SHA256())  # type: ignore[arg-type]
    return csr.public_bytes(serialization.Encoding.PEM if pem else serialization.Encoding.DER)


def _tlv(data: bytes, i: int) -> tuple[int, int, int]:
    """(tag, value start, value end) of the DER element at i."""
    tag, first = data[i], data[i + 1]
    if first < 0x80:
        return tag, i + 2, i + 2 + first
    n = first & 0x7F
    length = int.from_bytes(data[i + 2:i + 2 + n], "big")
    return tag, i + 2 + n, i + 2 + n + length


def _enc(tag: int, value: bytes) -> bytes:
    n = len(value)
    if n < 0x80:
        return bytes([tag, n]) + value
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(raw)]) + raw + value


def split_csr(der: bytes) -> tuple[bytes, bytes, bytes]:
    """(CertificationRequestInfo, AlgorithmIdentifier, signature) elements of a CSR (RFC 2986)."""
    _, start, _ = _tlv(der, 0)
    parts = []
    i = start
    for _ in range(3):
        _, _, end = _tlv(der, i)
        parts.append(der[i:end])
        i = end
    return parts[0], parts[1], parts[2]


SHA256_RSA = bytes.fromhex("300d06092a864886f70d01010b0500")
SHA1_RSA = bytes.fromhex("300d06092a864886f70d0101050500")
MD5_RSA = bytes.fromhex("300d06092a864886f70d0101040500")


def resign(der: bytes, key: rsa.RSAPrivateKey, *, replace: Mapping[bytes, bytes] = {},
           alg: bytes = SHA256_RSA, hash_alg: hashes.HashAlgorithm | None = None) -> bytes:
    """Edit the CertificationRequestInfo (same-length byte replacements) and sign it again.

    `alg`/`hash_alg` choose the signature algorithm, which is how SHA-1 and MD5 CSRs are made:
    cryptography's CSR builder refuses them, but a raw PKCS#1 v1.5 signature does not.
    """
    cri, _, _ = split_csr(der)
    for old, new in replace.items():
        assert len(old) == len(new) and old in cri
        cri = cri.replace(old, new)
    sig = key.sign(cri, padding.PKCS1v15(), hash_alg or hashes.SHA256())
    return _enc(0x30, cri + alg + _enc(0x03, b"\x00" + sig))


def flip_signature(der: bytes) -> bytes:
    """The same CSR with one bit of its signature flipped."""
    cri, alg, sig = split_csr(der)
    bad = bytearray(sig)
    bad[-5] ^= 0x01
    return _enc(0x30, cri + alg + bytes(bad))


# ---------------------------------------------------------------- context

CA_KEY = functools.cache(lambda: ec_key("p384", "ca"))


TLS_NC = NameConstraintRules(permitted_dns=("example.org",), excluded_dns=("bad.example.org",),
                             permitted_email=("example.org",))
TLS_DN_NC = NameConstraintRules(permitted_dns=("example.org",), permitted_dirnames=(
    x509.Name.from_rfc4514_string("O=Community CA,C=AU"),))


def context(owners: Mapping[str, str] | None = None, *, root_leaves: bool = False,
            max_names: int = 100) -> policy.PolicyContext:
    """A CAcert-like setup: root, class1 (0 points) and class3 (50 points) sub-CAs."""
    ca_hash = spki_sha256(CA_KEY())
    leaves = frozenset({"server", "client", "email", "server-wild", "server-lan", "ocsp"})
    issuers = {
        "root": policy.IssuerInfo("root", True, 0, "00" * 32,
                                  frozenset({"subca"}) | (leaves if root_leaves else frozenset())),
        "class1": policy.IssuerInfo("class1", False, 0, ca_hash, leaves),
        "class3": policy.IssuerInfo("class3", False, 50, "11" * 32, leaves),
        # A TLS sub-CA restricted by its certificate (issue 14): serverAuth and clientAuth,
        # example.org and below (but not bad.example.org), mailboxes at example.org.
        "tls": policy.IssuerInfo("tls", False, 0, "22" * 32, leaves, constraints=TLS_NC,
                                 ekus=frozenset({"serverAuth", "clientAuth"})),
        "tls-dn": policy.IssuerInfo("tls-dn", False, 0, "33" * 32, leaves, constraints=TLS_DN_NC,
                                    ekus=frozenset({"serverAuth"})),
    }
    profiles = {p.name: p for p in (
        policy.ProfileRules("server", "server", 398, 180),
        policy.ProfileRules("server-wild", "server", 398, 180, allow_wildcard=True),
        policy.ProfileRules("server-lan", "server", 398, 180, allow_internal=True, allow_ip=True),
        policy.ProfileRules("client", "client", 730, 180),
        policy.ProfileRules("email", "email", 730, 180),
        policy.ProfileRules("subca", "subca", 3650, 3650),
        policy.ProfileRules("ocsp", "ocsp", 30, 30),
    )}
    table = dict(owners or {})
    return policy.PolicyContext(issuers=issuers, profiles=profiles,
                                root_may_issue_leaves=root_leaves, key_owner=table.get,
                                max_names=max_names)


def request(csr: bytes, *, profile: str = "server", ca: str = "class1",
            dns: Iterable[str] = ("www.example.org", "example.org"),
            email: Iterable[str] = ("alice@example.org",), name: str | None = "Alice Liddell",
            points: int = 100, subscriber: str = "member-1", id: str = "r1",
            given_name: str | None = None, surname: str | None = None) -> policy.Request:
    return policy.Request(id=id, ca=ca, profile=profile, csr=csr, subscriber=subscriber,
                          verified=policy.VerifiedFacts(dns=tuple(dns), email=tuple(email),
                                                        name=name, points=points,
                                                        given_name=given_name,
                                                        surname=surname))


def codes(decision: policy.Decision) -> set[str]:
    return {str(r.code) for r in decision.reasons}
