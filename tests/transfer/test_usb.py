"""USB media: detection from a fake /proc and /sys, safe listing and reading, and atomic writes
that survive a full disk or a pulled stick without leaving a half-written file behind."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from transfer import usb
from transfer.errors import MediaError
from transfer.usb import find_removable_media, list_files, read_file, write_file


@pytest.fixture
def fake_sys(tmp_path: Path) -> tuple[Path, Path]:
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "sysfs /sys sysfs rw,nosuid 0 0\n"
        "/dev/sda2 / ext4 rw,relatime 0 0\n"
        "/dev/sdb1 /media/ca/KEY\\040STICK vfat rw,nosuid,nodev 0 0\n"
        "/dev/sdc /media/ca/RAW ext4 ro,relatime 0 0\n"
        "/dev/mmcblk0p1 /media/ca/SD vfat rw 0 0\n"
        "/dev/nvme0n1p3 /home ext4 rw 0 0\n"
        "/dev/mapper/vg-root /srv ext4 rw 0 0\n"
        "garbage\n"
    )
    block = tmp_path / "block"
    for disk, flag in (("sda", "0"), ("sdb", "1"), ("sdc", "1"), ("mmcblk0", "1"),
                       ("nvme0n1", "0")):
        (block / disk).mkdir(parents=True)
        (block / disk / "removable").write_text(flag + "\n")
    return mounts, block


def test_find_removable_media(fake_sys: tuple[Path, Path]) -> None:
    media = find_removable_media(*fake_sys)
    assert [(m.device, m.disk, str(m.mount_point), m.read_only) for m in media] == [
        ("/dev/sdb1", "sdb", "/media/ca/KEY STICK", False),
        ("/dev/sdc", "sdc", "/media/ca/RAW", True),
        ("/dev/mmcblk0p1", "mmcblk0", "/media/ca/SD", False),
    ]


def test_find_removable_media_unreadable(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="cannot read"):
        find_removable_media(tmp_path / "nope", tmp_path)


def test_list_files_only_regular_and_escaped(tmp_path: Path) -> None:
    (tmp_path / "a.req").write_bytes(b"x")
    (tmp_path / "b\x1b[31m.req").write_bytes(b"yy")
    (tmp_path / "c.res").write_bytes(b"")
    (tmp_path / "notes.txt").write_bytes(b"")
    (tmp_path / "link.req").symlink_to(tmp_path / "a.req")
    os.mkfifo(tmp_path / "fifo.req")
    (tmp_path / "dir.req").mkdir()
    got = list_files(tmp_path)
    assert [c.display_name for c in got] == ["a.req", "b\\x1b[31m.req", "c.res"]
    assert [c.size for c in got] == [1, 2, 0]
    assert all(ch.isprintable() for c in got for ch in c.display_name)


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda p: p.symlink_to(p.parent / "real"), "symlink"),
        (lambda p: os.mkfifo(p), "not a regular file"),
        (lambda p: p.mkdir(), "not a regular file"),
        (lambda p: p.write_bytes(b"x" * 101), "over the 100-byte limit"),
        (lambda p: None, "vanished"),
    ],
)
def test_read_file_refuses(tmp_path: Path, make, why: str) -> None:
    (tmp_path / "real").write_bytes(b"secret")
    target = tmp_path / "in.req"
    make(target)
    with pytest.raises(MediaError, match=why):
        read_file(target, 100)


def test_read_file_ok(tmp_path: Path) -> None:
    (tmp_path / "in.req").write_bytes(b"x" * 100)
    assert read_file(tmp_path / "in.req", 100) == b"x" * 100


def test_write_file_round_trip_and_no_overwrite(tmp_path: Path) -> None:
    path = write_file(tmp_path, "out.res", b"result")
    assert path.read_bytes() == b"result"
    with pytest.raises(MediaError, match="overwrite"):
        write_file(tmp_path, "out.res", b"other")
    assert path.read_bytes() == b"result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.res"]
    for bad in ("", "..", "a/b", "x\0"):
        with pytest.raises(MediaError, match="invalid file name"):
            write_file(tmp_path, bad, b"")


def test_write_file_checks_free_space_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Vfs:
        f_bavail, f_frsize, f_flag = 10, 4096, 0

    monkeypatch.setattr(usb.os, "statvfs", lambda _p: Vfs())
    with pytest.raises(MediaError, match="not enough space"):
        write_file(tmp_path, "big.res", b"x" * 100_000)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("call", "err", "why"),
    [
        ("write", errno.ENOSPC, "medium is full"),
        ("write", errno.EIO, "removed"),
        ("fsync", errno.EIO, "removed"),
        ("fsync", errno.EROFS, "read-only"),
        ("link", errno.ENOENT, "vanished"),
    ],
)
def test_write_faults_leave_previous_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, call: str, err: int, why: str
) -> None:
    (tmp_path / "older.res").write_bytes(b"previous result")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def fault(*_a: object, **_k: object) -> None:
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(usb.os, call, fault)
    with pytest.raises(MediaError, match=why) as info:
        write_file(tmp_path, "new.res", b"fresh result" * 1000)
    assert "\n" not in str(info.value)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_read_back_mismatch_removes_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(usb, "read_file", lambda _p, _n: b"bit rot")
    with pytest.raises(MediaError, match="read-back"):
        write_file(tmp_path, "new.res", b"fresh")
    assert list(tmp_path.iterdir()) == []
