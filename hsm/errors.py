"""The HSM error hierarchy. Messages are one line and never contain a PIN or share (I10)."""


class HSMError(Exception):
    """Base of every failure at the PKCS#11 boundary."""


class ModuleError(HSMError):
    """The PKCS#11 module could not be loaded."""


class TokenAbsentError(HSMError):
    """No token with the requested label or serial is present."""


class HSMAuthError(HSMError):
    """Login failed because the PIN (or the PIN derived from shares) is wrong."""


class PinLockedError(HSMAuthError):
    """The token has locked the user PIN after too many wrong tries."""


class KeyMissingError(HSMError):
    """No key with the requested label is in the token."""


class KeyExistsError(HSMError):
    """A key with the requested label is already in the token."""


class KeyUnsafeError(HSMError):
    """A key's attributes break I1 (extractable, ever extractable, not sensitive, imported)."""


class MechanismUnsupportedError(HSMError):
    """The token or this appliance does not support the requested algorithm or mechanism."""


class SignatureCheckError(HSMError):
    """A signature returned by the token did not verify in software (I5)."""


class DeviceError(HSMError):
    """The token failed or went away during an operation (session lost, device removed)."""


class KeyFormatError(HSMError):
    """The token returned key data that is not a valid key of the expected kind."""


class TokenSelectionError(HSMError):
    """A token selector (label, serial or RFC 7512 ``pkcs11:`` URI) is malformed or unsupported."""


class PinPolicyError(HSMError):
    """The token's PIN length limits cannot hold a PIN with the appliance's entropy floor."""


class BackupError(HSMError):
    """A key backup or restore was refused: wrong or missing wrapping key, mismatch, damage."""
