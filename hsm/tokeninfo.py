"""CK_TOKEN_INFO fields that python-pkcs11 0.10 does not expose: the PIN length limits.

python-pkcs11's ``Token`` keeps label, serial, model, manufacturer and flags from
``C_GetTokenInfo`` but drops ``ulMinPinLen``/``ulMaxPinLen``. This module calls
``C_GetTokenInfo`` itself through ``ctypes``, on the same module (``dlopen`` of a path that is
already loaded returns the same library, already initialised by python-pkcs11), through the
function list that ``C_GetFunctionList`` returns, as PKCS#11 applications must. It only reads;
it needs no session and never sees a PIN.

The structures follow the Unix PKCS#11 ABI (default C alignment, CK_ULONG = unsigned long);
Windows packs them to 1 byte, which this appliance does not run on.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

from hsm.errors import DeviceError

_CK_ULONG = ctypes.c_ulong


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_ubyte), ("minor", ctypes.c_ubyte)]


class _TokenInfo(ctypes.Structure):
    _fields_ = [
        ("label", ctypes.c_char * 32),
        ("manufacturerID", ctypes.c_char * 32),
        ("model", ctypes.c_char * 16),
        ("serialNumber", ctypes.c_char * 16),
        ("flags", _CK_ULONG),
        ("ulMaxSessionCount", _CK_ULONG),
        ("ulSessionCount", _CK_ULONG),
        ("ulMaxRwSessionCount", _CK_ULONG),
        ("ulRwSessionCount", _CK_ULONG),
        ("ulMaxPinLen", _CK_ULONG),
        ("ulMinPinLen", _CK_ULONG),
        ("ulTotalPublicMemory", _CK_ULONG),
        ("ulFreePublicMemory", _CK_ULONG),
        ("ulTotalPrivateMemory", _CK_ULONG),
        ("ulFreePrivateMemory", _CK_ULONG),
        ("hardwareVersion", _Version),
        ("firmwareVersion", _Version),
        ("utcTime", ctypes.c_char * 16),
    ]


_GetTokenInfo = ctypes.CFUNCTYPE(_CK_ULONG, _CK_ULONG, ctypes.POINTER(_TokenInfo))


class _FunctionListHead(ctypes.Structure):
    # CK_FUNCTION_LIST begins with the version and then C_Initialize .. C_GetTokenInfo in
    # this order (PKCS#11 2.40 §5.2 / pkcs11f.h); nothing past C_GetTokenInfo is read.
    _fields_ = [("version", _Version)] + [(name, ctypes.c_void_p) for name in (
        "C_Initialize", "C_Finalize", "C_GetInfo", "C_GetFunctionList", "C_GetSlotList",
        "C_GetSlotInfo")] + [("C_GetTokenInfo", _GetTokenInfo)]


@dataclass(frozen=True)
class RawTokenInfo:
    flags: int
    min_pin_len: int
    max_pin_len: int


def read_token_info(module_path: str, slot_id: int) -> RawTokenInfo:
    """``flags``, ``ulMinPinLen`` and ``ulMaxPinLen`` of the token in ``slot_id``."""
    try:
        lib = ctypes.CDLL(module_path)
        get_list = lib.C_GetFunctionList
    except (OSError, AttributeError) as exc:
        raise DeviceError(f"cannot read token information from {module_path}") from exc
    get_list.restype = _CK_ULONG
    get_list.argtypes = [ctypes.POINTER(ctypes.POINTER(_FunctionListHead))]
    flist = ctypes.POINTER(_FunctionListHead)()
    rv = get_list(ctypes.byref(flist))
    if rv != 0 or not flist:
        raise DeviceError(f"C_GetFunctionList failed (0x{rv:x})")
    info = _TokenInfo()
    rv = flist.contents.C_GetTokenInfo(slot_id, ctypes.byref(info))
    if rv != 0:
        raise DeviceError(f"C_GetTokenInfo failed for slot {slot_id} (0x{rv:x})")
    return RawTokenInfo(flags=info.flags, min_pin_len=info.ulMinPinLen,
                        max_pin_len=info.ulMaxPinLen)
