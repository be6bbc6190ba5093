"""The package layout follows the pipeline: every import (module-level or inside a function)
points down the pipeline or stays inside its stage, and no two modules import each other,
directly or through others (docs/architecture.md)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "tinygen"

# Stage of each top-level name under tinygen/, in pipeline order (lower = further down).
STAGES = {
    "__init__": 0, "errors": 0, "paths": 0,
    "model": 1,
    "ops": 2,
    "emulator": 3,
    "codegen": 4,
    "boards": 5,
    "device": 6,
    "analysis": 7,
    "commands": 8,
    "cli": 9,
}
TOP_LEVEL_MODULES_MAX = 6


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of the tinygen modules a file imports (relative imports resolved)."""
    mod = _module_name(path)
    pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("tinygen")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if not name.startswith("tinygen"):
                continue
            for a in node.names:          # `from tinygen.x import y` may name a submodule y
                sub = f"{name}.{a.name}"
                out.add(sub if _exists(sub) else name)
    return {n for n in out if n != "tinygen"}


def _exists(name: str) -> bool:
    p = PKG.parent.joinpath(*name.split("."))
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


def _stage(name: str) -> int:
    parts = name.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    assert top in STAGES, f"{name}: tinygen/{top} is not a known stage (add it to STAGES and docs/architecture.md)"
    return STAGES[top]


MODULES = {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}
GRAPH = {m: {i for i in _imports(p) if i in MODULES} for m, p in MODULES.items()}


def test_top_level_is_small():
    top = [p.stem for p in PKG.glob("*.py")]
    assert len(top) <= TOP_LEVEL_MODULES_MAX, sorted(top)
    for d in PKG.iterdir():
        if d.is_dir() and d.name != "__pycache__":
            assert d.name in STAGES, f"tinygen/{d.name}/ is not a pipeline stage"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down_the_pipeline(module):
    up = [i for i in GRAPH[module] if _stage(i) > _stage(module)]
    assert not up, f"{module} imports {up}, further up the pipeline"


def test_no_circular_imports():
    # Package __init__ files that import their own submodules (the ops registry) are the
    # package's face, not a participant: leave edges from a package to its children out.
    def edges(m):
        return {i for i in GRAPH[m] if not i.startswith(m + ".")}

    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in edges(m):
            if state.get(n) == 1:
                cycle = stack[stack.index(n):] + [n]
                pytest.fail("circular import: " + " -> ".join(cycle))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(MODULES):
        if m not in state:
            visit(m)


def test_architecture_doc_names_every_stage():
    doc = (PKG.parent / "docs" / "architecture.md").read_text()
    for d in PKG.iterdir():
        if (d / "__init__.py").is_file():
            assert f"`tinygen/{d.name}/`" in doc, f"docs/architecture.md does not name tinygen/{d.name}/"
