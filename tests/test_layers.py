"""Imports flow one way (STYLE.md): audio, text -> data -> modules -> models -> {train, inference}
-> {export, serve, cli}. This test reads every module's imports and fails on one that flows back."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "sesli"

# Lower rank = lower layer. A module may import its own package and any package of lower rank.
RANK = {
    "fileio": 0,
    "packaged": 1,
    "audio": 1,
    "text": 1,
    "artifacts": 2,
    "data": 2,
    "testing": 3,
    "modules": 3,
    "losses": 4,
    "models": 5,
    "train": 6,
    "inference": 6,
    "eval": 7,
    "export": 7,
    "serve": 7,
    "cli": 8,
    "demo": 9,
    "recipes": 9,
    "__main__": 9,
    "__init__": 0,
}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _lazy_reexports(path: Path, tree: ast.Module) -> set[int]:
    """Nodes of the package root's module ``__getattr__``: its imports run on first attribute
    access (``sesli.load``), never at ``import sesli``, so they re-export a higher layer without
    making the root depend on it."""
    if path != SRC / "__init__.py":
        return set()
    hooks = [f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == "__getattr__"]
    return {id(node) for hook in hooks for node in ast.walk(hook)}


def _sesli_imports(path: Path) -> list[tuple[int, str]]:
    pkg = ".".join(("sesli", *path.relative_to(SRC).with_suffix("").parts))
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lazy = _lazy_reexports(path, tree)
    found = []
    for node in ast.walk(tree):
        if id(node) in lazy:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("sesli")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against this module's package
                base = pkg.split(".")[: -node.level]  # drop the module name, then level-1 packages
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.startswith("sesli"):
                found.append((node.lineno, name))
    return found


MODULES = sorted(p for p in SRC.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_flow_one_way(path: Path):
    own = _layer(".".join(("sesli", *path.relative_to(SRC).with_suffix("").parts)))
    assert own in RANK, f"{path}: new top-level room {own!r}; give it a rank in tests/test_layers.py"
    for lineno, target in _sesli_imports(path):
        other = _layer(target)
        if other in (own, "__init__"):
            continue
        assert other in RANK, f"{path}:{lineno} imports unknown room {target}"
        assert RANK[other] < RANK[own], (
            f"{path}:{lineno}: {own} must not import {target} (layers flow one way)"
        )
