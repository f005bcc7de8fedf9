"""Receiving frames: grouped by transfer and by every header field, locked onto one transfer.

A Transfer holds every frame of one transfer id, one Assembly per distinct header, so a forged
frame with the same id but another length, symbol size or flag cannot shut the real frames
out: it only forms a group of its own. The Receiver (live reception: a camera, a scanner, the
TUI) collects frames of every transfer it sees, within a memory budget, and locks onto one:

* the one the operator named (``Receiver(transfer_id)``, ``switch_to``), else
* the first transfer to show two different frames (or to complete from one), so a single
  stale frame of an earlier transfer left on a screen does not capture the receiver.

It releases only the locked transfer, only after verification, and never mixes transfers;
frames of others are counted and kept aside so that switching to them loses nothing. feed()
never raises on bad input: every outcome is a FeedResult with a reason and the progress.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from transfer.errors import FrameError
from transfer.qr.assembly import Added, Assembly
from transfer.qr.frame import Frame, Header, parse_frame

MAX_VARIANTS = 8  # different headers kept per transfer id (one is genuine)
MAX_TRANSFERS = 64  # transfer ids whose frames are kept
KEEP_BUDGET = 32 * 1024 * 1024  # bytes of packets kept for transfers other than the locked one
MAX_COUNTED = 256  # transfer ids counted without keeping their frames


def parse_transfer_id(text: str) -> bytes:
    """An operator-given transfer id: 16 hex digits."""
    try:
        tid = bytes.fromhex(text)
    except ValueError:
        raise FrameError(f"transfer id {text!r} is not hex") from None
    if len(tid) != 8:
        raise FrameError(f"transfer id {text!r} is not 16 hex digits")
    return tid


class Transfer:
    """All frames of one transfer id, one Assembly per header variant."""

    def __init__(self, transfer_id: bytes) -> None:
        self.transfer_id = transfer_id
        self.variants: dict[Header, Assembly] = {}
        self.frames = 0  # valid frames of this id seen, duplicates included

    @property
    def tid(self) -> str:
        return self.transfer_id.hex()

    def add(self, frame: Frame) -> tuple[Added, bool]:
        """(what happened, whether the frame opened a second header variant)."""
        self.frames += 1
        asm = self.variants.get(frame.header)
        new_variant = False
        if asm is None:
            if len(self.variants) >= MAX_VARIANTS:
                return Added.FULL, True
            new_variant = bool(self.variants)
            asm = self.variants[frame.header] = Assembly(frame.header)
        return asm.add(frame), new_variant

    @property
    def main(self) -> Assembly:
        """The verified variant, else the one holding the most frames."""
        done = [a for a in self.variants.values() if a.data is not None]
        return done[0] if done else max(self.variants.values(), key=lambda a: a.distinct)

    @property
    def data(self) -> bytes | None:
        return self.main.data

    @property
    def failure(self) -> str | None:
        """Final failure: the main variant gave up."""
        return self.main.given_up

    @property
    def suspect(self) -> int:
        """Frames that contradict the main variant: other headers, or other contents."""
        main = self.main
        return main.conflicts + sum(a.distinct for a in self.variants.values() if a is not main)

    @property
    def kept_bytes(self) -> int:
        return sum((a.distinct + a.conflicts) * (a.header.symbol_size + 4)
                   for a in self.variants.values())

    def result(self) -> bytes:
        """The verified file, or FrameError saying why there is none (yet)."""
        main = self.main
        if main.data is not None:
            return main.data
        why = main.given_up or main.failure
        left = f"{main.distinct} of {main.k} frames, any {main.remaining} more"
        raise FrameError(f"transfer {self.tid} incomplete ({left})"
                         + (f": {why}" if why else ""))


class FeedStatus(StrEnum):
    ACCEPTED = "accepted"  # a new frame of the transfer being collected
    COMPLETE = "complete"  # the file is rebuilt and verified (also for frames after that)
    DUPLICATE = "duplicate"  # a frame already held
    FOREIGN = "foreign"  # a valid frame of another transfer: kept aside, not used
    SUSPECT = "suspect"  # valid, but contradicts frames already held: kept for the retries
    REJECTED = "rejected"  # not a frame, damaged, or over a cap
    FAILED = "failed"  # the transfer was given up; the message says why


@dataclass(frozen=True)
class Progress:
    """What an operator can act on: how far, how many more, and what was refused."""

    transfer_id: str | None
    seen: int  # texts read
    readable: int  # valid frames, any transfer
    useful: int  # different frames held for this transfer
    needed: int  # k: frames that rebuild it (0 before the first frame)
    remaining: int  # any this many more (an estimate; 0 when complete)
    foreign: int  # frames of other transfers
    rejected: int  # texts that are not valid frames
    suspect: int  # frames of this transfer that contradict the others
    complete: bool
    failure: str | None = None

    @property
    def share(self) -> float:
        """Share of the frames needed that are held (1.0 when complete)."""
        if self.complete:
            return 1.0
        return min(1.0, self.useful / self.needed) if self.needed else 0.0

    def line(self) -> str:
        if self.transfer_id is None:
            head = ("waiting for two different frames of one transfer" if self.readable
                    else "no frame yet")
        elif self.complete:
            head = f"transfer {self.transfer_id}: complete ({self.useful} frames)"
        else:
            head = (f"transfer {self.transfer_id}: {self.useful} of {self.needed} frames "
                    f"({self.share:.0%}), any {self.remaining} more")
        extra = [f"{self.seen} read", f"{self.readable} valid"]
        extra += [f"{n} {what}" for n, what in ((self.foreign, "of other transfers"),
                                                 (self.rejected, "rejected"),
                                                 (self.suspect, "suspect")) if n]
        return f"{head}; {', '.join(extra)}"

    def to_json(self) -> dict[str, Any]:
        return {"transfer": self.transfer_id, "seen": self.seen, "readable": self.readable,
                "useful": self.useful, "needed": self.needed, "remaining": self.remaining,
                "share": round(self.share, 4), "foreign": self.foreign,
                "rejected": self.rejected, "suspect": self.suspect,
                "complete": self.complete, "failure": self.failure}


@dataclass(frozen=True)
class FeedResult:
    status: FeedStatus
    message: str
    progress: Progress
    stored: bool = False  # the frame was kept (worth journaling)

    @property
    def transfer_id(self) -> str | None:
        return self.progress.transfer_id


_STATUS = {Added.NEW: FeedStatus.ACCEPTED, Added.CONFLICT: FeedStatus.SUSPECT,
           Added.DUPLICATE: FeedStatus.DUPLICATE, Added.FULL: FeedStatus.REJECTED}


class Receiver:
    """Collects frames for live reception; see the module docstring for the locking rule."""

    def __init__(self, transfer_id: str | None = None) -> None:
        self._locked: bytes | None = parse_transfer_id(transfer_id) if transfer_id else None
        self._transfers: dict[bytes, Transfer] = {}
        self._counts: dict[str, int] = {}  # frames of transfers other than the locked one
        self.last_foreign: str | None = None  # the other transfer seen most recently
        self.seen = self.readable = self.rejected = 0

    # -- state -----------------------------------------------------------------------------

    @property
    def transfer_id(self) -> str | None:
        return self._locked.hex() if self._locked else None

    @property
    def current(self) -> Transfer | None:
        return self._transfers.get(self._locked) if self._locked else None

    @property
    def foreign(self) -> dict[str, int]:
        """Frames seen per other transfer id."""
        return {t: n for t, n in self._counts.items() if t != self.transfer_id}

    @property
    def complete(self) -> bool:
        cur = self.current
        return cur is not None and cur.data is not None

    @property
    def received(self) -> int:
        cur = self.current
        return cur.main.distinct if cur else 0

    @property
    def needed(self) -> int:
        cur = self.current
        return cur.main.k if cur else 0

    def progress(self) -> Progress:
        cur = self.current
        main = cur.main if cur else None
        return Progress(
            transfer_id=self.transfer_id, seen=self.seen, readable=self.readable,
            useful=main.distinct if main else 0, needed=main.k if main else 0,
            remaining=main.remaining if main else 0,
            foreign=sum(self.foreign.values()), rejected=self.rejected,
            suspect=cur.suspect if cur else 0, complete=self.complete,
            failure=(cur.failure if cur else None))

    def result(self) -> bytes:
        """The verified file; raises FrameError saying why not (yet)."""
        cur = self.current
        if cur is None:
            raise FrameError("no frame of the transfer has arrived")
        return cur.result()

    def switch_to(self, transfer_id: str) -> None:
        """Collect `transfer_id` from now on (an operator's decision); frames already kept
        for it count at once, and the previous transfer's frames stay kept aside."""
        self._locked = parse_transfer_id(transfer_id)

    # -- feeding ---------------------------------------------------------------------------

    def _outcome(self, status: FeedStatus, message: str, stored: bool = False) -> FeedResult:
        if status is FeedStatus.REJECTED:
            self.rejected += 1
        return FeedResult(status, message, self.progress(), stored)

    def _room_aside(self) -> bool:
        return sum(t.kept_bytes for k, t in self._transfers.items()
                   if k != self._locked) < KEEP_BUDGET

    def _evict(self) -> None:
        """Forget the other transfer holding the fewest frames (e.g. one stale frame)."""
        others = [t for k, t in self._transfers.items() if k != self._locked]
        if others:
            del self._transfers[min(others, key=lambda t: t.main.distinct).transfer_id]

    def feed(self, text: str) -> FeedResult:
        self.seen += 1
        try:
            frame = parse_frame(text)
        except FrameError as exc:
            return self._outcome(FeedStatus.REJECTED, str(exc))
        self.readable += 1
        tid = frame.transfer_id
        if tid != self._locked:
            return self._aside(frame)
        cur = self._transfers.setdefault(tid, Transfer(tid))
        was_done = bool(cur.variants) and (cur.data is not None or cur.failure is not None)
        added, new_variant = cur.add(frame)
        return self._report(cur, frame, added, new_variant, was_done)

    def _aside(self, frame: Frame) -> FeedResult:
        """A frame of a transfer that is not (yet) locked: keep it aside, maybe lock on it."""
        tid = frame.transfer_id
        if tid.hex() in self._counts or len(self._counts) < MAX_COUNTED:
            self._counts[tid.hex()] = self._counts.get(tid.hex(), 0) + 1
        room = self._room_aside()
        t = self._transfers.get(tid)
        if t is None and room:
            if len(self._transfers) >= MAX_TRANSFERS:
                self._evict()
            t = self._transfers[tid] = Transfer(tid)
        stored = False
        if t is not None and room:
            added, _ = t.add(frame)
            stored = added in (Added.NEW, Added.CONFLICT)
        if self._locked is None and t is not None and (t.main.distinct >= 2 or t.data):
            self._locked = tid  # the first transfer to show two different frames
            self._counts.pop(tid.hex(), None)
            return self._report(t, frame, Added.NEW if stored else Added.DUPLICATE, False,
                                False, stored=stored)
        if self._locked is None:
            return self._outcome(FeedStatus.ACCEPTED if stored else FeedStatus.DUPLICATE,
                                 f"frame {frame.esi} of transfer {tid.hex()}: waiting for a "
                                 "second frame before choosing it", stored)
        self.last_foreign = tid.hex()
        return self._outcome(FeedStatus.FOREIGN,
                             f"frame of another transfer {tid.hex()} kept aside, not used",
                             stored)

    def _report(self, cur: Transfer, frame: Frame, added: Added, new_variant: bool,
                was_done: bool, stored: bool | None = None) -> FeedResult:
        if stored is None:
            stored = added in (Added.NEW, Added.CONFLICT)
        if cur.data is not None:
            msg = ("transfer already complete" if was_done
                   else "file rebuilt and SHA-256 verified")
            return self._outcome(FeedStatus.COMPLETE, msg, stored)
        if cur.failure is not None:
            return self._outcome(FeedStatus.FAILED, f"transfer {cur.tid} failed: {cur.failure}",
                                 stored)
        if added is Added.FULL:
            why = ("too many different headers for this transfer id" if new_variant
                   else "too many frames without a verified file")
            return self._outcome(FeedStatus.REJECTED, why)
        if new_variant and added is Added.NEW:
            return self._outcome(FeedStatus.SUSPECT, "frame header contradicts earlier frames "
                                 "of this transfer: kept apart, never mixed", stored)
        if added is Added.CONFLICT:
            return self._outcome(FeedStatus.SUSPECT, f"frame {frame.esi} differs from an "
                                 "earlier frame with the same number: kept as a suspect", stored)
        status = _STATUS.get(added, FeedStatus.DUPLICATE)
        if status is FeedStatus.DUPLICATE:
            return self._outcome(status, f"frame {frame.esi} already received")
        failure = cur.main.failure
        note = f" ({failure}; retrying without suspect frames)" if failure else ""
        return self._outcome(status, f"frame {frame.esi} accepted{note}", stored)
