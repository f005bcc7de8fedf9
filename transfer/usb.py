"""Removable media for request/result files (DESIGN §6 "USB").

Finds mounted removable disks, lists candidate files, reads them bounded and without following
symlinks, and writes atomically with a read-back check. A stick pulled mid-write, a full or
read-only medium surface as MediaError with a one-line message, and the previous state of the
target directory is left as it was. It does not mount, unmount or format anything, and it does
not decide which file the operator means: it lists, the caller asks.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from transfer.errors import MediaError

_PART = re.compile(r"^(?P<disk>(?:nvme\d+n\d+|mmcblk\d+))p\d+$|^(?P<sd>[a-z]+)\d+$")
_REASONS = {
    errno.ENOSPC: "medium is full",
    errno.EROFS: "medium is read-only",
    errno.EIO: "I/O error (was the medium removed?)",
    errno.ENOENT: "medium or directory vanished (was it removed?)",
    errno.EEXIST: "target already exists",
    errno.ELOOP: "path is a symlink",
    errno.EACCES: "permission denied",
}


@dataclass(frozen=True)
class Medium:
    device: str  # /dev/sdb1
    disk: str  # sdb
    mount_point: Path
    fs_type: str
    read_only: bool


@dataclass(frozen=True)
class Candidate:
    path: Path
    display_name: str  # control characters escaped; safe to print
    size: int


def _reason(exc: OSError) -> str:
    """What happened to the medium, then the system's own words (for the operator's search)."""
    plain = exc.strerror or str(exc)
    ours = _REASONS.get(exc.errno or 0)
    return f"{ours} ({plain})" if ours else plain


def _unescape_mount(field: str) -> str:
    # /proc/mounts escapes space, tab, newline and backslash as octal (\040 etc.).
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _disk_of(dev_name: str) -> str:
    m = _PART.match(dev_name)
    if m is None:
        return dev_name
    return m.group("disk") or m.group("sd")


def find_removable_media(
    proc_mounts: Path = Path("/proc/mounts"), sys_block: Path = Path("/sys/block")
) -> list[Medium]:
    """Mounted filesystems on block devices whose /sys/block/<disk>/removable is 1."""
    try:
        lines = proc_mounts.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise MediaError(f"cannot read {proc_mounts}: {_reason(exc)}") from exc
    found: list[Medium] = []
    for line in lines:
        parts = line.split()
        if len(parts) < 4 or not parts[0].startswith("/dev/"):
            continue
        name = parts[0].removeprefix("/dev/")
        if "/" in name:  # /dev/mapper/..., /dev/disk/by-*: not a plain removable disk
            continue
        disk = _disk_of(name)
        flag = sys_block / disk / "removable"
        try:
            removable = flag.read_text().strip() == "1"
        except OSError:
            continue
        if removable:
            opts = parts[3].split(",")
            found.append(Medium(parts[0], disk, Path(_unescape_mount(parts[1])), parts[2],
                                "ro" in opts))
    return found


def safe_name(name: str) -> str:
    """A file name fit for a terminal: control and format characters escaped, not dropped."""
    out = []
    for ch in name:
        if ch.isprintable() and ch not in "\\":
            out.append(ch)
        elif ch == "\\":
            out.append("\\\\")
        else:
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}")
    return "".join(out)


def list_files(medium_dir: Path, suffixes: tuple[str, ...] = (".req", ".res")) -> list[Candidate]:
    """Regular files (not symlinks, devices or FIFOs) directly in `medium_dir`, sorted by name."""
    try:
        entries = list(os.scandir(medium_dir))
    except OSError as exc:
        raise MediaError(f"cannot list {safe_name(str(medium_dir))}: {_reason(exc)}") from exc
    out: list[Candidate] = []
    for entry in entries:
        if not entry.name.lower().endswith(suffixes):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue  # vanished between listing and stat; not a candidate
        if stat.S_ISREG(st.st_mode):
            out.append(Candidate(Path(entry.path), safe_name(entry.name), st.st_size))
    return sorted(out, key=lambda c: c.path.name)


def read_file(path: Path, max_size: int) -> bytes:
    """Read a regular file without following a final symlink, refusing more than max_size."""
    shown = safe_name(str(path))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise MediaError(f"cannot open {shown}: {_reason(exc)}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise MediaError(f"{shown} is not a regular file")
        if st.st_size > max_size:
            raise MediaError(f"{shown} is {st.st_size} bytes, over the {max_size}-byte limit")
        chunks: list[bytes] = []
        total = 0
        while True:  # bounded even if the file grows after fstat
            chunk = os.read(fd, min(1 << 20, max_size + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_size:
                raise MediaError(f"{shown} grew past the {max_size}-byte limit while reading")
        return b"".join(chunks)
    except OSError as exc:
        raise MediaError(f"cannot read {shown}: {_reason(exc)}") from exc
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    dfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def write_output(target: Path, data: bytes, *, mode: int = 0o644, replace: bool = False,
                 headroom: int = 64 * 1024) -> Path:
    """The one writer of every output (DESIGN I11): atomic, never overwriting, verified.

    Order: free space first (statvfs, with headroom for metadata on FAT), refuse an existing
    target, a temp file in the same directory (exclusive create), write, fsync, the exact
    ``mode``, then link into place (``link`` fails rather than overwrite; ``replace`` renames
    instead, for the one file meant to be replaced), fsync the directory, and read the file
    back (from the medium, not the page cache where the kernel allows) and compare SHA-256. A
    pulled stick or a full disk leaves the previous state and one clear line (MediaError).
    """
    dest_dir = target.parent
    name = target.name
    if not name or name in (".", "..") or "\0" in name:
        raise MediaError(f"invalid file name {safe_name(name)!r}")
    shown = safe_name(str(target))
    tmp = dest_dir / f".{name}.tmp-{os.getpid()}-{os.urandom(4).hex()}"
    want = hashlib.sha256(data).digest()
    try:
        if not dest_dir.is_dir():
            raise MediaError(f"{safe_name(str(dest_dir))}: no such directory")
        vfs = os.statvfs(dest_dir)
        if vfs.f_flag & os.ST_RDONLY:
            raise MediaError(f"cannot write {shown}: {_reason(OSError(errno.EROFS, os.strerror(errno.EROFS)))}")
        free = vfs.f_bavail * vfs.f_frsize
        if free < len(data) + headroom:
            raise MediaError(f"not enough space for {shown}: {len(data)} bytes, {free} free")
        if not replace and (target.exists() or target.is_symlink()):
            raise MediaError(f"{shown}: already exists; refusing to overwrite it")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     mode)
        try:
            os.fchmod(fd, mode)  # exactly, whatever the umask
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        if replace:
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise MediaError(f"{shown}: already exists; refusing to overwrite it") from None
        _fsync_dir(dest_dir)
        if hashlib.sha256(_read_back(target, len(data))).digest() != want:
            target.unlink()  # ours, and wrong: leave no corrupt file for the next step to read
            raise MediaError(f"read-back of {shown} differs from what was written")
    except OSError as exc:
        raise MediaError(f"cannot write {shown}: {_reason(exc)}") from exc
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass  # the medium is gone, or read-only: nothing more can be cleaned
    return target


def _read_back(path: Path, size: int) -> bytes:
    """Read a file just written, asking the kernel to drop its cached pages first."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return read_file(path, size)


def write_file(dest_dir: Path, name: str, data: bytes) -> Path:
    """Write ``name`` in ``dest_dir`` with ``write_output`` (a name, not a path, is asked for)."""
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise MediaError(f"invalid file name {safe_name(name)!r}")
    return write_output(dest_dir / name, data)
