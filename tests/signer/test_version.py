"""signer.version: one version, and the digest of the lock file the appliance was installed from.

Also the lock files themselves: they must pin every dependency pyproject.toml names (a
pyproject edit without `make lock` fails here), each with its hashes, in two layers.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from signer import version
from signer.errors import SignerError
from tests.conftest import ROOT

PIN = re.compile(r"^([A-Za-z0-9._-]+)==(\S+) \\$", re.M)


def pins(name: str) -> dict[str, str]:
    return {canonicalize_name(n): v for n, v in PIN.findall((ROOT / name).read_text())}


def test_lock_digest_is_the_sha256_of_the_lock_file() -> None:
    expected = hashlib.sha256((ROOT / "requirements.lock").read_bytes()).hexdigest()
    assert version.lock_digest() == expected
    assert version.version_line() == f"airgap-signer {version.VERSION} (requirements.lock sha256:{expected})"
    assert version.session_facts() == {"version": version.VERSION, "lock_sha256": expected}


def test_the_packaged_lock_is_the_top_level_lock() -> None:
    # A link, not a copy: the two cannot drift apart (setuptools copies the content into wheels).
    data = ROOT / "signer" / "data" / "requirements.lock"
    assert data.is_symlink()
    assert data.resolve() == (ROOT / "requirements.lock").resolve()


def test_version_has_one_source() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "signer.version.VERSION"}
    assert importlib.metadata.version("airgap-signer") == version.VERSION
    # No second literal anywhere: every other module imports it.
    literal = re.compile(r'^VERSION\s*=', re.M)
    assert [p for p in (ROOT / "signer").rglob("*.py") if literal.search(p.read_text())] == [
        ROOT / "signer" / "version.py"]


def test_python_m_signer_version_prints_the_line() -> None:
    r = subprocess.run([sys.executable, "-m", "signer.version"], capture_output=True, text=True,
                       cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == version.version_line() + "\n"


def test_a_missing_lock_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(version.resources, "files", lambda _package: tmp_path)
    with pytest.raises(SignerError, match="lock file .* is missing from the installed package"):
        version.lock_digest()
    assert version.main() == 1


def entries(name: str) -> list[list[str]]:
    """Each requirement of a lock file, with its continuation lines (hashes, comments)."""
    out: list[list[str]] = []
    for line in (ROOT / name).read_text().splitlines():
        if line.startswith(" ") and out:
            out[-1].append(line.strip())
        elif line and not line.startswith("#"):
            out.append([line])
    return out


def test_every_lock_entry_is_pinned_with_hashes() -> None:
    for name in ("requirements.lock", "requirements-test.lock"):
        found = entries(name)
        assert len(found) > 10, name
        for first, *rest in found:
            assert PIN.match(first), f"{name}: {first!r} is not an exact pin"
            assert any(re.fullmatch(r"--hash=sha256:[0-9a-f]{64}( \\)?", r) for r in rest), (
                f"{name}: {first} has no hash")


def test_the_test_lock_only_adds_to_the_appliance_lock() -> None:
    # Layered: `make test` installs both, the appliance only the first.
    runtime, extra = pins("requirements.lock"), pins("requirements-test.lock")
    assert not runtime.keys() & extra.keys()
    assert "pytest" in extra and "pytest" not in runtime
    assert "cryptography" in runtime


def test_the_locks_pin_every_dependency_pyproject_names() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    runtime, extra = pins("requirements.lock"), pins("requirements-test.lock")
    wanted = [(r, runtime) for r in pyproject["project"]["dependencies"]]
    wanted += [(r, runtime | extra) for r in pyproject["project"]["optional-dependencies"]["test"]]
    # The build backend too: the package is built with --no-build-isolation from the lock.
    wanted += [(r, runtime | extra) for r in pyproject["build-system"]["requires"]]
    for spec, locked in wanted:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in locked, f"{req.name} is not in the lock: run `make lock`"
        assert req.specifier.contains(locked[name], prereleases=True), (
            f"{req.name}=={locked[name]} does not satisfy {spec}: run `make lock`")
