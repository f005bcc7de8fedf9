"""C2SP checkpoints in signed-note format (Ed25519 or ECDSA), and the C2SP tlog-proof format.

- c2sp.org/tlog-checkpoint: body "<origin>\\n<size>\\n<base64 root>\\n".
- c2sp.org/signed-note: body, blank line, then lines "— <name> <base64(key ID || signature)>\\n";
  Ed25519 (type 0x01): key ID = SHA-256(name || 0x0A || 0x01 || 32-byte public key)[:4];
  ECDSA (type 0x02, as transparency-dev/witness): key ID = SHA-256(DER SPKI)[:4], the signature
  ASN.1 DER over SHA-256 of the note text (transfer.appkey).
- c2sp.org/tlog-proof: "c2sp.org/tlog-proof@v1", optional "extra", "index N", base64 hashes,
  a blank line, then the signed checkpoint verbatim.

Signing is a callback (the HSM's C_Sign); this module never holds a private key and
imports no HSM code. Parsing is strict and size-capped: we only ever accept what we produce
(no extension lines; canonical base64; exactly one signature from the pinned key), while
ignoring signatures from other keys as the note spec requires (so witnesses may cosign).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from signer.core.merkle import HASH_SIZE, verify_inclusion
from signer.errors import LogError
from transfer.appkey import AppKey, AppKeyError, load_app_key

ED25519_TYPE = b"\x01"  # c2sp.org/signed-note "Signature types"
ECDSA_TYPE = b"\x02"
EM_DASH = "\u2014"
TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"
CONSISTENCY_PROOF_HEADER = "airgap-signer/consistency-proof@v1"
MAX_NOTE_BYTES = 16 * 1024  # signed-note: cap the size; still >= 16 Ed25519 signatures
MAX_SIGNATURES = 64
MAX_PROOF_HASHES = 64  # a tree of 2**63 leaves needs at most 63 (inclusion) / 64 (consistency)
MAX_PROOF_BYTES = 32 * 1024
MAX_ORIGIN_CHARS = 255

_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    """Strict RFC 4648 §4 base64: alphabet only, padded, and canonical (unused bits zero).

    Canonical matters: Python ignores non-zero trailing bits, so two spellings would decode to
    the same signature and a changed byte in the log would go unnoticed.
    """
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise LogError(f"{what} is not valid base64") from None
    if _b64(raw) != text:
        raise LogError(f"{what} is not canonical base64")
    return raw


def _parse_decimal(text: str, what: str) -> int:
    # tlog-checkpoint / tlog-proof: ASCII decimal with no leading zeroes.
    if not _DECIMAL.fullmatch(text):
        raise LogError(f"{what} is not a decimal number without leading zeros")
    value = int(text)
    if value >= 1 << 63:
        raise LogError(f"{what} is too large")
    return value


def check_key_name(name: str) -> None:
    """signed-note: key names are non-empty, with no Unicode spaces and no '+'."""
    if not name or "+" in name or any(c.isspace() for c in name) or _CONTROL.search(name):
        raise LogError(f"invalid note key name {name!r}")


def check_origin(origin: str) -> None:
    """tlog-checkpoint: the origin is one non-empty line (we also cap its length)."""
    if not origin or "\n" in origin or _CONTROL.search(origin) or len(origin) > MAX_ORIGIN_CHARS:
        raise LogError(f"invalid checkpoint origin {origin!r}")


def _check_public_key(public_key_raw: bytes) -> AppKey:
    try:
        return load_app_key(public_key_raw)
    except AppKeyError as exc:
        raise LogError(f"the log public key: {exc}") from None


def _type_byte(key: AppKey) -> bytes:
    return ED25519_TYPE if key.is_ed25519 else ECDSA_TYPE


def key_id(name: str, public_key_raw: bytes) -> bytes:
    """signed-note key ID: SHA-256(name || 0x0A || 0x01 || key)[:4] for Ed25519,
    SHA-256(DER SPKI)[:4] for ECDSA (type 0x02)."""
    check_key_name(name)
    key = _check_public_key(public_key_raw)
    if key.is_ed25519:
        return hashlib.sha256(name.encode() + b"\n" + ED25519_TYPE + key.raw).digest()[:4]
    return hashlib.sha256(key.raw).digest()[:4]


def verifier_key(name: str, public_key_raw: bytes) -> str:
    """The note verifier key string: name+hex(key ID)+base64(type || key bytes)."""
    key = _check_public_key(public_key_raw)
    return f"{name}+{key_id(name, public_key_raw).hex()}+{_b64(_type_byte(key) + key.raw)}"


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: the log's origin, its size, and the RFC 9162 root at that size."""

    origin: str
    size: int
    root: bytes

    def __post_init__(self) -> None:
        check_origin(self.origin)
        if (
            not isinstance(self.size, int)
            or isinstance(self.size, bool)
            or not 0 <= self.size < 1 << 63
        ):
            raise LogError(f"invalid checkpoint size {self.size!r}")
        if not isinstance(self.root, bytes) or len(self.root) != HASH_SIZE:
            raise LogError("checkpoint root must be a 32-byte hash")

    def body(self) -> bytes:
        """tlog-checkpoint note text (what the signature covers), ending in a newline."""
        return f"{self.origin}\n{self.size}\n{_b64(self.root)}\n".encode()


def parse_checkpoint_body(body: str) -> Checkpoint:
    """Parse a note text as a checkpoint; extension lines are refused (we never write them)."""
    if not body.endswith("\n"):
        raise LogError("checkpoint text does not end with a newline")
    lines = body[:-1].split("\n")
    if len(lines) != 3:
        raise LogError(f"checkpoint text has {len(lines)} lines, expected 3 (no extensions)")
    origin, size_text, root_text = lines
    size = _parse_decimal(size_text, "checkpoint size")
    root_hash = _unb64(root_text, "checkpoint root")
    if len(root_hash) != HASH_SIZE:
        raise LogError("checkpoint root is not a 32-byte hash")
    return Checkpoint(origin, size, root_hash)


def checkpoint_of_note_unverified(text: str) -> Checkpoint:
    """The checkpoint in a signed note WITHOUT checking any signature.

    For bookkeeping only (e.g. ``CeremonyLog.open``, which has no key); anything that trusts the
    result must use ``parse_signed_checkpoint`` instead (signed-note: unverified text is ignored).
    """
    body, _ = _split_note(text)
    return parse_checkpoint_body(body)


def _split_note(text: str) -> tuple[str, list[str]]:
    try:
        encoded = text.encode("utf-8")
    except UnicodeEncodeError:
        raise LogError("signed note is not valid UTF-8") from None
    if len(encoded) > MAX_NOTE_BYTES:
        raise LogError(f"signed note is larger than {MAX_NOTE_BYTES} bytes")
    if _CONTROL.search(text):  # signed-note: no control characters but newline
        raise LogError("signed note contains a control character")
    if not text.endswith("\n"):
        raise LogError("signed note does not end with a newline")
    # The text is separated from the signatures by the last blank line (signed-note "Format").
    cut = text.rfind("\n\n")
    if cut < 0:
        raise LogError("signed note has no blank line before its signatures")
    body, sig_block = text[: cut + 1], text[cut + 2 :]
    sig_lines = sig_block[:-1].split("\n") if sig_block else []
    if not sig_lines:
        raise LogError("signed note has no signature lines")
    if len(sig_lines) > MAX_SIGNATURES:
        raise LogError(f"signed note has more than {MAX_SIGNATURES} signatures")
    return body, sig_lines


def parse_signed_checkpoint(
    text: str, name: str, public_key_raw: bytes, *, origin: str | None = None
) -> Checkpoint:
    """Verify a signed checkpoint under the pinned key and return it; LogError otherwise.

    signed-note "Signatures": lines from unknown keys (other name or key ID) are ignored; a line
    from the pinned key that fails to verify rejects the note; no line from it rejects the note.
    """
    public_key = _check_public_key(public_key_raw)
    kid = key_id(name, public_key_raw)
    body, sig_lines = _split_note(text)
    known = 0
    for i, line in enumerate(sig_lines, start=1):
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != EM_DASH or not parts[1]:
            raise LogError(f"signature line {i} is malformed")
        raw = _unb64(parts[2], f"signature line {i}")
        if len(raw) < 5:
            raise LogError(f"signature line {i} is too short")
        if parts[1] != name or raw[:4] != kid:
            continue
        if public_key.is_ed25519 and len(raw) != 4 + 64:
            raise LogError(f"signature line {i} from {name} is not an Ed25519 signature")
        if not public_key.verify(raw[4:], body.encode()):
            raise LogError(f"checkpoint signature by {name} does not verify")
        known += 1
    if known == 0:
        raise LogError(f"checkpoint carries no signature by {name} with key ID {kid.hex()}")
    if known > 1:
        raise LogError(f"checkpoint carries {known} signatures by {name}; expected one")
    checkpoint = parse_checkpoint_body(body)
    if origin is not None and checkpoint.origin != origin:
        raise LogError(f"checkpoint origin {checkpoint.origin!r} is not {origin!r}")
    return checkpoint


def sign_checkpoint(
    checkpoint: Checkpoint, name: str, public_key_raw: bytes, sign: Callable[[bytes], bytes]
) -> str:
    """Sign the checkpoint body with ``sign`` (the HSM's C_Sign) and return the note.

    I5: the signature is verified in software with the pinned public key before it is used.
    """
    public_key = _check_public_key(public_key_raw)
    kid = key_id(name, public_key_raw)
    body = checkpoint.body()
    signature = sign(body)
    if not isinstance(signature, bytes) or (public_key.is_ed25519 and len(signature) != 64):
        raise LogError(f"the log key returned something that is not an "
                       f"{'Ed25519' if public_key.is_ed25519 else 'ECDSA'} signature")
    if not public_key.verify(signature, body):
        raise LogError("the log key's signature does not verify with its public key (I5)")
    return f"{body.decode()}\n{EM_DASH} {name} {_b64(kid + signature)}\n"


def _parse_hash_lines(lines: Sequence[str], what: str) -> list[bytes]:
    if len(lines) > MAX_PROOF_HASHES:
        raise LogError(f"{what} has more than {MAX_PROOF_HASHES} hashes")
    hashes = []
    for i, line in enumerate(lines, start=1):
        h = _unb64(line, f"{what} hash {i}")
        if len(h) != HASH_SIZE:
            raise LogError(f"{what} hash {i} is not a 32-byte hash")
        hashes.append(h)
    return hashes


def format_tlog_proof(
    index: int, proof_hashes: Sequence[bytes], signed_checkpoint: str, *, extra: bytes | None = None
) -> str:
    """c2sp.org/tlog-proof@v1 text: header, optional extra, index, hashes, blank, checkpoint."""
    if not 0 <= index < 1 << 63:
        raise LogError(f"invalid leaf index {index}")
    if any(len(h) != HASH_SIZE for h in proof_hashes):
        raise LogError("inclusion proof hashes must be 32 bytes")
    lines = [TLOG_PROOF_HEADER]
    if extra is not None:
        lines.append(f"extra {_b64(extra)}")
    lines.append(f"index {index}")
    lines.extend(_b64(h) for h in proof_hashes)
    return "\n".join(lines) + "\n\n" + signed_checkpoint


def parse_tlog_proof(text: str) -> tuple[int, list[bytes], str]:
    """Parse c2sp.org/tlog-proof@v1 into (index, inclusion hashes, signed checkpoint text).

    The optional ``extra`` line is accepted and dropped: it is unauthenticated (tlog-proof
    "Format") and nothing here needs it. The checkpoint is returned unverified: pass it to
    ``parse_signed_checkpoint`` (or use ``verify_tlog_proof``).
    """
    if len(text) > MAX_PROOF_BYTES:
        raise LogError(f"tlog proof is larger than {MAX_PROOF_BYTES} bytes")
    head, sep, checkpoint_text = text.partition("\n\n")
    if not sep:
        raise LogError("tlog proof has no blank line before its checkpoint")
    lines = head.split("\n")
    if lines[0] != TLOG_PROOF_HEADER:
        raise LogError(f"tlog proof does not start with {TLOG_PROOF_HEADER}")
    pos = 1
    if pos < len(lines) and lines[pos].startswith("extra "):
        _unb64(lines[pos][len("extra ") :], "tlog proof extra data")
        pos += 1
    if pos >= len(lines) or not lines[pos].startswith("index "):
        raise LogError("tlog proof has no index line")
    index = _parse_decimal(lines[pos][len("index ") :], "tlog proof index")
    hashes = _parse_hash_lines(lines[pos + 1 :], "tlog proof")
    return index, hashes, checkpoint_text


def tlog_proof_extra(text: str) -> bytes | None:
    """The ``extra`` data of a tlog proof (we carry the exact log entry line there).

    It is unauthenticated on its own; a caller hashes it as the leaf and verifies the
    inclusion proof, which authenticates it.
    """
    if len(text) > MAX_PROOF_BYTES:
        raise LogError(f"tlog proof is larger than {MAX_PROOF_BYTES} bytes")
    lines = text.partition("\n\n")[0].split("\n")
    if len(lines) > 1 and lines[1].startswith("extra "):
        return _unb64(lines[1][len("extra ") :], "tlog proof extra data")
    return None


def verify_tlog_proof(
    text: str, leaf: bytes, name: str, public_key_raw: bytes, *, origin: str | None = None
) -> Checkpoint:
    """Verify a tlog proof for ``leaf`` (a leaf hash) against the pinned key; return its checkpoint."""
    index, hashes, checkpoint_text = parse_tlog_proof(text)
    checkpoint = parse_signed_checkpoint(checkpoint_text, name, public_key_raw, origin=origin)
    verify_inclusion(leaf, index, checkpoint.size, hashes, checkpoint.root)
    return checkpoint


def format_consistency_proof(old_size: int, new_size: int, proof_hashes: Sequence[bytes]) -> str:
    """Our own small text format for RFC 9162 §2.1.4 consistency proofs (result bundles):

    airgap-signer/consistency-proof@v1
    old <decimal size>
    new <decimal size>
    <base64 hash>            (zero or more, in RFC 9162 order)
    """
    if not 0 <= old_size <= new_size < 1 << 63:
        raise LogError(f"invalid consistency sizes {old_size} -> {new_size}")
    if any(len(h) != HASH_SIZE for h in proof_hashes):
        raise LogError("consistency proof hashes must be 32 bytes")
    lines = [CONSISTENCY_PROOF_HEADER, f"old {old_size}", f"new {new_size}"]
    lines.extend(_b64(h) for h in proof_hashes)
    return "\n".join(lines) + "\n"


def parse_consistency_proof(text: str) -> tuple[int, int, list[bytes]]:
    """Parse ``format_consistency_proof`` output into (old size, new size, hashes)."""
    if len(text) > MAX_PROOF_BYTES:
        raise LogError(f"consistency proof is larger than {MAX_PROOF_BYTES} bytes")
    if not text.endswith("\n"):
        raise LogError("consistency proof does not end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or lines[0] != CONSISTENCY_PROOF_HEADER:
        raise LogError(f"consistency proof does not start with {CONSISTENCY_PROOF_HEADER}")
    if not lines[1].startswith("old ") or not lines[2].startswith("new "):
        raise LogError("consistency proof lacks its old/new size lines")
    old_size = _parse_decimal(lines[1][4:], "consistency proof old size")
    new_size = _parse_decimal(lines[2][4:], "consistency proof new size")
    if old_size > new_size:
        raise LogError("consistency proof old size exceeds new size")
    return old_size, new_size, _parse_hash_lines(lines[3:], "consistency proof")
