"""The package's layering, checked by walking its imports (every import statement, at any depth of a module).

* the core never imports ``probcascade.plots``, ``probcascade.cli`` or torch/transformers;
* no module imports a ``_private`` name from another subpackage;
* the subpackage import graph has no cycle;
* no module is longer than 500 lines unless its docstring says why.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "probcascade"
FRONT = {"plots", "cli", "report"}  # may import the core; the core may not import them
TOP_LEVEL = {"__init__", "__main__", "pipeline"}   # orchestration modules above the subpackages
MAX_LINES = 500


def _modules():
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).with_suffix("")
        yield ".".join(("probcascade", *rel.parts)), path


def _unit(module: str) -> str:
    """The subpackage (or top-level module) a module belongs to: ``probcascade.joint.chain`` -> ``joint``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(module: str, path: Path):
    """(imported module, imported names) of every import statement of a module, relative imports resolved."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, ()
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield target, tuple(a.name for a in node.names)


MODULES = list(_modules())


def test_core_never_imports_front_ends_or_torch():
    bad = []
    for module, path in MODULES:
        unit = _unit(module)
        if unit in FRONT or unit in TOP_LEVEL:
            continue
        for target, _ in _imports(module, path):
            root = target.split(".")[0]
            if root in ("torch", "transformers", "accelerate", "probcascade_inference"):
                bad.append(f"{module} imports {target}")
            if target.startswith("probcascade.") and target.split(".")[1] in FRONT:
                bad.append(f"{module} imports {target}")
    assert not bad, bad


def test_no_private_name_crosses_subpackages():
    bad = []
    for module, path in MODULES:
        for target, names in _imports(module, path):
            if not target.startswith("probcascade"):
                continue
            if _unit(target) == _unit(module) and _unit(module) != "__init__":
                continue
            bad += [f"{module} imports {target}.{n}" for n in names if n.startswith("_") and n != "__version__"]
            if any(part.startswith("_") and part not in ("__init__", "_version") for part in target.split(".")[1:]):
                bad.append(f"{module} imports private module {target}")
    assert not bad, bad


def test_subpackage_graph_is_acyclic():
    graph: dict[str, set[str]] = {}
    for module, path in MODULES:
        unit = _unit(module)
        if unit in TOP_LEVEL:
            continue
        for target, names in _imports(module, path):
            if target.startswith("probcascade."):
                other = _unit(target)
                if other != unit and other not in TOP_LEVEL:
                    graph.setdefault(unit, set()).add(other)
            elif target == "probcascade":
                graph.setdefault(unit, set()).update(n for n in names if (PKG / n).exists() or (PKG / f"{n}.py").exists())
    # depth-first search for a back edge
    state: dict[str, int] = {}
    path_: list[str] = []

    def visit(u: str) -> None:
        state[u] = 1
        path_.append(u)
        for v in sorted(graph.get(u, ())):
            if state.get(v) == 1:
                pytest.fail(f"import cycle: {' -> '.join(path_[path_.index(v):] + [v])}")
            if v not in state:
                visit(v)
        path_.pop()
        state[u] = 2

    for u in sorted(graph):
        if u not in state:
            visit(u)


def test_long_modules_state_why():
    bad = []
    for module, path in MODULES:
        text = path.read_text()
        n = text.count("\n")
        doc = ast.get_docstring(ast.parse(text)) or ""
        if n > MAX_LINES and "longer than 500 lines" not in doc:
            bad.append(f"{module}: {n} lines")
    assert not bad, f"modules over {MAX_LINES} lines without a stated reason: {bad}"


def test_curated_api_excludes_internals():
    import probcascade

    for name in ("N_BINS", "static_families", "build_chain_grid", "tune_all", "N_QUAD"):
        assert name not in probcascade.__all__
    for name in probcascade.__all__:
        assert hasattr(probcascade, name), name
