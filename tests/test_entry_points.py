"""Planners, warm starts and heuristics found by name through the package metadata (entry
points, :mod:`importlib.metadata`), so that ``online`` and ``formulations`` use goa's without
anyone importing goa (docs/architecture.md).

The tests that need the metadata fail, never skip, when the installed package lacks the entry
points of setup.cfg: reinstall it (``pip install -e .``)."""

from __future__ import annotations

import configparser
import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import instances
from instances import starts

ROOT = Path(__file__).resolve().parent.parent
GROUPS = (starts.STARTS_GROUP, starts.PLANNERS_GROUP)


def declared_entry_points() -> dict[str, set[str]]:
    """setup.cfg's entry points of the project's groups: group -> {"name = value"}."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    section = config["options.entry_points"]
    return {group: {" = ".join(part.strip() for part in line.split("=", 1))
                    for line in section[group].strip().splitlines()}
            for group in section if group.startswith("llm_offloading.")}


def require_installed_entry_points() -> None:
    """Fail (never skip) with what to do when the installed metadata lacks setup.cfg's entry
    points."""
    installed = {group: {f"{e.name} = {e.value}" for e in importlib.metadata.entry_points(
        group=group)} for group in declared_entry_points()}
    if installed != declared_entry_points():
        pytest.fail(f"the installed package metadata holds the entry points {installed}, "
                    f"setup.cfg declares {declared_entry_points()}: reinstall the package "
                    f"(pip install -e .) so that goa's providers are found by name")


def test_setup_cfg_declares_goa_as_the_provider():
    """setup.cfg names goa's provider functions in both groups, and the installed metadata
    holds the same declarations."""
    declared = declared_entry_points()
    assert declared == {starts.STARTS_GROUP: {"goa = goa:provide_starts"},
                        starts.PLANNERS_GROUP: {"goa = goa:provide_planners"}}
    require_installed_entry_points()


# Runs in a new interpreter: nothing imported but the packages that use goa's heuristics.
WITHOUT_GOA = """
import importlib.metadata, json, sys
for group in ("llm_offloading.planners", "llm_offloading.starts"):
    if not importlib.metadata.entry_points(group=group):
        sys.exit(f"no {group} entry points in this interpreter's package metadata: reinstall "
                 f"the package (pip install -e .)")
import formulations, instances, online
assert "goa" not in sys.modules, "goa imported before the look-ups"
inst = instances.generate(6, 2, seed=3)
sim = online.simulate(inst, "goa_ls", rate_per_user_hz=2.0, duration_s=1.0, seed=0)
loaded_by_online = "goa" in sys.modules
exact = formulations.solve(inst, tau=0.8, time_limit=30.0, warm_start="auto")
print(json.dumps({"queries": int(sim.records.query.size), "loaded_by_online": loaded_by_online,
                  "warm_start": exact.params["warm_start"], "status": str(exact.status),
                  "objective_ms": exact.objective_ms}))
"""


def test_found_by_name_without_importing_goa():
    """In a fresh process that never imports goa: online.simulate(inst, "goa_ls") finds
    goa's planner and formulations.solve(warm_start="auto") goa_ls's start through the entry
    points (before: 'no planner for goa_ls' and "'auto' needs a start registered")."""
    require_installed_entry_points()
    # from the repository root, as this process: the same sys.path, the same metadata
    run = subprocess.run([sys.executable, "-c", WITHOUT_GOA], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    found = json.loads(run.stdout.strip().splitlines()[-1])
    assert found["queries"] > 0 and found["loaded_by_online"]
    assert found["warm_start"] == "goa_ls" and found["status"] == "optimal"
    import formulations

    same = formulations.solve(instances.generate(6, 2, seed=3), tau=0.8, time_limit=30.0)
    assert found["objective_ms"] == same.objective_ms


def _provide_double(calls: list):
    """A provider of the fake entry points below: registers a planner of "double_local"."""
    calls.append("double")

    def solve(instance, tau, method, seed=0):
        return np.full(instance.n_users, -1, dtype=np.int64)
    starts.register_planner("double", solve, lambda: ("double_local",))


CALLS: list = []


def provide_fake() -> None:
    """Entry point target of the tests (``tests.test_entry_points:provide_fake``)."""
    _provide_double(CALLS)


@pytest.fixture
def fresh_registry(monkeypatch):
    """Empty registries and no provider loaded; the real ones come back afterwards."""
    monkeypatch.setattr(starts, "_STARTS", {})
    monkeypatch.setattr(starts, "_PLANNERS", {})
    monkeypatch.setattr(starts, "_LOADED", set())
    CALLS.clear()


def _fake_entry_points(monkeypatch, table: dict) -> None:
    monkeypatch.setattr(starts, "_entry_points", lambda group: [
        importlib.metadata.EntryPoint(name, value, group) for name, value in table.get(group, ())])


def test_a_provider_is_loaded_on_first_use_only(fresh_registry, monkeypatch):
    """A look-up that finds nothing loads its group's providers, once; one that finds a
    registration made by hand loads nothing (so that it is not replaced behind the caller's
    back)."""
    _fake_entry_points(monkeypatch, {starts.PLANNERS_GROUP: [
        ("fake", f"{__name__}:provide_fake")]})
    inst = instances.generate(4, 2, seed=0)
    plan = starts.registered_planner("double_local")
    np.testing.assert_array_equal(plan(inst, tau=0.8), np.full(4, -1))
    assert starts.registered_planner("nobody_knows") is None
    assert starts.planner_methods() == ("double_local",)
    assert CALLS == ["double"]  # loaded once, at the first miss

    monkeypatch.setattr(starts, "_LOADED", set())
    CALLS.clear()
    starts.register_start("P", "mine", lambda instance, tau: None)
    assert starts.registered_start("P")[0] == "mine" and CALLS == []


def test_a_broken_provider_is_named(fresh_registry, monkeypatch):
    """An entry point whose module cannot be imported stops the look-up with an error naming
    the entry point, and is tried again at the next look-up (not silently dropped)."""
    _fake_entry_points(monkeypatch, {starts.STARTS_GROUP: [
        ("broken", "no_such_package_here:provide")]})
    for _ in range(2):
        with pytest.raises(starts.ProviderError,
                           match="entry point broken = no_such_package_here:provide"):
            starts.registered_start("P")


def test_a_heuristic_of_another_package(tmp_path, monkeypatch, fresh_registry):
    """A package of someone else's declares its heuristic as an entry point of
    llm_offloading.methods naming a copy of goa/plugins/_template.py: goa registers it, so
    goa.solve runs it, and online finds it by name through goa's planner."""
    import goa
    import online
    from goa import plugins, registry

    text = Path(plugins.__file__).with_name("_template.py").read_text(encoding="utf-8")
    (tmp_path / "their_heuristic.py").write_text(
        text.replace('NAME = "best_alone"', 'NAME = "their_heuristic"'), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    _fake_entry_points(monkeypatch, {
        plugins.METHODS_GROUP: [("their_heuristic", "their_heuristic")],
        starts.PLANNERS_GROUP: [("goa", "goa:provide_planners")]})  # setup.cfg's
    try:
        assert plugins.load_all()[-1] == "their_heuristic"
        inst = instances.generate(8, 2, seed=1)
        assert goa.solve(inst, tau=0.8, method="their_heuristic").is_feasible()
        assert "their_heuristic" in starts.planner_methods()  # goa's planner, via its entry point
        sim = online.simulate(inst, online.Solve("their_heuristic"), rate_per_user_hz=1.0,
                              duration_s=1.0, seed=0)
        assert sim.records.query.size > 0
    finally:
        registry.unregister_method("their_heuristic")
        sys.modules.pop("their_heuristic", None)
