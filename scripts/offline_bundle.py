"""`make offline-bundle`: everything the air-gapped machine installs, in one directory.

Run on a networked Debian 12 (amd64) machine, from a clean checkout whose `make test` passed:

    .venv/bin/python scripts/offline_bundle.py --out dist/offline

The directory it makes (it never writes over an existing one):

    wheels/            the package's wheel, and every wheel requirements.lock pins for CPython
                       3.11 on manylinux x86_64 (pip checks each against the lock's hashes)
    requirements.lock  the appliance's lock: its SHA-256 is what `signer --version` prints
    debs/              the Debian packages of scripts/offline/debian-packages.txt and every
                       dependency that a minimal Debian 12 lacks (see `deb_closure`), from
                       this machine's apt sources, read afresh into a private directory (the
                       machine's own apt lists are neither used nor changed)
    softhsm-config/    make-token.sh, for a rehearsal token
    doc/               README.md, OPERATIONS.md and docs/*.md
    man/, completion/  signer's man page and bash completion, made from its parser
                       (scripts/cli_docs.py)
    install.sh         the installer for the air-gapped machine (scripts/offline/install.sh.in)
    README             for the operator (scripts/offline/README.in)
    SHA256SUMS         the SHA-256 of every other file; its own SHA-256 is printed here as hex
                       and PGP words, for the minutes and for the witness to read aloud

The package's wheel is built from the files git tracks (a copy of them, so no stale build
directory can leak into it), with the locked setuptools and no index. A working tree with
uncommitted changes is refused unless --allow-dirty (tests use it; a ceremony never should).

It does not sign the bundle: the words of SHA256SUMS, carried on paper, are its anchor.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from signer.version import LOCK_NAME, VERSION  # noqa: E402
from transfer.words import EVEN_WORDS, ODD_WORDS, pgp_words  # noqa: E402

TEMPLATES = ROOT / "scripts" / "offline"
DEB_LIST = TEMPLATES / "debian-packages.txt"
# The appliance: Debian 12 (glibc 2.36), amd64, its python3 (3.11). The lock is resolved for it.
DEB_ARCH = "amd64"
DEBIAN_VERSION = "12"
# pip's --platform takes each tag as given (it expands only manylinux2014/2010), so the glibc
# 2.36 machine's tags are listed, best first, as its own pip ranks them.
WHEEL_PLATFORMS = [f"manylinux_2_{minor}_x86_64" for minor in range(36, 4, -1)] + [
    "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]
PYTHON_VERSION = "3.11"
# A minimal Debian 12 (what debootstrap --variant=minbase installs): the Essential and
# Priority: required packages with their dependencies. debootstrap takes usr-is-merged where
# apt would pick usrmerge (which brings perl); naming it keeps the model as small as the real one.
MINIMAL_EXTRA = ("usr-is-merged",)
# Packages every minimal Debian has; if apt's model of one lacks them, the lists are wrong.
CORE = frozenset({"libc6", "dpkg", "apt", "bash", "coreutils", "debconf"})
PIN = re.compile(r"^([A-Za-z0-9._-]+)==(\S+) \\$")
HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")
INST = re.compile(r"^Inst (\S+) (?:\[\S+\] )?\((\S+) .*\[(\S+)\]\)")


class BundleError(Exception):
    """Something the operator must fix before a bundle can be made; one line."""


@dataclass(frozen=True)
class Deb:
    name: str
    version: str
    arch: str


def run(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """Run a command; its stdout, or a BundleError naming it with the end of its stderr."""
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    except FileNotFoundError:
        raise BundleError(f"{cmd[0]} is not installed") from None
    if proc.returncode != 0:
        tail = " / ".join(line for line in proc.stderr.strip().splitlines()[-3:] if line)
        raise BundleError(f"`{' '.join(cmd[:3])} ...` failed ({proc.returncode}): {tail}")
    return proc.stdout


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def lock_hashes(lock: Path) -> dict[str, set[str]]:
    """Normalised name -> the SHA-256s the lock allows for it."""
    out: dict[str, set[str]] = {}
    current = ""
    for line in lock.read_text().splitlines():
        if m := PIN.match(line):
            current = normalise(m.group(1))
            out[current] = set()
        elif current and (h := HASH.search(line)):
            out[current].add(h.group(1))
    return out


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_name(path: Path) -> str:
    return normalise(path.name.split("-")[0])


# -- checks --------------------------------------------------------------------------------------

def check_host() -> None:
    """The Debian packages come from this machine's apt sources: it must be the appliance's OS."""
    try:
        release = dict(line.split("=", 1) for line in
                       Path("/etc/os-release").read_text().splitlines() if "=" in line)
    except OSError:
        release = {}
    if release.get("ID") != "debian" or release.get("VERSION_ID", "").strip('"') != DEBIAN_VERSION:
        raise BundleError(f"the Debian packages must come from a Debian {DEBIAN_VERSION} machine "
                          "(or use --no-debs)")
    arch = run(["dpkg", "--print-architecture"]).strip()
    if arch != DEB_ARCH:
        raise BundleError(f"this machine is {arch}; the appliance is {DEB_ARCH} (or use --no-debs)")


def source_commit(allow_dirty: bool) -> str:
    """The commit the bundle is built from (`git describe`), refusing uncommitted changes."""
    try:
        desc = run(["git", "-C", str(ROOT), "describe", "--always", "--dirty", "--abbrev=12"])
    except BundleError:
        if allow_dirty:
            return "unknown (not a git checkout)"
        raise BundleError("not a git checkout: a bundle is built from a commit") from None
    desc = desc.strip()
    untracked = run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=normal"])
    if (desc.endswith("-dirty") or untracked.strip()) and not allow_dirty:
        raise BundleError("the working tree has uncommitted changes: commit them (a bundle is "
                          "built from a commit), or --allow-dirty for a test bundle")
    if untracked.strip() and not desc.endswith("-dirty"):
        desc += "-dirty"
    return desc


# -- the parts -----------------------------------------------------------------------------------

def download_wheels(wheels: Path) -> None:
    """Every wheel the lock pins, for the appliance's platform; pip checks each hash."""
    platforms = [arg for tag in WHEEL_PLATFORMS for arg in ("--platform", tag)]
    run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
         "--require-hashes", "--only-binary=:all:", *platforms,
         "--python-version", PYTHON_VERSION, "--implementation", "cp",
         "--dest", str(wheels), "--requirement", str(ROOT / LOCK_NAME)])


def build_package_wheel(wheels: Path, scratch: Path) -> Path:
    """The package's wheel, from a copy of the files git tracks, with the locked setuptools."""
    src = scratch / "src"
    try:
        files = run(["git", "-C", str(ROOT), "ls-files", "-z"]).split("\0")
    except BundleError:  # not a checkout (--allow-dirty): the package directories as they are
        files = [str(p.relative_to(ROOT)) for d in ("signer", "hsm", "transfer")
                 for p in (ROOT / d).rglob("*") if "__pycache__" not in p.parts]
        files += ["pyproject.toml", "README.md", LOCK_NAME]
    for name in filter(None, files):
        source, target = ROOT / name, src / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree (--allow-dirty)
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        elif source.is_file():
            shutil.copy2(source, target)
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
         "--no-deps", "--no-build-isolation", "--no-index", "--wheel-dir", str(scratch / "built"),
         str(src)])
    built = sorted((scratch / "built").glob("airgap_signer-*.whl"))
    if len(built) != 1:
        raise BundleError(f"expected one airgap_signer wheel, pip built {[p.name for p in built]}")
    wheel = wheels / built[0].name
    shutil.copy2(built[0], wheel)
    with zipfile.ZipFile(wheel) as z:
        packaged = z.read(f"signer/data/{LOCK_NAME}")
    if packaged != (ROOT / LOCK_NAME).read_bytes():
        raise BundleError(f"the wheel's signer/data/{LOCK_NAME} differs from {LOCK_NAME}")
    return wheel


def check_wheels(wheels: Path, package_wheel: Path) -> None:
    """One wheel per locked package, each with a hash the lock allows (pip checked; so do we)."""
    allowed = lock_hashes(ROOT / LOCK_NAME)
    found: dict[str, str] = {}
    for wheel in sorted(wheels.iterdir()):
        if wheel == package_wheel:
            continue
        if wheel.suffix != ".whl":
            raise BundleError(f"not a wheel in wheels/: {wheel.name}")
        name = wheel_name(wheel)
        if name in found:
            raise BundleError(f"two wheels for {name}: {found[name]} and {wheel.name}")
        if sha256_file(wheel) not in allowed.get(name, set()):
            raise BundleError(f"{wheel.name}: its SHA-256 is not in {LOCK_NAME}")
        found[name] = wheel.name
    if missing := sorted(allowed.keys() - found.keys()):
        raise BundleError(f"no wheel downloaded for {', '.join(missing)}")


def wanted_debs() -> list[str]:
    return [line.strip() for line in DEB_LIST.read_text().splitlines()
            if line.strip() and not line.startswith("#")]


@dataclass(frozen=True)
class Apt:
    """apt with package lists of its own (in `root`), fresh from this machine's apt sources,
    and a dpkg status of its own (nothing installed, unless a call says otherwise): no lock
    shared with other apt runs, nothing of the machine's apt or dpkg state used or changed."""

    root: Path

    @property
    def empty_status(self) -> Path:
        return self.root / "status-empty"

    def options(self, status: Path) -> list[str]:
        opts = ["-o", f"Dir::State::Lists={self.root / 'lists'}",
                "-o", f"Dir::State::status={status}",
                "-o", f"Dir::Cache={self.root / 'cache'}", "-o", "Debug::NoLocking=1",
                # No cache files: each call reads the lists (and its status file) afresh, so
                # no call can see a cache built for another status file.
                "-o", "Dir::Cache::pkgcache=", "-o", "Dir::Cache::srcpkgcache=",
                "-o", f"APT::Architecture={DEB_ARCH}"]
        if os.geteuid() == 0:  # apt's sandbox user could not write into our directories
            opts += ["-o", "APT::Sandbox::User=root"]
        return opts

    def update(self) -> None:
        for d in ("lists/partial", "cache/archives/partial"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        self.empty_status.write_text("")
        # A list that fails to download is an error, not a warning: a missing list would
        # silently change what a minimal Debian holds, and so what the bundle carries.
        self("apt-get", "update", "--error-on=any")

    def __call__(self, tool: str, *args: str, cwd: Path | None = None,
                 status: Path | None = None) -> str:
        return run([tool, "--quiet", *self.options(status or self.empty_status), *args],
                   cwd=cwd, env={**os.environ, "LC_ALL": "C"})


def apt_simulate(apt: Apt, status: Path, packages: list[str]) -> list[Deb]:
    """What `apt-get install --no-install-recommends` would install on a machine whose dpkg
    status is `status` (apt's own resolver, nothing installed or downloaded)."""
    out = apt("apt-get", "--simulate", "--no-install-recommends", "install", *packages,
              status=status)
    return [Deb(m.group(1), m.group(2), m.group(3))
            for line in out.splitlines() if (m := INST.match(line))]


def minimal_status(apt: Apt, scratch: Path) -> Path:
    """A dpkg status file describing a minimal Debian 12: the Essential and Priority: required
    packages of this machine's apt lists, with their dependencies (as debootstrap minbase)."""
    base: set[str] = set(MINIMAL_EXTRA)
    stanza: dict[str, str] = {}
    avail = apt("apt-cache", "dumpavail")
    for line in avail.splitlines() + [""]:
        if not line:
            if stanza.get("Priority") == "required" or stanza.get("Essential") == "yes":
                base.add(stanza["Package"])
            stanza = {}
        elif not line[0].isspace() and ":" in line:
            key, _, value = line.partition(":")
            stanza[key] = value.strip()
    minimal = sorted({d.name for d in apt_simulate(apt, apt.empty_status, sorted(base))})
    if missing := sorted(CORE - set(minimal)):
        raise BundleError(f"apt's minimal Debian lacks {', '.join(missing)}: does this machine "
                          "have Debian's apt sources?")
    shown = apt("apt-cache", "show", "--no-all-versions", *minimal)
    status = scratch / "status-minimal"
    status.write_text(re.sub(r"^(Package: .*)$", r"\1\nStatus: install ok installed", shown,
                             flags=re.M))
    return status


def deb_closure(apt: Apt, scratch: Path) -> list[Deb]:
    """The Debian packages the appliance needs that a minimal Debian 12 lacks: apt's answer to
    installing debian-packages.txt (no recommends) on a minimal system."""
    status = minimal_status(apt, scratch)
    closure = apt_simulate(apt, status, wanted_debs())
    names = {d.name for d in closure}
    minimal = set(re.findall(r"^Package: (\S+)$", status.read_text(), re.M))
    if again := sorted(names & minimal):
        raise BundleError(f"apt would install {', '.join(again[:5])} again on a minimal Debian "
                          "that has them: its package lists are inconsistent (run again)")
    if missing := [p for p in wanted_debs() if p not in names]:
        raise BundleError(f"apt would not install {', '.join(missing)} (already in a minimal "
                          "Debian, or unknown?)")
    return sorted(closure, key=lambda d: d.name)


def download_debs(apt: Apt, debs: Path, closure: list[Deb]) -> None:
    """`apt-get download` each package at the version apt chose (checked against the signed
    apt lists by apt itself), then check the files are exactly those packages."""
    apt("apt-get", "download", *(f"{d.name}={d.version}" for d in closure), cwd=debs)
    got = set()
    for deb in debs.glob("*.deb"):
        fields = run(["dpkg-deb", "--show", "--showformat=${Package} ${Version} ${Architecture}",
                      str(deb)]).split()
        got.add(Deb(*fields))
    if got != set(closure):
        raise BundleError(f"apt-get download fetched {len(got)} packages, not the "
                          f"{len(closure)} expected")


# -- the texts -----------------------------------------------------------------------------------

def fill(template: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        template = template.replace(f"@{key}@", value)
    if left := re.findall(r"@[A-Z_]+@", template):
        raise BundleError(f"template placeholders left unfilled: {sorted(set(left))}")
    return template


def bash_words(words: tuple[str, ...]) -> str:
    return "\n".join("  " + " ".join(words[i:i + 8]) for i in range(0, len(words), 8))


def write_install_sh(out: Path, package_wheel: str, lock_sha256: str) -> None:
    text = fill((TEMPLATES / "install.sh.in").read_text(), {
        "VERSION": VERSION, "LOCK_SHA256": lock_sha256, "PACKAGE_WHEEL": package_wheel,
        "DEB_ARCH": DEB_ARCH, "DEBIAN_VERSION": DEBIAN_VERSION, "PYTHON_VERSION": PYTHON_VERSION,
        "DEB_PACKAGES": " ".join(wanted_debs()),
        "EVEN_WORDS": "\n" + bash_words(EVEN_WORDS) + "\n",
        "ODD_WORDS": "\n" + bash_words(ODD_WORDS) + "\n",
    })
    path = out / "install.sh"
    path.write_text(text)
    path.chmod(0o755)
    run(["bash", "-n", str(path)])


def write_readme(out: Path, commit: str, lock_sha256: str, closure: list[Deb] | None) -> None:
    wheels = "\n".join(f"    {p.name}" for p in sorted((out / "wheels").iterdir()))
    if closure is None:
        debs = ("    (none: this bundle was made with --no-debs; install.sh checks that the "
                "packages are already installed)")
    else:
        debs = "\n".join(f"    {d.name} {d.version} ({d.arch})" for d in closure)
    text = fill((TEMPLATES / "README.in").read_text(), {
        "VERSION": VERSION, "COMMIT": commit, "LOCK_SHA256": lock_sha256,
        "LOCK_WORDS": " ".join(pgp_words(bytes.fromhex(lock_sha256)[:8])),
        "DEB_ARCH": DEB_ARCH, "DEBIAN_VERSION": DEBIAN_VERSION, "PYTHON_VERSION": PYTHON_VERSION,
        "DEB_PACKAGES": " ".join(wanted_debs()), "DEBS": debs, "WHEELS": wheels,
        "BUILT": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    })
    (out / "README").write_text(text)


def copy_docs(out: Path) -> None:
    (out / "doc").mkdir()
    for doc in [ROOT / "README.md", ROOT / "OPERATIONS.md", *sorted((ROOT / "docs").glob("*.md"))]:
        shutil.copy2(doc, out / "doc" / doc.name)
    (out / "softhsm-config").mkdir()
    for name in ("make-token.sh", "softhsm2.conf.in"):
        shutil.copy2(ROOT / "softhsm-config" / name, out / "softhsm-config" / name)


def cli_docs(out: Path, scratch: Path) -> None:
    """The man page and bash completion, generated from the parser of the code being bundled
    (scripts/cli_docs.py, as `make cli-docs`); install.sh installs them."""
    run([sys.executable, str(ROOT / "scripts" / "cli_docs.py"), "--out", str(scratch / "cli")])
    for sub, name in (("man", "signer.1"), ("completion", "signer.bash")):
        (out / sub).mkdir()
        shutil.copy2(scratch / "cli" / name, out / sub / name)


def write_sums(out: Path) -> str:
    """SHA256SUMS over every file (sha256sum's format); returns SHA256SUMS's own SHA-256."""
    lines = []
    for path in sorted(p for p in out.rglob("*") if not p.is_dir()):
        if path.is_symlink() or not path.is_file():
            raise BundleError(f"not a regular file in the bundle: {path.relative_to(out)}")
        lines.append(f"{sha256_file(path)}  {path.relative_to(out).as_posix()}\n")
    sums = out / "SHA256SUMS"
    sums.write_text("".join(lines))
    return sha256_file(sums)


def make_bundle(out: Path, debs: bool, allow_dirty: bool) -> str:
    if out.exists() or out.is_symlink():
        raise BundleError(f"{out} already exists: remove it or choose another --out")
    if debs:
        check_host()
    commit = source_commit(allow_dirty)
    lock_sha256 = sha256_file(ROOT / LOCK_NAME)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        tree, scratch = work / "bundle", work / "scratch"
        for d in (tree / "wheels", scratch):
            d.mkdir(parents=True)
        download_wheels(tree / "wheels")
        package_wheel = build_package_wheel(tree / "wheels", scratch)
        check_wheels(tree / "wheels", package_wheel)
        shutil.copy2(ROOT / LOCK_NAME, tree / LOCK_NAME)
        closure = None
        if debs:
            apt = Apt(scratch / "apt")
            apt.update()
            closure = deb_closure(apt, scratch)
            (tree / "debs").mkdir()
            download_debs(apt, tree / "debs", closure)
        copy_docs(tree)
        cli_docs(tree, scratch)
        write_install_sh(tree, package_wheel.name, lock_sha256)
        write_readme(tree, commit, lock_sha256, closure)
        for path in tree.rglob("*"):  # readable by whoever installs it; only install.sh and
            path.chmod(0o755 if path.is_dir() or path.suffix == ".sh" else 0o644)  # tools run
        digest = write_sums(tree)
        if out.exists() or out.is_symlink():
            raise BundleError(f"{out} appeared while the bundle was being made; not replacing it")
        tree.rename(out)
        return digest
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="offline_bundle.py", description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=Path("dist/offline"),
                   help="the bundle directory to create (default dist/offline; must not exist)")
    p.add_argument("--no-debs", action="store_true",
                   help="leave out the Debian packages (the target already has them)")
    p.add_argument("--allow-dirty", action="store_true",
                   help="build from a working tree with uncommitted changes (tests only)")
    args = p.parse_args(argv)
    start = time.monotonic()
    try:
        digest = make_bundle(args.out, not args.no_debs, args.allow_dirty)
    except BundleError as exc:
        print(f"offline-bundle: {exc}", file=sys.stderr)
        return 1
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    words = pgp_words(bytes.fromhex(digest))
    grouped = " ".join(digest[i:i + 8] for i in range(0, 64, 8))
    print(f"offline bundle: {args.out} ({size / 2**20:.1f} MiB, {time.monotonic() - start:.0f} s)")
    print("SHA-256 of SHA256SUMS, for the minutes (the witness reads it aloud at the air-gapped "
          "machine):")
    print(f"  {grouped}")
    for i in range(0, 32, 8):
        print("  " + " ".join(words[i:i + 8]))
    print(f"On the air-gapped machine: sudo {args.out.name}/install.sh (see {args.out.name}/README)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
