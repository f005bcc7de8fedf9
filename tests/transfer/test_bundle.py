"""Request and result bundles (DESIGN §5 Formats, I7): round trips, and every strictness rule
with a failing case. Bundles under test are built by hand from docs/FORMATS.md where the
encoder would refuse them, so the parser is tested against the documented bytes."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transfer import bundle as tb
from transfer.errors import BundleError

RA_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
RA_PUB = RA_KEY.public_key().public_bytes_raw()
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
OTHER_PUB = OTHER_KEY.public_key().public_bytes_raw()
APP_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(2, 34)))
APP_PUB = APP_KEY.public_key().public_bytes_raw()
TRUSTED = {"ra-main": RA_PUB, "ra-other": OTHER_PUB}

CSR = b"-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"
CERT = "-----BEGIN CERTIFICATE-----\nMIIBAAAA\nQUJD\n-----END CERTIFICATE-----\n"
CRL = "-----BEGIN X509 CRL-----\nMIIBAAAA\n-----END X509 CRL-----\n"
H32 = bytes(range(32))


def request_wire() -> dict[str, Any]:
    return {
        "batch_id": "ra-main-7", "ra": "ra-main", "sequence": 7, "created": "2026-11-28T09:30:00Z",
        "requests": [
            {"id": "r1", "ca": "class1", "profile": "server", "csr": base64.b64encode(CSR).decode(),
             "verified": {"dns": ["a.example.org"], "email": [], "name": None, "points": 0},
             "subscriber": "member-1234"},
            {"id": "r2", "ca": "class3", "profile": "email", "csr": base64.b64encode(b"\x30\x03\x02\x01\x00").decode(),
             "verified": {"dns": [], "email": ["j@example.org"], "name": "Jürgen Ä", "points": 100},
             "subscriber": "member-99"},
        ],
        "revocations": [{"ca": "class3", "serial": "5f0e1d", "reason": "keyCompromise"}],
    }


def result_wire() -> dict[str, Any]:
    return {
        "request_digest": "ab" * 32, "batch_id": "ra-main-7", "ra": "ra-main", "sequence": 7,
        "issued_at": "2026-11-29T10:00:00Z", "rehearsal": False, "appliance": "airgap-1",
        "outcomes": [
            {"id": "r1", "status": "issued", "serial": "7a3b", "certificate": CERT, "reasons": []},
            {"id": "r2", "status": "rejected", "serial": None, "certificate": None,
             "reasons": [{"code": "name.unverified", "message": "x.example.org was not verified"}]},
        ],
        "revocations": [{"ca": "class3", "serial": "5f0e1d", "status": "revoked", "reasons": []}],
        "chain": [{"ca": "root", "certificate": CERT}, {"ca": "class1", "certificate": CERT}],
        "crls": [{"ca": "class3", "number": 12, "crl": CRL}],
        "log": {"checkpoint": "airgap-signer/log\n42\nAAAA\n\n— airgap abcd\n",
                "previous_checkpoint": None,
                "consistency_proof": [base64.b64encode(H32).decode()],
                "inclusion": {"cd" * 32: "c2sp.org/tlog-proof@v1\nindex 3\n"}},
    }


def envelope(fmt: str, body: bytes, key: Ed25519PrivateKey, /, *, kid: str | None = None,
             sig: bytes | None = None, **override: Any) -> bytes:
    """Builds a bundle exactly as docs/FORMATS.md says, independent of the encoder."""
    msg = fmt.encode() + b"/v1\n" + body
    pub = key.public_key().public_bytes_raw()
    doc: dict[str, Any] = {
        "format": fmt, "version": 1, "body": base64.b64encode(body).decode(),
        "signature": {"alg": "ed25519", "key_id": kid or hashlib.sha256(pub).hexdigest(),
                      "value": base64.b64encode(sig or key.sign(msg)).decode()}}
    doc.update(override)
    return json.dumps(doc).encode()


def req_raw(body: dict[str, Any] | bytes, key: Ed25519PrivateKey = RA_KEY, /, **kw: Any) -> bytes:
    b = body if isinstance(body, bytes) else json.dumps(body).encode()
    return envelope(tb.REQUEST_FORMAT, b, key, **kw)


def res_raw(body: dict[str, Any] | bytes, key: Ed25519PrivateKey = APP_KEY, /, **kw: Any) -> bytes:
    b = body if isinstance(body, bytes) else json.dumps(body).encode()
    return envelope(tb.RESULT_FORMAT, b, key, **kw)


def edit(doc: dict[str, Any], fn: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    d = copy.deepcopy(doc)
    fn(d)
    return d


def raises(match: str, fn: Callable[[], Any]) -> BundleError:
    with pytest.raises(BundleError) as info:
        fn()
    msg = str(info.value)
    assert match in msg, msg
    assert "\n" not in msg
    return info.value


# --- round trips --------------------------------------------------------------------------------

def test_request_round_trip_from_dict_with_raw_csr_bytes():
    body = request_wire()
    body["requests"][0]["csr"] = CSR
    del body["requests"][0]["ca"]  # defaults to class1
    raw = tb.encode_request_bundle(body, RA_KEY.sign, RA_PUB)
    rb = tb.parse_request_bundle(raw, TRUSTED)
    assert rb.digest == hashlib.sha256(raw).hexdigest()
    assert rb.key_id == tb.key_id(RA_PUB)
    assert rb.body.ra == "ra-main" and rb.body.sequence == 7
    r1, r2 = rb.body.requests
    assert r1.csr == CSR and r1.ca == "class1" and r1.verified.dns == ("a.example.org",)
    assert r2.csr == b"\x30\x03\x02\x01\x00" and r2.verified.name == "Jürgen Ä"
    assert rb.body.revocations[0] == tb.Revocation("class3", "5f0e1d", "keyCompromise")
    # Canonical and idempotent: the model re-encodes to the same bytes.
    assert tb.encode_request_bundle(rb.body, RA_KEY.sign, RA_PUB) == raw
    assert tb.peek_request_bundle_header(raw) == ("ra-main", tb.key_id(RA_PUB))


def test_hand_built_bundle_per_the_documented_bytes_parses():
    raw = req_raw(request_wire())
    assert tb.parse_request_bundle(raw, TRUSTED).body.batch_id == "ra-main-7"
    # PHP's json_encode escapes "/" and non-ASCII by default: still the same content.
    php_body = json.dumps(request_wire()).replace("/", "\\/").encode()
    php = json.dumps({"format": tb.REQUEST_FORMAT, "version": 1,
                      "body": base64.b64encode(php_body).decode(),
                      "signature": {"alg": "ed25519", "key_id": tb.key_id(RA_PUB),
                                    "value": base64.b64encode(RA_KEY.sign(
                                        b"airgap-signer/request-bundle/v1\n" + php_body)).decode()}}
                     ).replace("/", "\\/").encode()
    assert tb.parse_request_bundle(php, TRUSTED).body == tb.parse_request_bundle(raw, TRUSTED).body


def test_result_round_trip():
    wire = result_wire()
    wire["log"]["consistency_proof"] = [H32]  # raw bytes accepted by the encoder
    raw = tb.encode_result_bundle(wire, APP_KEY.sign, APP_PUB)
    res = tb.parse_result_bundle(raw, APP_PUB)
    b = res.body
    assert b.outcomes[0].certificate == CERT and b.outcomes[1].reasons[0].code == "name.unverified"
    assert b.log.consistency_proof == (H32,) and b.log.inclusion["cd" * 32].startswith("c2sp")
    assert b.crls[0].number == 12 and b.rehearsal is False
    assert tb.encode_result_bundle(b, APP_KEY.sign, APP_PUB) == raw
    assert res.digest == hashlib.sha256(raw).hexdigest()


def test_signatures_are_domain_separated():
    # The same body signed as a request does not pass as a result, nor the reverse.
    body = json.dumps(result_wire()).encode()
    sig = APP_KEY.sign(tb.REQUEST_FORMAT.encode() + b"/v1\n" + body)
    raises("signature: does not verify", lambda: tb.parse_result_bundle(res_raw(body, sig=sig), APP_PUB))
    raises("format: expected", lambda: tb.parse_result_bundle(req_raw(request_wire()), APP_PUB))


def test_encoder_refuses_a_faulty_signer_and_invalid_bodies():
    raises("does not verify", lambda: tb.encode_request_bundle(request_wire(), OTHER_KEY.sign, RA_PUB))
    raises("64 raw bytes", lambda: tb.encode_request_bundle(request_wire(), lambda m: b"x", RA_PUB))
    bad = edit(request_wire(), lambda d: d["requests"][0]["verified"].update(points=1.5))
    raises("requests[0].verified.points: expected an integer", lambda: tb.encode_request_bundle(bad, RA_KEY.sign, RA_PUB))
    raises("sequence: expected an integer", lambda: tb.encode_request_bundle({**request_wire(), "sequence": float("nan")}, RA_KEY.sign, RA_PUB))


def test_models_cannot_be_built_invalid():
    raises("points: expected an integer from 0 to 1000", lambda: tb.VerifiedFacts((), (), None, 1001))
    raises("serial", lambda: tb.Revocation("class1", "0x12", "superseded"))
    raises("reasons: a rejected request needs", lambda: tb.Outcome("r1", "rejected", None, None, ()))
    raises("digest", lambda: tb.RequestBundle(b"x", "00" * 32, None, "00" * 32))  # type: ignore[arg-type]
    facts = tb.VerifiedFacts(["a.example"], [], None, 0)  # type: ignore[arg-type]
    assert facts.dns == ("a.example",)  # lists become tuples: frozen all the way down


def test_transfer_imports_neither_signer_nor_hsm():
    code = "import sys, transfer.bundle; print(sorted(m for m in sys.modules if m.split('.')[0] in ('signer','hsm')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- envelope and signature (I7) ----------------------------------------------------------------

def _flip(raw: bytes, field: str) -> bytes:
    doc = json.loads(raw)
    src = doc["body"] if field == "body" else doc["signature"]["value"]
    b = bytearray(base64.b64decode(src))
    b[len(b) // 2] ^= 1
    if field == "body":
        doc["body"] = base64.b64encode(b).decode()
    else:
        doc["signature"]["value"] = base64.b64encode(b).decode()
    return json.dumps(doc).encode()


GOOD = req_raw(request_wire())
ENVELOPE_CASES: list[tuple[str, Callable[[], bytes], str]] = [
    ("tampered body byte", lambda: _flip(GOOD, "body"), "signature: does not verify"),
    ("tampered signature", lambda: _flip(GOOD, "signature"), "signature: does not verify"),
    ("signed by another key, claiming a trusted key id",
     lambda: req_raw(request_wire(), OTHER_KEY, kid=tb.key_id(RA_PUB)), "signature: does not verify"),
    ("key id of no trusted RA", lambda: req_raw(request_wire(), kid="ee" * 32), "signature.key_id: not the key of any trusted RA"),
    ("unknown key", lambda: req_raw(request_wire(), Ed25519PrivateKey.generate()), "signature.key_id"),
    ("body names another trusted RA", lambda: req_raw(edit(request_wire(), lambda d: d.update(ra="ra-other"))),
     "ra: names RA 'ra-other', but the key that signed is pinned for 'ra-main'"),
    ("body names an unknown RA", lambda: req_raw(edit(request_wire(), lambda d: d.update(ra="ra-nobody"))),
     "ra: RA 'ra-nobody' is not trusted"),
    ("key id in upper case", lambda: req_raw(request_wire(), kid=tb.key_id(RA_PUB).upper()), "signature.key_id: expected 64 lowercase hex"),
    ("wrong format", lambda: req_raw(request_wire(), format="airgap-signer/other"), "format: expected"),
    ("version 2", lambda: req_raw(request_wire(), version=2), "version: expected an integer from 1 to 1"),
    ("version as string", lambda: req_raw(request_wire(), version="1"), "version: expected an integer, got a string"),
    ("version as bool", lambda: req_raw(request_wire(), version=True), "version: expected an integer, got true"),
    ("version as float", lambda: GOOD.replace(b'"version": 1', b'"version": 1.0'), "version: expected an integer, got a non-integer"),
    ("extra envelope key", lambda: req_raw(request_wire(), extra=1), "unknown key 'extra'"),
    ("missing signature", lambda: json.dumps({k: v for k, v in json.loads(GOOD).items() if k != "signature"}).encode(), "signature: missing"),
    ("other algorithm", lambda: GOOD.replace(b'"ed25519"', b'"ed448"'), "signature.alg: expected 'ed25519'"),
    ("short signature", lambda: req_raw(request_wire(), sig=b"\x01" * 63), "signature.value: expected a 64-byte"),
    ("body not base64", lambda: req_raw(request_wire(), body="!!!!"), "body: not standard base64"),
    ("body base64 with whitespace", lambda: req_raw(request_wire(), body="e30=\n"), "body: not standard base64"),
    ("body base64 unpadded", lambda: req_raw(request_wire(), body="e30"), "body: not standard base64"),
    ("body base64 non-canonical", lambda: req_raw(request_wire(), body="e31="), "body: not canonical base64"),
    ("duplicate envelope key", lambda: GOOD[:-1] + b', "version": 1}', "duplicate key 'version'"),
    ("not JSON", lambda: b"\x00garbage", "bundle: not valid JSON"),
    ("not UTF-8", lambda: b'{"format": "\xff"}', "bundle: not UTF-8"),
    ("trailing data", lambda: GOOD + b"{}", "bundle: not valid JSON"),
    ("array, not object", lambda: b"[]", "expected an object, got an array"),
    ("NaN", lambda: GOOD.replace(b'"version": 1', b'"version": NaN'), "version: expected an integer, got a non-integer"),
    ("deep nesting", lambda: b"[" * 100_000 + b"]" * 100_000, "bundle: not valid JSON"),
]


@pytest.mark.parametrize(("case", "make", "match"), ENVELOPE_CASES, ids=[c[0] for c in ENVELOPE_CASES])
def test_request_envelope_rejects(case: str, make: Callable[[], bytes], match: str):
    raises(match, lambda: tb.parse_request_bundle(make(), TRUSTED))


def test_oversized_file_is_rejected_before_parsing(monkeypatch: pytest.MonkeyPatch):
    from transfer.bundle import fields  # the one JSON reader of the package (issue 11 split)
    monkeypatch.setattr(fields.json, "loads",
                        lambda *a, **k: pytest.fail("parsed an oversized file"))
    big = b" " * (tb.MAX_REQUEST_FILE + 1)
    raises(f"bundle: larger than {tb.MAX_REQUEST_FILE} bytes", lambda: tb.parse_request_bundle(big, TRUSTED))
    raises("bundle: larger than", lambda: tb.peek_request_bundle_header(big))
    huge = b" " * (tb.MAX_RESULT_FILE + 1)
    raises(f"bundle: larger than {tb.MAX_RESULT_FILE} bytes", lambda: tb.parse_result_bundle(huge, APP_PUB))


def test_trusted_keys_must_be_raw_ed25519():
    raises("trusted['x']: expected a raw 32-byte", lambda: tb.parse_request_bundle(GOOD, {"x": b"short"}))


# --- request body -------------------------------------------------------------------------------

def _r0(d: dict[str, Any]) -> dict[str, Any]:
    return d["requests"][0]


def _many(n: int) -> list[dict[str, Any]]:
    item = _r0(request_wire())
    return [{**item, "id": f"r{i}"} for i in range(n)]


BODY_CASES: list[tuple[str, Callable[[dict[str, Any]], Any], str]] = [
    ("unknown top key", lambda d: d.update(extra=1), "body: unknown key 'extra'"),
    ("unknown request key", lambda d: _r0(d).update(note="x"), "requests[0]: unknown key 'note'"),
    ("unknown facts key", lambda d: _r0(d)["verified"].update(ip=[]), "requests[0].verified: unknown key 'ip'"),
    ("missing key", lambda d: d.pop("created"), "created: missing"),
    ("missing facts key", lambda d: _r0(d)["verified"].pop("points"), "requests[0].verified.points: missing"),
    ("missing csr", lambda d: _r0(d).pop("csr"), "requests[0].csr: missing"),
    ("float points", lambda d: _r0(d)["verified"].update(points=1.0), "requests[0].verified.points: expected an integer, got a non-integer"),
    ("bool points", lambda d: _r0(d)["verified"].update(points=True), "requests[0].verified.points: expected an integer, got true"),
    ("points too high", lambda d: _r0(d)["verified"].update(points=1001), "requests[0].verified.points: expected an integer from 0 to 1000"),
    ("bool sequence", lambda d: d.update(sequence=False), "sequence: expected an integer, got false"),
    ("sequence zero", lambda d: d.update(sequence=0), "sequence: expected an integer from 1"),
    ("sequence too big", lambda d: d.update(sequence=2**63), "sequence: expected an integer from 1"),
    ("string sequence", lambda d: d.update(sequence="7"), "sequence: expected an integer, got a string"),
    ("batch id charset", lambda d: d.update(batch_id="a b"), "batch_id: expected 1-64 characters"),
    ("batch id too long", lambda d: d.update(batch_id="a" * 65), "batch_id: expected 1-64"),
    ("empty request id", lambda d: _r0(d).update(id=""), "requests[0].id: expected 1-64"),
    ("ra null", lambda d: d.update(ra=None), "ra: expected 1-64 characters of [A-Za-z0-9._-], got null"),
    ("duplicate request ids", lambda d: d["requests"][1].update(id="r1"), "requests[1]: duplicate request id 'r1'"),
    ("duplicate revocation", lambda d: d["revocations"].append(dict(d["revocations"][0])), "revocations[1]: duplicate revocation"),
    ("time without Z", lambda d: d.update(created="2026-11-28T09:30:00"), "created: expected a UTC time"),
    ("time with offset", lambda d: d.update(created="2026-11-28T09:30:00+00:00"), "created: expected a UTC time"),
    ("time with fraction", lambda d: d.update(created="2026-11-28T09:30:00.5Z"), "created: expected a UTC time"),
    ("date only", lambda d: d.update(created="2026-11-28"), "created: expected a UTC time"),
    ("impossible date", lambda d: d.update(created="2026-02-30T09:30:00Z"), "created: not a valid calendar time"),
    ("csr bad base64", lambda d: _r0(d).update(csr="not base64!"), "requests[0].csr: not standard base64"),
    ("csr as PEM text", lambda d: _r0(d).update(csr=CSR.decode()), "requests[0].csr: not standard base64"),
    ("csr non-canonical base64", lambda d: _r0(d).update(csr="QR=="), "requests[0].csr: not canonical base64"),
    ("csr empty", lambda d: _r0(d).update(csr=""), "requests[0].csr: expected 1 to 16384 bytes, got 0"),
    ("csr oversized", lambda d: _r0(d).update(csr=base64.b64encode(b"x" * (tb.MAX_CSR + 1)).decode()), "requests[0].csr: expected 1 to 16384 bytes, got 16385"),
    ("csr far oversized", lambda d: _r0(d).update(csr=base64.b64encode(b"x" * 30000).decode()), "requests[0].csr: longer than 16384 bytes"),
    ("one request too many", lambda d: d.update(requests=_many(tb.MAX_REQUESTS + 1)), "requests: more than 10000 items"),
    ("too many dns facts", lambda d: _r0(d)["verified"].update(dns=[f"h{i}.example" for i in range(101)]), "requests[0].verified.dns: more than 100 items"),
    ("too many email facts", lambda d: _r0(d)["verified"].update(email=["a@b"] * 101), "requests[0].verified.email: more than 100 items"),
    ("dns fact not a string", lambda d: _r0(d)["verified"].update(dns=["a", 5]), "requests[0].verified.dns[1]: expected a string, got an integer"),
    ("dns fact with control char", lambda d: _r0(d)["verified"].update(dns=["a\nb"]), "requests[0].verified.dns[0]: contains a control"),
    ("facts not an object", lambda d: _r0(d).update(verified=[]), "requests[0].verified: expected an object, got an array"),
    ("subscriber too long", lambda d: _r0(d).update(subscriber="m" * 129), "requests[0].subscriber: expected 1 to 128"),
    ("subscriber control char", lambda d: _r0(d).update(subscriber="m\x00"), "requests[0].subscriber: contains a control"),
    ("lone surrogate", lambda d: _r0(d).update(subscriber="\ud800"), "requests[0].subscriber"),
    ("too many revocations", lambda d: d.update(revocations=[{"ca": "c", "serial": format(i + 1, "x"), "reason": "superseded"} for i in range(tb.MAX_REVOCATIONS + 1)]), "revocations: more than 10000 items"),
    ("serial upper case", lambda d: d["revocations"][0].update(serial="5F0E"), "revocations[0].serial: expected lowercase hex"),
    ("serial with 0x", lambda d: d["revocations"][0].update(serial="0x5f"), "revocations[0].serial"),
    ("serial leading zero", lambda d: d["revocations"][0].update(serial="05f"), "revocations[0].serial"),
    ("serial 41 digits", lambda d: d["revocations"][0].update(serial="1" * 41), "revocations[0].serial"),
    ("serial as integer", lambda d: d["revocations"][0].update(serial=95), "revocations[0].serial: expected lowercase hex without 0x or leading zeros, 1-40 digits, got an integer"),
    ("reason certificateHold", lambda d: d["revocations"][0].update(reason="certificateHold"), "revocations[0].reason: certificateHold is not supported"),
    ("reason removeFromCRL", lambda d: d["revocations"][0].update(reason="removeFromCRL"), "revocations[0].reason: removeFromCRL is not supported"),
    ("reason unknown", lambda d: d["revocations"][0].update(reason="stolen"), "revocations[0].reason: expected one of"),
    ("reason wrong case", lambda d: d["revocations"][0].update(reason="keycompromise"), "revocations[0].reason: expected one of"),
    ("requests not an array", lambda d: d.update(requests={}), "requests: expected an array, got an object"),
]


@pytest.mark.parametrize(("case", "change", "match"), BODY_CASES, ids=[c[0] for c in BODY_CASES])
def test_request_body_rejects(case: str, change: Callable[[dict[str, Any]], Any], match: str):
    body = json.dumps(edit(request_wire(), change)).encode("utf-8", "surrogatepass")
    raises(match, lambda: tb.parse_request_bundle(req_raw(body), TRUSTED))


RAW_BODY_CASES: list[tuple[str, bytes, str]] = [
    ("duplicate key in request", json.dumps(request_wire()).replace('"id": "r1",', '"id": "r1", "id": "r9",').encode(), "requests[0]: duplicate key 'id'"),
    ("duplicate top key", json.dumps(request_wire())[:-1].encode() + b', "ra": "ra-main"}', "body: duplicate key 'ra'"),
    ("exponent number", json.dumps(request_wire()).replace('"sequence": 7', '"sequence": 7e0').encode(), "sequence: expected an integer, got a non-integer"),
    ("Infinity", json.dumps(request_wire()).replace('"points": 0', '"points": Infinity').encode(), "requests[0].verified.points: expected an integer, got a non-integer"),
    ("body not UTF-8", b'{"ra": "\xc3\x28"}', "body: not UTF-8"),
    ("body with BOM", b"\xef\xbb\xbf" + json.dumps(request_wire()).encode(), "body: not valid JSON"),
    ("body not JSON", b"ra=ra-main", "body: not valid JSON"),
    ("body a string", b'"hello"', "body: expected an object, got a string"),
    ("huge integer literal", json.dumps(request_wire()).replace('"sequence": 7', '"sequence": ' + "9" * 5000).encode(), "body: not valid JSON"),
]


@pytest.mark.parametrize(("case", "body", "match"), RAW_BODY_CASES, ids=[c[0] for c in RAW_BODY_CASES])
def test_request_raw_body_rejects(case: str, body: bytes, match: str):
    raises(match, lambda: tb.parse_request_bundle(req_raw(body), TRUSTED))


def test_limits_are_inclusive():
    d = request_wire()
    _r0(d)["csr"] = base64.b64encode(b"x" * tb.MAX_CSR).decode()
    _r0(d)["verified"]["dns"] = [f"h{i}.example" for i in range(tb.MAX_FACTS)]
    d["requests"] = _many(tb.MAX_REQUESTS - 1) + [_r0(d)]
    d["requests"][-1]["id"] = "last"
    rb = tb.parse_request_bundle(req_raw(d), TRUSTED)
    assert len(rb.body.requests) == tb.MAX_REQUESTS and len(rb.body.requests[-1].csr) == tb.MAX_CSR


# --- result body --------------------------------------------------------------------------------

RESULT_CASES: list[tuple[str, Callable[[dict[str, Any]], Any], str]] = [
    ("digest upper case", lambda d: d.update(request_digest="AB" * 32), "request_digest: expected 64 lowercase hex"),
    ("rehearsal as int", lambda d: d.update(rehearsal=0), "rehearsal: expected true or false, got an integer"),
    ("issued without certificate", lambda d: d["outcomes"][0].update(certificate=None), "outcomes[0].certificate: expected a string, got null"),
    ("certificate not PEM", lambda d: d["outcomes"][0].update(certificate="MIIB..."), "outcomes[0].certificate: expected one PEM block labelled CERTIFICATE"),
    ("certificate two PEM blocks", lambda d: d["outcomes"][0].update(certificate=CERT + CERT), "outcomes[0].certificate: expected one PEM block"),
    ("CRL where a certificate goes", lambda d: d["chain"][0].update(certificate=CRL), "chain[0].certificate: expected one PEM block labelled CERTIFICATE"),
    ("rejected with serial", lambda d: d["outcomes"][1].update(serial="12"), "outcomes[1].status: a rejected request has a null serial"),
    ("rejected without reasons", lambda d: d["outcomes"][1].update(reasons=[]), "outcomes[1].reasons: a rejected request needs"),
    ("unknown status", lambda d: d["outcomes"][0].update(status="pending"), "outcomes[0].status: expected one of issued, rejected"),
    ("reason code charset", lambda d: d["outcomes"][1]["reasons"][0].update(code="a b"), "outcomes[1].reasons[0].code"),
    ("duplicate outcome ids", lambda d: d["outcomes"][1].update(id="r1"), "outcomes[1]: duplicate request id"),
    ("duplicate chain CA", lambda d: d["chain"][1].update(ca="root"), "chain[1]: duplicate CA"),
    ("CRL number float", lambda d: d["crls"][0].update(number=12.0), "crls[0].number: expected an integer"),
    ("CRL not PEM", lambda d: d["crls"][0].update(crl=CERT), "crls[0].crl: expected one PEM block labelled X509 CRL"),
    ("revocation status", lambda d: d["revocations"][0].update(status="done"), "revocations[0].status"),
    ("consistency hash short", lambda d: d["log"].update(consistency_proof=[base64.b64encode(b"x" * 31).decode()]), "log.consistency_proof[0]: expected a 32-byte SHA-256 hash"),
    ("consistency hash long", lambda d: d["log"].update(consistency_proof=[base64.b64encode(b"x" * 33).decode()]), "log.consistency_proof[0]: expected a 32-byte SHA-256 hash"),
    ("consistency hash far too long", lambda d: d["log"].update(consistency_proof=[base64.b64encode(b"x" * 64).decode()]), "log.consistency_proof[0]: longer than 32 bytes"),
    ("consistency proof too long", lambda d: d["log"].update(consistency_proof=[base64.b64encode(H32).decode()] * 65), "log.consistency_proof: more than 64 items"),
    ("inclusion key not hex", lambda d: d["log"].update(inclusion={"zz": "proof"}), "log.inclusion: expected a key of 64 lowercase hex"),
    ("inclusion value not text", lambda d: d["log"].update(inclusion={"cd" * 32: 1}), f"log.inclusion.{'cd' * 32}: expected a string"),
    ("inclusion not an object", lambda d: d["log"].update(inclusion=[]), "log.inclusion: expected an object, got an array"),
    ("checkpoint missing", lambda d: d["log"].pop("checkpoint"), "log.checkpoint: missing"),
    ("unknown outcome key", lambda d: d["outcomes"][0].update(extra=None), "outcomes[0]: unknown key 'extra'"),
    ("issued_at bad", lambda d: d.update(issued_at="2026-11-29 10:00:00Z"), "issued_at: expected a UTC time"),
]


@pytest.mark.parametrize(("case", "change", "match"), RESULT_CASES, ids=[c[0] for c in RESULT_CASES])
def test_result_body_rejects(case: str, change: Callable[[dict[str, Any]], Any], match: str):
    raises(match, lambda: tb.parse_result_bundle(res_raw(edit(result_wire(), change)), APP_PUB))


def test_result_signature_and_key():
    raw = res_raw(result_wire())
    assert tb.parse_result_bundle(raw, APP_PUB).body.appliance == "airgap-1"
    raises("signature.key_id: not the pinned appliance key", lambda: tb.parse_result_bundle(raw, OTHER_PUB))
    raises("signature: does not verify", lambda: tb.parse_result_bundle(_flip(raw, "body"), APP_PUB))
    forged = res_raw(result_wire(), OTHER_KEY, kid=tb.key_id(APP_PUB))
    raises("signature: does not verify", lambda: tb.parse_result_bundle(forged, APP_PUB))


# --- properties ---------------------------------------------------------------------------------

VALID_REQUEST = tb.encode_request_bundle(request_wire(), RA_KEY.sign, RA_PUB)
VALID_RESULT = tb.encode_result_bundle(result_wire(), APP_KEY.sign, APP_PUB)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _parse_both(raw: bytes) -> None:
    for parse in (lambda: tb.parse_request_bundle(raw, TRUSTED),
                  lambda: tb.parse_result_bundle(raw, APP_PUB),
                  lambda: tb.peek_request_bundle_header(raw)):
        try:
            parse()
        except BundleError:
            pass


@FAST
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_raise_only_bundle_error(raw: bytes):
    _parse_both(raw)


@FAST
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=4),
                    max_leaves=20))
def test_arbitrary_signed_json_bodies_raise_only_bundle_error(doc: Any):
    # Past the signature check: the schema must cope with any JSON at all.
    body = json.dumps(doc).encode("utf-8", "surrogatepass")
    for raw in (req_raw(body), res_raw(body)):
        _parse_both(raw)


@FAST
@given(st.data())
def test_any_single_byte_mutation_is_rejected(data: st.DataObject):
    for valid, parse in ((VALID_REQUEST, lambda r: tb.parse_request_bundle(r, TRUSTED)),
                         (VALID_RESULT, lambda r: tb.parse_result_bundle(r, APP_PUB))):
        i = data.draw(st.integers(0, len(valid) - 1))
        new = data.draw(st.integers(0, 255).filter(lambda b, i=i, v=valid: b != v[i]))
        mutated = valid[:i] + bytes([new]) + valid[i + 1:]
        with pytest.raises(BundleError):
            parse(mutated)


# --- docs/FORMATS.md ----------------------------------------------------------------------------

def test_documented_example_is_a_valid_test_vector():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "FORMATS.md").read_text(encoding="utf-8")
    lines = doc.splitlines()
    raw = lines[lines.index("<!-- example-request-bundle (tests/transfer/test_bundle.py reads the next line) -->") + 2].encode()
    rb = tb.parse_request_bundle(raw, {"ra-main": RA_PUB})  # RA_PUB: seed 00 01 .. 1f, as documented
    assert rb.digest == "d07c5fc1919a0c95a68099adc1b4af09c51fd8691eb8ae339ea1e9d25b8e4ccf"
    assert len(raw) == 1216 and rb.key_id in doc and RA_PUB.hex() in doc
    body = base64.b64decode(json.loads(raw)["body"]).decode()
    head, _, rest = next(line for line in lines if line.startswith('{"batch_id":"ra-main-7"')).partition("…")
    assert body.startswith(head) and body.endswith(rest)
    # Deterministic: the encoder rebuilds the identical file from the parsed body.
    assert tb.encode_request_bundle(rb.body, RA_KEY.sign, RA_PUB) == raw
