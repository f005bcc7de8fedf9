"""The PKCS#11 library named in signer.toml receives the PIN: an insider who points it at a
library of their own (in HOME, in /tmp) is refused before it is loaded (issue 13 review)."""

from __future__ import annotations

import re
import shutil

import pytest

from hsm.errors import ModuleError
from hsm.modules import check_trusted_module
from tests.conftest import MODULE, run_signer

LATER = "2026-11-29T13:00:00Z"


def test_a_library_in_home_is_refused_before_any_login(hierarchy, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(hierarchy.home, home)
    shim = home / "libshim.so"
    shutil.copy(MODULE, shim)  # the real code, even: where it lies is what is refused
    cfg = home / "signer.toml"
    cfg.write_text(re.sub(r'(?m)^module = ".*"$', f'module = "{shim}"', cfg.read_text(), count=1))
    before = (home / "log" / "ceremony.jsonl").read_bytes()
    for args in (["key", "list", "--pin-file", hierarchy.pin_file, "--at", LATER],
                 ["token", "status"]):
        r = run_signer(*args, home=home, check=False)
        assert r.returncode == 1, r.stdout
        last = r.stderr.strip().splitlines()[-1]
        assert last.startswith("signer: error: PKCS#11 module ") and "root" in last, last
    assert (home / "log" / "ceremony.jsonl").read_bytes() == before


def test_the_installed_module_is_trusted_and_others_are_not(tmp_path):
    check_trusted_module(MODULE)  # Debian's SoftHSM: root's, in root's directories
    for path, why in (("libsofthsm2.so", "absolute path"), (str(tmp_path / "none.so"),
                                                            "not found")):
        with pytest.raises(ModuleError, match=why):
            check_trusted_module(path)
    link = tmp_path / "link.so"
    link.symlink_to(MODULE)  # the target is trusted, the link's directory is not
    with pytest.raises(ModuleError, match="writable by other users|does not belong to root"):
        check_trusted_module(str(link))
