"""Multi-frame QR transfer (DESIGN §6; the format and the measurements are in docs/TRANSFER.md).

A file becomes self-describing Base45 frames, fountain-coded with RaptorQ so that any k of them
(rarely k + 1) rebuild it in any order; the receiver groups frames by transfer and header, works
around forged or misread frames, and releases a file only after its full SHA-256 matches.

Modules, pure first:
    frame      the wire format: parse, build, verify a rebuilt payload
    assembly   one header's frames -> a verified file, retrying without suspect frames
    receiver   Transfer (one id, every header) and Receiver (live: locking, progress)
    sender     FrameSource (frames on demand) and the one-pass repair count
    render     text -> QR matrix, picture, terminal text (zxing-cpp writer)
    gif        an animated GIF written frame by frame
    decode     picture -> texts (zxing-cpp, then zbar)
    files      qr_send / qr_receive: frames as files, atomic and never overwriting
    journal    live progress kept on disk
    live       live reception from a reader program (camera, zbarcam, scanner)
    camera     the default reader program (python -m transfer.qr.camera)
"""

from transfer.qr.decode import decode_image
from transfer.qr.files import (
    ImageTally,
    ReceiveReport,
    SendReport,
    qr_receive,
    qr_send,
    receive_images,
    write_received,
)
from transfer.qr.frame import (
    MAX_SOURCE_SYMBOLS,
    PREFIX,
    PROFILES,
    QR_CAPACITY_L,
    Frame,
    Header,
    build_frame,
    parse_frame,
    symbol_size_for,
)
from transfer.qr.receiver import FeedResult, FeedStatus, Progress, Receiver, Transfer
from transfer.qr.render import qr_image, qr_modules, render_terminal
from transfer.qr.sender import (
    DEFAULT_VERSION,
    TERMINAL_VERSION,
    FrameSource,
    encode_file,
    frames_for_one_pass,
)

__all__ = [
    "DEFAULT_VERSION", "MAX_SOURCE_SYMBOLS", "PREFIX", "PROFILES", "QR_CAPACITY_L",
    "TERMINAL_VERSION", "FeedResult", "FeedStatus", "Frame", "FrameSource", "Header",
    "ImageTally", "Progress", "ReceiveReport", "Receiver", "SendReport", "Transfer",
    "build_frame", "decode_image", "encode_file", "frames_for_one_pass", "parse_frame",
    "qr_image", "qr_modules", "qr_receive", "qr_send", "receive_images", "render_terminal",
    "symbol_size_for", "write_received",
]
