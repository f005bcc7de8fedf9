"""The PKCS#11 boundary: the only module of the appliance that imports ``pkcs11``.

It loads a module, finds a token by label or serial, logs in, generates CA keys with the
safe template of I1, reads key attributes back, and hands out keys as ``cryptography``
objects (see ``hsm.keys``). PKCS#11 exceptions are translated here into ``hsm.errors``.

python-pkcs11 keeps login state per process and initialises the module without OS locking,
so a process holds one ``Token`` with one session; parallel signing uses worker processes.
It does not decide policy (which key may sign what): that is the signer's job.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pkcs11
import pkcs11.exceptions as p11e
from asn1crypto.core import ObjectIdentifier, OctetString
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from pkcs11 import MGF, Attribute, KeyType, Mechanism, ObjectClass, TokenFlag
from pkcs11.util.ec import encode_named_curve_parameters

from hsm.errors import (
    DeviceError,
    HSMAuthError,
    HSMError,
    KeyExistsError,
    KeyMissingError,
    KeyUnsafeError,
    MechanismUnsupportedError,
    ModuleError,
    PinLockedError,
    TokenAbsentError,
)
from hsm.keys import SignMechanism, TokenKey, wrap_key

ALGORITHMS = ("rsa-3072", "rsa-4096", "ec-p256", "ec-p384", "ed25519")

_CURVES: dict[str, tuple[str, type[ec.EllipticCurve]]] = {
    "ec-p256": ("secp256r1", ec.SECP256R1),
    "ec-p384": ("secp384r1", ec.SECP384R1),
}
_CURVE_BY_OID = {
    "1.2.840.10045.3.1.7": ("ec-p256", ec.SECP256R1),
    "1.3.132.0.34": ("ec-p384", ec.SECP384R1),
}
_ED25519_OID = "1.3.101.112"

_MECHANISMS: dict[SignMechanism, tuple[Mechanism, Any]] = {
    SignMechanism.RSA_PKCS1_SHA256: (Mechanism.SHA256_RSA_PKCS, None),
    SignMechanism.RSA_PKCS1_SHA384: (Mechanism.SHA384_RSA_PKCS, None),
    SignMechanism.RSA_PKCS1_SHA512: (Mechanism.SHA512_RSA_PKCS, None),
    # RSA-PSS parameters always explicit: salt = digest length, MGF1 with the same hash.
    SignMechanism.RSA_PSS_SHA256: (
        Mechanism.SHA256_RSA_PKCS_PSS, (Mechanism.SHA256, MGF.SHA256, 32)),
    SignMechanism.RSA_PSS_SHA384: (
        Mechanism.SHA384_RSA_PKCS_PSS, (Mechanism.SHA384, MGF.SHA384, 48)),
    SignMechanism.RSA_PSS_SHA512: (
        Mechanism.SHA512_RSA_PKCS_PSS, (Mechanism.SHA512, MGF.SHA512, 64)),
    SignMechanism.ECDSA: (Mechanism.ECDSA, None),
    SignMechanism.EDDSA: (Mechanism.EDDSA, None),
}

# Mechanisms the appliance needs; `token status` shows which the token offers.
WANTED_MECHANISMS = (
    Mechanism.RSA_PKCS_KEY_PAIR_GEN,
    Mechanism.SHA256_RSA_PKCS,
    Mechanism.SHA256_RSA_PKCS_PSS,
    Mechanism.EC_KEY_PAIR_GEN,
    Mechanism.ECDSA,
    Mechanism.EC_EDWARDS_KEY_PAIR_GEN,
    Mechanism.EDDSA,
)


@dataclass(frozen=True)
class KeyAttributes:
    """A private key's attributes as read back from the token."""

    label: str
    algorithm: str
    key_id: str
    token: bool
    private: bool
    sensitive: bool
    always_sensitive: bool
    extractable: bool
    never_extractable: bool
    local: bool
    sign: bool

    @property
    def problems(self) -> list[str]:
        """Every way this key breaks I1, empty when it is safe to use as a CA key."""
        out = []
        if not self.token:
            out.append("not a token object")
        if not self.private:
            out.append("not private")
        if not self.sensitive:
            out.append("not sensitive")
        if not self.always_sensitive:
            out.append("was not always sensitive")
        if self.extractable:
            out.append("extractable")
        if not self.never_extractable:
            out.append("was extractable once")
        if not self.local:
            out.append("not generated in the token")
        return out

    @property
    def safe(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["safe"] = self.safe
        d["problems"] = self.problems
        return d


@dataclass(frozen=True)
class TokenStatus:
    module: str
    label: str
    serial: str
    manufacturer: str
    model: str
    flags: list[str]
    mechanisms: dict[str, bool]
    logged_in: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _translate(exc: Exception, what: str) -> HSMError:
    """Map a python-pkcs11 exception to a one-line HSMError (never echoing a PIN)."""
    if isinstance(exc, p11e.PinLocked):
        return PinLockedError(f"{what}: the token has locked the user PIN")
    if isinstance(exc, (p11e.PinIncorrect, p11e.PinInvalid, p11e.PinLenRange)):
        return HSMAuthError(f"{what}: wrong PIN")
    if isinstance(exc, (p11e.TokenNotPresent, p11e.DeviceRemoved, p11e.TokenNotRecognised)):
        return DeviceError(f"{what}: the token is no longer present")
    if isinstance(
        exc, (p11e.SessionClosed, p11e.SessionHandleInvalid, p11e.DeviceError,
              p11e.DeviceMemory, p11e.GeneralError, p11e.FunctionFailed)
    ):
        return DeviceError(f"{what}: the token failed ({type(exc).__name__})")
    if isinstance(exc, (p11e.MechanismInvalid, p11e.MechanismParamInvalid,
                        p11e.FunctionNotSupported, p11e.KeySizeRange)):
        return MechanismUnsupportedError(f"{what}: the token does not support this ({type(exc).__name__})")
    if isinstance(exc, p11e.UserNotLoggedIn):
        return HSMAuthError(f"{what}: not logged in to the token")
    return HSMError(f"{what}: PKCS#11 error {type(exc).__name__}")


def load_module(path: str) -> Any:
    if not Path(path).is_file():
        raise ModuleError(f"PKCS#11 module not found: {path}")
    try:
        return pkcs11.lib(path)
    except Exception as exc:  # the loader raises RuntimeError or OSError variants
        raise ModuleError(f"cannot load PKCS#11 module {path}: {type(exc).__name__}") from exc


class Token:
    """One token, one session, in this process."""

    def __init__(self, module: str, label: str | None = None, serial: str | None = None) -> None:
        if not label and not serial:
            raise TokenAbsentError("a token label or serial is needed")
        self.module_path = module
        self._lib = load_module(module)
        try:
            kwargs: dict[str, Any] = {}
            if label:
                kwargs["token_label"] = label
            if serial:
                kwargs["token_serial"] = serial.encode()
            self._token = self._lib.get_token(**kwargs)
        except p11e.NoSuchToken as exc:
            raise TokenAbsentError(f"no token {label or serial!r} in {module}") from exc
        except p11e.MultipleTokensReturned as exc:
            raise TokenAbsentError(f"more than one token matches {label or serial!r}") from exc
        except p11e.PKCS11Error as exc:
            raise _translate(exc, "finding the token") from exc
        self.label = str(self._token.label)
        self._session: Any = None
        self._logged_in = False

    # -- session -------------------------------------------------------------------------

    def open(self) -> None:
        """Open a read-write public session (for status and listing public objects)."""
        if self._session is None:
            try:
                self._session = self._token.open(rw=True)
            except p11e.PKCS11Error as exc:
                raise _translate(exc, f"opening token {self.label!r}") from exc

    def login(self, pin: str) -> None:
        """Log in as user. A wrong PIN is reported as such, with the token's try counters."""
        if self._logged_in:
            return
        if self._session is not None:
            self.close()
        flags = self._token.flags
        if flags & TokenFlag.USER_PIN_LOCKED:
            raise PinLockedError(f"token {self.label!r}: the user PIN is locked")
        try:
            self._session = self._token.open(rw=True, user_pin=pin)
        except p11e.PKCS11Error as exc:
            err = _translate(exc, f"login to token {self.label!r}")
            if type(err) is HSMAuthError:
                err = HSMAuthError(f"login to token {self.label!r}: wrong PIN{self._tries_note()}")
            raise err from exc
        self._logged_in = True

    def _tries_note(self) -> str:
        try:
            flags = self._lib.get_token(token_label=self.label).flags
        except p11e.PKCS11Error:
            return ""
        if flags & TokenFlag.USER_PIN_LOCKED:
            return " (the PIN is now locked)"
        if flags & TokenFlag.USER_PIN_FINAL_TRY:
            return " (one try left before the PIN locks)"
        if flags & TokenFlag.USER_PIN_COUNT_LOW:
            return " (few tries left before the PIN locks)"
        return ""

    def set_user_pin(self, old_pin: str, new_pin: str) -> None:
        """Change the user PIN (used to re-key the token from a quorum's master secret)."""
        self.login(old_pin)
        try:
            self._session.set_pin(old_pin, new_pin)
        except p11e.PKCS11Error as exc:
            raise _translate(exc, f"changing the PIN of token {self.label!r}") from exc

    def close(self) -> None:
        if self._session is not None:
            try:
                self._session.close()
            except p11e.PKCS11Error:
                pass  # closing a lost session is not an error worth reporting
        self._session = None
        self._logged_in = False

    @property
    def logged_in(self) -> bool:
        return self._logged_in

    def _need_login(self) -> Any:
        if not self._logged_in:
            raise HSMAuthError(f"token {self.label!r}: log in first")
        return self._session

    @contextmanager
    def _p11(self, what: str) -> Iterator[None]:
        try:
            yield
        except p11e.PKCS11Error as exc:
            raise _translate(exc, what) from exc

    # -- status ----------------------------------------------------------------------------

    def status(self) -> TokenStatus:
        with self._p11("reading token status"):
            tok = self._lib.get_token(token_label=self.label)
            flags = [f.name for f in TokenFlag if f.value and tok.flags & f.value and f.name]
            offered = set(tok.slot.get_mechanisms())
        return TokenStatus(
            module=self.module_path,
            label=self.label,
            serial=bytes(tok.serial).decode(errors="replace").strip(),
            manufacturer=str(tok.manufacturer_id).strip(),
            model=str(tok.model).strip(),
            flags=sorted(flags),
            mechanisms={m.name: m in offered for m in WANTED_MECHANISMS},
            logged_in=self._logged_in,
        )

    # -- keys ------------------------------------------------------------------------------

    def _private_objects(self, label: str | None = None) -> list[Any]:
        session = self._need_login()
        attrs: dict[Attribute, Any] = {Attribute.CLASS: ObjectClass.PRIVATE_KEY}
        if label is not None:
            attrs[Attribute.LABEL] = label
        with self._p11("listing keys"):
            return list(session.get_objects(attrs))

    def _public_object(self, label: str) -> Any:
        session = self._need_login()
        with self._p11(f"reading public key {label!r}"):
            objs = list(session.get_objects({Attribute.CLASS: ObjectClass.PUBLIC_KEY,
                                             Attribute.LABEL: label}))
        if len(objs) != 1:
            raise KeyMissingError(f"key {label!r}: expected one public key, found {len(objs)}")
        return objs[0]

    def generate_key(self, label: str, algorithm: str) -> KeyAttributes:
        """Generate a CA key pair in the token with the template of I1, then read it back."""
        if algorithm not in ALGORITHMS:
            raise MechanismUnsupportedError(
                f"algorithm {algorithm!r} is not allowed (choose one of {', '.join(ALGORITHMS)})"
            )
        if not label or len(label) > 64 or not label.isprintable():
            raise HSMError("a key label must be 1-64 printable characters")
        session = self._need_login()
        if self._private_objects(label) or self._has_public(label):
            raise KeyExistsError(f"a key labelled {label!r} already exists in the token")
        key_id = os.urandom(8)
        private_template = {
            Attribute.TOKEN: True,
            Attribute.PRIVATE: True,
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
            Attribute.SIGN: True,
            Attribute.DECRYPT: False,
            Attribute.UNWRAP: False,
            Attribute.DERIVE: False,
        }
        public_template: dict[Attribute, Any] = {
            Attribute.TOKEN: True,
            Attribute.PRIVATE: False,
            Attribute.VERIFY: True,
            Attribute.ENCRYPT: False,
            Attribute.WRAP: False,
        }
        with self._p11(f"generating key {label!r}"):
            if algorithm.startswith("rsa-"):
                bits = int(algorithm.split("-")[1])
                public_template[Attribute.PUBLIC_EXPONENT] = b"\x01\x00\x01"
                session.generate_keypair(
                    KeyType.RSA, bits, id=key_id, label=label, store=True,
                    public_template=public_template, private_template=private_template,
                )
            elif algorithm in _CURVES:
                params = session.create_domain_parameters(
                    KeyType.EC,
                    {Attribute.EC_PARAMS: encode_named_curve_parameters(_CURVES[algorithm][0])},
                    local=True,
                )
                params.generate_keypair(
                    id=key_id, label=label, store=True,
                    public_template=public_template, private_template=private_template,
                )
            else:
                public_template[Attribute.EC_PARAMS] = ObjectIdentifier(_ED25519_OID).dump()
                session.generate_keypair(
                    KeyType.EC_EDWARDS, 0, id=key_id, label=label, store=True,
                    mechanism=Mechanism.EC_EDWARDS_KEY_PAIR_GEN,
                    public_template=public_template, private_template=private_template,
                )
        return self.key_attributes(label)

    def _has_public(self, label: str) -> bool:
        session = self._need_login()
        with self._p11("listing keys"):
            return bool(list(session.get_objects({Attribute.CLASS: ObjectClass.PUBLIC_KEY,
                                                  Attribute.LABEL: label})))

    def key_attributes(self, label: str) -> KeyAttributes:
        objs = self._private_objects(label)
        if not objs:
            raise KeyMissingError(f"no key labelled {label!r} in token {self.label!r}")
        if len(objs) > 1:
            raise KeyUnsafeError(f"more than one private key is labelled {label!r}")
        return self._attributes(objs[0])

    def _attributes(self, obj: Any) -> KeyAttributes:
        def get(attr: Attribute) -> Any:
            try:
                return obj[attr]
            except (p11e.AttributeTypeInvalid, p11e.AttributeSensitive):
                return None

        with self._p11("reading key attributes"):
            label = str(get(Attribute.LABEL) or "")
            return KeyAttributes(
                label=label,
                algorithm=self._algorithm_of(label, obj),
                key_id=bytes(get(Attribute.ID) or b"").hex(),
                token=bool(get(Attribute.TOKEN)),
                private=bool(get(Attribute.PRIVATE)),
                sensitive=bool(get(Attribute.SENSITIVE)),
                always_sensitive=bool(get(Attribute.ALWAYS_SENSITIVE)),
                extractable=bool(get(Attribute.EXTRACTABLE)),
                never_extractable=bool(get(Attribute.NEVER_EXTRACTABLE)),
                local=bool(get(Attribute.LOCAL)),
                sign=bool(get(Attribute.SIGN)),
            )

    def _algorithm_of(self, label: str, obj: Any) -> str:
        kt = obj.key_type
        if kt == KeyType.RSA:
            try:
                bits = len(bytes(self._public_object(label)[Attribute.MODULUS])) * 8
            except HSMError:
                bits = 0
            return f"rsa-{bits}"
        if kt == KeyType.EC:
            try:
                oid = ObjectIdentifier.load(bytes(obj[Attribute.EC_PARAMS])).dotted
            except Exception:
                return "ec-unknown"
            return _CURVE_BY_OID.get(oid, ("ec-unknown", None))[0]
        if kt == KeyType.EC_EDWARDS:
            return "ed25519"
        return f"unknown-{int(kt)}"

    def list_keys(self) -> list[KeyAttributes]:
        return sorted((self._attributes(o) for o in self._private_objects()),
                      key=lambda k: k.label)

    def public_key(self, label: str) -> PublicKeyTypes:
        pub = self._public_object(label)
        with self._p11(f"reading public key {label!r}"):
            kt = pub.key_type
            if kt == KeyType.RSA:
                n = int.from_bytes(bytes(pub[Attribute.MODULUS]), "big")
                e = int.from_bytes(bytes(pub[Attribute.PUBLIC_EXPONENT]), "big")
                return rsa.RSAPublicNumbers(e, n).public_key()
            if kt == KeyType.EC:
                oid = ObjectIdentifier.load(bytes(pub[Attribute.EC_PARAMS])).dotted
                if oid not in _CURVE_BY_OID:
                    raise MechanismUnsupportedError(f"key {label!r} is on an unsupported curve")
                point = OctetString.load(bytes(pub[Attribute.EC_POINT])).native
                return ec.EllipticCurvePublicKey.from_encoded_point(_CURVE_BY_OID[oid][1](), point)
            if kt == KeyType.EC_EDWARDS:
                point = OctetString.load(bytes(pub[Attribute.EC_POINT])).native
                return ed25519.Ed25519PublicKey.from_public_bytes(point)
        raise MechanismUnsupportedError(f"key {label!r} has an unsupported type")

    def signing_key(self, label: str) -> TokenKey:
        """The CA key as a ``cryptography`` object, after checking its attributes (I1)."""
        attrs = self.key_attributes(label)
        if not attrs.safe:
            raise KeyUnsafeError(f"key {label!r} is not safe to use: {', '.join(attrs.problems)}")
        if not attrs.sign:
            raise KeyUnsafeError(f"key {label!r} is not allowed to sign")
        (obj,) = self._private_objects(label)
        public = self.public_key(label)

        def raw_sign(mech: SignMechanism, data: bytes) -> bytes:
            p11mech, param = _MECHANISMS[mech]
            with self._p11(f"signing with key {label!r}"):
                return bytes(obj.sign(data, mechanism=p11mech, mechanism_param=param))

        return wrap_key(label, public, raw_sign)
