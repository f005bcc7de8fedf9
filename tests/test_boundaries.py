"""Package boundaries (STYLE.md): checked by importing each package in a fresh interpreter."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _loaded(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT)
    return {m.split(".")[0] for m in out.stdout.split()} | set(out.stdout.split())


@pytest.mark.parametrize("module,forbidden", [
    ("hsm.token", {"signer", "transfer", "textual"}),
    ("hsm.backup", {"signer", "transfer", "textual"}),
    ("hsm.selector", {"signer", "transfer", "textual", "pkcs11"}),
    ("hsm.pins", {"signer", "transfer", "textual", "pkcs11"}),
    ("hsm.ecpoint", {"signer", "transfer", "textual", "pkcs11"}),
    ("hsm.mechanisms", {"signer", "transfer", "textual", "pkcs11"}),
    ("hsm.attributes", {"signer", "transfer", "textual", "pkcs11"}),
    ("transfer.bundle", {"signer", "hsm", "pkcs11", "textual"}),
    ("transfer.qr", {"signer", "hsm", "pkcs11", "textual"}),
    ("transfer.qr.live", {"signer", "hsm", "pkcs11", "textual"}),
    ("transfer.qr.camera", {"signer", "hsm", "pkcs11", "textual"}),
    ("signer.batch", {"textual"}),
    ("signer.audit", {"textual", "pkcs11"}),
    ("signer.policy", {"textual", "pkcs11", "hsm"}),
])
def test_package_does_not_load(module, forbidden):
    assert not (_loaded(module) & forbidden)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_only_hsm_p11_imports_pkcs11_and_only_the_tui_imports_textual():
    for path in (ROOT / "signer").rglob("*.py"):
        names = _imports(path)
        assert "pkcs11" not in names, path
        if "tui" not in path.parts:
            assert "textual" not in names, path
    for path in (ROOT / "hsm").glob("*.py"):
        if path.name != "p11.py":
            assert "pkcs11" not in _imports(path), path
    for path in (ROOT / "transfer").rglob("*.py"):
        assert not _imports(path) & {"signer", "hsm", "pkcs11", "textual"}, path
