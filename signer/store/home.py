"""A signer home on disk: where its files are, its configuration, and the air-gap probe path.

HOME holds ``signer.toml``, ``ledger.sqlite``, ``log/ceremony.jsonl`` (and the latest
``log/checkpoint``), and the copies the appliance keeps of what it issued (``certs/``,
``crls/``, ``results/``). It is made readable by its owner only (I10).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from signer.core.config import Config, parse_config
from signer.errors import ConfigError, SignerError

SYS_NET_ENV = "AIRGAP_SIGNER_SYS_NET"  # tests point this at a fake /sys/class/net
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class HomePaths:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "signer.toml"

    @property
    def ledger(self) -> Path:
        return self.root / "ledger.sqlite"

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    @property
    def log(self) -> Path:
        return self.root / "log" / "ceremony.jsonl"

    @property
    def checkpoint(self) -> Path:
        return self.root / "log" / "checkpoint"

    @property
    def certs(self) -> Path:
        return self.root / "certs"

    @property
    def crls(self) -> Path:
        return self.root / "crls"

    @property
    def results(self) -> Path:
        return self.root / "results"


def sys_net() -> Path:
    """Where the air-gap probe reads the network interfaces (I12)."""
    return Path(os.environ.get(SYS_NET_ENV, "/sys/class/net"))


def check_name(name: str, what: str) -> None:
    """A CA's name: it becomes a file name and a URL path segment."""
    if not NAME_RE.match(name):
        raise SignerError(f"{what} {name!r}: use 1-32 characters a-z, 0-9, '-' or '_'")


def load_config(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found (run `signer init` first)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None
    return parse_config(text)
