"""Loading a compromised-key blocklist (badkeys' format) from the medium the operator brought.

What the list is and how it is searched: ``signer.core.policy.blocklist``. This module only
reads files: maps the record table, checks it against the SHA-256 its metadata names, or its
sort order for a bare ``.dat`` list.
"""

from __future__ import annotations

import hashlib
import json
import mmap
from pathlib import Path

from signer.core.policy.blocklist import DATA_FILE, FORMAT, META_FILE, Blocklist
from signer.errors import ConfigError


def _map(path: Path) -> bytes | mmap.mmap:
    try:
        with open(path, "rb") as f:
            if f.seek(0, 2) == 0:
                return b""
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as exc:
        raise ConfigError(f"blocklist {path}: cannot be read ({exc.strerror})") from None


def _sha256(data: bytes | mmap.mmap) -> str:
    digest = hashlib.sha256()
    view = memoryview(data)
    for start in range(0, len(view), 1 << 24):
        digest.update(view[start:start + (1 << 24)])
    view.release()
    return digest.hexdigest()


def load_blocklist(path: Path) -> Blocklist:
    """Load a badkeys cache directory (``badkeysdata.json`` + ``blocklist.dat``, the data
    file checked against the SHA-256 the metadata names) or one extra ``.dat`` file (checked
    for sort order). Any problem is a ConfigError: a list we cannot trust is not used."""
    if not path.is_dir():
        records = _map(path)
        extra = Blocklist(records, {}, str(path), _sha256(records))
        extra.check_sorted()
        return extra
    try:
        meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
        if meta["bkformat"] != FORMAT:
            raise ConfigError(f"blocklist {path}: format {meta['bkformat']!r} is not {FORMAT}")
        names = {int(b["id"]): str(b["name"]) for b in meta["blocklists"]}
        expected = str(meta["blocklist_sha256"])
    except OSError as exc:
        raise ConfigError(f"blocklist {path / META_FILE}: cannot be read "
                          f"({exc.strerror})") from None
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"blocklist {path / META_FILE}: not badkeys metadata (not JSON, or "
                          "a field is missing or of the wrong type)") from None
    data = _map(path / DATA_FILE)
    digest = _sha256(data)
    if digest != expected:
        raise ConfigError(f"blocklist {path / DATA_FILE}: SHA-256 {digest[:16]}... is not the "
                          f"{expected[:16]}... that {META_FILE} names (damaged or mixed copy)")
    return Blocklist(data, names, str(path), digest)
