"""Property tests for the parsers of untrusted input not fuzzed elsewhere (issue 7, item 3).

Covered elsewhere: request bundles (tests/transfer/test_bundle.py), QR frames
(tests/transfer/test_qr.py), CSR bytes (tests/signer/test_policy.py). Here: signer.toml, custodian
shares, the result bundle as the online side reads it (signer.service.online.verify_result), the
ceremony log verifier, and CSRs that are well-formed but carry hostile names and facts.
Only the documented error type may come out, and share errors never echo the words given.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from shamir_mnemonic import wordlist

from signer.core import policy, quorum
from signer.core.checkpoint import checkpoint_of_note_unverified, sign_checkpoint
from signer.core.config import default_toml, parse_config
from signer.errors import ConfigError, SignerError
from signer.service.online import verify_result
from signer.store.log import CeremonyLog, verify_log
from tests.signer.policy_fixtures import context
from transfer import bundle as tb
from transfer.errors import TransferError

DATA = Path(__file__).parent / "data"
FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

# --- signer.toml -------------------------------------------------------------------------------

DEFAULT = default_toml(name="fuzz.example", module="/usr/lib/softhsm/libsofthsm2.so",
                       token_label="t", rehearsal=True, quorum=None)
LINES = DEFAULT.splitlines()
TOML_VALUES = st.sampled_from(['""', '"x"', "0", "-1", "99999999999999999999", "true", "1.5",
                               "[]", '["a", 1]', "{}", "2026-01-01", "2026-01-01T00:00:00Z",
                               '"http://x/"', '"2/3"', '"17/3"', "inf", "nan", '"\\u0000"'])


@FAST
@given(st.text(max_size=400))
def test_config_arbitrary_text_raises_only_config_error(text: str) -> None:
    try:
        parse_config(text)
    except ConfigError as exc:
        assert "\n" not in str(exc)


@FAST
@given(st.lists(st.tuples(st.integers(0, len(LINES) - 1),
                          st.sampled_from(["drop", "dup", "value", "key"]), TOML_VALUES),
                max_size=4))
def test_config_mutations_raise_only_config_error(edits: list[tuple[int, str, str]]) -> None:
    lines = list(LINES)
    for i, how, value in edits:
        i %= len(lines)
        line = lines[i]
        if how == "drop":
            del lines[i]
        elif how == "dup":
            lines.insert(i, line)
        elif how == "value" and "=" in line:
            lines[i] = line.split("=", 1)[0] + "= " + value
        elif how == "key":
            lines.insert(i, f"unknown_{i} = {value}")
        if not lines:
            lines = [""]
    try:
        parse_config("\n".join(lines))
    except ConfigError:
        pass


def test_default_config_parses() -> None:
    assert parse_config(DEFAULT).appliance_name == "fuzz.example"


# --- custodian shares ------------------------------------------------------------------------

SHARE_MESSAGES = [re.compile(p) for p in (
    r"share: too long to be a SLIP-39 share", r"share: empty",
    r"share: not a valid SLIP-39 share: .+",
    r"share \d+: belongs to another quorum \(a foreign share\)", r"share \d+: given twice",
    r"no shares given", r"\d+ of \d+ shares given; \d+ more needed",
    r"the shares do not combine \(one of them is wrong\)")]
NAMED = re.compile(r"share: not a valid SLIP-39 share: word (\d+) \('([a-z]+)'\)")
WORDS = wordlist.WORDLIST
_, REAL_SHARES = quorum.split_secret(2, 3)
_, FOREIGN_SHARES = quorum.split_secret(2, 3)


def _assert_share_error(exc: quorum.ShareError, given: list[str]) -> None:
    # I10: a fixed sentence; of the words given, at most the one named as wrong comes back,
    # quoted at its position (the other quoted words are list words it could be, never the
    # share's own: signer.core.share_words).
    text = str(exc)
    assert any(p.fullmatch(text) for p in SHARE_MESSAGES), text
    quoted = re.findall(r"'([^']*)'", text)
    named = NAMED.match(text)
    if named is None:
        assert not quoted, text
        return
    pos, typed = int(named[1]), named[2]
    assert any(len(g.split()) >= pos and g.lower().split()[pos - 1] == typed for g in given)
    assert all(q in WORDS for q in quoted[1:]), text
    if "looks wrong" in text:  # a checksum verdict never quotes the right word
        assert quoted == [typed], text


share_texts = st.one_of(
    st.text(max_size=300),
    st.lists(st.sampled_from(WORDS), max_size=40).map(" ".join),
    st.tuples(st.sampled_from(REAL_SHARES), st.integers(0, 19), st.sampled_from(WORDS)).map(
        lambda t: " ".join(w if i != t[1] else t[2] for i, w in enumerate(t[0].split()))),
    st.sampled_from(REAL_SHARES).map(lambda s: " ".join(s.split()[:-1])),
)


@FAST
@given(share_texts)
def test_inspect_share_raises_only_share_error_without_echo(text: str) -> None:
    try:
        quorum.inspect_share(text)
    except quorum.ShareError as exc:
        _assert_share_error(exc, [text])


@FAST
@given(st.lists(st.one_of(share_texts, st.sampled_from(REAL_SHARES + FOREIGN_SHARES)),
                max_size=4))
def test_combine_raises_only_share_error_without_echo(shares: list[str]) -> None:
    try:
        quorum.combine(shares)
    except quorum.ShareError as exc:
        _assert_share_error(exc, shares)


def test_combine_still_works() -> None:
    master, idx = quorum.combine(REAL_SHARES[1:])
    assert idx == [2, 3] and len(master) >= 16


# --- the ceremony log verifier ---------------------------------------------------------------

LOG_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(7, 39)))
LOG_PUB = LOG_KEY.public_key().public_bytes_raw()
ORIGIN = "fuzz.example/log"


@pytest.fixture(scope="module")
def good_log(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("log") / "ceremony.jsonl"
    log = CeremonyLog.open(path, ORIGIN, create=True)
    t = "2026-11-29T10:00:00Z"
    log.append("session.open", {"n": 1}, t)
    log.append_many("issue.intent", [{"batch": "b1", "id": f"r{i}", "ca": "class1",
                                      "serial": f"{i:x}"} for i in range(5)], t)
    log.checkpoint(t, ORIGIN, LOG_PUB, LOG_KEY.sign)
    log.append("cert.issued", {"batch": "b1", "id": "r1", "ca": "class1", "serial": "1",
                               "cert_sha256": "ab" * 32, "subscriber": "m1",
                               "spki_sha256": "cd" * 32, "not_after": "2027-01-01T00:00:00+00:00",
                               "profile": "server", "tbs_sha256": "ef" * 32},
               t)
    log.checkpoint(t, ORIGIN, LOG_PUB, LOG_KEY.sign)
    raw = path.read_bytes()
    assert verify_log(path, ORIGIN, ORIGIN, LOG_PUB).ok
    return raw


def _verify_bytes(tmp_path: Path, raw: bytes) -> Any:
    p = tmp_path / "fuzz.jsonl"
    p.write_bytes(raw)
    return verify_log(p, ORIGIN, ORIGIN, LOG_PUB)


@FAST
@given(st.binary(max_size=2048))
def test_verify_log_arbitrary_bytes_never_raises(tmp_path: Path, raw: bytes) -> None:
    assert _verify_bytes(tmp_path, raw).ok is False


@FAST
@given(st.data())
def test_verify_log_any_change_before_the_last_line_is_caught(tmp_path, good_log, data) -> None:
    # The last checkpoint line's time is a documented known limit (no later signature).
    limit = good_log.rstrip(b"\n").rfind(b"\n") + 1
    pos = data.draw(st.integers(0, limit - 1))
    how = data.draw(st.sampled_from(["flip", "drop", "insert"]))
    raw = bytearray(good_log)
    if how == "flip":
        raw[pos] ^= data.draw(st.integers(1, 255))
    elif how == "drop":
        del raw[pos]
    else:
        raw.insert(pos, data.draw(st.integers(0, 255)))
    assert _verify_bytes(tmp_path, bytes(raw)).ok is False


@FAST
@given(st.data())
def test_verify_log_reordered_or_dropped_lines_are_caught(tmp_path, good_log, data) -> None:
    lines = good_log.splitlines(keepends=True)
    i = data.draw(st.integers(0, len(lines) - 1))
    j = data.draw(st.integers(0, len(lines) - 1))
    changed = list(lines)
    if i == j:
        del changed[i]
    else:
        changed[i], changed[j] = changed[j], changed[i]
    assume(changed != lines)
    assert _verify_bytes(tmp_path, b"".join(changed)).ok is False


# --- the result bundle, as the online side reads it -------------------------------------------

RESULT = (DATA / "result-1.res").read_bytes()
TRUST = DATA / "appliance.pub"
ONLINE_ERRORS = (SignerError, TransferError)
OWN_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(40, 72)))


@pytest.fixture(scope="module")
def own_trust(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("trust") / "own.pub"
    p.write_bytes(OWN_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return p


def _verify_online(tmp_path: Path, raw: bytes, trust: Path) -> None:
    src = tmp_path / "in.res"
    src.write_bytes(raw)
    out = tmp_path / "out"
    shutil.rmtree(out, ignore_errors=True)
    try:
        verify_result(src, trust, out)
    except ONLINE_ERRORS as exc:
        assert "\n" not in str(exc).strip()


def test_the_result_vector_verifies(tmp_path: Path) -> None:
    shutil.rmtree(tmp_path / "o", ignore_errors=True)
    assert verify_result(DATA / "result-1.res", TRUST, tmp_path / "o")["issued"] == 3


@FAST
@given(st.one_of(st.binary(max_size=1024),
                 st.tuples(st.integers(0, len(RESULT) - 1), st.integers(1, 255)).map(
                     lambda t: RESULT[:t[0]] + bytes([RESULT[t[0]] ^ t[1]]) + RESULT[t[0] + 1:])))
def test_result_arbitrary_or_mutated_bytes_raise_only_documented_errors(tmp_path, raw) -> None:
    _verify_online(tmp_path, raw, TRUST)


def _body() -> dict[str, Any]:
    """The vector's body with its checkpoints re-signed by OWN_KEY, so that a body re-signed
    by OWN_KEY verifies whole and mutations reach the proof checks."""
    body = json.loads(base64.b64decode(json.loads(RESULT)["body"]))
    own = OWN_KEY.public_key().public_bytes_raw()
    log = body["log"]
    for field in ("checkpoint", "previous_checkpoint"):
        old = log[field]
        if old is None:
            continue
        new = sign_checkpoint(checkpoint_of_note_unverified(old), body["appliance"], own,
                              OWN_KEY.sign)
        log[field] = new
        log["inclusion"] = {k: v.replace(old, new) for k, v in log["inclusion"].items()}
    return body


def test_the_re_signed_vector_verifies(tmp_path: Path, own_trust: Path) -> None:
    raw = tb.encode_result_bundle(_body(), OWN_KEY.sign, OWN_KEY.public_key().public_bytes_raw())
    (tmp_path / "r.res").write_bytes(raw)
    assert verify_result(tmp_path / "r.res", own_trust, tmp_path / "o")["proofs_verified"] == 3


PEM_MUTATIONS = st.sampled_from([
    "-----BEGIN CERTIFICATE-----\nMIIBAAAA\nQUJD\n-----END CERTIFICATE-----\n",
    "-----BEGIN X509 CRL-----\nMIIBAAAA\n-----END X509 CRL-----\n",
    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
])


@FAST
@given(st.data())
def test_result_signed_but_hostile_body_raises_only_documented_errors(tmp_path, own_trust,
                                                                     data) -> None:
    # A body the trusted key signed but that is wrong inside: certificate and CRL texts that
    # pass the bundle's shape checks but are not X.509, swapped chains, edited proofs.
    body = _body()
    where = data.draw(st.sampled_from(["outcome", "chain", "crl", "proof", "checkpoint", "swap"]))
    b = copy.deepcopy(body)
    issued = [o for o in b["outcomes"] if o["status"] == "issued"]
    if where == "outcome":
        issued[data.draw(st.integers(0, len(issued) - 1))]["certificate"] = data.draw(PEM_MUTATIONS)
    elif where == "chain":
        b["chain"][data.draw(st.integers(0, len(b["chain"]) - 1))]["certificate"] = data.draw(
            PEM_MUTATIONS)
    elif where == "crl" and b["crls"]:
        b["crls"][0]["crl"] = data.draw(PEM_MUTATIONS)
    elif where == "proof":
        k = data.draw(st.sampled_from(sorted(b["log"]["inclusion"])))
        proof = b["log"]["inclusion"][k]
        i = data.draw(st.integers(0, len(proof) - 1))
        b["log"]["inclusion"][k] = proof[:i] + data.draw(st.sampled_from(
            ["A", "\n", "extra e30=\n", "extra bnVsbA==\n", "extra W10=\n", "index 99\n"])) + proof[i + 1:]
    elif where == "checkpoint":
        note = b["log"]["checkpoint"]
        i = data.draw(st.integers(0, len(note) - 1))
        b["log"]["checkpoint"] = note[:i] + "x" + note[i + 1:]
    else:
        b["chain"] = list(reversed(b["chain"]))
        b["outcomes"] = [dict(o, serial="1") if o["status"] == "issued" else o
                         for o in b["outcomes"]]
    try:
        raw = tb.encode_result_bundle(b, OWN_KEY.sign, OWN_KEY.public_key().public_bytes_raw())
    except TransferError:
        return  # the encoder refuses it: nothing to deliver
    _verify_online(tmp_path, raw, own_trust)


# --- CSRs that parse, with hostile names, against hostile facts -------------------------------

_KEY = ec.generate_private_key(ec.SECP256R1())
names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=70)


@settings(max_examples=60, deadline=None)
@given(cn=st.one_of(st.none(), names), dns=st.lists(names, max_size=3),
       emails=st.lists(names, max_size=2), facts=st.lists(names, max_size=3),
       points=st.integers(-5, 2000), profile=st.sampled_from(["server", "client", "email", "x"]))
def test_csr_with_hostile_names_is_judged_never_raises(cn, dns, emails, facts, points,
                                                       profile) -> None:
    try:  # cryptography counts the CN's length in UTF-16 units: astral characters count twice
        b = x509.CertificateSigningRequestBuilder().subject_name(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn[:64])] if cn else []))
    except ValueError:
        assume(False)
    sans: list[x509.GeneralName] = []
    try:
        sans = [x509.DNSName(d) for d in dns] + [x509.RFC822Name(e) for e in emails]
    except (ValueError, UnicodeError):
        sans = []
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    try:
        csr = b.sign(_KEY, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    except (ValueError, UnicodeError):
        assume(False)
    req = policy.Request(id="f", ca="class1", profile=profile, csr=csr,
                         verified=policy.VerifiedFacts(dns=tuple(facts), email=tuple(emails),
                                                       name=cn, points=points),
                         subscriber="m")
    d = policy.evaluate(req, context())
    assert d.accepted or d.reasons
    if d.accepted:  # I8: only verified names reach an accepted decision
        assert set(d.dns_names) <= set(facts) and set(d.emails) <= set(emails)


@pytest.mark.parametrize("where", ["outcome", "chain", "crl"])
def test_regression_signed_non_x509_text_is_a_signer_error(tmp_path, own_trust, where) -> None:
    # Found by the property above: verify_result let ValueError out of x509.load_pem_* for
    # certificate/CRL texts that pass the bundle's PEM shape check (a traceback on the CLI).
    b = _body()
    bad = "-----BEGIN CERTIFICATE-----\nMIIBAAAA\nQUJD\n-----END CERTIFICATE-----\n"
    if where == "outcome":
        next(o for o in b["outcomes"] if o["status"] == "issued")["certificate"] = bad
    elif where == "chain":
        b["chain"][0]["certificate"] = bad
    else:
        b["crls"] = [{"ca": "class1", "number": 1,
                      "crl": "-----BEGIN X509 CRL-----\nMIIBAAAA\n-----END X509 CRL-----\n"}]
    raw = tb.encode_result_bundle(b, OWN_KEY.sign, OWN_KEY.public_key().public_bytes_raw())
    (tmp_path / "r.res").write_bytes(raw)
    with pytest.raises(SignerError, match="not a valid X.509"):
        verify_result(tmp_path / "r.res", own_trust, tmp_path / "o")
