"""The offline install: the bundle `make offline-bundle` makes, installed the way the air-gapped
machine installs it, then a short ceremony with what was installed.

One bundle per run, made by scripts/offline_bundle.py as `make offline-bundle` runs it
(--allow-dirty only so that a working tree can be tested), Debian packages included: they are
downloaded and checked here, never installed (install.sh runs with --no-system). install.sh
then runs in a network namespace of its own, where nothing but a loopback exists, with pip's
environment pointing at an index that does not answer, into a fresh virtualenv.

Slow (wheels and Debian packages are fetched; pip's cache serves the wheels after the first
run), and never skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from signer.version import VERSION
from tests.conftest import MODULE, ROOT
from transfer.words import pgp_words

pytestmark = pytest.mark.slow

LOCK = ROOT / "requirements.lock"
NOWHERE = "http://127.0.0.1:9/simple"  # the discard port: nothing answers there
PIN = re.compile(r"^([A-Za-z0-9._-]+)==(\S+) \\$", re.M)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def lock_pins() -> dict[str, str]:
    return {canonicalize_name(n): v for n, v in PIN.findall(LOCK.read_text())}


def lock_hashes() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text()):
        if m := PIN.match(block):
            out[canonicalize_name(m.group(1))] = set(re.findall(r"sha256:([0-9a-f]{64})", block))
    return out


def documented_debs() -> list[str]:
    text = (ROOT / "scripts" / "offline" / "debian-packages.txt").read_text()
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def isolation() -> list[str]:
    """A network namespace of its own, when this machine lets us make one (as root, or in a
    user namespace). Without one, install.sh still gets no index: --no-index, no pip
    configuration, and an environment whose index and proxies point at a closed port."""
    for cmd in (["unshare", "--net"], ["unshare", "--net", "--map-root-user"]):
        if subprocess.run([*cmd, "true"], capture_output=True).returncode == 0:
            return cmd
    return []


def offline_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV", "SOFTHSM2_CONF"))
           and k.lower() not in ("http_proxy", "https_proxy", "no_proxy")}
    env.update(HOME=str(home), PIP_NO_INDEX="1", PIP_INDEX_URL=NOWHERE,
               PIP_EXTRA_INDEX_URL=NOWHERE, http_proxy=NOWHERE, https_proxy=NOWHERE,
               HTTP_PROXY=NOWHERE, HTTPS_PROXY=NOWHERE)
    return env


@dataclass(frozen=True)
class Bundle:
    dir: Path
    output: str  # what the builder printed

    @property
    def digest(self) -> str:
        return sha256(self.dir / "SHA256SUMS")


@dataclass(frozen=True)
class Installed:
    prefix: Path
    output: str
    env: dict[str, str]
    wrap: list[str]

    def run(self, *args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.wrap, *(str(a) for a in args)], cwd=cwd, env=self.env,
                              capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    out = tmp_path_factory.mktemp("offline") / "bundle"
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "offline_bundle.py"),
                        "--out", str(out), "--allow-dirty"],
                       capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    return Bundle(out, r.stdout)


def install(bundle: Bundle, prefix: Path, *args: str, home: Path,
            stdin: int | None = subprocess.DEVNULL) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*isolation(), "bash", str(bundle.dir / "install.sh"), "--no-system",
                           "--prefix", str(prefix), *args],
                          env=offline_env(home), cwd=home, stdin=stdin, capture_output=True,
                          text=True, timeout=900)


@pytest.fixture(scope="module")
def installed(bundle: Bundle, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    home = tmp_path_factory.mktemp("airgapped")
    prefix = home / "opt" / "airgap-signer"
    r = install(bundle, prefix, "--expect", bundle.digest, home=home)
    assert r.returncode == 0, r.stdout + r.stderr
    return Installed(prefix, r.stdout, offline_env(home), isolation())


# -- the bundle ----------------------------------------------------------------------------------

def test_the_bundle_holds_what_the_air_gapped_machine_needs(bundle: Bundle) -> None:
    d = bundle.dir
    for name in ("install.sh", "README", "SHA256SUMS", "requirements.lock",
                 "softhsm-config/make-token.sh", "doc/OPERATIONS.md", "man/signer.1",
                 "completion/signer.bash"):
        assert (d / name).is_file(), name
    assert (d / "requirements.lock").read_bytes() == LOCK.read_bytes()
    assert os.access(d / "install.sh", os.X_OK)
    for script in (d / "install.sh", ROOT / "scripts" / "offline" / "install.sh.in"):
        r = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    assert not re.search(r"@[A-Z_]+@", (d / "install.sh").read_text() + (d / "README").read_text())
    assert sha256(LOCK) in (d / "README").read_text()


def test_sha256sums_covers_every_file_and_its_words_are_printed(bundle: Bundle) -> None:
    listed = {}
    for line in (bundle.dir / "SHA256SUMS").read_text().splitlines():
        digest, _, name = line.partition("  ")
        listed[name] = digest
    files = {p.relative_to(bundle.dir).as_posix() for p in bundle.dir.rglob("*") if p.is_file()}
    assert set(listed) == files - {"SHA256SUMS"}
    for name, digest in listed.items():
        assert sha256(bundle.dir / name) == digest, name
    # What the builder printed for the minutes: the hex and all 32 words, eight to a line.
    words = pgp_words(bytes.fromhex(bundle.digest))
    assert " ".join(bundle.digest[i:i + 8] for i in range(0, 64, 8)) in bundle.output
    for i in range(0, 32, 8):
        assert " ".join(words[i:i + 8]) in bundle.output


def test_every_wheel_is_locked_and_is_the_one_pip_installs_here(bundle: Bundle) -> None:
    allowed = lock_hashes()
    wheels = sorted((bundle.dir / "wheels").iterdir())
    ours = [w for w in wheels if w.name.startswith("airgap_signer-")]
    assert [w.name for w in ours] == [f"airgap_signer-{VERSION}-py3-none-any.whl"]
    theirs = {canonicalize_name(w.name.split("-")[0]): w for w in wheels if w not in ours}
    assert theirs.keys() == allowed.keys() == lock_pins().keys()
    for name, wheel in theirs.items():
        assert sha256(wheel) in allowed[name], wheel.name
    # What is tested is what is installed: pip on this machine (as `make test` runs it) picks
    # exactly these files from the index.
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--dry-run",
                        "--ignore-installed", "--require-hashes", "--only-binary=:all:",
                        "--requirement", str(LOCK), "--report", "-"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    picked = {item["download_info"]["url"].rsplit("/", 1)[-1]
              for item in json.loads(r.stdout)["install"]}
    assert picked == {w.name for w in theirs.values()}


def test_the_debian_packages_are_the_documented_closure(bundle: Bundle) -> None:
    debs = {}
    for deb in (bundle.dir / "debs").glob("*.deb"):
        name, version = subprocess.run(
            ["dpkg-deb", "--show", "--showformat=${Package} ${Version}", str(deb)],
            capture_output=True, text=True, check=True).stdout.split()
        debs[name] = version
    wanted = documented_debs()
    assert {"softhsm2", "libzbar0", "zbar-tools", "openssl", "libengine-pkcs11-openssl",
            "python3-venv"} <= set(wanted)
    assert set(wanted) <= debs.keys()
    assert "chromium" not in debs  # only a test needs it
    # Dependencies that a minimal Debian lacks come along; what it has does not.
    assert {"python3.11", "libsofthsm2", "libssl3"} <= debs.keys()
    assert not {"libc6", "bash", "coreutils", "dpkg", "apt"} & debs.keys()
    # The operator's README lists exactly these files.
    readme = (bundle.dir / "README").read_text().split("Debian packages:\n", 1)[1]
    assert {tuple(line.split()[:2]) for line in readme.splitlines() if line.strip()} == set(
        debs.items())
    # The project's docs name the same packages.
    for doc in ("README.md", "OPERATIONS.md"):
        text = (ROOT / doc).read_text()
        assert all(p in text for p in wanted), doc


# -- installed on the air-gapped machine ---------------------------------------------------------

def test_installs_offline_exactly_the_lock(installed: Installed, tmp_path: Path) -> None:
    digest = sha256(LOCK)
    line = f"airgap-signer {VERSION} (requirements.lock sha256:{digest})"
    assert f"installed in {installed.prefix}: {line}" in installed.output
    py = installed.prefix / "bin" / "python"
    r = installed.run(py, "-m", "signer.version", cwd=tmp_path)
    assert r.stdout.strip() == line, r.stderr
    r = installed.run(py, "-c", "import signer; print(signer.__file__)", cwd=tmp_path)
    assert r.stdout.startswith(str(installed.prefix)), r.stdout  # not this checkout
    r = installed.run(py, "-m", "pip", "list", "--format=json", "--exclude", "pip",
                      "--exclude", "setuptools", cwd=tmp_path)  # the venv's own, from Debian
    listed = {canonicalize_name(d["name"]): d["version"] for d in json.loads(r.stdout)}
    assert listed == {**lock_pins(), "airgap-signer": VERSION}
    assert (installed.prefix / "share/airgap-signer/doc/OPERATIONS.md").is_file()
    # The man page and bash completion, made from the parser (tests/test_cli_docs.py).
    page = (installed.prefix / "share/man/man1/signer.1").read_text()
    assert page.startswith(".TH SIGNER 1") and '.SS "signer audit report"' in page
    completion = installed.prefix / "share/bash-completion/completions/signer"
    assert "_shtab_signer_audit_subparsers=(" in completion.read_text()


def test_signer_version_names_the_lock(installed: Installed, tmp_path: Path) -> None:
    r = installed.run(installed.prefix / "bin" / "signer", "--version", cwd=tmp_path)
    assert r.returncode == 0
    assert r.stdout.strip() == f"airgap-signer {VERSION} (requirements.lock sha256:{sha256(LOCK)})"


def test_a_short_ceremony_with_what_was_installed(installed: Installed, tmp_path: Path) -> None:
    signer = installed.prefix / "bin" / "signer"
    make_token = installed.prefix / "share/airgap-signer/softhsm-config/make-token.sh"
    token, home = tmp_path / "token", tmp_path / "home"
    env_token = {**installed.env, "SOFTHSM2_CONF": str(token / "softhsm2.conf")}
    ceremony = Installed(installed.prefix, "", env_token, installed.wrap)
    pin = ["--pin-file", str(token / "user.pin")]
    steps = [
        [str(make_token), str(token), "offline-test"],
        [signer, "--home", home, "init", "--module", MODULE, "--token", "offline-test",
         "--rehearsal", *pin],
        [signer, "--home", home, "key", "generate", "root-key", "--algorithm", "ec-p256", *pin],
        [signer, "--home", home, "ca", "root", "root", "--key", "root-key", "--subject",
         "CN=Offline Install Root CA,O=Community CA,C=AU", *pin],
        [signer, "--home", home, "audit", "verify"],
    ]
    for step in steps:
        r = ceremony.run(*step, cwd=tmp_path)
        assert r.returncode == 0, f"{step[:4]}: {r.stdout[-2000:]}{r.stderr[-2000:]}"
        assert "Traceback" not in r.stderr
    assert "RESULT: OK" in r.stdout
    r = subprocess.run(["openssl", "x509", "-in", str(home / "certs" / "root.pem"), "-noout",
                        "-subject"], capture_output=True, text=True, check=True)
    assert "Offline Install Root CA" in r.stdout


def dpkg_has(name: str, version: str) -> bool:
    """Is `name` installed here at `version` or newer?"""
    have = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}${Version}", name],
                          capture_output=True, text=True).stdout
    return have.startswith("ii ") and subprocess.run(
        ["dpkg", "--compare-versions", have[3:], "ge", version]).returncode == 0


def test_the_system_install_takes_only_what_the_machine_lacks(bundle: Bundle,
                                                               tmp_path: Path) -> None:
    """install.sh without --no-system, with apt-get replaced by a recorder, and a
    /usr/local/bin, /usr/local/share/man and /etc/bash_completion.d of its own (a mount
    namespace): nothing on this machine changes."""
    if subprocess.run(["unshare", "--mount", "--net", "true"], capture_output=True).returncode:
        pytest.skip("needs root for a mount namespace (CI runs as root)")
    shim, args = tmp_path / "shim", tmp_path / "apt-get.args"
    shim.mkdir()
    (shim / "apt-get").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {args}\n')
    (shim / "apt-get").chmod(0o755)
    prefix = tmp_path / "opt" / "airgap-signer"
    script = ('for d in /usr/local/bin /usr/local/share/man /etc/bash_completion.d; do '
              'mkdir -p "$d" && mount -t tmpfs tmpfs "$d" || exit 1; done; '
              'bash "$0" --prefix "$1" --expect "$2" && readlink /usr/local/bin/signer '
              '/usr/local/share/man/man1/signer.1 /etc/bash_completion.d/signer')
    env = {**offline_env(tmp_path), "PATH": f"{shim}:{os.environ['PATH']}"}
    r = subprocess.run(["unshare", "--mount", "--net", "bash", "-c", script,
                        str(bundle.dir / "install.sh"), str(prefix), bundle.digest],
                       env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[-3:] == [  # the command, its man page and its completion
        str(prefix / "bin" / "signer"), str(prefix / "share/man/man1/signer.1"),
        str(prefix / "share/bash-completion/completions/signer")]
    passed = args.read_text().splitlines() if args.exists() else []
    assert passed[:4] == ["install", "--yes", "--no-download", "--no-install-recommends"] or not passed
    for deb in sorted((bundle.dir / "debs").glob("*.deb")):
        name, version = subprocess.run(
            ["dpkg-deb", "--show", "--showformat=${Package} ${Version}", str(deb)],
            capture_output=True, text=True, check=True).stdout.split()
        assert (f"./debs/{deb.name}" in passed) != dpkg_has(name, version), deb.name


# -- refusals: checks first, nothing installed ---------------------------------------------------

def tampered(bundle: Bundle, dst: Path, how: str) -> Path:
    """A copy of the bundle (hard links; a changed file is replaced, never written through)."""
    shutil.copytree(bundle.dir, dst, copy_function=os.link)
    wheel = next((dst / "wheels").glob("pyzbar-*.whl"))
    if how == "changed-wheel":
        data = wheel.read_bytes()
        wheel.unlink()
        wheel.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    elif how == "extra-file":
        (dst / "debs" / "evil_1.0_amd64.deb").write_bytes(b"!<arch>\n")
    elif how == "rewritten-sums":  # consistent, but not the SHA256SUMS of the minutes
        sums = dst / "SHA256SUMS"
        text = sums.read_text().replace(sha256(wheel), "0" * 64)
        sums.unlink()
        sums.write_text(text)
    elif how == "symlink":
        (dst / "doc" / "link.md").symlink_to("/etc/passwd")
    return dst


@pytest.mark.parametrize(("how", "message"), [
    ("changed-wheel", "a file differs from SHA256SUMS"),
    ("extra-file", "debs/evil_1.0_amd64.deb is not listed in SHA256SUMS"),
    ("rewritten-sums", "SHA256SUMS is not the one in the minutes"),
    ("symlink", "doc/link.md is not a regular file"),
])
def test_install_refuses_a_bundle_that_is_not_the_one_in_the_minutes(
        bundle: Bundle, tmp_path: Path, how: str, message: str) -> None:
    copy = tampered(bundle, tmp_path / "bundle", how)
    prefix = tmp_path / "prefix"
    r = install(Bundle(copy, ""), prefix, "--expect", bundle.digest, home=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("install.sh: ")
    assert message in r.stderr
    assert not prefix.exists()


@pytest.mark.parametrize(("args", "message"), [
    ([], "no terminal to confirm the words on"),
    (["--expect", "00" * 32], "SHA256SUMS is not the one in the minutes"),
    (["--expect", "not-hex"], "--expect takes the 64 hex digits"),
    (["--prefix", "relative/dir"], "--prefix must be an absolute path"),
])
def test_install_refuses_without_a_confirmed_digest(bundle: Bundle, tmp_path: Path,
                                                    args: list[str], message: str) -> None:
    r = install(bundle, tmp_path / "prefix", *args, home=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stderr.startswith("install.sh: ") and len(r.stderr.splitlines()) == 1, r.stderr
    assert message in r.stderr
    assert not (tmp_path / "prefix").exists()


def test_install_never_writes_over_an_existing_directory(bundle: Bundle, tmp_path: Path) -> None:
    prefix = tmp_path / "prefix"
    prefix.mkdir()
    (prefix / "keep").write_text("mine")
    r = install(bundle, prefix, "--expect", bundle.digest, home=tmp_path)
    assert r.returncode == 1
    assert "already exists; not installing over it" in r.stderr
    assert [p.name for p in prefix.iterdir()] == ["keep"]
