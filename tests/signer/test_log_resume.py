"""Sessions that do not grow with the log: the verified state kept beside it, and every way of
tampering with the log or that file that must still be refused at login (T10).

A verified log keeps, at each checkpoint, its state in ``log/state.json`` and that file's
digest in a ``log.state`` entry the checkpoint signs. A session then verifies only what
follows it; these tests check that what it trusts is exactly the full fold of the log, and that
truncation, a rewritten prefix, a swapped, edited or forged state file are refused, while a
stale (earlier, genuine) one is accepted and verified forward.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from signer.core.canonical import canonical_json
from signer.core.merkle import verify_inclusion
from signer.errors import LogError
from signer.store.log import CeremonyLog, verify_log
from signer.store.log.index import INDEX_NAME
from signer.store.log.opening import open_for_session, open_read_only
from signer.store.log.recovery import CrashTail
from signer.store.log.snapshot import decode, state_from_json, state_to_json
from signer.store.log.verify import Kept
from signer.store.log.writer import STATE_NAME

ORIGIN = "example.org/airgap-signer/log"
SK = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)
PUB = SK.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
NA = "2027-06-01T00:00:00+00:00"


def t(i: int) -> str:
    return f"2026-11-29T{10 + i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z"


def _events(log: CeremonyLog, session: int, n: int = 6, salt: str = "") -> None:
    """A session's worth of entries that the fold reads: a CA, a batch, revocations, a CRL."""
    at = t(log.size)
    log.append("session.open", {"n": session, "salt": salt}, at)
    if session == 0:
        _custody_events(log, at)
        _lifecycle_events(log, at)
        log.append("ca.intent", {"ca": "class1", "issuer": "root", "key": "k", "serial": "1f",
                                 "subject": "CN=C1", "days": 10, "profile": "subca"}, at)
        log.append("ca.created", {"ca": "class1", "kind": "sub", "issuer": "root",
                                  "serial": "1f", "cert_sha256": "aa" * 32,
                                  "spki_sha256": "bb" * 32, "key": "k",
                                  "key_algorithm": "ec-p384", "key_attributes": None,
                                  "lint_findings": []}, at)
    log.append("batch.imported", {
        "batch": f"b{session}", "ra": "ra1", "ra_key_id": "cc" * 32, "sequence": session + 1,
        "digest": f"{session:064x}", "created": at, "requests": 1, "accepted": 1, "rejected": 0,
        "revocations": 0, "decisions_sha256": "dd" * 32, "revocations_sha256": "ee" * 32,
        "blocklist_sha256": None}, at)
    log.append_many("revoked", [{
        "ca": "class1", "serial": format((session << 20) + i + 1, "x"), "reason": "keyCompromise",
        "revoked_at": at, "not_after": NA, "batch": None, "position": None} for i in range(n)],
        at)
    log.append("crl.issued", {"ca": "class1", "number": session + 1, "crl_sha256": "ff" * 32,
                              "entries": n, "this_update": at, "next_update": at,
                              "batch": None, "warning": None}, at)
    log.append("session.close", {}, at)
    log.checkpoint(at, ORIGIN, PUB, SK.sign)


def _custody_events(log: CeremonyLog, at: str) -> None:
    """What issue 13 folds into ``LogState.custody``: kept in the state file like the rest."""
    share = {"identifier": 7, "threshold": 2, "shares": 3}
    log.append("appliance.init", {"log_key_label": "appliance-log",
                                  "log_key": {"algorithm": "ec-p256"}, "token": "t0",
                                  "token_serial": "s0", "unlock_set": share,
                                  "backup_set": {**share, "identifier": 8, "fingerprint": "f"}},
               at)
    log.append("token.added", {"token": "second", "label": "t1", "serial": "s1",
                               "unlock_set": 7}, at)
    log.append("key.generated", {"label": "root-key", "token": "second",
                                 "algorithm": "ec-p384", "spki_sha256": "ab" * 32}, at)
    log.append("key.restored", {"label": "k", "token": "main", "algorithm": "ec-p384",
                                "spki_sha256": "bb" * 32, "public_key": "MAAB"}, at)
    log.append("key.backup", {"sha256": "cd" * 32}, at)
    log.append("quorum.rotate", {"set": "unlock", "identifier": 9, "threshold": 2,
                                 "shares": 3}, at)


def _lifecycle_events(log: CeremonyLog, at: str) -> None:
    """What issue 14 folds: pending further CA certificates and OCSP responses, cross keys."""
    log.append("ca.cert.intent", {"ca": "ext", "issuer": "root", "kind": "cross",
                                  "serial": "2a", "subject": "CN=Ext", "spki_sha256": "ee" * 32,
                                  "days": 30, "profile": "cross", "input_sha256": "ab" * 32,
                                  "approved_by": [1, 2]}, at)
    log.append("ca.certified", {"ca": "ext2", "issuer": "root", "kind": "cross",
                                "serial": "2b", "cert_sha256": "cd" * 32,
                                "spki_sha256": "ef" * 32, "not_after": NA, "current": False,
                                "profile": "cross", "lint_findings": []}, at)
    log.append("ocsp.intent", {"ca": "root", "serial": "1f", "status": "good",
                               "this_update": at, "next_update": NA}, at)


def _home(tmp_path: Path, sessions: int = 3, salt: str = "") -> Path:
    """A log kept by verified sessions (the first checkpoint made before any state exists)."""
    path = tmp_path / "log" / "ceremony.jsonl"
    path.parent.mkdir(parents=True)
    first = CeremonyLog.open(path, ORIGIN, create=True)
    _events(first, 0, salt=salt)
    for s in range(1, sessions):
        log, _ = open_for_session(path, ORIGIN, PUB)
        _events(log, s, salt=salt)
    return path


def _full(path: Path) -> Kept:
    from signer.store.log.index import Records

    kept = Kept(Records())
    report = verify_log(path, ORIGIN, ORIGIN, PUB, keep=kept)
    assert report.ok, report.first_error
    return kept


def _same_as_full_fold(log: CeremonyLog, path: Path) -> None:
    full = _full(path)
    assert log.size == full.builder.size and log.root == full.builder.root()
    assert log.state == full.state
    assert log.last_time == full.last_time
    assert [c[:2] for c in log.checkpoints()] == [c[:2] for c in full.checkpoints][-len(
        log.checkpoints()):]


def test_a_session_resumes_from_the_state_and_trusts_exactly_the_full_fold(tmp_path):
    path = _home(tmp_path, sessions=4)
    assert json.loads(path.read_bytes().splitlines()[-2])["type"] == "log.state"
    log, root = open_for_session(path, ORIGIN, PUB)
    assert root == log.root.hex()
    _same_as_full_fold(log, path)
    runs = log.state.revocation_runs("class1")
    assert [r.count for r in runs] == [6, 6, 6, 6] and log.state.revocations["class1"].count == 24
    assert log.state.crl_numbers == {"class1": 4}


def test_the_state_round_trips_exactly(tmp_path):
    path = _home(tmp_path)
    state = _full(path).state
    assert state.custody.keys["k"].restored and state.custody.pending_rotation
    assert state.pending_ca_certs and state.pending_ocsp and state.cross_keys
    assert state.cas["class1"].profile == "subca"
    assert state_from_json(json.loads(json.dumps(state_to_json(state)))) == state


def test_entries_and_proofs_of_earlier_sessions_are_read_through_the_index(tmp_path):
    path = _home(tmp_path)
    log, _ = open_for_session(path, ORIGIN, PUB)
    _events(log, 9)  # this session's entries, and a new checkpoint
    size = log.checkpoints()[-1][1].size
    for seq in (0, 3, 17, log.size - 1):
        entry = log.read_entry(seq)
        assert json.loads(entry.line)["seq"] == seq
        if seq < size:
            verify_inclusion(entry.leaf_hash, seq, size, log.inclusion_proof(seq, size),
                             log.checkpoints()[-1][1].root)


@pytest.mark.parametrize("damage", ["missing", "garbage", "shifted"])
def test_a_damaged_index_is_rebuilt_from_the_verified_log(tmp_path, damage):
    path = _home(tmp_path)
    index = path.parent / INDEX_NAME
    raw = index.read_bytes()
    if damage == "missing":
        index.unlink()
    elif damage == "garbage":
        index.write_bytes(raw[:400] + bytes(len(raw) - 400))
    else:
        index.write_bytes(raw[40:] + raw[:40])
    log, _ = open_for_session(path, ORIGIN, PUB)
    cp = log.checkpoints()[-1][1]
    for seq in (1, 12, cp.size - 1):
        entry = log.read_entry(seq)
        verify_inclusion(entry.leaf_hash, seq, cp.size, log.inclusion_proof(seq, cp.size),
                         cp.root)


# -- what must be refused -------------------------------------------------------------------


def _refused(path: Path, why: str) -> None:
    with pytest.raises(LogError, match=why):
        open_for_session(path, ORIGIN, PUB)


def test_a_truncated_log_is_refused_even_at_a_checkpoint(tmp_path):
    """Cut back to an earlier session's checkpoint: a full verification would accept that log
    (it is a true earlier log); the state beside it says it had more."""
    path = _home(tmp_path)
    lines = path.read_bytes().splitlines(keepends=True)
    cut = max(i for i, x in enumerate(lines[:-2]) if b'"type":"checkpoint"' in x) + 1
    path.write_bytes(b"".join(lines[:cut]))
    assert verify_log(path, ORIGIN, ORIGIN, PUB).ok  # what the full check alone would say
    _refused(path, "truncated")


def test_a_log_cut_between_its_state_and_checkpoint_is_refused(tmp_path):
    path = _home(tmp_path)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-1]))  # the checkpoint that signs the state is gone
    _refused(path, "no signed checkpoint there: truncated")


@pytest.mark.parametrize("line", [0, 5, 12])
def test_a_rewritten_prefix_is_refused(tmp_path, line):
    """Bytes of an entry of an earlier session changed (same length, still valid JSON): the
    incremental check does not re-verify those entries, but their bytes must still hash to the
    verified prefix."""
    path = _home(tmp_path)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[line] = lines[line].replace(b"2026-11-29T1", b"2026-11-29T0", 1)
    path.write_bytes(b"".join(lines))
    _refused(path, "rewritten")


def test_a_rewritten_prefix_with_a_matching_state_file_is_refused(tmp_path):
    """The insider rewrites an entry and the state file's prefix digest to match: the state
    file then no longer has the digest the log recorded for it."""
    path = _home(tmp_path)
    raw = path.read_bytes()
    state = json.loads((path.parent / STATE_NAME).read_bytes())
    offset = state["offset"]
    forged = raw[:offset].replace(b'"n":0,', b'"n":9,', 1)
    assert forged != raw[:offset]
    state["prefix_sha256"] = hashlib.sha256(forged).hexdigest()
    (path.parent / STATE_NAME).write_bytes(canonical_json(state) + b"\n")
    path.write_bytes(forged + raw[offset:])
    _refused(path, "swapped or edited")


def test_an_edited_state_file_is_refused(tmp_path):
    """An insider edits a fact (the CRL number) in the state the next session would trust."""
    path = _home(tmp_path)
    f = path.parent / STATE_NAME
    f.write_bytes(f.read_bytes().replace(b'"crl_numbers":{"class1":3}',
                                         b'"crl_numbers":{"class1":1}'))
    _refused(path, "swapped or edited")


def test_a_state_file_of_another_log_is_refused(tmp_path):
    a = _home(tmp_path / "a")
    b = _home(tmp_path / "b", salt="b")  # same origin, same shape, other bytes
    assert a.stat().st_size != b.stat().st_size
    shutil.copy(a.parent / STATE_NAME, b.parent / STATE_NAME)
    _refused(b, "swapped or edited|rewritten")


def test_an_unreadable_state_file_is_refused(tmp_path):
    path = _home(tmp_path)
    (path.parent / STATE_NAME).write_bytes(b'{"format": "something else"}')
    _refused(path, "swapped or edited")


def test_a_stale_state_file_is_verified_forward_to_the_same_state(tmp_path):
    """An earlier genuine state file (the insider restores yesterday's): it is a true state of
    this log, so the session verifies everything after it and trusts the same facts."""
    path = _home(tmp_path, sessions=2)
    old = (path.parent / STATE_NAME).read_bytes()
    log, _ = open_for_session(path, ORIGIN, PUB)
    _events(log, 5)
    (path.parent / STATE_NAME).write_bytes(old)
    log, _ = open_for_session(path, ORIGIN, PUB)
    _same_as_full_fold(log, path)
    assert decode(old).size < log.size - 8


def test_without_a_state_file_the_log_is_verified_in_full(tmp_path):
    path = _home(tmp_path)
    (path.parent / STATE_NAME).unlink()
    log, _ = open_for_session(path, ORIGIN, PUB)
    _same_as_full_fold(log, path)
    _events(log, 7)  # and the next checkpoint keeps a state again
    assert (path.parent / STATE_NAME).exists()
    _same_as_full_fold(open_for_session(path, ORIGIN, PUB)[0], path)


def test_an_entry_after_the_state_is_still_verified(tmp_path):
    """What follows the state is checked like any full verification: a forged checkpoint
    signature there is refused."""
    path = _home(tmp_path)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[-1] = lines[-1].replace(b"\\u2014 ", b"\\u2014 x", 1) if b"\\u2014" in lines[-1] \
        else lines[-1][:-40] + b"A" * 39 + lines[-1][-1:]
    path.write_bytes(b"".join(lines))
    with pytest.raises(LogError):
        open_for_session(path, ORIGIN, PUB)


def test_a_crash_tail_after_the_state_is_a_crash_tail(tmp_path):
    """Resumed from its state, a log with complete unsigned entries at its end is handed to
    the session as a crash tail to judge (issue 15), with those entries and the facts of all;
    a torn last line is refused."""
    path = _home(tmp_path)
    log, _ = open_for_session(path, ORIGIN, PUB)
    log.append("session.open", {"n": 99}, t(log.size))  # then the power went
    log1, tail = open_for_session(path, ORIGIN, PUB)
    assert isinstance(tail, CrashTail) and tail.report.unsigned_tail == 1
    assert log1.read_entry(log1.size - 1).type == "session.open"  # what the session judges
    assert log1.size == log.size and log1.state == log.state
    log2, root = open_for_session(path, ORIGIN, PUB, recovery_session=True)
    assert root is None and log2.size == log.size
    with path.open("ab") as f:
        f.write(b'{"data":')  # and a torn line
    _refused(path, "truncated")


# -- read-only views ------------------------------------------------------------------------


def test_a_read_only_view_reads_only_what_follows_the_state(tmp_path):
    """Read-only commands do not read the log's verified prefix: a view opens on a log whose
    first line is garbage, with the facts of the state file (nothing is verified in a
    read-only view, as before; a session would refuse this log)."""
    path = _home(tmp_path)
    raw = path.read_bytes()
    full_state = _full(path).state
    path.write_bytes(b"X" * raw.index(b"\n") + raw[raw.index(b"\n"):])
    view = open_read_only(path, ORIGIN)
    assert view.state == full_state and not view.verified
    _refused(path, "rewritten")


def test_a_read_only_view_without_a_usable_state_scans_the_log(tmp_path):
    path = _home(tmp_path)
    (path.parent / STATE_NAME).write_bytes(b"junk")
    assert open_read_only(path, ORIGIN).state == _full(path).state
