"""A home whose ceremony log has hundreds of thousands or millions of entries, made quickly.

Issuing a million certificates through the CLI takes hours, so the bench grows a real home
(made through the CLI, with its token) by writing what those ceremonies would have left:
``cert.issued`` entries (and, for a CRL bench, ``revoked`` entries) written with the log's own
line format and tree, checkpoints signed by the home's log key *in its token* every
``every`` entries, and the ledger rows that index them (certificates with stand-in DER,
revocations with their real CRL entries). What the appliance checks at login and when it
issues a CRL holds: the log verifies with the pinned key, the ledger counts and revocation
runs match the log's facts. (The stand-in certificates are never parsed by the commands the
bench times; `audit verify` would report them.)

No product code is bypassed: the appliance opens the grown home exactly as any other (its
first login verifies the grown log in full and keeps its state; the bench does that once).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path

from hsm.token import Token
from signer.core.canonical import canonical_json
from signer.core.checkpoint import Checkpoint, sign_checkpoint
from signer.core.config import parse_config
from signer.core.crl import encode_entry
from signer.core.merkle import TreeBuilder, leaf_hash
from signer.store.log.writer import STATE_NAME
from transfer.appkey import load_app_key, signer_for

NOT_AFTER = "2027-06-01T00:00:00+00:00"


def _tree(path: Path) -> tuple[TreeBuilder, int, str]:
    builder, seq, last = TreeBuilder(), 0, ""
    with open(path, "rb") as f:
        for line in f:
            builder.append(leaf_hash(line[:-1]))
            last = json.loads(line)["time"]
            seq += 1
    return builder, seq, last


def _log_signer(home: Path, cfg: object, pin: str) -> tuple[Token, bytes, object]:
    """The home's log key in its token, as a session signs with it (Ed25519 or ECDSA)."""
    db = sqlite3.connect(home / "ledger.sqlite")
    pinned = bytes.fromhex(db.execute(
        "SELECT value FROM meta WHERE key = 'log_public_key'").fetchone()[0])
    db.close()
    token = Token(cfg.module, label=cfg.token_label)  # type: ignore[attr-defined]
    token.login(pin)
    key = token.signing_key(cfg.log_key)  # type: ignore[attr-defined]
    return token, pinned, signer_for(key, load_app_key(pinned))


def grow(home: Path, pin: str, certificates: int, revoked: int = 0, *, ca: str = "class1",
         every: int = 100_000, time: str | None = None) -> int:
    """Append ``certificates`` issued certificates of CA ``ca`` to ``home``'s log and ledger,
    then revoke the next ``revoked`` bench certificates not yet revoked (oldest first);
    returns the log's new size. May be called again on the same home."""
    cfg = parse_config((home / "signer.toml").read_text())
    log = home / "log" / "ceremony.jsonl"
    builder, seq, last = _tree(log)
    at = time or last
    token, pub, sign = _log_signer(home, cfg, pin)
    db = sqlite3.connect(home / "ledger.sqlite")
    db.execute("PRAGMA synchronous=OFF")
    issued = db.execute("SELECT count(*) FROM certificates WHERE subscriber LIKE 'bench-%'"
                        ).fetchone()[0]
    done_revoked = db.execute("SELECT count(*) FROM certificates WHERE subscriber LIKE "
                              "'bench-%' AND revoked_at IS NOT NULL").fetchone()[0]
    if done_revoked + revoked > issued + certificates:
        raise SystemExit("cannot revoke more bench certificates than were issued")
    base = int.from_bytes(hashlib.sha256(str(home).encode()).digest()[:4], "big") << 96
    rows: list[tuple[object, ...]] = []
    revs: list[tuple[str, str, int, str, str]] = []

    def flush() -> None:  # the ledger in slices: a million rows at once would need GBs
        with db:
            db.executemany(
                "INSERT INTO certificates (ca, serial, profile, subscriber, spki_sha256, "
                "not_before, not_after, cert_der, cert_sha256, issued_at, log_seq) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
            db.executemany("UPDATE certificates SET revoked_at = ?, revocation_reason = ?, "
                           "revoked_seq = ? WHERE ca = ? AND serial = ?", revs)
            db.executemany("INSERT INTO revocations VALUES (?,?,?,?,?)",
                           ((ca_, s, serial, NOT_AFTER, encode_entry(serial, when, reason))
                            for when, reason, s, ca_, serial in revs))
        rows.clear()
        revs.clear()

    with open(log, "ab", buffering=1 << 22) as f:
        def write(kind: str, data: dict[str, object]) -> int:
            nonlocal seq
            line = canonical_json({"seq": seq, "time": at, "type": kind, "data": data})
            f.write(line + b"\n")
            builder.append(leaf_hash(line))
            seq += 1
            if seq % every == 0:
                cp = Checkpoint(cfg.appliance_name, seq, builder.root())
                note = sign_checkpoint(cp, cfg.appliance_name, pub, sign)
                line = canonical_json({"seq": seq, "time": at, "type": "checkpoint",
                                       "data": {"size": seq, "root": cp.root.hex(),
                                                "note": note}})
                f.write(line + b"\n")
                builder.append(leaf_hash(line))
                seq += 1
            return seq - 1

        for i in range(issued, issued + certificates):
            serial = format(base + i + 1, "x")
            der = hashlib.sha256(f"{serial}/der".encode()).digest() * 20  # a stand-in
            cert_sha = hashlib.sha256(der).hexdigest()
            s = write("cert.issued", {
                "batch": None, "id": None, "ca": ca, "serial": serial, "profile": "server",
                "subscriber": f"bench-{i}", "cert_sha256": cert_sha,
                "tbs_sha256": hashlib.sha256(der[:32]).hexdigest(),
                "spki_sha256": hashlib.sha256(f"{serial}/spki".encode()).hexdigest(),
                "not_after": NOT_AFTER})
            rows.append((ca, serial, "server", f"bench-{i}", cert_sha[:64], "2026-11-01T00:00:00"
                         "+00:00", NOT_AFTER, der, cert_sha, at, s))
            if len(rows) >= 50_000:
                flush()
        flush()
        for i in range(done_revoked, done_revoked + revoked):
            serial = format(base + i + 1, "x")
            s = write("revoked", {"ca": ca, "serial": serial, "reason": "keyCompromise",
                                  "revoked_at": at, "not_after": NOT_AFTER, "batch": None,
                                  "position": None})
            revs.append((at, "keyCompromise", s, ca, serial))
            if len(revs) >= 50_000:
                flush()
        flush()
        # Close as a session would: a checkpoint over everything.
        line = canonical_json({"seq": seq, "time": at, "type": "session.close", "data": {}})
        f.write(line + b"\n")
        builder.append(leaf_hash(line))
        seq += 1
        cp = Checkpoint(cfg.appliance_name, seq, builder.root())
        note = sign_checkpoint(cp, cfg.appliance_name, pub, sign)
        f.write(canonical_json({"seq": seq, "time": at, "type": "checkpoint", "data": {
            "size": seq, "root": cp.root.hex(), "note": note}}) + b"\n")
        seq += 1
    token.close()
    db.close()
    (home / "log" / STATE_NAME).unlink(missing_ok=True)  # the next login verifies it all
    os.sync()
    return seq
