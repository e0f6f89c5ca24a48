"""Layout of the fit: small modules, visible (module-level) imports, no import cycle.

The import graph is read from the source with ``ast``, counting imports inside functions too, so
a cycle hidden behind a function-level import (as likelihood ↔ precompute was) is found.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "hepc9"
#: Modules of the fit area: every hepc9 import at module level, none in an import cycle.
AREA = ("hepc9.fit", "hepc9.physics", "hepc9.pipeline.fit")


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _target(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(name: str) -> list[tuple[str, bool]]:
    """Return (imported hepc9 module, at module level) for every import of ``name``."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*pkg, *([base] if base else [])])
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                       for a in node.names]  # fmt: skip
        else:
            continue
        for t in targets:
            mod = _target(t) if t.startswith("hepc9") else None
            if mod and mod != name:
                out.append((mod, id(node) in top))
    return out


def _in_area(name: str) -> bool:
    return any(name == a or name.startswith(a + ".") for a in AREA)


def _cycles() -> list[list[str]]:
    graph = {m: {t for t, _ in _imports(m)} for m in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_reader_sees_function_level_imports():
    # a sanity check of the reader itself: pipeline.fit imports fit.driver at module level
    assert ("hepc9.fit.driver", True) in _imports("hepc9.pipeline.fit")
    assert len([m for m in MODULES if _in_area(m)]) > 15


def test_no_import_cycle_through_the_fit_or_physics():
    bad = [c for c in _cycles() if any(_in_area(m) for m in c)]
    assert not bad, f"import cycles (function-level imports counted): {bad}"


@pytest.mark.parametrize("name", sorted(m for m in MODULES if _in_area(m)))
def test_hepc9_imports_are_module_level(name):
    hidden = sorted({t for t, top in _imports(name) if not top})
    assert not hidden, f"{name} imports {hidden} inside functions"


@pytest.mark.parametrize("name", sorted(m for m in MODULES if m.startswith("hepc9.fit")))
def test_fit_modules_are_small(name):
    lines = MODULES[name].read_text(encoding="utf-8").count("\n")
    assert lines < 400, f"{name} has {lines} lines (aim < 400, limit 600)"
