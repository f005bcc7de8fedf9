"""Token scenarios run in a subprocess (``python -m tests.hsm.scenarios NAME MODULE LABEL``).

SoftHSM reads its configuration once per process, and OpenSC's pkcs11-spy must be the module
that the process loads, so tests that need another SoftHSM store (a restricted mechanism list)
or a log of the PKCS#11 calls run these in a fresh interpreter and read the JSON they print.
The PIN comes on standard input; the SO PIN (when needed) from $SCENARIO_SO_PIN.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509.oid import NameOID

from hsm.backup import wrap_key
from hsm.errors import HSMError
from hsm.token import Token

NOW = dt.datetime(2026, 11, 29, 10, 0, tzinfo=dt.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, public: Any, issuer: str, key: Any, alg: Any, pad: Any = None,
          serial: int = 1) -> x509.Certificate:
    b = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
         .public_key(public).serial_number(serial).not_valid_before(NOW)
         .not_valid_after(NOW + dt.timedelta(days=30))
         .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True))
    return b.sign(key, alg, rsa_padding=pad) if pad else b.sign(key, alg)


def _crl(issuer: str, key: Any, alg: Any) -> x509.CertificateRevocationList:
    revoked = (x509.RevokedCertificateBuilder().serial_number(99).revocation_date(NOW).build())
    return (x509.CertificateRevocationListBuilder().issuer_name(_name(issuer))
            .last_update(NOW).next_update(NOW + dt.timedelta(days=7))
            .add_revoked_certificate(revoked).sign(key, alg))


def restricted(module: str, label: str, pin: str) -> dict[str, Any]:
    """The key ceremony's HSM steps, a small batch and CRLs on whatever the token offers."""
    t = Token(module, label=label)
    report = t.mechanism_report(("rsa-3072", "ec-p384"), hashes=("sha256", "sha384"),
                                pss=True, backup=True)
    out: dict[str, Any] = {"offered": sorted(t.mechanisms()), "missing": report.summary(),
                           "ok": report.ok, "ed25519_missing": not t.mechanism_report(
                               ("ed25519",), "ed25519").ok}
    log_alg = t.log_key_algorithm()
    out["log_key_algorithm"] = log_alg
    so_pin = os.environ.get("SCENARIO_SO_PIN")
    if so_pin:
        t.import_backup_key(so_pin, os.urandom(32))
    t.login(pin)
    try:
        t.generate_key("ed-log", "ed25519")
    except HSMError as exc:
        out["ed25519_refused"] = str(exc)
    t.generate_key("appliance-log", log_alg)
    t.generate_key("root-key", "rsa-3072", backup=bool(so_pin))
    t.generate_key("sub-key", "ec-p384", backup=bool(so_pin))
    root, sub, log = (t.signing_key(k) for k in ("root-key", "sub-key", "appliance-log"))
    root_cert = _cert("Root", root.public_key(), "Root", root, hashes.SHA256())
    sub_cert = _cert("Sub", sub.public_key(), "Root", root, hashes.SHA384(), serial=2)
    pss_cert = _cert("PSS", sub.public_key(), "Root", root, hashes.SHA256(),
                     padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH), 3)
    batch = [_cert(f"leaf {i}", log.public_key(), "Sub", sub, hashes.SHA384(), serial=10 + i)
             for i in range(3)]
    crls = [_crl("Root", root, hashes.SHA256()), _crl("Sub", sub, hashes.SHA384())]
    for c in (root_cert, sub_cert, pss_cert):
        c.verify_directly_issued_by(root_cert)
    for c in batch:
        c.verify_directly_issued_by(sub_cert)
    out["crls_valid"] = [crls[0].is_signature_valid(root.public_key()),
                         crls[1].is_signature_valid(sub.public_key())]
    checkpoint = b"airgap-signer/restricted\n1\nroot\n"
    from cryptography.hazmat.primitives.asymmetric import ec
    sig = log.sign(checkpoint, ec.ECDSA(hashes.SHA256()))
    log.public_key().verify(sig, checkpoint, ec.ECDSA(hashes.SHA256()))
    out["signed"] = {"certificates": 3 + len(batch), "crls": len(crls), "checkpoint": True}
    if so_pin:
        out["wrapped"] = len(wrap_key(t, "sub-key").blob)
    out["keys"] = {k.label: k.to_json() for k in t.list_keys()}
    t.close()
    return out


def always_authenticate(module: str, label: str, pin: str) -> dict[str, Any]:
    """Two signatures by a CKA_ALWAYS_AUTHENTICATE key, each after its own context login."""
    from cryptography.hazmat.primitives.asymmetric import ec

    t = Token(module, label=label)
    t.login(pin)
    t.generate_key("per-signature", "ec-p256", always_authenticate=True)
    key = t.signing_key("per-signature")
    for data in (b"one", b"two"):
        key.sign(data, ec.ECDSA(hashes.SHA256()))
    t.close()
    return {"signatures": 2}


def protected_path(module: str, label: str, pin: str) -> dict[str, Any]:
    """Login on the PIN pad (no PIN from the host), a key, a signature; PIN pad per signature."""
    from cryptography.hazmat.primitives.asymmetric import ec

    t = Token(module, label=label)
    out: dict[str, Any] = {"protected_path": t.protected_authentication_path}
    t.login_protected()
    out["mode"] = str(t.login_mode)
    t.generate_key("pad-key", "ec-p256", always_authenticate=True)
    t.signing_key("pad-key").sign(b"pad", ec.ECDSA(hashes.SHA256()))
    t.close()
    out["signed"] = True
    return out


SCENARIOS = {"restricted": restricted, "always_authenticate": always_authenticate,
             "protected_path": protected_path}

if __name__ == "__main__":
    name, module, label = sys.argv[1:4]
    pin = sys.stdin.read().strip()
    try:
        result = SCENARIOS[name](module, label, pin)
    except HSMError as exc:
        result = {"error": type(exc).__name__, "message": str(exc)}
    print(json.dumps(result))
