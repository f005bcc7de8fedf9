"""The appliance's version and the digest of the dependency lock it was installed from.

``VERSION`` is the single source of the package version (pyproject.toml reads it). The lock
file (``requirements.lock``, every dependency pinned with its SHA-256) ships inside the package,
so an installed appliance can say exactly which third-party code it runs: ``signer --version``
prints both, and every session records both in its first log entry. This module only reads;
it does not check that the installed distributions match the lock (pip did that, with
``--require-hashes``, when it installed them).

``python -m signer.version`` prints the same line as ``signer --version``.
"""

from __future__ import annotations

import hashlib
import sys
from importlib import resources

from signer.errors import SignerError

VERSION = "0.1.0"
LOCK_NAME = "requirements.lock"


def lock_bytes() -> bytes:
    """The lock file as installed with the package (``signer/data/requirements.lock``)."""
    try:
        return (resources.files("signer") / "data" / LOCK_NAME).read_bytes()
    except OSError:
        raise SignerError(
            f"the dependency lock file ({LOCK_NAME}) is missing from the installed package: "
            "reinstall airgap-signer from its offline bundle") from None


def lock_digest() -> str:
    """SHA-256 (hex) of the lock file's bytes: the same as ``sha256sum requirements.lock``."""
    return hashlib.sha256(lock_bytes()).hexdigest()


def version_line() -> str:
    """What ``signer --version`` prints: one line, for the minutes and for scripts."""
    return f"airgap-signer {VERSION} ({LOCK_NAME} sha256:{lock_digest()})"


def session_facts() -> dict[str, str]:
    """The fields a session's first log entry records: ``version`` and ``lock_sha256``."""
    return {"version": VERSION, "lock_sha256": lock_digest()}


def main() -> int:
    try:
        print(version_line())
    except SignerError as exc:
        print(f"signer: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
