"""The executor layer (benchmarks.executor): local processes and a real Dask cluster give the
same results; a killed worker, an interrupted or killed CLI and a resumed run lose nothing and
mix nothing stale in; the store's policies and the options' errors."""

import argparse
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from distributed import Client, LocalCluster
from numpy.testing import assert_array_equal

from benchmarks import codehash, executor, paper
from benchmarks.common import BenchmarkError, read_csv, run_cli, staged_output
from benchmarks.executor import STORE_NAME, run_tasks

from . import executor_tasks
from .test_codehash import append, copy_sources, edit, use_sources

ROOT = Path(__file__).resolve().parent.parent
# A tiny paper sweep: 2 sizes x 3 drops, one tau (the CLI's own task function).
PAPER_TINY = ["--users", "10", "20", "--drops", "3", "--tau", "0.8", "--no-plots"]
# Long enough to be interrupted mid-run (the GA takes tens of ms per drop), short for a test.
PAPER_INTERRUPTIBLE = ["--users", "20", "--drops", "24", "--tau", "0.8", "--ga", "--no-plots"]


def _args(**options) -> argparse.Namespace:
    base = {"executor": "local", "jobs": 1, "workers": None, "scheduler": None, "resume": False}
    return argparse.Namespace(**{**base, **options})


def _square(task):
    """A test task: plain data in, plain data out."""
    return {"x": task, "square": task * task}


CALLS = []


def _square_counted(task):
    """A test task that records its calls (run in this process: --jobs 1)."""
    CALLS.append(task)
    return {"x": task, "square": task * task}


def _square_or_die(task):
    """A test task that kills its own worker process the first time it sees ``die_at``."""
    x, die_at, marker = task
    if x == die_at and not os.path.exists(marker):
        Path(marker).write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.02)
    return {"x": x, "square": x * x}


def _pretend_version(version):
    """On a worker: pretend this module's task version is ``version`` (None: the real one)."""
    if version is None:
        codehash._TASK_VERSIONS.pop(__name__, None)
    else:
        codehash._TASK_VERSIONS[__name__] = version


def _fail_at(task):
    """A test task that stops the run (like Ctrl-C) at ``stop_at``."""
    x, stop_at = task
    if x == stop_at:
        raise KeyboardInterrupt
    return x * x


def _results_without_runtimes(path: Path) -> list[dict]:
    """A CSV's rows without the runtime columns (runtimes belong to the run that measured them)."""
    return [{k: v for k, v in row.items() if "runtime" not in k} for row in read_csv(path)]


def _stored(path: Path) -> int:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as db:
            return db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    except sqlite3.Error:
        return 0  # not created yet


@pytest.fixture(scope="module")
def scheduler():
    """A real Dask LocalCluster of 2 worker processes (1 thread each), shared by this module's
    Dask tests; yields its scheduler address."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=logging.ERROR) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def paper_reference(tmp_path_factory):
    """The tiny paper sweeps run once uninterrupted with --jobs 1: {name: output folder}."""
    outs = {}
    for name, argv in (("tiny", PAPER_TINY), ("interruptible", PAPER_INTERRUPTIBLE)):
        out = tmp_path_factory.mktemp(f"reference-{name}")
        assert paper.main(argv + ["--out", str(out)]) == 0
        outs[name] = out
    return outs


def test_results_identical_across_executors(tmp_path, paper_reference, scheduler):
    """paper's rows are identical (runtimes aside) with --jobs 1, --jobs 2, --executor dask
    --workers 2 (its own LocalCluster) and --executor dask --scheduler (a running cluster)."""
    expected = {name: _results_without_runtimes(paper_reference["tiny"] / name)
                for name in ("paper_drops.csv", "paper.csv")}
    runs = {"jobs2": ["--jobs", "2"], "workers2": ["--executor", "dask", "--workers", "2"],
            "scheduler": ["--executor", "dask", "--scheduler", scheduler]}
    for label, options in runs.items():
        out = tmp_path / label
        assert paper.main(PAPER_TINY + options + ["--out", str(out)]) == 0, label
        for name, rows in expected.items():
            assert _results_without_runtimes(out / name) == rows, (label, name)


def test_chunks_and_order(tmp_path, scheduler):
    """Results come back in task order whatever the chunking, locally and on Dask."""
    tasks = list(range(23))
    expected = [executor_tasks.square(x) for x in tasks]
    for label, args, chunk in (("local", _args(jobs=2), 4), ("dask", _args(
            executor="dask", scheduler=scheduler), 5), ("auto", _args(jobs=2), None)):
        got = run_tasks(executor_tasks.square, tasks, out=tmp_path / label, args=args, desc=label,
                        chunk_size=chunk)
        assert got == expected, label


def test_killed_worker_tasks_rerun_elsewhere(tmp_path, scheduler):
    """A worker process killed mid-task (SIGKILL) has its tasks re-run on another worker: the
    sweep completes with identical results, and the killed task is stored from another
    process."""
    marker = tmp_path / "killed-pid"
    tasks = [(x, 5, str(marker)) for x in range(12)]
    got = run_tasks(_square_or_die, tasks, out=tmp_path / "out",
                    args=_args(executor="dask", scheduler=scheduler), desc="kill",
                    chunk_size=2)
    assert got == [{"x": x, "square": x * x} for x in range(12)]
    killed = marker.read_text()
    with sqlite3.connect(tmp_path / "out" / STORE_NAME) as db:
        assert db.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 12
        (worker,), = db.execute("SELECT worker FROM results WHERE task LIKE '[5,%'")
    assert not worker.endswith(f":{killed}")  # re-run by another process
    with Client(scheduler, timeout=30) as client:  # the cluster recovers its 2 workers
        client.wait_for_workers(2, timeout=60)


@pytest.mark.parametrize("signum, executor_options", [
    (signal.SIGINT, []), (signal.SIGKILL, []), (signal.SIGINT, ["--jobs", "2"]),
    (signal.SIGKILL, ["--jobs", "2"]), (signal.SIGKILL, ["--executor", "dask", "--workers", "2"]),
], ids=["sigint-jobs1", "sigkill-jobs1", "sigint-jobs2", "sigkill-jobs2", "sigkill-dask"])
def test_cli_interrupted_then_resumed(tmp_path, paper_reference, signum, executor_options):
    """The paper CLI interrupted (SIGINT) or killed (SIGKILL) mid-run keeps its finished tasks
    and leaves no worker process behind; --resume runs only the rest and writes the same CSVs
    as an uninterrupted run, leaving no staging folder behind."""
    import psutil

    out = tmp_path / "out"
    store = out / STORE_NAME
    log = tmp_path / "stderr.txt"
    # Ctrl-C as from a terminal, even when this test runs where SIGINT is ignored (a
    # background job), which the child would inherit
    wrapper = ("import runpy, signal, sys; "
               "signal.signal(signal.SIGINT, signal.default_int_handler); sys.argv[0] = 'paper'; "
               "runpy.run_module('benchmarks.paper', run_name='__main__', alter_sys=True)")
    with open(log, "w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", wrapper, *PAPER_INTERRUPTIBLE, *executor_options, "--out",
             str(out)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr)
    deadline = time.monotonic() + 120
    while _stored(store) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    children = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(signum)
    process.wait(timeout=60)
    _, alive = psutil.wait_procs(children, timeout=15)
    for child in alive:  # ours: do not leave them running, whatever the outcome
        child.kill()
    assert not alive, f"worker processes left behind: {alive}"
    err = log.read_text()
    finished = _stored(store)
    assert 2 <= finished < 24, f"not interrupted mid-run: {finished} tasks stored; {err}"
    assert not (out / "paper.csv").exists()
    if signum == signal.SIGINT:
        assert process.returncode == 130, err
        assert "--resume" in err and str(store) in err, err
        assert not list(out.glob(".staging-*"))
    else:
        assert process.returncode == -signal.SIGKILL

    assert paper.main(PAPER_INTERRUPTIBLE + ["--out", str(out)]) == 2  # not silently reused
    assert paper.main(PAPER_INTERRUPTIBLE + ["--out", str(out), "--resume"]) == 0
    for name in ("paper_drops.csv", "paper.csv"):
        assert _results_without_runtimes(out / name) == _results_without_runtimes(
            paper_reference["interruptible"] / name), name
    assert not list(out.glob(".staging-*"))


def test_resume_reuses_only_matching_tasks(tmp_path, monkeypatch):
    """--resume runs nothing already stored; other options or another code version are never
    reused; without --resume a completed store is replaced, an unfinished one refused."""
    out = tmp_path / "out"
    tasks = [1, 2, 3]

    def run(resume, **kw):
        CALLS.clear()
        result = run_tasks(_square_counted, tasks, out=out, args=_args(resume=resume), desc="t",
                           **kw)
        assert result == [{"x": x, "square": x * x} for x in tasks]
        return list(CALLS)

    assert run(False) == tasks
    assert run(True) == []  # everything reused
    assert run(True, options={"time_limit": 5}) == tasks  # other options: computed afresh
    assert run(True, options={"time_limit": 5}) == []
    monkeypatch.setitem(codehash._TASK_VERSIONS, __name__, "another-version")
    assert run(True, options={"time_limit": 5}) == tasks  # other code: computed afresh
    assert run(False) == tasks  # a completed store is replaced, not reused

    with pytest.raises(KeyboardInterrupt) as stop:
        run_tasks(_fail_at, [(1, 3), (2, 3), (3, 3)], out=out, args=_args(), desc="t")
    assert "2 of 3 tasks are finished and kept" in stop.value.__notes__[0]
    with pytest.raises(BenchmarkError, match="--resume"):
        run_tasks(_fail_at, [(1, 0)], out=out, args=_args(), desc="t")
    assert run_tasks(_fail_at, [(1, 0), (2, 0)], out=out, args=_args(resume=True), desc="t") \
        == [1, 4]


def test_interrupted_before_any_task_leaves_nothing(tmp_path):
    """A run stopped before any task finished removes its store and the folders it created;
    the staging folder is gone too."""
    out = tmp_path / "new" / "deeper"
    code = run_cli("prog", lambda: _staged_run(out, [(1, 1)]))
    assert code == 130
    assert not (tmp_path / "new").exists()


def _staged_run(out, tasks):
    with staged_output(out):
        run_tasks(_fail_at, tasks, out=out, args=_args(), desc="t")
    return 0


def test_errors_name_the_target(tmp_path, capsys, scheduler):
    """Bad --out, bad option combinations, non-plain tasks and workers running other code are
    one-line errors naming what the user gave."""
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    assert paper.main(PAPER_TINY + ["--out", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error" in line]  # after the header line
    assert len(errors) == 1 and f"error: --out {blocker / 'sub'}: cannot" in errors[0], err
    assert ".staging" not in err

    taken = tmp_path / "taken"
    (taken / "paper.csv").mkdir(parents=True)  # the target of a file is a folder: cannot move
    (taken / "paper.csv" / "keep").write_text("x")
    assert paper.main(PAPER_TINY + ["--out", str(taken)]) == 2
    err = capsys.readouterr().err
    assert f"error: {taken / 'paper.csv'}:" in err and ".staging" not in err, err
    assert not list(taken.glob(".staging-*"))

    for argv, option in ((["--workers", "2"], "--workers"), (["--scheduler", "tcp://x:1"],
                         "--scheduler"), (["--executor", "dask", "--jobs", "2"], "--jobs"),
                         (["--executor", "dask", "--workers", "2", "--scheduler", scheduler],
                          "--workers, --scheduler")):
        assert paper.main(PAPER_TINY + argv + ["--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        assert f"error: {option}" in err and len(err.splitlines()) == 1, argv
    assert not (tmp_path / "o").exists()

    with pytest.raises(BenchmarkError, match="task 1: must be plain data"):
        run_tasks(_square, [1, object()], out=tmp_path / "p", args=_args(), desc="t")

    with Client(scheduler, timeout=30) as client:
        client.run(_pretend_version, "other-code")
        try:
            with pytest.raises(BenchmarkError, match="runs other code"):
                run_tasks(_square, [1, 2], out=tmp_path / "q",
                          args=_args(executor="dask", scheduler=scheduler), desc="t")
        finally:
            client.run(_pretend_version, None)


def test_unreachable_scheduler(tmp_path, monkeypatch):
    """--scheduler at an address nobody listens on is a clear error naming the address."""
    monkeypatch.setattr(executor, "CONNECT_TIMEOUT_S", 2)
    with pytest.raises(BenchmarkError, match="--scheduler tcp://127.0.0.1:9: cannot connect"):
        run_tasks(_square, [1], out=tmp_path / "o",
                  args=_args(executor="dask", scheduler="tcp://127.0.0.1:9"), desc="t")
    assert not (tmp_path / "o").exists()


def test_resume_after_an_unrelated_edit_recomputes_nothing(tmp_path, monkeypatch, capsys):
    """paper --resume after edits to a module its tasks do not import (benchmarks.scale), to a
    comment and a docstring of one they do, and to the executor, reuses every task; an edit
    to code the tasks run (the evaluator) recomputes every one. The full code hash of each
    row records the edit all the same."""
    sources = copy_sources(tmp_path / "src")
    use_sources(monkeypatch, sources)
    out = tmp_path / "out"
    assert paper.main(PAPER_TINY + ["--out", str(out)]) == 0
    with sqlite3.connect(out / STORE_NAME) as db:
        first_code, = {v for v, in db.execute("SELECT code_version FROM results")}
    capsys.readouterr()

    append(sources / "benchmarks" / "scale.py", "\ndef _unused():\n    return 1\n")
    edit(sources / "instances" / "evaluate.py", '"""', '"""An edited docstring. ')
    append(sources / "instances" / "evaluate.py", "# an edited comment\n")
    append(sources / "benchmarks" / "executor.py", "\ndef _unused():\n    return 1\n")
    codehash.forget()
    assert paper.main(PAPER_TINY + ["--out", str(out), "--resume"]) == 0
    assert "--resume: 6 of 6 tasks found" in capsys.readouterr().err
    with sqlite3.connect(out / STORE_NAME) as db:
        code, = {v for v, in db.execute("SELECT code_version FROM results")}
    assert code == first_code  # nothing recomputed, so every row keeps its record

    append(sources / "instances" / "evaluate.py", "_EDITED = 1\n")
    codehash.forget()
    assert paper.main(PAPER_TINY + ["--out", str(out), "--resume"]) == 0
    assert "--resume: 0 of 6 tasks found" in capsys.readouterr().err
    with sqlite3.connect(out / STORE_NAME) as db:
        codes = {v for v, in db.execute("SELECT code_version FROM results")}
    assert first_code in codes and len(codes) == 2  # the new rows record the edited code


def test_keys_change_with_every_part():
    """Keys change with the function, the task, the options and the task version."""
    base = executor.task_key("f", "[1]", "{}", "v1")
    others = [executor.task_key("g", "[1]", "{}", "v1"), executor.task_key("f", "[2]", "{}", "v1"),
              executor.task_key("f", "[1]", '{"a":1}', "v1"), executor.task_key("f", "[1]", "{}",
                                                                                 "v2")]
    assert_array_equal([k == base for k in others], [False] * 4)


def test_a_second_run_on_one_out_is_refused(tmp_path, capsys):
    """While another process holds --out, a run there fails at once with one line naming the
    folder and the other run's pid, writing nothing; once it has ended, the run goes ahead and
    leaves no lock file behind."""
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from benchmarks.common import output_lock\n"
         "with output_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)",
         str(out)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert paper.main(PAPER_TINY + ["--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert f"error: --out {out}: another run (pid {holder.pid} on " in err, err
        with pytest.raises(BenchmarkError, match=f"pid {holder.pid}"):
            run_tasks(_square, [1], out=out, args=_args(), desc="t")
        assert sorted(p.name for p in out.iterdir()) == [".lock"]
    finally:
        holder.kill()
        holder.wait()
    assert run_tasks(_square, [1], out=out, args=_args(), desc="t") == [_square(1)]
    assert sorted(p.name for p in out.iterdir()) == [STORE_NAME]


def _record_call(task):
    """A test task that leaves a file behind: evidence that it ran."""
    x, folder = task
    Path(folder, f"ran-{x}").write_text("x")
    return x


def test_worker_version_checked_before_any_task(tmp_path, scheduler):
    """A worker whose code differs from the driver's runs no task of its chunk: the run stops
    with 'runs other code' and no task left a trace (locally, and on a Dask cluster)."""
    traces = tmp_path / "traces"
    traces.mkdir()
    tasks = [(x, str(traces)) for x in range(4)]
    version, code, worker, done = executor._run_chunk(_record_call, "not-this-code", None,
                                                      list(enumerate(tasks)))
    assert (version, done) == (codehash.task_version(__name__), [])
    assert not list(traces.iterdir())
    with Client(scheduler, timeout=30) as client:
        client.run(_pretend_version, "other-code")
        try:
            with pytest.raises(BenchmarkError, match="runs other code"):
                run_tasks(_record_call, tasks, out=tmp_path / "q",
                          args=_args(executor="dask", scheduler=scheduler), desc="t")
        finally:
            client.run(_pretend_version, None)
    assert not list(traces.iterdir())


def test_one_numba_thread_per_worker_process(tmp_path):
    """Pool workers use one numba thread each unless --threads says otherwise."""
    assert run_tasks(executor_tasks.numba_threads, [0, 1, 2], out=tmp_path / "a",
                     args=_args(jobs=2), desc="t") == [1, 1, 1]
    assert run_tasks(executor_tasks.numba_threads, [0, 1, 2], out=tmp_path / "b",
                     args=_args(jobs=2, threads=2), desc="t") == [2, 2, 2]


def test_exact_searches_in_tasks_use_the_tasks_cores(tmp_path, monkeypatch):
    """A task's exact search uses the task's cores, not every core of the machine: the
    executor sets LLM_OFFLOADING_SOLVER_WORKERS (the variable formulations.loadbox reads) to 1,
    or to --threads, in every worker, and restores it in this process afterwards."""
    from benchmarks import executor
    from formulations import loadbox

    assert executor.SOLVER_WORKERS_ENV == loadbox.WORKERS_ENV
    monkeypatch.delenv(loadbox.WORKERS_ENV, raising=False)
    assert run_tasks(executor_tasks.solver_workers, [0, 1, 2], out=tmp_path / "a",
                     args=_args(jobs=2), desc="t") == ["1", "1", "1"]
    assert run_tasks(executor_tasks.solver_workers, [0, 1, 2], out=tmp_path / "b",
                     args=_args(jobs=2, threads=2), desc="t") == ["2", "2", "2"]
    assert run_tasks(executor_tasks.solver_workers, [0], out=tmp_path / "c",
                     args=_args(), desc="t") == ["1"]
    assert loadbox.WORKERS_ENV not in os.environ


def test_chunk_size_from_the_task_duration():
    """60 s tasks go one per chunk; millisecond tasks in chunks of at most MAX_CHUNK, with
    CHUNKS_PER_SLOT chunks per worker at least; an explicit chunk size wins."""
    assert executor.chunk_count(40, 2, task_seconds=60.0) == 40
    assert executor.chunk_count(40, 2, task_seconds=0.6) == 40
    assert executor.chunk_count(10_000, 2, task_seconds=0.001) == 100
    assert executor.chunk_count(10_000, 2) == 100
    assert executor.chunk_count(100, 2, task_seconds=0.001) == 2 * executor.CHUNKS_PER_SLOT
    assert executor.chunk_count(100, 1, task_seconds=0.001) == 100  # in-process: one by one
    assert executor.chunk_count(10, 4, chunk_size=3) == 4
    assert executor.chunk_count(0, 2) == 0


def test_store_commits_a_batch_whole(tmp_path):
    """A batch of rows with one bad row stores none of them (one transaction), and a later
    good batch is stored."""
    from benchmarks.store import TaskStore

    store = TaskStore(tmp_path / STORE_NAME)
    good = ("k1", "f", "[1]", b"r", "code", "task", "host:1", 0.5)
    with pytest.raises(sqlite3.Error):
        store.put([good, ("k2", "f", "[2]", None, "code", "task", "host:1", 0.5)])  # NULL result
    assert len(store) == 0
    store.put([good])
    assert len(store) == 1
    store.close()
