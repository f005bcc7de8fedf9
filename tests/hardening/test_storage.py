"""Storage faults: a full disk and a read-only target for `batch export` and `crl issue --out`.

Real small tmpfs mounts when this machine allows mounting (root in CI); otherwise, and always
in addition, a fault-injecting ``os`` inside signer.store.files.write_new (ENOSPC half-way through
the bytes, EROFS at create). Promise under test (issue 7, I11): a clear one-line error, the
ledger intact, no partial file (not even a hidden temp file), and a later retry to a good
target succeeds.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from signer.cli import main
from signer.store import files
from tests.conftest import AT, Hierarchy
from tests.hardening.killharness import LATER, Prepared, check_invariants, prepare, signer
from transfer import usb

BATCH = 6


@pytest.fixture(scope="module")
def prepared(hierarchy: Hierarchy, tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    return prepare(hierarchy.home, hierarchy.pin_file, tmp_path_factory.mktemp("stor"), BATCH, AT)


@pytest.fixture(scope="module")
def signed_template(prepared: Prepared, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("signed") / "home"
    shutil.copytree(prepared.template, home)
    auth = ("--pin-file", prepared.pin_file, "--at", LATER)
    for args in (("batch", "import", prepared.bundle), ("batch", "sign", prepared.batch)):
        p = signer(home, *args, *auth)
        assert p.returncode == 0, p.stderr
    return home


@pytest.fixture
def home(signed_template: Path, tmp_path: Path) -> Path:
    h = tmp_path / "home"
    shutil.copytree(signed_template, h)
    return h


def _mount(where: Path, *options: str) -> bool:
    where.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(("size=16k", *options)),
                        "tmpfs", str(where)], capture_output=True)
    return p.returncode == 0


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    d = tmp_path / f"full-{uuid.uuid4().hex[:6]}"
    if not _mount(d):
        pytest.skip("cannot mount a tmpfs here (the fault-injecting tests still run)")
    try:
        (d / "filler").write_bytes(b"\0" * 8192)  # leave less room than a result bundle needs
        yield d
    finally:
        subprocess.run(["umount", str(d)], check=False)


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    d = tmp_path / f"ro-{uuid.uuid4().hex[:6]}"
    if not _mount(d, "ro"):
        pytest.skip("cannot mount a tmpfs here (the fault-injecting tests still run)")
    try:
        yield d
    finally:
        subprocess.run(["umount", str(d)], check=False)


class _FaultyOS:
    """``os`` as signer.store.files sees it: writes under ``target`` fail like a full or RO disk."""

    def __init__(self, target: Path, error: int) -> None:
        self.target, self.error = target, error
        self.written: dict[int, bool] = {}  # our open fds -> has half the data gone out yet

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def open(self, path: Any, flags: int, mode: int = 0o777) -> int:
        ours = Path(path).parent == self.target
        if ours and self.error == errno.EROFS:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        fd = os.open(path, flags, mode)
        if ours:
            self.written[fd] = False
        return fd

    def write(self, fd: int, data: Any) -> int:
        if fd not in self.written:
            return os.write(fd, data)
        if self.written[fd]:  # the disk filled up after the first half
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.written[fd] = True
        return os.write(fd, bytes(data)[: max(1, len(data) // 2)])

    def close(self, fd: int) -> None:
        self.written.pop(fd, None)
        os.close(fd)


def _ledger_digest(home: Path) -> str:
    db = sqlite3.connect(home / "ledger.sqlite")
    try:
        rows = []
        for table in ("certificates", "crls", "batches", "requests", "revocation_requests"):
            rows += [repr(r) for r in db.execute(f"SELECT * FROM {table} ORDER BY rowid")]
    finally:
        db.close()
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def _cli(capsys: pytest.CaptureFixture[str], home: Path, *args: str | Path) -> tuple[int, str]:
    rc = main(["--home", str(home), *map(str, args)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return rc, err


def _error_line(err: str) -> str:
    lines = [x for x in err.splitlines() if x.startswith("signer:")]
    assert len(lines) == 1, err
    return lines[0]


def _export(capsys, prepared: Prepared, home: Path, out: Path) -> tuple[int, str]:
    return _cli(capsys, home, "batch", "export", prepared.batch, "--out", out,
                "--pin-file", prepared.pin_file, "--at", LATER)


def _crl(capsys, prepared: Prepared, home: Path, out: Path) -> tuple[int, str]:
    return _cli(capsys, home, "crl", "issue", "class1", "--out", out,
                "--pin-file", prepared.pin_file, "--at", LATER)


def _then_a_good_target_works(capsys, prepared: Prepared, home: Path, what: str) -> None:
    good = home.parent / "good"
    good.mkdir(exist_ok=True)
    out = good / ("result.res" if what == "export" else "class1.crl")
    rc, err = (_export if what == "export" else _crl)(capsys, prepared, home, out)
    assert rc == 0, err
    assert check_invariants(home, prepared, good) == []


@pytest.mark.parametrize("what", ["export", "crl"])
@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EROFS])
def test_injected_write_fault_is_one_clear_line_and_leaves_nothing(
        prepared, home, capsys, monkeypatch, tmp_path, what, error):
    monkeypatch.setenv("SIGNER_WORKERS", "0")
    target = tmp_path / "stick"
    target.mkdir()
    before = _ledger_digest(home)
    monkeypatch.setattr(usb, "os", _FaultyOS(target, error))
    out = target / ("result.res" if what == "export" else "class1.crl")
    rc, err = (_export if what == "export" else _crl)(capsys, prepared, home, out)
    line = _error_line(err)
    assert rc == 1 and str(out) in line and os.strerror(error) in line, line
    assert list(target.iterdir()) == []  # no partial file, no temp file
    if what == "export":
        assert _ledger_digest(home) == before  # an export changes no ledger row
    monkeypatch.undo()
    _then_a_good_target_works(capsys, prepared, home, what)


@pytest.mark.parametrize("what", ["export", "crl"])
def test_real_full_tmpfs(prepared, home, capsys, monkeypatch, full_disk, what):
    monkeypatch.setenv("SIGNER_WORKERS", "0")
    before = _ledger_digest(home)
    out = full_disk / ("result.res" if what == "export" else "class1.crl")
    if what == "crl":  # a CRL is small: fill the disk to the brim first
        fd = os.open(full_disk / "brim", os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"\0" * 512):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
    rc, err = (_export if what == "export" else _crl)(capsys, prepared, home, out)
    line = _error_line(err)
    # Refused before a byte is written (free space is checked first), or by the device itself.
    assert rc == 1 and ("No space left on device" in line or "not enough space" in line), line
    assert sorted(p.name for p in full_disk.iterdir()) == sorted(
        ["filler"] + (["brim"] if what == "crl" else []))
    if what == "export":
        assert _ledger_digest(home) == before
    _then_a_good_target_works(capsys, prepared, home, what)


@pytest.mark.parametrize("what", ["export", "crl"])
def test_real_read_only_tmpfs(prepared, home, capsys, monkeypatch, read_only, what):
    # chmod 0555 would not stop root; a read-only mount does.
    monkeypatch.setenv("SIGNER_WORKERS", "0")
    out = read_only / ("result.res" if what == "export" else "class1.crl")
    rc, err = (_export if what == "export" else _crl)(capsys, prepared, home, out)
    line = _error_line(err)
    assert rc == 1 and "Read-only file system" in line, line
    assert list(read_only.iterdir()) == []
    _then_a_good_target_works(capsys, prepared, home, what)


def test_regression_cleanup_on_a_read_only_fs_does_not_mask_the_error(tmp_path, monkeypatch):
    # Found with the read-only tmpfs: write_new's cleanup unlink fails with EROFS even when no
    # temp file exists, and that OSError replaced the OutputError (a traceback on the CLI).
    class ReadOnly(_FaultyOS):
        def unlink(self, path: Any) -> None:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    monkeypatch.setattr(usb, "os", ReadOnly(tmp_path, errno.EROFS))
    with pytest.raises(files.OutputError, match="Read-only file system"):
        files.write_new(tmp_path / "x.pem", b"data")
    assert list(tmp_path.iterdir()) == []
