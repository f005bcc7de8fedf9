"""atheris: signer.toml text (signer.core.config.parse_config) -> only ConfigError."""

from __future__ import annotations

import _common
import atheris

with atheris.instrument_imports():
    from signer.core.config import parse_config
    from signer.errors import ConfigError


def target(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    try:
        parse_config(fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes()))
    except ConfigError:
        pass


if __name__ == "__main__":
    _common.run(target)
