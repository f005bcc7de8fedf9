"""The service layer called directly, in this process, against a real SoftHSM token: the same
functions the CLI and the TUI call (issue 11). One home is made once (token ``svc``, made up
front: SoftHSM reads its store once per process) and each test copies it."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from signer.core import quorum
from signer.core.clock import parse_time
from signer.core.config import default_toml, parse_config
from signer.errors import ConfigError, SignerError
from signer.service import auditing, batches, cas, ra, revocation, signing
from signer.service.export import export_batch
from signer.service.online import keygen, load_public_key, pack, verify_result
from signer.service.session import Credentials, Session, unlocked_session
from signer.service.setup import InitOptions, init_home
from tests.conftest import AT
from tests.factories import GOOD, make_csr

T0 = parse_time(AT)
T1 = T0 + dt.timedelta(hours=1)


@pytest.fixture(scope="module")
def svc_home(token_env, tmp_path_factory) -> tuple[Path, str]:
    home = tmp_path_factory.mktemp("svc") / "home"
    pin = (token_env.dir / "svc.pin").read_text()
    init_home(home, module=token_env.module, token_label="svc", creds=Credentials(pin=pin),
              at=T0, options=InitOptions(rehearsal=True))
    with unlocked_session(home, Credentials(pin=pin), T0) as s:
        for label, alg in (("root-key", "ec-p384"), ("class1-key", "ec-p256")):
            cas.generate_key(s, label, alg)
        cas.create_root(s, "root", "root-key", "CN=Service Root,O=Test,C=AU", None)
        cas.create_sub(s, "class1", "root", "class1-key", "CN=Service Class 1,O=Test,C=AU",
                       "subca", None)
    return home, pin


@pytest.fixture
def home(svc_home, tmp_path) -> tuple[Path, str]:
    dst = tmp_path / "home"
    shutil.copytree(svc_home[0], dst)
    return dst, svc_home[1]


def _bundle(tmp_path: Path, seq: int = 1) -> tuple[Path, Path]:
    o = tmp_path / "online"
    o.mkdir(exist_ok=True)
    if not (o / "ra.key").exists():
        keygen(o / "ra.key")
    make_csr(o / "good.csr", cn="www.example.org", dns=["www.example.org", "example.org"])
    spec = o / f"spec-{seq}.json"
    spec.write_text(json.dumps({"ra": "ra1", "requests": [GOOD[0]], "revocations": []}))
    out = o / f"b{seq}.req"
    pack(spec, o / "ra.key", seq, out, created=T0)
    return o, out


def test_a_batch_through_the_service(home, tmp_path):
    h, pin = home
    o, bundle = _bundle(tmp_path)
    with unlocked_session(h, Credentials(pin=pin), T1) as s:
        ra.trust_ra(s, "ra1", load_public_key(o / "ra.key.pub"))
        imp = s.run("batch import", batches.import_batch, bundle.read_bytes())
        assert (imp.accepted, imp.rejected) == (1, 0)
        rep = s.run("batch sign", signing.sign_batch, imp.batch)
        assert rep.issued == 1 and rep.failed == []
        res = s.run("batch export", export_batch, imp.batch, tmp_path / "r.res")
        assert res["certificates"] == 1
        serial = batches.show_batch(s, imp.batch)["requests"][0]["serial"]
        revocation.revoke(s, "class1", serial, "keyCompromise")
        crl = revocation.issue_crl(s, "class1")
        assert crl.entries == 1 and crl.number == 1
    summary = verify_result(tmp_path / "r.res", _pub(h, tmp_path), tmp_path / "out", bundle)
    assert summary["issued"] == 1 and summary["checked_against_request"] == 1
    report = auditing.verify_home(h)
    assert report.ok, report.text()
    assert report.certificates == 3 and report.crls == 1 and report.batches_rejudged == 1


def _pub(home: Path, tmp_path: Path) -> Path:
    raw = auditing.home_log_key(home)
    p = tmp_path / "pub.pem"
    p.write_bytes(ed25519.Ed25519PublicKey.from_public_bytes(raw).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return p


def test_a_refusal_is_logged_and_the_session_closes_signed(home, tmp_path):
    h, pin = home
    with pytest.raises(SignerError, match="unknown batch"):
        with unlocked_session(h, Credentials(pin=pin), T1) as s:
            s.run("batch sign", signing.sign_batch, "nope")
    s2 = Session(h)
    try:
        lines = [json.loads(x) for x in s2.paths.log.read_bytes().splitlines()]
    finally:
        s2.close()
    assert [e["type"] for e in lines[-4:]] == ["refused", "session.close", "log.state",
                                              "checkpoint"]
    assert lines[-4]["data"]["command"] == "batch sign"


def test_credentials_are_wiped_once_whatever_happens(home):
    h, _ = home
    creds = Credentials(pin="not-the-pin")
    s = Session(h)
    with pytest.raises(Exception, match="wrong PIN"):
        s.unlock(creds, T1)
    assert creds.pin is None and creds.shares == []
    s.close()


def test_time_never_goes_backwards_and_is_required_on_production(home):
    h, pin = home
    with pytest.raises(SignerError, match="earlier than the last recorded"):
        with unlocked_session(h, Credentials(pin=pin), T0 - dt.timedelta(days=1)):
            pass


def test_issuing_outside_the_ca_validity_is_refused(home, tmp_path):
    h, pin = home
    o, bundle = _bundle(tmp_path)
    far = T0 + dt.timedelta(days=20 * 366)  # the sub-CA (10 years) has expired by then
    with unlocked_session(h, Credentials(pin=pin), T1) as s:
        ra.trust_ra(s, "ra1", load_public_key(o / "ra.key.pub"))
        imp = batches.import_batch(s, bundle.read_bytes())
    with pytest.raises(SignerError, match="is not valid at the ceremony time"):
        with unlocked_session(h, Credentials(pin=pin), far) as s:
            s.run("batch sign", signing.sign_batch, imp.batch)


def test_config_is_strict_and_names_the_key():
    text = default_toml(name="a/b", module="/m.so", token_label="t", rehearsal=True, quorum=None)
    cfg = parse_config(text)
    assert cfg.profiles["server"].clip_to_issuer is False and cfg.text == text
    with pytest.raises(ConfigError, match="policy.max_nmes: unknown key"):
        parse_config(text.replace("max_names = 100", "max_nmes = 100"))
    with pytest.raises(ConfigError, match="profiles.server.max_days: must be between"):
        parse_config(text.replace("max_days = 200", "max_days = 99999"))


def test_quorum_any_two_of_three_and_one_is_not_enough():
    master, shares = quorum.split_secret(2, 3)
    got, indices = quorum.combine([shares[2], shares[0]])
    assert got == master and indices == [1, 3]
    with pytest.raises(quorum.ShareError, match="1 of 2 shares given"):
        quorum.combine([shares[1]])
    assert quorum.derive_pin(master) == quorum.derive_pin(got)


def test_ca_pem_and_list_from_a_read_only_session(home):
    h, _ = home
    s = Session(h)
    try:
        names = [c.name for c in cas.list_cas(s)]
        pem = cas.ca_pem(s, "class1")
    finally:
        s.close()
    assert names == ["root", "class1"]
    assert x509.load_pem_x509_certificate(pem.encode()).subject.rfc4514_string().startswith(
        "CN=Service Class 1")
