"""The benchmark library (library/): its data checked, never rebuilt; the checker of anyone's
plans (good, improved, infeasible, below-bound and malformed files); ``run`` and a tiny
``build`` into a temporary folder."""

from __future__ import annotations

import csv
import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

import formulations
import instances
from benchmarks import library as lib
from benchmarks.common import read_csv

SMALL_N = 16  # rows up to this N are re-solved exactly (the congested set)


# --- the shipped data ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shipped():
    """The library shipped in library/ (its table read, its instances loaded when asked)."""
    return lib.load_library()


def test_library_covers_the_paper_grid_with_five_seeds(shipped):
    """The paper's 40 (N, tau) points x the 5 library seeds, the congested set and the large
    "none" drops are all there, each instance file present, the whole under 20 MB."""
    paper = [e for e in shipped.values() if e.set == "paper"]
    points = {(e.n_users, e.tau) for e in paper}
    assert len(points) == 40 and len(paper) == 40 * len(lib.SEEDS)
    assert {e.seed for e in paper} == set(lib.SEEDS) and min(lib.SEEDS) >= 0
    assert all(s < 1000 for s in lib.SEEDS)  # never the tuning seeds
    assert {e.set for e in shipped.values()} == set(lib.SETS)
    assert max(e.n_users for e in shipped.values() if e.set == "none") == 500
    size = sum(p.stat().st_size for p in lib.LIBRARY_DIR.rglob("*") if p.is_file())
    assert size < 20e6
    for entry in shipped.values():
        assert (lib.LIBRARY_DIR / entry.instance_file).is_file()


def test_every_plan_is_feasible_and_its_delay_is_the_evaluators(shipped):
    """Every best-known plan keeps the guard and its stored T equals instances.evaluate's to
    1e-9; the instance files are the drops the builder generates."""
    for entry in shipped.values():
        evaluation = instances.evaluate(entry.instance, entry.best_plan, tau=entry.tau)
        assert evaluation.feasible, entry.id
        np.testing.assert_allclose(evaluation.total_delay_ms, entry.best_ms, rtol=1e-9,
                                   err_msg=entry.id)
        assert entry.instance.interference == entry.interference
        assert entry.instance.n_servers == entry.n_servers


def test_every_bound_is_at_most_the_best_known_value(shipped):
    """A certified lower bound never exceeds the best-known value; rows marked optimal have
    their bound within 1e-7 of it."""
    for entry in shipped.values():
        assert 0 < entry.bound_ms <= entry.best_ms, entry.id
        if entry.status == "optimal":
            assert entry.gap_pct <= 1e-5, entry.id
        assert entry.status in ("optimal", "open")


def test_generated_instances_match_the_files(shipped):
    """Each file is the drop its name says (regenerated bit for bit), checked on one drop per
    set."""
    seen = set()
    for entry in shipped.values():
        if entry.set in seen:
            continue
        seen.add(entry.set)
        again = lib.make_instance(entry.set, entry.interference, entry.n_users,
                                  entry.n_servers, entry.seed)
        assert again.fingerprint == entry.instance.fingerprint, entry.id


def test_stored_optima_of_small_instances_equal_a_fresh_exact_solve(shipped):
    """On the small instances (N <= 16) every row marked optimal equals the optimum that a
    fresh formulations.solve proves (bnb under "full", loadvec under "none"), to 1e-7."""
    small = [e for e in shipped.values() if e.n_users <= SMALL_N and e.status == "optimal"]
    assert small
    for entry in small:
        fresh = formulations.solve(entry.instance, entry.tau, time_limit=120)
        assert fresh.status == instances.Status.OPTIMAL, entry.id
        np.testing.assert_allclose(fresh.objective_ms, entry.best_ms, rtol=1e-7,
                                   err_msg=entry.id)


# --- a tiny library, built -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A library of the congested "full" drops at N = 8 (5 seeds x 3 tau, bnb proves each),
    built by the CLI into a temporary folder."""
    root = tmp_path_factory.mktemp("lib")
    assert lib.main(["build", "--sets", "congested", "--sizes", "8", "--out",
                     str(root / "lib"), "--work", str(root / "work")]) == 0
    return root / "lib"


def _copy(tiny: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "lib"
    shutil.copytree(tiny, folder)
    return folder


def _write(path: Path, rows: list[dict], columns=("id", "assignment")) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _plans(folder: Path) -> list[dict]:
    return [{"id": e.id, "assignment": lib.format_plan(e.best_plan)}
            for e in lib.load_library(folder).values()]


def test_tiny_build_is_proven_and_consistent(tiny):
    """The builder writes the table and the instance files; every row proven optimal (bnb at
    N = 8), its plan's T recomputed, its budget and work recorded, with date and commit."""
    entries = lib.load_library(tiny)
    assert len(entries) == 5 * 3
    for e in entries.values():
        assert e.status == "optimal" and e.bound_method == "bnb"
        assert "max_nodes=" in e.bound_budget and e.bound_work.endswith("nodes")
        assert e.date and e.commit
        ev = instances.evaluate(e.instance, e.best_plan, tau=e.tau)
        assert ev.feasible and abs(ev.total_delay_ms - e.best_ms) <= 1e-9 * e.best_ms


def test_open_only_rebuilds_just_the_rows_not_proven(tiny, tmp_path, capsys):
    """``build --open-only`` runs only the rows whose status is not optimal (here two rows
    made open, with a lower bound), proves them again, and keeps every other row as it was;
    with every row proven it does nothing; with --fresh it is refused (exit 2)."""
    folder = _copy(tiny, tmp_path)
    table = folder / lib.TABLE_NAME
    with open(table, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    opened = {rows[1]["id"], rows[4]["id"]}
    for r in rows:
        if r["id"] in opened:
            r["status"], r["exact_status"] = "open", "work_limit"
            r["bound_ms"] = repr(float(r["best_ms"]) * 0.9)
            r["gap_pct"] = repr((float(r["best_ms"]) - float(r["bound_ms"]))
                                / float(r["bound_ms"]) * 100)
    _write(table, rows, lib.COLUMNS)
    before = {r["id"]: r for r in rows}
    capsys.readouterr()
    assert lib.main(["build", "--sets", "congested", "--sizes", "8", "--open-only", "--out",
                     str(folder), "--work", str(tmp_path / "work")]) == 0
    assert " 2 (instance, tau) tasks" in capsys.readouterr().err
    after = lib.load_library(folder)
    for key, e in after.items():
        assert e.status == "optimal", key
        if key not in opened:
            assert e.row() == before[key] or float(e.row()["best_ms"]) == float(
                before[key]["best_ms"]), key
    assert lib.main(["build", "--sets", "congested", "--sizes", "8", "--open-only", "--out",
                     str(folder), "--work", str(tmp_path / "work2")]) == 0
    assert "nothing to do" in capsys.readouterr().err
    assert lib.main(["build", "--open-only", "--fresh", "--out", str(folder)]) == 2
    assert "--open-only" in capsys.readouterr().err


def test_a_build_keeps_rows_another_build_wrote_meanwhile(tiny, tmp_path, monkeypatch):
    """Two builds into one folder side by side: the rows the other build writes while this one
    runs are kept (the table is read again at the end, not only at the start)."""
    folder = _copy(tiny, tmp_path)
    table = folder / lib.TABLE_NAME
    with open(table, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    rows[1]["status"], rows[1]["exact_status"] = "open", "work_limit"
    rows[1]["bound_ms"] = repr(float(rows[1]["best_ms"]) * 0.9)
    rows[1]["gap_pct"] = repr(100 / 9)
    _write(table, rows, lib.COLUMNS)
    real = lib.run_tasks

    def other_build_writes_meanwhile(*args, **kwargs):
        results = real(*args, **kwargs)
        rows[7]["date"] = "2099-01-01"  # the other build's row
        _write(table, rows, lib.COLUMNS)
        return results

    monkeypatch.setattr(lib, "run_tasks", other_build_writes_meanwhile)
    assert lib.main(["build", "--sets", "congested", "--sizes", "8", "--open-only", "--out",
                     str(folder), "--work", str(tmp_path / "work")]) == 0
    after = lib.load_library(folder)
    assert after[rows[1]["id"]].status == "optimal"
    assert after[rows[7]["id"]].date == "2099-01-01"


def test_min_gap_selects_the_open_rows_above_it(tiny, tmp_path, capsys):
    """``build --open-only --min-gap PCT`` runs only the open rows whose certified gap is above
    PCT (here one row at 11 % and one at 2 %, --min-gap 5: one task); without --open-only, or
    negative, it is refused with one line naming the option (exit 2), as is a --target-gap
    outside (0, 100) or an unknown id in --ids; --ids runs just the rows it names."""
    folder = _copy(tiny, tmp_path)
    table = folder / lib.TABLE_NAME
    with open(table, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for r, factor in ((rows[1], 0.9), (rows[4], 0.98)):
        r["status"], r["exact_status"] = "open", "work_limit"
        r["bound_ms"] = repr(float(r["best_ms"]) * factor)
        r["gap_pct"] = repr((float(r["best_ms"]) - float(r["bound_ms"])) / float(r["bound_ms"])
                            * 100)
    _write(table, rows, lib.COLUMNS)
    capsys.readouterr()
    assert lib.main(["build", "--sets", "congested", "--sizes", "8", "--open-only", "--min-gap",
                     "5", "--out", str(folder), "--work", str(tmp_path / "work")]) == 0
    assert " 1 (instance, tau) tasks" in capsys.readouterr().err
    after = lib.load_library(folder)
    assert after[rows[1]["id"]].status == "optimal"
    assert after[rows[4]["id"]].status == "open"
    assert lib.main(["build", "--sets", "congested", "--sizes", "8", "--ids", rows[4]["id"],
                     "--out", str(folder), "--work", str(tmp_path / "work2")]) == 0
    assert " 1 (instance, tau) tasks" in capsys.readouterr().err
    assert lib.load_library(folder)[rows[4]["id"]].status == "optimal"
    for argv, word in ((["--min-gap", "5"], "--open-only"),
                       (["--open-only", "--min-gap", "-1"], "--min-gap"),
                       (["--target-gap", "0"], "--target-gap"),
                       (["--ids", "paper_N50_seed9_tau1"], "--ids")):
        assert lib.main(["build", *argv, "--out", str(folder)]) == 2
        err = capsys.readouterr().err
        assert word in err and "Traceback" not in err


def test_target_gap_stops_a_rows_search_within_it():
    """A build task with a target gap (here 9 %, on the paper's N = 50 seed-0 drop at tau 0.8)
    stops its "loadbox" search within it: the row stays open, its gap at most the target and
    its budget naming the target."""
    row = lib.build_task(("paper", "full", 50, 4, 0, 0.8, 5000, None, 0, 600.0, 9.0))
    assert row["status"] == "open" and row["exact_status"] == "work_limit"
    assert "target_gap=0.09" in row["bound_budget"]
    boxes = int(row["bound_work"].split()[0])
    assert boxes < 5000
    gap = (row["best_ms"] - row["bound_ms"]) / row["bound_ms"] * 100
    assert 0 < gap <= 9.0


def test_check_good_file(tiny, tmp_path, capsys):
    """The library's own plans: exit 0, every gap 0, no new best-known, no bound error."""
    path = _write(tmp_path / "good.csv", _plans(tiny))
    assert lib.main(["check", str(path), "--library", str(tiny)]) == 0
    out = capsys.readouterr().out
    assert "BOUND ERROR" not in out and "new best-known" in out  # the totals' line
    checked = [lib.check_plan(e, p) for e, p in lib.read_solutions(path, lib.load_library(tiny))]
    assert all(c.feasible and not c.new_best and not c.below_bound for c in checked)
    assert max(abs(c.gap_best_pct) for c in checked) <= 1e-9


def test_check_flags_an_improved_plan(tiny, tmp_path, capsys):
    """A plan better than the stored best-known (here: the stored best made worse) is flagged
    as a new best-known, and is not a bound error."""
    folder = _copy(tiny, tmp_path)
    rows = read_csv(folder / lib.TABLE_NAME)
    target = rows[0]
    inst = instances.load(folder / target["instance_file"])
    worse = np.full(inst.n_users, -1)
    worse[inst.alpha > float(target["tau"])] = 0  # the forced users on ES 0, the rest home
    worse_ms = instances.evaluate(inst, worse).total_delay_ms
    assert worse_ms > float(target["best_ms"])
    target.update(best_ms=repr(worse_ms), best_plan=lib.format_plan(worse), status="open",
                  bound_ms=repr(float(target["bound_ms"]) * 0.5))
    _write(folder / lib.TABLE_NAME, rows, lib.COLUMNS)
    plans = [{"id": target["id"], "assignment": lib.format_plan(
        lib.load_library(tiny)[target["id"]].best_plan)}]
    path = _write(tmp_path / "better.csv", plans)
    assert lib.main(["check", str(path), "--library", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "new best-known" in out.splitlines()[2] and "BOUND ERROR" not in out


def test_check_flags_an_infeasible_plan(tiny, tmp_path, capsys):
    """A plan that leaves a forced user local is reported infeasible (exit 1)."""
    entries = lib.load_library(tiny)
    entry = next(e for e in entries.values() if np.any(e.instance.alpha > e.tau))
    plan = entry.best_plan.copy()
    plan[np.argmax(entry.instance.alpha > entry.tau)] = -1
    path = _write(tmp_path / "bad.csv", [{"id": entry.id, "assignment": lib.format_plan(plan)}])
    assert lib.main(["check", str(path), "--library", str(tiny)]) == 1
    assert "INFEASIBLE (guard)" in capsys.readouterr().out


def test_check_reports_a_plan_below_the_bound_as_a_bound_error(tiny, tmp_path, capsys):
    """A feasible plan below a stored certified bound (here: a bound raised above the optimum)
    is reported as an error in the bound, exit 1."""
    folder = _copy(tiny, tmp_path)
    rows = read_csv(folder / lib.TABLE_NAME)
    rows[0]["bound_ms"] = repr(float(rows[0]["best_ms"]) * 1.01)
    rows[0]["best_ms"] = repr(float(rows[0]["best_ms"]) * 1.02)
    _write(folder / lib.TABLE_NAME, rows, lib.COLUMNS)
    plans = [{"id": rows[0]["id"], "assignment": rows[0]["best_plan"]}]
    path = _write(tmp_path / "below.csv", plans)
    assert lib.main(["check", str(path), "--library", str(folder)]) == 1
    assert "BOUND ERROR" in capsys.readouterr().out


@pytest.mark.parametrize("change, expected", [
    (lambda rows: rows[1].update(id="nope"), "row 2, field id"),
    (lambda rows: rows[0].update(assignment="0 1 x"), "row 1, field assignment: not an integer"),
    (lambda rows: rows[2].update(assignment="0 1"), "row 3, field assignment: 2 entries"),
    (lambda rows: rows[0].update(assignment=rows[0]["assignment"].replace("0", "7", 1)
                                 .replace("1", "7", 1)), "row 1, field assignment: entry"),
    (lambda rows: rows[1].update(id=rows[0]["id"]), "row 2, field id"),
    (lambda rows: rows[0].update(assignment=""), "row 1, field assignment: empty"),
    (lambda rows: rows[0].update(assignment="9" * 30), "row 1, field assignment: out of range"),
])
def test_check_malformed_file_is_one_line_exit_2(tiny, tmp_path, capsys, change, expected):
    """An unknown or repeated id, a non-integer, a wrong length, an ES out of range or an
    empty cell: one line naming the row and the field, exit 2."""
    rows = _plans(tiny)
    change(rows)
    path = _write(tmp_path / "bad.csv", rows)
    assert lib.main(["check", str(path), "--library", str(tiny)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and expected in captured.err


def test_check_file_without_the_columns_or_missing(tiny, tmp_path, capsys):
    """A file without the assignment column, or no file at all: one line, exit 2."""
    path = tmp_path / "cols.csv"
    path.write_text("id,plan\nx,1\n")
    assert lib.main(["check", str(path), "--library", str(tiny)]) == 2
    assert "header: missing column(s) assignment" in capsys.readouterr().err
    assert lib.main(["check", str(tmp_path / "none.csv"), "--library", str(tiny)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_run_writes_plans_that_check_reads(tiny, tmp_path, capsys):
    """``run --method goa`` writes one plan per library row; ``check`` reads them back; GOA is
    never below the proven optimum."""
    out = tmp_path / "goa.csv"
    assert lib.main(["run", "--method", "goa", "--library", str(tiny), "--out", str(out)]) == 0
    rows = read_csv(out)
    assert len(rows) == 15 and {r["method"] for r in rows} == {"goa"}
    assert lib.main(["check", str(out), "--library", str(tiny)]) == 0
    pairs = lib.read_solutions(out, lib.load_library(tiny))
    assert all(lib.check_plan(e, p).gap_best_pct >= -1e-9 for e, p in pairs)
    assert lib.main(["run", "--method", "nope", "--library", str(tiny)]) == 2
    assert "--method" in capsys.readouterr().err


def test_merge_keeps_the_better_plan_and_the_higher_bound(tiny):
    """Rebuilding merges: a worse new plan or a lower new bound never replaces the stored one;
    a better one does, and the row's date and commit move with it."""
    proven = next(iter(lib.load_library(tiny).values()))
    entry = dataclasses.replace(proven, bound_ms=proven.best_ms * 0.5, status="open")
    worse = dict(entry.row(), best_ms=entry.best_ms * 2, best_plan="0", bound_ms=1.0,
                 status="open")
    assert lib.merge(entry, worse, "2099-01-01", "abc") == entry.row()
    better = dict(entry.row(), best_ms=entry.best_ms * 0.9, best_plan="1 2",
                  bound_ms=entry.bound_ms * 0.5, status="open", best_method="x")
    row = lib.merge(entry, better, "2099-01-01", "abc")
    assert row["best_plan"] == "1 2" and row["bound_ms"] == entry.bound_ms
    assert row["status"] == "open" and (row["date"], row["commit"]) == ("2099-01-01", "abc")
    tighter = dict(entry.row(), bound_ms=entry.best_ms * 0.99, status="open")
    row = lib.merge(entry, tighter, "2099-01-02", "def")
    assert row["bound_ms"] == entry.best_ms * 0.99 and row["date"] == "2099-01-02"
    assert row["best_plan"] == lib.format_plan(entry.best_plan)


def test_check_reads_a_file_with_a_byte_order_mark(tiny, tmp_path):
    """A CSV saved by a spreadsheet (UTF-8 with a byte-order mark) is read: the mark is not
    part of the first column's name."""
    path = _write(tmp_path / "plain.csv", _plans(tiny))
    marked = tmp_path / "marked.csv"
    marked.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert lib.main(["check", str(marked), "--library", str(tiny)]) == 0


def test_merge_refuses_a_bound_above_a_stored_plan(tiny):
    """A new bound above the plan already stored proves one of them wrong: the build stops
    with an error naming the row instead of writing a bound above the best-known value."""
    entry = next(iter(lib.load_library(tiny).values()))
    wrong = dict(entry.row(), best_ms=entry.best_ms * 2, bound_ms=entry.best_ms * 1.5,
                 status="open")
    with pytest.raises(RuntimeError, match=entry.id):
        lib.merge(entry, wrong, "2099-01-01", "abc")
