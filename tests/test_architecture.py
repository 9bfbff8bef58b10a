"""The shape of the code: no import cycle, and dependencies that flow one way
(docs/architecture.md).

Imports are read with ``ast`` from every module of every package at the repository root, so
nothing is executed. Every import counts, a lazy one inside a function as much as one at the
top of a module: a lazy import is still a dependency (the module cannot run or be tested
without the other), and a cycle through one only moves the failure from import time to the
first call that takes that path. So does an import spelled as a call with a literal name
(``importlib.import_module("goa")``, ``__import__("goa")``). An entry point of the package
metadata (setup.cfg: ``goa = goa:provide_starts``) is not an import: ``instances.starts``
loads whatever provider is installed, without naming it in its code.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Which project packages each package may import (besides itself). ``inference`` is the
#: ground floor (it imports nothing of ours); everything may import ``instances``; only
#: ``benchmarks`` imports the algorithm packages; nothing imports ``benchmarks``. profiler and
#: online follow the same rule as goa and formulations.
ALLOWED = {
    "inference": set(),
    "instances": {"inference"},
    "goa": {"instances", "inference"},
    "formulations": {"instances", "inference"},
    "profiler": {"instances", "inference"},
    "online": {"instances", "inference"},
    "benchmarks": {"inference", "instances", "goa", "formulations", "profiler", "online"},
}


def packages(root: Path = ROOT) -> list[str]:
    """The top-level packages of the repository (folders with an ``__init__.py``), the tests
    aside."""
    return sorted(p.parent.name for p in root.glob("*/__init__.py") if p.parent.name != "tests")


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of every package: dotted name -> file."""
    found = {}
    for package in packages(root):
        for path in (root / package).rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules that module ``name`` imports anywhere in its body (top level and
    inside functions). ``from a import b`` is an import of ``a.b`` when that is a module, else
    of ``a``."""
    is_package = path.name == "__init__.py"
    here = name.split(".") if is_package else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.Call) and _called_name(node.func) in IMPORT_CALLS \
                and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            targets = [node.args[0].value]  # importlib.import_module("goa"): an import too
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            targets = [f"{module}.{alias.name}" if f"{module}.{alias.name}" in known
                       else module for alias in node.names]
        else:
            continue
        for target in targets:
            # the deepest project module the dotted name names
            parts = target.split(".")
            while parts and ".".join(parts) not in known:
                parts.pop()
            if parts and ".".join(parts) != name:
                found.add(".".join(parts))
    return found


IMPORT_CALLS = frozenset({"import_module", "__import__"})


def _called_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else None


@functools.lru_cache(maxsize=None)
def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the project modules it imports (read once per root)."""
    known = modules(root)
    return {name: imports_of(name, path, known) for name, path in known.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle():
    """No two modules of the project import each other, directly or through others, counting
    lazy (function-level) imports too."""
    graph = import_graph()
    assert len(graph) > 40, "the walk found too few modules: is ROOT right?"
    assert cycles(graph) == []


def wrong_imports(graph: dict[str, set[str]]) -> list[str]:
    """``"module -> target"`` for every import against ALLOWED."""
    wrong = []
    for module, targets in graph.items():
        package = module.split(".")[0]
        allowed = ALLOWED.get(package, {"instances"}) | {package}
        wrong += [f"{module} -> {t}" for t in sorted(targets) if t.split(".")[0] not in allowed]
    return wrong


def test_dependencies_flow_one_way():
    """Every package imports only what ALLOWED lets it (instances <- goa, formulations <-
    benchmarks); in particular formulations and online never import goa (they find its
    heuristics through instances.starts and the entry points), and nothing imports
    benchmarks."""
    assert wrong_imports(import_graph()) == []


def test_a_real_import_is_refused_an_entry_point_is_not(tmp_path):
    """In a made-up tree: formulations importing goa, inside a function or by
    importlib.import_module / __import__ with its name, breaks the rule; naming goa's provider
    in a string (an entry point's value, as setup.cfg does) does not."""
    for package in ("instances", "goa", "formulations", "online"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "goa" / "solve.py").write_text("def solve():\n    return 1\n")
    (tmp_path / "formulations" / "lazy.py").write_text("def f():\n    import goa\n")
    (tmp_path / "formulations" / "by_name.py").write_text(
        "import importlib\n\n\ndef f():\n    return importlib.import_module('goa.solve')\n")
    (tmp_path / "online" / "dunder.py").write_text("def f():\n    return __import__('goa')\n")
    (tmp_path / "formulations" / "entry.py").write_text(
        "GROUP = 'llm_offloading.starts'\nPROVIDER = 'goa:provide_starts'\n")
    assert wrong_imports(import_graph(tmp_path)) == [
        "formulations.by_name -> goa.solve", "formulations.lazy -> goa", "online.dunder -> goa"]


def test_cycle_finder_finds_cycles(tmp_path):
    """The walk and the cycle finder catch a cycle made only of a lazy import (so that the
    two tests above can fail)."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import f\n")
    (pkg / "b.py").write_text("def f():\n    from pkg import a\n    return a\n")
    (pkg / "c.py").write_text("import pkg.a\n")
    graph = import_graph(tmp_path)
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.b"] == {"pkg.a"}
    assert cycles(graph) == [["pkg.a", "pkg.b"]]


@pytest.mark.parametrize("package", ["instances", "goa", "formulations"])
def test_packages_below_benchmarks_import_no_benchmark(package):
    """goa, formulations and instances run without benchmarks installed: none of their modules
    imports it, and the old benchmark CLIs are gone from goa."""
    graph = import_graph()
    assert not any(t.startswith("benchmarks") for m, ts in graph.items()
                   if m.split(".")[0] == package for t in ts)
    assert not (ROOT / "goa" / "bench.py").exists() and not (ROOT / "goa" / "compare.py").exists()
