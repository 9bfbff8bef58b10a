"""The code hashing of the task store's keys (benchmarks.codehash): a task's version covers
every module it may run, whatever way it reaches it (import statements, literal and computed
``import_module`` calls, entry points of the installed metadata), and nothing else; comments,
docstrings and layout never count."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmarks import codehash

ROOT = Path(__file__).resolve().parent.parent
_CACHES = ("_TASK_VERSIONS", "_REACHED", "_TREES", "_NORMALISED")


def copy_sources(root: Path) -> Path:
    """A copy of the project's package sources (and data) under ``root``, for editing."""
    for package in codehash.PACKAGES:
        shutil.copytree(ROOT / package, root / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return root


def use_sources(monkeypatch, root: Path, entry_points: dict | None = None) -> None:
    """Compute versions from the sources under ``root`` (the code run stays the installed one)
    and, if given, from these entry point groups instead of the installed metadata's."""
    real = codehash._package_roots
    monkeypatch.setattr(codehash, "_package_roots", lambda package: [root / package]
                        if package in codehash.PACKAGES else real(package))
    for cache in _CACHES:
        monkeypatch.setattr(codehash, cache, {})  # the real caches come back afterwards
    monkeypatch.setattr(codehash, "_CODE_VERSION", None)
    monkeypatch.setattr(codehash, "_ENTRY_POINTS", entry_points)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def _versions(module: str) -> tuple[str, str]:
    codehash._TASK_VERSIONS.clear()
    codehash._REACHED.clear()
    codehash._TREES.clear()
    codehash._NORMALISED.clear()
    codehash._CODE_VERSION = None
    return codehash.task_version(module), codehash.code_version()


def test_task_version_follows_imports(tmp_path, monkeypatch):
    """A task's version covers its module and the project modules it imports, also inside
    functions and through relative imports, and the packages' data files; not the others."""
    sources = copy_sources(tmp_path / "src")
    use_sources(monkeypatch, sources)
    imported = codehash.reached_modules("benchmarks.paper")
    assert {"benchmarks.paper", "benchmarks.common", "instances", "instances.evaluate",
            "instances.delay_kernel", "goa", "goa.solve"} <= imported
    assert imported.isdisjoint({"benchmarks.scale", "benchmarks.gap", "benchmarks.executor",
                                "benchmarks.codehash", "benchmarks.store"})
    version, code = _versions("benchmarks.paper")
    for path, text in ((sources / "instances" / "data" / "example_trace.jsonl", "\n"),
                       (sources / "instances" / "delay_kernel.py", "X = 2\n"),
                       (sources / "goa" / "solve.py", "X = 3\n")):
        append(path, text)
        new_version, new_code = _versions("benchmarks.paper")
        assert new_version != version and new_code != code, path
        version, code = new_version, new_code
    append(sources / "benchmarks" / "gap.py", "X = 4\n")
    new_version, new_code = _versions("benchmarks.paper")
    assert new_version == version and new_code != code


def test_comments_docstrings_and_layout_do_not_count(tmp_path, monkeypatch):
    """A comment, a docstring or a blank line leaves the version; a changed constant does
    not."""
    sources = copy_sources(tmp_path / "src")
    use_sources(monkeypatch, sources)
    path = sources / "instances" / "evaluate.py"
    version, _ = _versions("benchmarks.gap")
    edit(path, '"""', '"""An edited docstring.\n\n')
    append(path, "\n\n# a comment\n")
    assert _versions("benchmarks.gap")[0] == version
    append(path, "_EDITED = 1\n")
    assert _versions("benchmarks.gap")[0] != version


def test_plugins_loaded_by_a_computed_name_count(tmp_path, monkeypatch):
    """goa.plugins imports its modules by a computed name: every file of goa/plugins is in
    the version of a task that imports goa, so that adding, editing and removing a plugin
    each change it, and removing it gives the first version back."""
    sources = copy_sources(tmp_path / "src")
    use_sources(monkeypatch, sources)
    assert "goa.plugins._template" in codehash.reached_modules("benchmarks.gap")
    first, _ = _versions("benchmarks.gap")
    plugin = sources / "goa" / "plugins" / "my_heuristic.py"
    shutil.copy(sources / "goa" / "plugins" / "_template.py", plugin)
    edit(plugin, 'NAME = "best_alone"', 'NAME = "my_heuristic"')
    added, _ = _versions("benchmarks.gap")
    assert "goa.plugins.my_heuristic" in codehash.reached_modules("benchmarks.gap")
    edit(plugin, '{"margin": 1.0}', '{"margin": 0.25}')
    edited, _ = _versions("benchmarks.gap")
    plugin.unlink()
    removed, _ = _versions("benchmarks.gap")
    assert len({first, added, edited}) == 3 and removed == first


def test_import_module_with_a_literal_name_counts(tmp_path, monkeypatch):
    """importlib.import_module("a.b") and __import__("a.b") are imports of a.b; a computed
    name outside a package's __init__ counts every module of that package."""
    sources = copy_sources(tmp_path / "src")
    use_sources(monkeypatch, sources)
    module = sources / "benchmarks" / "tiny_task.py"
    module.write_text("import importlib\n\n\ndef run(task):\n"
                      "    return importlib.import_module('instances.evaluate'), "
                      "__import__('goa.greedy')\n")
    reached = codehash.reached_modules("benchmarks.tiny_task")
    assert {"instances.evaluate", "goa.greedy", "goa"} <= reached
    assert "formulations" not in reached and "online.engine" not in reached
    codehash.forget()
    append(module, "\n\ndef any_of(name):\n    return importlib.import_module(name)\n")
    reached = codehash.reached_modules("benchmarks.tiny_task")
    assert {"benchmarks.scale", "benchmarks.gap"} <= reached  # its package, whole
    assert "benchmarks.executor" not in reached  # results are moved, not computed, there


def test_entry_points_named_by_a_module_count(tmp_path, monkeypatch):
    """A module that names an entry point group of the project (instances.starts) reaches
    every entry point of that group: its declaration, and the module it names with what that
    imports, in another installed package too; editing that package or the declaration
    changes the version, other groups do not count."""
    sources = copy_sources(tmp_path / "src")
    third = tmp_path / "third"
    (third / "extra_heuristics").mkdir(parents=True)
    (third / "extra_heuristics" / "__init__.py").write_text("")
    (third / "extra_heuristics" / "planner.py").write_text(
        "from . import helpers\n\n\ndef provide():\n    return helpers.X\n")
    (third / "extra_heuristics" / "helpers.py").write_text("X = 1\n")
    (third / "extra_heuristics" / "unused.py").write_text("Y = 1\n")
    monkeypatch.syspath_prepend(str(third))
    groups = {"llm_offloading.planners": (("extra", "extra_heuristics.planner:provide"),),
              "llm_offloading.unread": (("other", "extra_heuristics.unused"),)}
    use_sources(monkeypatch, sources, entry_points=groups)
    reached = codehash.reached_modules("online.policies")
    assert {"instances.starts", "extra_heuristics", "extra_heuristics.planner",
            "extra_heuristics.helpers"} <= reached
    assert "extra_heuristics.unused" not in reached
    version, _ = _versions("online.policies")
    append(third / "extra_heuristics" / "helpers.py", "Z = 2\n")
    edited, _ = _versions("online.policies")
    groups["llm_offloading.planners"] = (("extra", "extra_heuristics.planner:other"),)
    redeclared, _ = _versions("online.policies")
    append(third / "extra_heuristics" / "unused.py", "Z = 2\n")
    assert len({version, edited, redeclared, _versions("online.policies")[0]}) == 3


def test_the_installed_goa_providers_count():
    """In this install: online's and formulations' tasks reach goa through the entry points
    of setup.cfg although neither imports it (the metadata must hold them: pip install -e .)."""
    groups = codehash.entry_point_groups()
    if "llm_offloading.planners" not in groups:
        pytest.fail("the installed package metadata has no llm_offloading.planners entry "
                    "points: reinstall the package (pip install -e .) so that it matches "
                    "setup.cfg")
    for module in ("online.policies", "formulations.solve"):
        reached = codehash.reached_modules(module)
        assert {"instances.starts", "goa", "goa.solve", "goa.plugins"} <= reached, module


def test_a_task_module_outside_the_packages():
    """A task module of the user's own (here: this test folder's) is hashed with the modules
    of its own package that it imports; the standard library and numpy are not followed."""
    reached = codehash.reached_modules("tests.executor_tasks")
    assert "tests.executor_tasks" in reached
    assert not any(name.split(".")[0] in {"numba", "os", "numpy"} for name in reached)
