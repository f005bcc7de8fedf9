"""Which PKCS#11 libraries the appliance loads: only one no user but root could have written.

The module path comes from ``signer.toml``, a file in HOME that an insider with file access can
edit between sessions, and the library receives the user PIN (or the PIN derived from the
custodians' shares), and at a restore the SO PIN and the backup secret. So, as sudo and OpenSSH
do for what they trust, the file and every directory above it (before and after resolving
symbolic links) must belong to root and be writable by nobody else. Debian installs every
PKCS#11 module that way; a library dropped into HOME or /tmp is refused before it is loaded.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from hsm.errors import ModuleError


def check_trusted_module(path: str) -> None:
    """Raise ``ModuleError`` (one line) unless ``path`` is a root-owned library in root-owned
    directories that neither group nor others may write."""
    p = Path(path)
    if not p.is_absolute():
        raise ModuleError(f"PKCS#11 module {path}: give an absolute path")
    real = p.resolve()
    if not real.is_file():
        raise ModuleError(f"PKCS#11 module not found: {path}")
    for q in dict.fromkeys([p, *p.parents, real, *real.parents]):
        try:
            st = os.lstat(q)
        except OSError as exc:
            raise ModuleError(f"PKCS#11 module {path}: {q}: {exc.strerror or exc}") from None
        if stat.S_ISLNK(st.st_mode):
            continue  # a link's own mode means nothing; its directory and its target count
        if st.st_uid != 0:
            raise ModuleError(f"PKCS#11 module {path}: {q} does not belong to root; the "
                              "library that receives the PIN must be installed by root")
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise ModuleError(f"PKCS#11 module {path}: {q} is writable by other users; the "
                              "library that receives the PIN must be installed by root")
