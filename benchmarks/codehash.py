"""Which code a task may run, hashed: the *task version* in every key of the task store, and
the *code version* kept with every stored result for the record (docs/sweeps.md, "Key").

Nothing is imported to compute them: the sources are read and parsed with ``ast``. A task
function of module ``m`` may run ``m`` and every module ``m`` reaches, by any of these:

- an ``import`` statement anywhere in a file (inside functions too; importing ``a.b`` runs
  ``a/__init__.py``, so the parents count);
- ``importlib.import_module("name")`` or ``__import__("name")`` with a literal name: that
  module;
- an import by a computed name (``importlib.import_module(f"{__name__}.{name}")``, as
  ``goa.plugins`` loads its plugins): every module of the package the call sits in (for
  ``goa/plugins/__init__.py``: every file of ``goa/plugins/``, so that adding, editing or
  removing a plugin changes the version);
- an entry point group named by a string literal (``"llm_offloading.planners"``, as in
  :mod:`instances.starts`): every entry point of that group in the installed metadata (its
  declaration, and its module with what that reaches), wherever the providing package lives.

The modules followed are those of the project's packages (:data:`PACKAGES`), the task
module's own package and the packages entry points name; the standard library and third-party
libraries (numpy, numba, the solvers) are not.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import importlib.util
import re
import types
from pathlib import Path
from typing import Any, Iterator

from benchmarks.common import BenchmarkError

__all__ = ["PACKAGES", "NOT_IN_TASK_VERSION", "ENTRY_POINT_PREFIX", "code_version",
           "task_version", "reached_modules", "entry_point_groups", "forget"]

#: The packages whose sources make up the code version: results of other code never mix in.
PACKAGES = ("inference", "instances", "goa", "formulations", "profiler", "online", "benchmarks")
#: Modules that move results but never compute them: an edit there keeps the stored results.
NOT_IN_TASK_VERSION = frozenset({"benchmarks.executor", "benchmarks.codehash",
                                 "benchmarks.store", "benchmarks.style"})
#: The project's entry point groups start with this (``llm_offloading.planners``, ...).
ENTRY_POINT_PREFIX = "llm_offloading."
#: Calls that import a module named by their first argument.
_IMPORT_CALLS = frozenset({"import_module", "__import__"})


_CODE_VERSION: str | None = None
_TASK_VERSIONS: dict[str, str] = {}
_REACHED: dict[str, tuple[frozenset, tuple]] = {}
_TREES: dict[Path, ast.Module] = {}
_NORMALISED: dict[Path, str] = {}
_ENTRY_POINTS: dict[str, tuple] | None = None


def forget() -> None:
    """Drop every cached hash, tree and entry point list (after sources or the installed
    metadata changed in this process; tests)."""
    global _CODE_VERSION, _ENTRY_POINTS
    for cache in (_TASK_VERSIONS, _REACHED, _TREES, _NORMALISED):
        cache.clear()
    _CODE_VERSION = _ENTRY_POINTS = None


def code_version() -> str:
    """A hash of every source file (and data file) of the project's packages as installed in
    this process, and of the project's entry point declarations.

    Kept with every stored result for the record (which code computed it); the keys use the
    narrower :func:`task_version`.
    """
    global _CODE_VERSION
    if _CODE_VERSION is None:
        digest = hashlib.sha256()
        for package in PACKAGES:
            for root in _package_roots(package):
                paths = [*root.rglob("*.py"), *(p for p in (root / "data").rglob("*")
                                                if p.is_file())]
                for path in sorted(paths):
                    digest.update(f"{package}/{path.relative_to(root).as_posix()}\0".encode())
                    digest.update(path.read_bytes())
        for group, entries in sorted(entry_point_groups().items()):
            for name, value in entries:
                digest.update(f"entry point {group} {name} = {value}\0".encode())
        _CODE_VERSION = digest.hexdigest()[:16]
    return _CODE_VERSION


def task_version(module: str) -> str:
    """A hash of the code a task function of ``module`` may run: every module
    :func:`reached_modules` lists, each as its compiled code without docstrings, line numbers
    and file name, the entry point declarations it reads, and the data files
    (``PACKAGE/data/``) of the packages those modules belong to.

    An edit to a module the task cannot reach, a comment, a docstring or a layout change
    leaves it unchanged; any change to the code the task may run changes it (a plugin added,
    edited or removed included). The modules that only carry results
    (:data:`NOT_IN_TASK_VERSION`) are left out.
    """
    if module not in _TASK_VERSIONS:
        names, entries = _reach(module)
        digest = hashlib.sha256()
        tops = set()
        for name in sorted(names):
            digest.update(f"{name}\0{_normalised_source(_module_file(name))}\0".encode())
            tops.add(name.split(".")[0])
        for group, name, value in entries:
            digest.update(f"entry point {group} {name} = {value}\0".encode())
        for top in sorted(tops):
            for root in _package_roots(top):
                for path in sorted((root / "data").rglob("*")):
                    if path.is_file():
                        digest.update(f"{top}/{path.relative_to(root).as_posix()}\0".encode())
                        digest.update(path.read_bytes())
        _TASK_VERSIONS[module] = digest.hexdigest()[:16]
    return _TASK_VERSIONS[module]


def reached_modules(module: str) -> frozenset[str]:
    """``module`` and every module a call into it may run (see the module docstring), of the
    packages followed."""
    return _reach(module)[0]


def entry_point_groups() -> dict[str, tuple[tuple[str, str], ...]]:
    """The project's entry point groups (:data:`ENTRY_POINT_PREFIX`) in the installed
    metadata: group -> ((name, value), ...), sorted."""
    global _ENTRY_POINTS
    if _ENTRY_POINTS is None:
        groups: dict[str, set] = {}
        seen = set()
        for dist in importlib.metadata.distributions():
            # the first distribution of a name on sys.path, as importlib.metadata.entry_points
            name = re.sub(r"[-_.]+", "-", dist.metadata["Name"] or "").lower()
            if name in seen:
                continue
            seen.add(name)
            for entry in dist.entry_points:
                if entry.group.startswith(ENTRY_POINT_PREFIX):
                    groups.setdefault(entry.group, set()).add((entry.name, entry.value))
        _ENTRY_POINTS = {group: tuple(sorted(entries)) for group, entries in groups.items()}
    return _ENTRY_POINTS


def _reach(module: str) -> tuple[frozenset, tuple]:
    """(modules reached, (group, name, value) of the entry points read on the way)."""
    if module not in _REACHED:
        followed = set(PACKAGES) | {module.split(".")[0]}
        groups = entry_point_groups()
        seen: set[str] = set()
        entries: set[tuple[str, str, str]] = set()
        todo = [module]
        while todo:
            name = todo.pop()
            if name in seen or name in NOT_IN_TASK_VERSION \
                    or name.split(".")[0] not in followed:
                continue
            path = _module_file(name)
            if path is None:
                continue
            seen.add(name)
            package = name if path.name == "__init__.py" else name.rpartition(".")[0]
            for target in _imports(path, package, groups):
                if isinstance(target, tuple):  # an entry point: its module's package is followed
                    entries.add(target)
                    target = target[2].partition(":")[0].strip()
                    followed.add(target.split(".")[0])
                parts = target.split(".")
                todo += [".".join(parts[:k]) for k in range(1, len(parts) + 1)]
        _REACHED[module] = frozenset(seen), tuple(sorted(entries))
    return _REACHED[module]


def _imports(path: Path, package: str, groups: dict) -> Iterator[str | tuple]:
    """What a module file reaches: dotted module names, and (group, name, value) for the
    entry points of the groups it names."""
    tree = _parse(path)
    for node in _statements(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module or "", node.level, package)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)
    text = _source_text(path)
    calls = any(call in text for call in _IMPORT_CALLS)
    named_groups = [group for group in groups if group in text]
    if not calls and not named_groups:
        return  # no expression to visit: most modules
    for node in ast.walk(tree):
        if calls and isinstance(node, ast.Call) and node.args and \
                _called_name(node.func) in _IMPORT_CALLS:
            argument = node.args[0]
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                yield argument.value
            elif package:  # a computed name: any module of this package
                yield from _package_modules(package)
        elif isinstance(node, ast.Constant) and node.value in named_groups:
            yield from ((node.value, name, value) for name, value in groups[node.value])


def _absolute(module: str, level: int, package: str) -> str:
    if not level:
        return module
    anchor = package.split(".")
    anchor = anchor[:len(anchor) - level + 1]
    return ".".join(anchor + ([module] if module else []))


def _called_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _package_modules(package: str) -> Iterator[str]:
    """Every module under a package's folder(s), subpackages included."""
    top, *parts = package.split(".")
    for root in _package_roots(top):
        folder = root.joinpath(*parts)
        for path in sorted(folder.rglob("*.py")):
            relative = path.relative_to(folder).with_suffix("").parts
            if relative[-1] == "__init__":
                relative = relative[:-1]
            yield ".".join([package, *relative])


def _package_roots(package: str) -> list[Path]:
    """The folders of a top-level package, without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise BenchmarkError(f"package {package}: not installed")
    return [Path(root) for root in sorted(spec.submodule_search_locations)]


def _module_file(name: str) -> Path | None:
    """The source file of a module (``a.b`` -> ``a/b.py`` or ``a/b/__init__.py``), found
    without importing anything; ``None`` for a module without a source file."""
    top, *parts = name.split(".")
    if top not in PACKAGES:
        try:
            spec = importlib.util.find_spec(top)  # a top-level name: imports nothing
        except (ImportError, ValueError):
            return None
        if spec is None:
            return None
        if not spec.submodule_search_locations:
            origin = Path(spec.origin) if spec.origin and not parts else None
            return origin if origin is not None and origin.suffix == ".py" else None
    for root in _package_roots(top):
        base = root.joinpath(*parts)
        for path in (base / "__init__.py", base.with_suffix(".py") if parts else None):
            if path is not None and path.is_file():
                return path
    return None


def _source_text(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="replace")


def _parse(path: Path) -> ast.Module:
    if path not in _TREES:
        _TREES[path] = ast.parse(path.read_bytes(), filename=str(path))
    return _TREES[path]


def _statements(tree: ast.AST) -> Iterator[ast.stmt]:
    """Every statement of a tree, nested ones too (imports and docstrings are statements; the
    far more numerous expressions are not visited)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            for child in getattr(node, field, ()):
                if isinstance(child, ast.stmt):
                    yield child
                todo.append(child)


def _normalised_source(path: Path) -> str:
    """A file's compiled code without docstrings, line numbers and file name, as text: a
    comment, a docstring or a layout change leaves it unchanged."""
    if path in _NORMALISED:
        return _NORMALISED[path]
    tree = _parse(path)  # the cached tree, its imports read: docstrings hold no import or group
    for node in [tree, *_statements(tree)]:
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.copy_location(ast.Pass(), body[0])]
    code = compile(tree, "<source>", "exec", dont_inherit=True)
    _NORMALISED[path] = _code_text(code)
    return _NORMALISED[path]


def _code_text(value: Any) -> str:
    """A code object as text that does not depend on line numbers or on the process (no
    marshal: its reference flags vary with reference counts; sets sorted: their order varies
    with string hashing)."""
    if isinstance(value, types.CodeType):
        fields = (value.co_name, value.co_argcount, value.co_posonlyargcount,
                  value.co_kwonlyargcount, value.co_flags, value.co_code.hex(),
                  value.co_names, value.co_varnames, value.co_freevars, value.co_cellvars,
                  value.co_exceptiontable.hex())
        return f"code{fields!r}[{','.join(_code_text(c) for c in value.co_consts)}]"
    if isinstance(value, (tuple, list)):
        return f"{type(value).__name__}({','.join(_code_text(v) for v in value)})"
    if isinstance(value, (set, frozenset)):
        return f"{type(value).__name__}({','.join(sorted(_code_text(v) for v in value))})"
    return f"{type(value).__name__}:{value!r}"
