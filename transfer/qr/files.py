"""QR frames as files: qr_send writes PNG frames and a GIF; qr_receive rebuilds a file from
pictures. The I/O edge of the QR carrier (DESIGN §6).

Every output is created exclusively and atomically (temp file, fsync, link to the name, which
fails rather than replace a file, fsync the directory); a failed qr_send removes the frames it
wrote. Frames are rendered one at a time, so memory stays flat for any file size. Reception
decodes each picture (zxing-cpp, then zbar), skips and counts pictures that cannot be read or
hold no code, groups frames by transfer and header, and releases a file only when verified.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image

from transfer.errors import FrameError, TransferError
from transfer.qr.decode import decode_image
from transfer.qr.frame import MAX_FILE, PREFIX, parse_frame
from transfer.qr.gif import GifWriter
from transfer.qr.receiver import MAX_TRANSFERS, Transfer, parse_transfer_id
from transfer.qr.render import qr_image
from transfer.qr.sender import DEFAULT_VERSION, FrameSource, repair_count
from transfer.usb import read_file
from transfer.words import fingerprint

DEFAULT_FPS = 5
MAX_FPS = 30


def _fsync_dir(path: Path) -> None:
    dfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def write_new(out: Path, write: Callable[[BinaryIO], None], *, sync_dir: bool = True) -> None:
    """Create `out` atomically, never replacing anything: temp, fsync, link, fsync dir."""
    if out.exists() or out.is_symlink():
        raise FrameError(f"refusing to overwrite existing {out}")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "xb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, out)  # fails with EEXIST instead of replacing a file that appeared
        except FileExistsError:
            raise FrameError(f"refusing to overwrite existing {out}") from None
        if sync_dir:
            _fsync_dir(out.parent)
    except OSError as exc:
        raise FrameError(f"cannot write {out}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def write_received(out: Path, data: bytes) -> None:
    """Write a rebuilt file atomically, never overwriting."""
    def write(fh: BinaryIO) -> None:
        fh.write(data)

    write_new(out, write)


# -- sending ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendReport:
    src: Path
    out_dir: Path
    transfer_id: str
    size: int
    sha256: str
    words: str
    frames: int
    source_frames: int
    version: int
    fps: int
    gif: Path

    def summary(self) -> str:
        repair = self.frames - self.source_frames
        return (f"{self.src.name}: {self.size} bytes -> {self.frames} frames "
                f"({self.source_frames} needed, {repair} repair; QR v{self.version}-L, "
                f"{self.fps} frames/s) in {self.out_dir}, transfer {self.transfer_id}, "
                f"SHA-256 {self.sha256[:16]}… ({self.words})")

    def to_json(self) -> dict[str, Any]:
        return {"file": str(self.src), "out": str(self.out_dir), "transfer": self.transfer_id,
                "size": self.size, "sha256": self.sha256, "words": self.words,
                "frames": self.frames, "source_frames": self.source_frames,
                "version": self.version, "fps": self.fps, "gif": str(self.gif)}


def qr_send(src: Path, out_dir: Path, repair_percent: int | None = None,
            version: int = DEFAULT_VERSION, fps: int = DEFAULT_FPS, box_size: int = 4,
            progress: Callable[[int, int], None] | None = None) -> SendReport:
    """Write 0001.png.. and frames.gif (`fps` frames a second) into a new or empty `out_dir`."""
    if not 1 <= fps <= MAX_FPS:
        raise FrameError(f"--fps {fps} outside 1..{MAX_FPS}")
    try:
        if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
            raise FrameError(f"output directory {out_dir} exists and is not empty")
    except OSError as exc:
        raise FrameError(f"cannot use {out_dir}: {exc.strerror or exc}") from exc
    data = read_file(src, MAX_FILE)
    source = FrameSource(data, version)
    total = source.k + repair_count(source.k, repair_percent)
    names = [out_dir / f"{i:04d}.png" for i in range(1, total + 1)]
    gif = out_dir / "frames.gif"
    written: list[Path] = []
    created = not out_dir.exists()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)

        def frames_gif(fh: BinaryIO) -> None:
            anim = GifWriter(fh, round(1000 / fps))
            for i, (name, text) in enumerate(zip(names, source.frames(total), strict=True)):
                img = qr_image(text, box_size)

                def png(fh: BinaryIO, img: Image.Image = img) -> None:
                    img.convert("1").save(fh, format="PNG")  # 1 bit: 2.4x smaller, faster

                write_new(name, png, sync_dir=False)
                written.append(name)
                anim.add(img)
                if progress is not None:
                    progress(i + 1, total)
            anim.close()

        write_new(gif, frames_gif)
    except (OSError, TransferError) as exc:
        for name in written:  # a failed send leaves the directory as it was
            name.unlink(missing_ok=True)
        if created:
            try:
                out_dir.rmdir()
            except OSError:
                pass  # not empty (someone else's file) or gone: leave it
        if isinstance(exc, TransferError):
            raise
        raise FrameError(f"cannot write frames to {out_dir}: {exc.strerror or exc}") from exc
    hexd, words = fingerprint(data)
    return SendReport(src, out_dir, source.transfer_id, len(data), source.sha256, words,
                      total, source.k, version, fps, gif)


# -- receiving ----------------------------------------------------------------------------


@dataclass
class ImageTally:
    """What the pictures held, for the operator: every skipped picture is counted."""

    images: int = 0
    no_code: int = 0  # readable pictures in which no QR code was found
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)
    codes: int = 0  # QR codes read
    not_frames: int = 0  # QR codes that are not airgap-signer frames
    damaged: int = 0  # "AGS1:" codes that failed the frame checks

    def line(self) -> str:
        parts = [f"{self.images} images", f"{self.codes} codes read"]
        if self.no_code:
            parts.append(f"{self.no_code} with no code")
        if self.unreadable:
            name, why = self.unreadable[0]
            more = f" and {len(self.unreadable) - 1} more" if len(self.unreadable) > 1 else ""
            parts.append(f"{len(self.unreadable)} unreadable ({why}{more})")
        if self.not_frames:
            parts.append(f"{self.not_frames} other codes")
        if self.damaged:
            parts.append(f"{self.damaged} damaged frames")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {"images": self.images, "no_code": self.no_code, "codes": self.codes,
                "unreadable": [{"image": n, "reason": r} for n, r in self.unreadable],
                "not_frames": self.not_frames, "damaged": self.damaged}


def _transfer_json(t: Transfer) -> dict[str, Any]:
    m = t.main
    return {"transfer": t.tid, "useful": m.distinct, "needed": m.k, "remaining": m.remaining,
            "complete": m.data is not None, "suspect": t.suspect,
            "failure": t.failure or m.failure}


def _transfer_line(t: Transfer) -> str:
    m = t.main
    if m.data is not None:
        return f"{t.tid}: complete"
    why = t.failure or m.failure
    return (f"{t.tid}: {m.distinct} of {m.k} frames, any {m.remaining} more"
            + (f" ({why})" if why else ""))


@dataclass(frozen=True)
class ReceiveReport:
    transfer_id: str
    data: bytes = field(repr=False)
    sha256: str
    words: str
    frames_used: int
    needed: int
    tally: ImageTally
    others: tuple[dict[str, Any], ...] = ()  # other transfers seen, as _transfer_json
    out: Path | None = None

    def summary(self) -> str:
        extra = "".join(f"; also transfer {o['transfer']}: {o['useful']} of {o['needed']}"
                        for o in self.others)
        dest = f" -> {self.out}" if self.out else ""
        return (f"transfer {self.transfer_id}: {len(self.data)} bytes from {self.frames_used} "
                f"frames ({self.needed} needed), SHA-256 {self.sha256[:16]}… ({self.words})"
                f"{dest}; {self.tally.line()}{extra}")

    def to_json(self) -> dict[str, Any]:
        return {"transfer": self.transfer_id, "size": len(self.data), "sha256": self.sha256,
                "words": self.words, "frames_used": self.frames_used, "needed": self.needed,
                "out": str(self.out) if self.out else None, "images": self.tally.to_json(),
                "others": list(self.others)}


def _image_name(item: Path | Image.Image, index: int) -> str:
    return item.name if isinstance(item, Path) else f"image {index + 1}"


def receive_images(
    images: Sequence[Path | Image.Image], transfer_id: str | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> ReceiveReport:
    """Rebuild a file from pictures; frames are grouped by transfer and header, never mixed."""
    want = parse_transfer_id(transfer_id) if transfer_id else None
    groups: dict[bytes, Transfer] = {}
    tally = ImageTally(images=len(images))
    for i, item in enumerate(images):
        try:
            texts = decode_image(item)
        except FrameError as exc:
            tally.unreadable.append((_image_name(item, i), str(exc)))
            texts = None
        if texts == []:
            tally.no_code += 1
        for text in texts or ():
            tally.codes += 1
            try:
                frame = parse_frame(text)
            except FrameError:
                tally.not_frames += not text.startswith(PREFIX)
                tally.damaged += text.startswith(PREFIX)
                continue
            tid = frame.transfer_id
            if tid in groups or len(groups) < MAX_TRANSFERS:
                groups.setdefault(tid, Transfer(tid)).add(frame)
        if progress is not None:
            best = max(groups.values(), key=lambda t: t.main.distinct, default=None)
            progress(i + 1, len(images), _transfer_line(best) if best else "no frame yet")
    return _choose(groups, want, tally)


def _choose(groups: dict[bytes, Transfer], want: bytes | None, tally: ImageTally) -> ReceiveReport:
    done = {t: g for t, g in groups.items() if g.data is not None}
    details = {"images": tally.to_json(), "transfers": [_transfer_json(g) for g in groups.values()]}
    listing = "; ".join(_transfer_line(g) for g in groups.values() if g.data is None)
    if want is not None:
        if want not in done:
            state = _transfer_line(groups[want]) if want in groups else f"{want.hex()}: no frames"
            raise FrameError(f"transfer {state}; {tally.line()}", details)
        chosen = want
    elif len(done) > 1:
        raise FrameError(f"{len(done)} complete transfers ({', '.join(t.hex() for t in done)}); "
                         "name one with --transfer", details)
    elif not done:
        raise FrameError(f"no complete transfer ({listing or 'no frames found'}); "
                         f"{tally.line()}", details)
    else:
        chosen = next(iter(done))
    group = groups[chosen]
    data = group.result()
    hexd, words = fingerprint(data)
    others = tuple(_transfer_json(g) for t, g in groups.items() if t != chosen)
    return ReceiveReport(chosen.hex(), data, hexd.replace(" ", "").lower(), words,
                         group.main.distinct, group.main.k, tally, others)


def qr_receive(images: Sequence[Path], out: Path, transfer_id: str | None = None,
               progress: Callable[[int, int, str], None] | None = None) -> ReceiveReport:
    """Rebuild a file from frame pictures and write it atomically to `out`, never overwriting."""
    if out.exists() or out.is_symlink():
        raise FrameError(f"refusing to overwrite existing {out}")
    report = receive_images(images, transfer_id, progress)
    write_received(out, report.data)
    return replace(report, out=out)
