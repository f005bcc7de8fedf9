"""Where each ceremony-log entry starts and what its leaf hash is: a cache beside the log.

``log/index.bin`` holds one 40-byte record per entry (the byte offset, big-endian, then the
RFC 9162 leaf hash), so an entry is read by its sequence number and a proof computed without
reading the log. It is a cache, never a source of truth: whatever is read through it is
checked (the entry's bytes against its leaf and its ``seq``, a proof against a signed root),
and a record that fails is rebuilt from the log (``rebuild``). The writer appends records at
each checkpoint; a crash leaves at worst records the next session rewrites.

``Records`` is the view the log keeps: the file's records (memory-mapped) up to ``base`` and
the records of this session's entries in memory after it.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Sequence
from pathlib import Path
from typing import overload

from signer.core.merkle import HASH_SIZE, leaf_hash
from signer.errors import LogError

RECORD = 8 + HASH_SIZE
INDEX_NAME = "index.bin"


def record(offset: int, leaf: bytes) -> bytes:
    return offset.to_bytes(8, "big") + leaf


class Records:
    """Offsets and leaves of entries 0..n-1: [0, base) from the index file, then in memory.

    The file may hold fewer than ``base`` records (deleted, or a crash before it was written):
    ``mapped`` says how many; the others are rebuilt (``rebuild``) before they are read."""

    def __init__(self, path: Path | None = None, base: int = 0) -> None:
        self.path = path
        self.tail = bytearray()
        self._map: mmap.mmap | None = None
        self.base = base
        self.mapped = 0
        if path is not None and base:
            self._map_file()

    def _map_file(self) -> None:
        assert self.path is not None
        self.close()
        try:
            with open(self.path, "rb") as f:
                have = min(self.base, os.fstat(f.fileno()).st_size // RECORD)
                if have:
                    self._map = mmap.mmap(f.fileno(), have * RECORD, access=mmap.ACCESS_READ)
        except FileNotFoundError:
            have = 0
        except OSError as exc:
            raise LogError(f"{self.path}: cannot read ({exc.strerror or exc})") from None
        self.mapped = have

    def remap(self) -> None:
        """Map the file again (after ``rebuild`` wrote it)."""
        self._map_file()

    def __len__(self) -> int:
        return self.base + len(self.tail) // RECORD

    def trusted(self, seq: int) -> bool:
        """Records made in this process (from bytes it read or wrote) need no check."""
        return seq >= self.base

    def get(self, seq: int) -> tuple[int, bytes]:
        if not 0 <= seq < len(self):
            raise LogError(f"no entry {seq} in a log of {len(self)}")
        if seq < self.base:
            if seq >= self.mapped or self._map is None:
                raise LogError(f"entry {seq} is not in the log's index")
            raw = self._map[seq * RECORD:(seq + 1) * RECORD]
        else:
            i = (seq - self.base) * RECORD
            raw = bytes(self.tail[i:i + RECORD])
        return int.from_bytes(raw[:8], "big"), raw[8:]

    def leaf(self, seq: int) -> bytes:
        if 0 <= seq < self.mapped and self._map is not None:
            at = seq * RECORD + 8
            return self._map[at:at + HASH_SIZE]
        return self.get(seq)[1]

    def append(self, offset: int, leaf: bytes) -> None:
        self.tail += record(offset, leaf)

    def flush(self) -> None:
        """Write the in-memory records after ``base`` into the index file (a cache: no fsync)
        and map them, so the next session starts with them."""
        if self.path is None or not self.tail:
            return
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.ftruncate(fd, self.base * RECORD)
                view = memoryview(self.tail)
                pos = self.base * RECORD
                while view:
                    n = os.pwrite(fd, view, pos)
                    view, pos = view[n:], pos + n
            finally:
                os.close(fd)
        except OSError as exc:
            raise LogError(f"{self.path}: cannot write ({exc.strerror or exc})") from None
        self.base = len(self)
        self.tail = bytearray()
        self._map_file()

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None


class Leaves(Sequence[bytes]):
    """The leaf hashes of ``Records`` as a sequence, for the Merkle functions."""

    def __init__(self, records: Records) -> None:
        self.records = records

    def __len__(self) -> int:
        return len(self.records)

    @overload
    def __getitem__(self, i: int) -> bytes: ...
    @overload
    def __getitem__(self, i: slice) -> list[bytes]: ...
    def __getitem__(self, i: int | slice) -> bytes | list[bytes]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        records = self.records
        if 0 <= i < records.mapped and records._map is not None:
            at = i * RECORD + 8
            return records._map[at:at + HASH_SIZE]
        j = (i - records.base) * RECORD + 8
        if i >= records.base and 0 <= j < len(records.tail):
            return bytes(records.tail[j:j + HASH_SIZE])
        if not 0 <= i < len(self):
            raise IndexError(i)
        return records.leaf(i)


def is_entry(line: bytes, seq: int) -> bool:
    """Is this canonical line entry ``seq``? Its top-level ``seq`` is the last one in it (the
    keys are sorted: ``data`` first; ``time`` and ``type`` cannot hold one)."""
    at = line.rfind(b',"seq":')
    return line.startswith(b'{"data":') and at > 0 \
        and line.startswith(f"{seq},".encode(), at + 7)


def indexed_count(logdir: Path) -> int:
    try:
        return (logdir / INDEX_NAME).stat().st_size // RECORD
    except OSError:
        return 0


def rebuild(log_path: Path, upto: int, records: Records | None = None) -> None:
    """Write the index records of the entries up to ``upto`` from the log's lines, after the
    first of ``records``' mapped records whose line is where it says (or from the start).
    Each line is checked to be the entry its position says."""
    path = log_path.parent / INDEX_NAME
    seq, offset = 0, 0
    if records is not None and records.mapped:
        seq = records.mapped - 1
        offset = records.get(seq)[0]
    resumed = seq > 0
    out = bytearray()
    try:
        with open(log_path, "rb") as f:
            f.seek(offset)
            while seq < upto:
                line = f.readline()
                if not line.endswith(b"\n") or not is_entry(line, seq):
                    raise LogError(f"{log_path}: entry {seq} is not where the log says")
                out += record(offset, leaf_hash(line[:-1]))
                offset += len(line)
                seq += 1
        first = upto - len(out) // RECORD
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.ftruncate(fd, first * RECORD)
            os.pwrite(fd, out, first * RECORD)
        finally:
            os.close(fd)
    except LogError:
        if resumed:  # the last mapped record was wrong too: rebuild from the start
            rebuild(log_path, upto)
            return
        raise
    except OSError as exc:
        raise LogError(f"{path}: cannot rebuild ({exc.strerror or exc})") from None
