"""Shared fixtures: a real SoftHSM2 token per test session, and rehearsal homes.

The token lives in a temporary directory made by softhsm-config/make-token.sh; SOFTHSM2_CONF
points at it for this process and every `signer` subprocess, so the user's tokens are never
touched. Keys are generated once per session and shared (RSA generation takes seconds).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODULE = next(
    (p for p in ("/usr/lib/softhsm/libsofthsm2.so",
                 "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
                 "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so") if Path(p).exists()),
    "/usr/lib/softhsm/libsofthsm2.so",
)
AT = "2026-11-29T10:00:00Z"
PRECREATED = ("hsmtest", "imported", "wrongpin", "hier", "svc", "tuiquorum",
              "backup-a", "backup-b", "backup-c", "hsmsel", "authkeys")
SPY_MODULE = next(
    (p for p in ("/usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so",
                 "/usr/lib/aarch64-linux-gnu/pkcs11/pkcs11-spy.so",
                 "/usr/lib/pkcs11/pkcs11-spy.so") if Path(p).exists()),
    "/usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so",
)
# What a smaller HSM offers (a SmartCard-HSM-like set): no EdDSA, no combined CKM_SHA*_RSA_PKCS*
# and no CKM_ECDSA_SHA*: keys are signed through the host-hash fallbacks (hsm.mechanisms).
RESTRICTED_MECHANISMS = ",".join((
    "CKM_RSA_PKCS_KEY_PAIR_GEN", "CKM_RSA_PKCS", "CKM_RSA_PKCS_PSS", "CKM_EC_KEY_PAIR_GEN",
    "CKM_ECDSA", "CKM_AES_KEY_GEN", "CKM_AES_KEY_WRAP_PAD", "CKM_SHA256", "CKM_SHA384",
    "CKM_SHA512"))


@dataclass(frozen=True)
class TokenEnv:
    dir: Path
    conf: Path
    pin_file: Path
    so_pin: str
    module: str = MODULE

    def env(self) -> dict[str, str]:
        """The environment for a subprocess that uses this SoftHSM store."""
        return {**os.environ, "SOFTHSM2_CONF": str(self.conf)}

    def new_token(self, label: str) -> Path:
        """Another token in the same SoftHSM store; returns a PIN file for it.

        SoftHSM reads its store when the module is initialised, once per process, so tokens
        used in-process are made up front (PRECREATED); subprocesses see new ones at once.
        """
        pin = self.dir / f"{label}.pin"
        if pin.exists():
            return pin
        pin.write_text("4321-" + label)
        subprocess.run(
            ["softhsm2-util", "--init-token", "--free", "--label", label,
             "--so-pin", self.so_pin, "--pin", pin.read_text()],
            env={**os.environ, "SOFTHSM2_CONF": str(self.conf)}, check=True,
            capture_output=True,
        )
        return pin


@pytest.fixture(autouse=True)
def _test_process_stays_dumpable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests that call the CLI in this process must not switch off core dumps or change the
    umask of the test runner itself (tests/hardening/test_secrets.py checks both, in
    subprocesses, where they belong)."""
    monkeypatch.setattr("signer.cli.app.secure_process", lambda: None)


@pytest.fixture(scope="session")
def token_env(tmp_path_factory: pytest.TempPathFactory) -> TokenEnv:
    d = tmp_path_factory.mktemp("softhsm")
    subprocess.run([str(ROOT / "softhsm-config" / "make-token.sh"), str(d), "session-token"],
                   check=True, capture_output=True)
    os.environ["SOFTHSM2_CONF"] = str(d / "softhsm2.conf")
    env = TokenEnv(dir=d, conf=d / "softhsm2.conf", pin_file=d / "user.pin",
                   so_pin=(d / "so.pin").read_text())
    for label in PRECREATED:
        env.new_token(label)
    return env


@pytest.fixture(scope="session")
def restricted_token_env(tmp_path_factory: pytest.TempPathFactory) -> TokenEnv:
    """A SoftHSM store whose slots offer only RESTRICTED_MECHANISMS (slots.mechanisms).

    SoftHSM reads its configuration once per process and this process already read
    ``token_env``'s: use this store from subprocesses only, with ``env()``. Its first token is
    labelled "restricted"; ``new_token`` adds more.
    """
    d = tmp_path_factory.mktemp("softhsm-restricted")
    subprocess.run([str(ROOT / "softhsm-config" / "make-token.sh"), str(d), "restricted"],
                   check=True, capture_output=True,
                   env={**os.environ, "SOFTHSM_MECHANISMS": RESTRICTED_MECHANISMS})
    return TokenEnv(dir=d, conf=d / "softhsm2.conf", pin_file=d / "user.pin",
                    so_pin=(d / "so.pin").read_text())


def run_signer(*args: str | Path, home: Path | None = None, check: bool | None = None,
               input: str | None = None,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess, as a ceremony script would."""
    cmd = [sys.executable, "-m", "signer.cli"]
    if home is not None:
        cmd += ["--home", str(home)]
    cmd += [str(a) for a in args]
    proc = subprocess.run(cmd, capture_output=True, text=True, input=input,
                          env={**(env or os.environ), "PYTHONWARNINGS": "ignore"}, timeout=600)
    if check is True and proc.returncode != 0:
        raise AssertionError(f"signer {args} failed ({proc.returncode}): {proc.stderr}")
    if check is False and proc.returncode == 0:
        raise AssertionError(f"signer {args} unexpectedly succeeded: {proc.stdout}")
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


@dataclass(frozen=True)
class Hierarchy:
    home: Path
    pin_file: Path
    label: str


Counter = Callable[[], int]


@pytest.fixture(scope="session")
def hierarchy(token_env: TokenEnv, tmp_path_factory: pytest.TempPathFactory) -> Hierarchy:
    """A rehearsal home with a P-384 root and two P-256/P-384 sub-CAs (class1, class3)."""
    label = "hier"
    pin = token_env.new_token(label)
    home = tmp_path_factory.mktemp("hier") / "home"
    run_signer("init", "--module", token_env.module, "--token", label, "--rehearsal",
               "--pin-file", pin, "--at", AT, home=home, check=True)
    for k, alg in (("root-key", "ec-p384"), ("class1-key", "ec-p256"), ("class3-key", "ec-p384")):
        run_signer("key", "generate", k, "--algorithm", alg, "--pin-file", pin, "--at", AT,
                   home=home, check=True)
    run_signer("ca", "root", "root", "--key", "root-key", "--subject",
               "CN=Rehearsal Root CA,O=Community CA,C=AU", "--pin-file", pin, "--at", AT,
               home=home, check=True)
    for name in ("class1", "class3"):
        run_signer("ca", "sub", name, "--issuer", "root", "--key", f"{name}-key", "--subject",
                   f"CN=Rehearsal {name.title()} CA,O=Community CA,C=AU", "--pin-file", pin,
                   "--at", AT, home=home, check=True)
    return Hierarchy(home=home, pin_file=pin, label=label)


@pytest.fixture
def copy_home(hierarchy: Hierarchy, tmp_path: Path) -> Path:
    """A private copy of the hierarchy's home (same token) for tests that change state."""
    dst = tmp_path / "home"
    shutil.copytree(hierarchy.home, dst)
    return dst


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # noqa: ANN201
    """Under `make test` (SIGNER_NO_SKIPS=1) a skip is a failure: a test that skips for a
    missing package or privilege would otherwise hide it in CI. Run by hand, skips stay skips."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("SIGNER_NO_SKIPS") == "1" and not hasattr(report,
                                                                                 "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under make test (SIGNER_NO_SKIPS=1): {report.longrepr}"
