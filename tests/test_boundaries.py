"""Package boundaries and layers (STYLE.md, docs/ARCHITECTURE.md), checked two ways: by
reading every module's imports (the layer order, no function-local imports hiding a cycle),
and by importing packages in a fresh interpreter (what they really load)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIRST_PARTY = ("signer", "hsm", "transfer")

# The layers of signer/, lowest first: a module may import its own layer and those below,
# plus hsm and transfer (leaf packages), never a layer above. signer.errors and
# signer.version are shared by every layer.
LAYERS = ("core", "store", "service", "cli", "tui")
ALLOWED_BELOW = {
    "core": set(),
    "store": {"core"},
    "service": {"core", "store"},
    "cli": {"core", "service"},  # shells use the service; core only for pure helpers (time)
    "tui": {"core", "service"},
}
# Function-local imports of first-party modules, each with its reason; any other one would
# hide an import cycle, so it is refused.
LOCAL_IMPORTS_ALLOWED = {
    ("signer/cli/setup.py", "signer.tui.app"): "textual costs ~0.3 s: only `signer tui` pays",
    ("signer/cli/transfer.py", "transfer.qr"): "the QR stack costs ~0.1 s: only transfer verbs",
    ("signer/cli/transfer.py", "transfer.qr.receiver"): "as above",
    ("signer/cli/transfer.py", "transfer.qr.files"): "as above",
    ("signer/cli/transfer.py", "transfer.qr.sender"): "as above",
    ("signer/cli/transfer.py", "transfer.qr.live"): "as above",
}


def _modules() -> list[Path]:
    return [p for pkg in FIRST_PARTY for p in (ROOT / pkg).rglob("*.py")]


def _imports(tree: ast.AST) -> list[tuple[str, ast.AST, bool]]:
    """(module imported, node, inside a function?) for every absolute import."""
    out: list[tuple[str, ast.AST, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            local = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                out.extend((a.name, child, in_function) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                out.append((child.module, child, in_function))
                out.extend((f"{child.module}.{a.name}", child, in_function) for a in child.names)
            visit(child, local)

    visit(tree, False)
    return out


def _type_checking_blocks(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) \
                and node.test.id == "TYPE_CHECKING":
            for child in ast.walk(node):
                if hasattr(child, "lineno"):
                    lines.add(child.lineno)
    return lines


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "signer" and parts[1] in LAYERS else None


def test_signer_layers_import_only_downwards():
    wrong = []
    for path in (ROOT / "signer").rglob("*.py"):
        rel = path.relative_to(ROOT)
        own = _layer(".".join(rel.with_suffix("").parts))
        if own is None:
            continue
        tree = ast.parse(path.read_text())
        typing_only = _type_checking_blocks(tree)
        for name, node, _ in _imports(tree):
            if isinstance(node, ast.ImportFrom) and name != node.module:
                continue  # "from X import y" is judged on X
            target = _layer(name)
            if target is None or target == own or getattr(node, "lineno", 0) in typing_only:
                continue
            if target not in ALLOWED_BELOW[own]:
                if (str(rel), name) in LOCAL_IMPORTS_ALLOWED:
                    continue
                wrong.append(f"{rel}: {own} imports {name}")
    assert wrong == []


def test_no_function_local_imports_hide_cycles():
    found = []
    for path in _modules():
        rel = str(path.relative_to(ROOT))
        for name, node, local in _imports(ast.parse(path.read_text())):
            if not local or name.split(".")[0] not in FIRST_PARTY:
                continue
            if isinstance(node, ast.ImportFrom) and name != node.module:
                continue  # the "from X import y" form is judged on X
            if (rel, name) not in LOCAL_IMPORTS_ALLOWED:
                found.append(f"{rel}: imports {name} inside a function")
    assert found == []


# Pure modules of the leaf packages that core may use: the appliance key's encodings and
# signature rules (shared with the bundle formats, which cannot import signer).
CORE_MAY_USE = {"transfer.appkey", "transfer.errors"}


def test_core_does_no_io():
    io = {"os", "sqlite3", "subprocess", "socket", "shutil", "mmap", "pathlib", "tempfile",
          "fcntl", "signal", "textual", "pkcs11", "hsm", "transfer"}
    for path in (ROOT / "signer" / "core").rglob("*.py"):
        tree = ast.parse(path.read_text())
        typing_only = _type_checking_blocks(tree)
        names = {n.split(".")[0] for n, node, _ in _imports(tree)
                 if getattr(node, "lineno", 0) not in typing_only
                 and not (isinstance(node, ast.ImportFrom) and node.module in CORE_MAY_USE)}
        assert not names & io, f"{path}: {names & io}"
        calls = {c.func.id for c in ast.walk(tree)
                 if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)}
        assert "open" not in calls, path


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
    ("signer.core.policy", {"textual", "pkcs11", "hsm", "sqlite3", "signer.store",
                            "signer.service"}),
    ("signer.core.checkpoint", {"textual", "pkcs11", "hsm", "sqlite3", "transfer.usb",
                                "transfer.bundle", "transfer.qr", "signer.store"}),
    ("signer.store.ledger", {"textual", "pkcs11", "signer.service"}),
    ("signer.service.batches", {"textual", "signer.cli", "signer.tui"}),
    ("signer.service.audit", {"textual", "signer.cli", "signer.tui"}),
    ("signer.cli", {"textual", "signer.tui"}),
])
def test_package_does_not_load(module, forbidden):
    assert not (_loaded(module) & forbidden)


def test_only_hsm_p11_imports_pkcs11_and_only_the_tui_imports_textual():
    for path in _modules():
        names = {n.split(".")[0] for n, _, _ in _imports(ast.parse(path.read_text()))}
        if path.parts[-2:] != ("hsm", "p11.py"):
            assert "pkcs11" not in names, path
        if "tui" not in path.relative_to(ROOT).parts:
            assert "textual" not in names, path
        if path.relative_to(ROOT).parts[0] == "transfer":
            assert not names & {"signer", "hsm", "pkcs11", "textual"}, path
        if path.relative_to(ROOT).parts[0] == "hsm":
            assert not names & {"signer", "transfer", "textual"}, path
