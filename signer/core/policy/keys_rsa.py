"""RSA subscriber-key checks (DESIGN §4 Keys; CA/B Forum TLS BR §6.1.1.3, §6.1.5, §6.1.6).

What runs, in this order, for a modulus n and exponent e:
1. n must be odd (RFC 8017 §3.1: a product of odd primes); an even n is not an RSA modulus and
   nothing below is asked of it;
2. size: at least 2048 bits, at most 8192 and a multiple of 8 (Mozilla Root Store Policy §5.1);
   8192 also bounds the work a hostile CSR can cause, so the factoring checks below only run
   up to it;
3. e = 65537 (BR §6.1.6 allows odd e >= 3; the CAcert-style policy pins 65537);
4. the factoring checks of badkeys (https://badkeys.info/, Hanno Böck; its functions, not
   copies of them): smallfactors (a prime factor <= 65537), fermat (close primes: factored
   within 100 rounds of Fermat's method, BR §6.1.1.3(4)), roca (the Infineon RSALib
   fingerprint, CVE-2017-15361), sharedprimes (a prime shared with published broken keys, for
   512/768/1024/2048/4096-bit moduli: the sizes badkeys ships data for), rsapoly and pattern
   (structures that allow factoring).

What deliberately does not run: badkeys' rsainvalid and smalld need e < 3, e >= n or a huge e
(Wiener's attack), which `cryptography`'s key loader (3 <= e < n, e odd) and step 3 already
exclude; rsawarnings and rsabias are warnings, not breaks; xzbackdoor concerns SSH keys.
The blocklist (Debian weak keys) is looked up for every key type in `signer.core.policy.keys`.
A check that raises on hostile numbers becomes a finding: a key we cannot judge is refused.
"""

from __future__ import annotations

from collections.abc import Callable

from badkeys.rsakeys import (
    fermat,
    pattern,
    roca,
    rsapoly,
    sharedprimes,
    smallfactors,
)

from signer.core.policy.key_findings import KeyFinding, KeyKind

RSA_MIN_BITS = 2048
RSA_MAX_BITS = 8192  # bounds the work a hostile CSR can cause; no real subscriber needs more
RSA_EXPONENT = 65537  # CA/B BR §6.1.6 allows odd e >= 3; CAcert-style policy pins 65537
SMALL_FACTOR_LIMIT = 65537  # badkeys smallfactors.MAX_PRIME
FERMAT_ROUNDS = 100  # BR §6.1.1.3(4); badkeys fermat's `tries`

# (badkeys check, finding kind, what a hit means) in the order they are reported.
_BADKEYS: tuple[tuple[Callable[..., object], KeyKind, str], ...] = (
    (smallfactors, "small_factor", "RSA modulus has a prime factor of at most 65537"),
    (fermat, "fermat", "RSA primes are close: Fermat's method factors the modulus within "
                       "100 rounds (BR §6.1.1.3(4))"),
    (roca, "roca", "RSA modulus has the ROCA fingerprint (CVE-2017-15361): the key was made "
                   "by a vulnerable Infineon library"),
    (sharedprimes, "shared_prime", "RSA modulus shares a prime with published broken keys"),
    (rsapoly, "pattern", "RSA modulus has a 0-byte pattern that allows polynomial factoring"),
    (pattern, "pattern", "RSA modulus has 16 repeated bytes: no sound generator made it"),
)


def check_rsa(n: int, e: int) -> list[KeyFinding]:
    """Every weakness of an RSA public key (module docstring for what runs)."""
    bits = n.bit_length()
    if n % 2 == 0:
        return [KeyFinding("invalid", f"RSA modulus of {bits} bits is even: not a product of "
                                      "odd primes (RFC 8017 §3.1)")]
    found: list[KeyFinding] = []
    if bits < RSA_MIN_BITS:
        found.append(KeyFinding("weak", f"RSA modulus of {bits} bits is below {RSA_MIN_BITS}"))
    elif bits > RSA_MAX_BITS or bits % 8:
        # Mozilla Root Store Policy §5.1: modulus size in bits divisible by 8.
        found.append(KeyFinding("size", f"RSA modulus of {bits} bits is not a multiple of 8 "
                                        f"between {RSA_MIN_BITS} and {RSA_MAX_BITS}"))
    if e != RSA_EXPONENT:
        found.append(KeyFinding("exponent", f"RSA public exponent {e} is not 65537"))
    if bits > RSA_MAX_BITS:
        return found  # refused already; factoring checks on huge numbers are hostile work
    for check, kind, message in _BADKEYS:
        try:
            hit = check(n, e=e)
        except Exception as exc:  # fail closed: a modulus badkeys cannot judge is refused
            found.append(KeyFinding("invalid", f"RSA modulus could not be checked "
                                               f"({check.__name__}: {type(exc).__name__})"))
            continue
        if hit is not False and not any(f.kind == kind for f in found):
            found.append(KeyFinding(kind, message))
    return found
