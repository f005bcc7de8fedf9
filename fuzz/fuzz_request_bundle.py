"""atheris: request bundles (transfer.bundle.parse_request_bundle) -> only BundleError (I7)."""

from __future__ import annotations

import _common  # noqa: F401 - sets sys.path
import atheris

with atheris.instrument_imports():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from transfer import bundle as tb
    from transfer.errors import TransferError

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
TRUSTED = {"ra1": KEY.public_key().public_bytes_raw()}


def target(data: bytes) -> None:
    try:
        tb.parse_request_bundle(data, TRUSTED)
    except TransferError:
        pass


if __name__ == "__main__":
    _common.run(target)
