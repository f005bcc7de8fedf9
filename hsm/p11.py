"""The one module of the appliance that imports ``pkcs11`` (python-pkcs11 0.10).

Everything here is a thin, typed step: load a module, list present tokens, open a session in a
login mode, find objects, read attributes, generate keys with a given template, sign following a
``SignPlan``, create, wrap and unwrap keys. Policy (which template, which key may sign, what a
backup must match) lives in ``hsm.token`` and ``hsm.backup``; python-pkcs11's exceptions become
``hsm.errors`` here and nowhere else, with one-line messages that never carry a PIN (I10).

Context-specific login (CKA_ALWAYS_AUTHENTICATE): python-pkcs11 0.10 passes ``pin`` to
``C_Login(CKU_CONTEXT_SPECIFIC)`` between ``C_SignInit`` and ``C_Sign``. It cannot pass a NULL
PIN there, so a PIN-pad token gets a zero-length PIN, which OpenSC treats as "use the PIN pad".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pkcs11
import pkcs11.exceptions as p11e
from asn1crypto.core import ObjectIdentifier
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from pkcs11 import MGF, Attribute, KeyType, Mechanism, ObjectClass, TokenFlag, UserType

from hsm.attributes import KeyAttributes
from hsm.ecpoint import encode_ec_point, public_key_from_ec_point
from hsm.errors import (
    DeviceError,
    HSMAuthError,
    HSMError,
    KeyFormatError,
    MechanismUnsupportedError,
    ModuleError,
    PinLockedError,
)
from hsm.mechanisms import SignPlan, digest_info, family
from hsm.pins import LoginMode
from hsm.selector import TokenFacts

_CURVE_BY_OID = {"1.2.840.10045.3.1.7": "ec-p256", "1.3.132.0.34": "ec-p384"}
_OID_BY_CURVE = {v: k for k, v in _CURVE_BY_OID.items()}
_ED25519_OID = "1.3.101.112"
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
_KEY_TYPES = {"rsa": KeyType.RSA, "ec": KeyType.EC, "ed25519": KeyType.EC_EDWARDS}
FLAG_PROTECTED_PATH = int(TokenFlag.PROTECTED_AUTHENTICATION_PATH)
_USER_PIN_FLAGS = ((TokenFlag.USER_PIN_LOCKED, " (the PIN is now locked)"),
                   (TokenFlag.USER_PIN_FINAL_TRY, " (one try left before the PIN locks)"),
                   (TokenFlag.USER_PIN_COUNT_LOW, " (few tries left before the PIN locks)"))


def translate(exc: Exception, what: str) -> HSMError:
    """Map a python-pkcs11 exception to a one-line HSMError (never echoing a PIN)."""
    if isinstance(exc, p11e.PinLocked):
        return PinLockedError(f"{what}: the token has locked the user PIN")
    if isinstance(exc, (p11e.PinIncorrect, p11e.PinInvalid, p11e.PinLenRange)):
        return HSMAuthError(f"{what}: wrong PIN")
    if isinstance(exc, (p11e.TokenNotPresent, p11e.DeviceRemoved, p11e.TokenNotRecognised)):
        return DeviceError(f"{what}: the token is no longer present")
    if isinstance(exc, (p11e.SessionClosed, p11e.SessionHandleInvalid, p11e.DeviceError,
                        p11e.DeviceMemory, p11e.GeneralError, p11e.FunctionFailed)):
        return DeviceError(f"{what}: the token failed ({type(exc).__name__})")
    if isinstance(exc, (p11e.MechanismInvalid, p11e.MechanismParamInvalid,
                        p11e.FunctionNotSupported, p11e.KeySizeRange)):
        return MechanismUnsupportedError(
            f"{what}: the token does not support this ({type(exc).__name__})")
    if isinstance(exc, p11e.UserNotLoggedIn):
        return HSMAuthError(f"{what}: not logged in to the token")
    if isinstance(exc, p11e.UserAlreadyLoggedIn):
        return HSMAuthError(f"{what}: another user (user or SO) is logged in to the token")
    return HSMError(f"{what}: PKCS#11 error {type(exc).__name__}")


@contextmanager
def guard(what: str) -> Iterator[None]:
    """Translate any python-pkcs11 error raised inside into an ``HSMError``."""
    try:
        yield
    except p11e.PKCS11Error as exc:
        raise translate(exc, what) from exc


def load_module(path: str) -> Any:
    if not Path(path).is_file():
        raise ModuleError(f"PKCS#11 module not found: {path}")
    try:
        return pkcs11.lib(path)
    except Exception as exc:  # the loader raises RuntimeError or OSError variants
        raise ModuleError(f"cannot load PKCS#11 module {path}: {type(exc).__name__}") from exc


def present_tokens(lib: Any) -> list[tuple[TokenFacts, Any]]:
    """Every present token with its facts (padding removed)."""
    out = []
    with guard("listing tokens"):
        for slot in lib.get_slots(token_present=True):
            tok = slot.get_token()
            out.append((TokenFacts(
                slot_id=int(slot.slot_id), label=str(tok.label).rstrip(),
                serial=bytes(tok.serial).decode(errors="replace").strip(),
                manufacturer=str(tok.manufacturer_id).rstrip(), model=str(tok.model).rstrip(),
            ), tok))
    return out


def fresh_flags(lib: Any, facts: TokenFacts) -> int:
    """The token's flags as C_GetTokenInfo says now (python-pkcs11 keeps them from creation)."""
    kw: dict[str, Any] = {"token_label": facts.label}
    if facts.serial:
        kw["token_serial"] = facts.serial.encode()
    with guard("reading token flags"):
        return int(lib.get_token(**kw).flags)


def flag_names(flags: int) -> list[str]:
    return sorted(f.name for f in TokenFlag if f.value and flags & f.value and f.name)


def pin_flags_note(flags: int) -> str:
    for flag, note in _USER_PIN_FLAGS:
        if flags & flag:
            return note
    return ""


def user_pin_locked(flags: int) -> bool:
    return bool(flags & TokenFlag.USER_PIN_LOCKED)


def mechanism_names(tok: Any) -> frozenset[str]:
    with guard("listing mechanisms"):
        offered = tok.slot.get_mechanisms()
    return frozenset(m.name if isinstance(m, Mechanism) else f"0x{int(m):08x}" for m in offered)


def open_session(tok: Any, mode: LoginMode | None, pin: str | None = None, *,
                 so: bool = False) -> Any:
    """A read-write session: public (mode None), or logged in as user or SO."""
    if mode is None:
        return tok.open(rw=True)
    if mode is LoginMode.PROTECTED_PATH:
        # C_Login with a NULL PIN: the token's own PIN pad asks (CKF_PROTECTED_AUTHENTICATION_PATH)
        if so:
            return tok.open(rw=True, so_pin=pkcs11.PROTECTED_AUTH)
        return tok.open(rw=True, user_pin=pkcs11.PROTECTED_AUTH)
    if not pin:
        raise HSMAuthError("a PIN is needed to log in")
    if so:
        return tok.open(rw=True, so_pin=pin)
    return tok.open(rw=True, user_pin=pin, user_type=UserType.USER)


def find(session: Any, cls: str, label: str | None = None, key_id: bytes | None = None) -> list[Any]:
    attrs: dict[Attribute, Any] = {Attribute.CLASS: {
        "private": ObjectClass.PRIVATE_KEY, "public": ObjectClass.PUBLIC_KEY,
        "secret": ObjectClass.SECRET_KEY}[cls]}
    if label is not None:
        attrs[Attribute.LABEL] = label
    if key_id is not None:
        attrs[Attribute.ID] = key_id
    with guard("listing keys"):
        return list(session.get_objects(attrs))


def id_in_use(session: Any, key_id: bytes) -> bool:
    with guard("listing keys"):
        return bool(list(session.get_objects({Attribute.ID: key_id})))


def _get(obj: Any, attr: Attribute) -> Any:
    try:
        return obj[attr]
    except (p11e.AttributeTypeInvalid, p11e.AttributeSensitive):
        return None


def algorithm_of(priv: Any, pub: Any | None) -> str:
    with guard("reading a key's type"):
        kt = priv.key_type
        if kt == KeyType.RSA:
            modulus = _get(priv, Attribute.MODULUS) or (pub and _get(pub, Attribute.MODULUS))
            return f"rsa-{len(bytes(modulus or b'')) * 8}"
        if kt == KeyType.EC:
            params = _get(priv, Attribute.EC_PARAMS)
            try:
                oid = ObjectIdentifier.load(bytes(params)).dotted
            except Exception:
                return "ec-unknown"
            return _CURVE_BY_OID.get(oid, "ec-unknown")
        if kt == KeyType.EC_EDWARDS:
            return "ed25519"
        return f"unknown-{int(kt)}"


def read_attributes(priv: Any, pub: Any | None) -> KeyAttributes:
    with guard("reading key attributes"):
        return KeyAttributes(
            label=str(_get(priv, Attribute.LABEL) or ""),
            algorithm=algorithm_of(priv, pub),
            key_id=bytes(_get(priv, Attribute.ID) or b"").hex(),
            token=bool(_get(priv, Attribute.TOKEN)),
            private=bool(_get(priv, Attribute.PRIVATE)),
            sensitive=bool(_get(priv, Attribute.SENSITIVE)),
            always_sensitive=bool(_get(priv, Attribute.ALWAYS_SENSITIVE)),
            extractable=bool(_get(priv, Attribute.EXTRACTABLE)),
            never_extractable=bool(_get(priv, Attribute.NEVER_EXTRACTABLE)),
            local=bool(_get(priv, Attribute.LOCAL)),
            sign=bool(_get(priv, Attribute.SIGN)),
            wrap_with_trusted=bool(_get(priv, Attribute.WRAP_WITH_TRUSTED)),
            always_authenticate=bool(_get(priv, Attribute.ALWAYS_AUTHENTICATE)),
        )


def read_public_key(pub: Any) -> PublicKeyTypes:
    with guard("reading a public key"):
        kt = pub.key_type
        if kt == KeyType.RSA:
            n = int.from_bytes(bytes(pub[Attribute.MODULUS]), "big")
            e = int.from_bytes(bytes(pub[Attribute.PUBLIC_EXPONENT]), "big")
            return rsa.RSAPublicNumbers(e, n).public_key()
        if kt in (KeyType.EC, KeyType.EC_EDWARDS):
            if kt == KeyType.EC_EDWARDS:
                algorithm = "ed25519"
            else:
                oid = ObjectIdentifier.load(bytes(pub[Attribute.EC_PARAMS])).dotted
                if oid not in _CURVE_BY_OID:
                    raise KeyFormatError(f"public key on an unsupported curve {oid}")
                algorithm = _CURVE_BY_OID[oid]
            return public_key_from_ec_point(bytes(pub[Attribute.EC_POINT]), algorithm)
    raise KeyFormatError("a public key of an unsupported type")


def _private_template(*, backup: bool, always_authenticate: bool) -> dict[Attribute, Any]:
    t: dict[Attribute, Any] = {
        Attribute.TOKEN: True, Attribute.PRIVATE: True, Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: backup, Attribute.SIGN: True, Attribute.DECRYPT: False,
        Attribute.UNWRAP: False, Attribute.DERIVE: False,
    }
    if backup:  # I1: extractable only under a trusted wrap
        t[Attribute.WRAP_WITH_TRUSTED] = True
    if always_authenticate:
        t[Attribute.ALWAYS_AUTHENTICATE] = True
    return t


def _curve_params(algorithm: str) -> bytes:
    if algorithm == "ed25519":
        return bytes(ObjectIdentifier(_ED25519_OID).dump())
    return bytes(ObjectIdentifier(_OID_BY_CURVE[algorithm]).dump())


def generate_keypair(session: Any, algorithm: str, label: str, key_id: bytes, *,
                     backup: bool = False, always_authenticate: bool = False,
                     store: bool = True) -> tuple[Any, Any]:
    """A key pair with the I1 template (``backup``: extractable under trust only); (pub, priv).

    ``store=False`` makes session objects, gone when the session closes (capability probes).
    """
    private = _private_template(backup=backup, always_authenticate=always_authenticate)
    public: dict[Attribute, Any] = {Attribute.TOKEN: store, Attribute.PRIVATE: False,
                                    Attribute.VERIFY: True, Attribute.ENCRYPT: False,
                                    Attribute.WRAP: False}
    private[Attribute.TOKEN] = store
    common = {"id": key_id, "label": label, "store": store, "public_template": public,
              "private_template": private}
    with guard(f"generating key {label!r}"):
        if algorithm.startswith("rsa-"):
            public[Attribute.PUBLIC_EXPONENT] = b"\x01\x00\x01"
            pair = session.generate_keypair(KeyType.RSA, int(algorithm.split("-")[1]), **common)
        elif algorithm == "ed25519":
            public[Attribute.EC_PARAMS] = _curve_params(algorithm)
            pair = session.generate_keypair(KeyType.EC_EDWARDS, 0,
                                            mechanism=Mechanism.EC_EDWARDS_KEY_PAIR_GEN, **common)
        else:
            params = session.create_domain_parameters(
                KeyType.EC, {Attribute.EC_PARAMS: _curve_params(algorithm)}, local=True)
            pair = params.generate_keypair(**common)
    return pair[0], pair[1]


def sign(priv: Any, plan: SignPlan, data: bytes, context_pin: str | None, what: str) -> bytes:
    """Sign following ``plan``; ``context_pin`` (may be "") for CKA_ALWAYS_AUTHENTICATE keys."""
    payload = data
    if plan.host_hash is not None:
        h = hashes.Hash(_HASHES[plan.host_hash]())
        h.update(data)
        payload = h.finalize()
        if plan.digest_info:
            payload = digest_info(plan.host_hash, payload)
    param = None
    if plan.pss is not None:
        hname, mgf, salt = plan.pss
        param = (Mechanism[hname.upper()], MGF[mgf.upper()], salt)
    with guard(what):
        return bytes(priv.sign(payload, mechanism=Mechanism[plan.mechanism],
                               mechanism_param=param, pin=context_pin))


def create_trusted_wrap_key(session: Any, secret: bytes, label: str) -> None:
    """The SO's import of the backup key: trusted, wrap/unwrap only, never readable."""
    with guard("importing the backup wrapping key"):
        session.create_object({
            Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: KeyType.AES,
            Attribute.VALUE: secret, Attribute.LABEL: label, Attribute.TOKEN: True,
            # An SO session reaches public objects only (PKCS#11 §6.7.1): the key is a public
            # object, but sensitive and unextractable, and good for nothing but (un)wrapping.
            Attribute.PRIVATE: False, Attribute.TRUSTED: True, Attribute.WRAP: True,
            Attribute.UNWRAP: True, Attribute.ENCRYPT: False, Attribute.DECRYPT: False,
            Attribute.SIGN: False, Attribute.VERIFY: False, Attribute.DERIVE: False,
            Attribute.EXTRACTABLE: False, Attribute.SENSITIVE: True,
        })


def secret_key_is_trusted_wrap_key(key: Any) -> bool:
    with guard("reading the backup wrapping key"):
        return (bool(_get(key, Attribute.TRUSTED)) and bool(_get(key, Attribute.WRAP))
                and bool(_get(key, Attribute.UNWRAP)) and not _get(key, Attribute.ENCRYPT)
                and not _get(key, Attribute.DECRYPT) and not _get(key, Attribute.EXTRACTABLE)
                and bool(_get(key, Attribute.SENSITIVE)) and key.key_type == KeyType.AES)


def wrap(wrapping_key: Any, priv: Any) -> bytes:
    """CKM_AES_KEY_WRAP_PAD (RFC 5649) of a private key; the token enforces the trust rule."""
    return bytes(wrapping_key.wrap_key(priv, mechanism=Mechanism.AES_KEY_WRAP_PAD))


def unwrap(unwrapping_key: Any, blob: bytes, algorithm: str, label: str, key_id: bytes) -> Any:
    """The private key from ``blob``, with the backup-home template (never readable)."""
    template = _private_template(backup=True, always_authenticate=False)
    for attr in (Attribute.ENCRYPT, Attribute.VERIFY, Attribute.WRAP):
        template[attr] = pkcs11.DEFAULT  # python-pkcs11 adds them; private keys have none
    return unwrapping_key.unwrap_key(
        ObjectClass.PRIVATE_KEY, _KEY_TYPES[family(algorithm)], blob, id=key_id, label=label,
        mechanism=Mechanism.AES_KEY_WRAP_PAD, store=True, capabilities=0, template=template)


def create_public_key(session: Any, public: PublicKeyTypes, label: str, key_id: bytes) -> Any:
    """A public-key token object for ``public`` (the public half of a restored key)."""
    attrs: dict[Attribute, Any] = {
        Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.TOKEN: True, Attribute.PRIVATE: False,
        Attribute.LABEL: label, Attribute.ID: key_id, Attribute.VERIFY: True,
        Attribute.ENCRYPT: False, Attribute.WRAP: False}
    if isinstance(public, rsa.RSAPublicKey):
        nums = public.public_numbers()
        attrs[Attribute.KEY_TYPE] = KeyType.RSA
        attrs[Attribute.MODULUS] = nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big")
        attrs[Attribute.PUBLIC_EXPONENT] = nums.e.to_bytes((nums.e.bit_length() + 7) // 8, "big")
    else:
        if isinstance(public, ed25519.Ed25519PublicKey):
            attrs[Attribute.KEY_TYPE] = KeyType.EC_EDWARDS
            attrs[Attribute.EC_PARAMS] = _curve_params("ed25519")
        else:
            curve = {"secp256r1": "ec-p256", "secp384r1": "ec-p384"}.get(
                getattr(getattr(public, "curve", None), "name", ""))
            if curve is None:
                raise KeyFormatError("only RSA, P-256, P-384 and Ed25519 public keys are restored")
            attrs[Attribute.KEY_TYPE] = KeyType.EC
            attrs[Attribute.EC_PARAMS] = _curve_params(curve)
        attrs[Attribute.EC_POINT] = encode_ec_point(public)
    with guard(f"creating public key {label!r}"):
        return session.create_object(attrs)


def destroy(obj: Any) -> None:
    try:
        obj.destroy()
    except p11e.PKCS11Error:
        pass  # best effort while undoing a failed restore; the caller reports the cause


def is_error(exc: BaseException, *names: str) -> bool:
    """Whether ``exc`` is one of python-pkcs11's exceptions named ``names``."""
    return any(isinstance(exc, getattr(p11e, n)) for n in names)


PKCS11Error = p11e.PKCS11Error
