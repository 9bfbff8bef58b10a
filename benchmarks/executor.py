"""One executor layer for every sweep CLI: local processes or a Dask cluster, with a durable
store so that an interrupted run loses only the tasks in flight (docs/sweeps.md).

A CLI adds the options with :func:`add_executor_arguments` and runs its tasks with
:func:`run_tasks`::

    add_executor_arguments(parser)  # --executor --jobs --workers --scheduler --threads --resume
    ...
    results = run_tasks(solve_task, tasks, out=args.out, args=args, desc="gap")

A task is plain data (an instance spec: preset, seed, overrides; or a file's contents), never a
live object, so that any worker on any machine can run it; the task function must be a
module-level function of an installed package (it is sent by reference).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import importlib
import json
import logging
import math
import multiprocessing
import os
import pickle
import signal
import socket
import sys
import threading
import time
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from benchmarks.codehash import code_version, task_version
from benchmarks.common import (
    BenchmarkError, output_lock, pid_alive, positive_int)
from benchmarks.store import STORE_NAME, TaskStore, remove_store

__all__ = ["add_executor_arguments", "check_executor_arguments", "chunk_count", "code_version",
           "describe_executor", "run_tasks", "set_numba_threads", "task_key", "task_version",
           "STORE_NAME"]

EXECUTORS = ("local", "dask")
CHUNKS_PER_SLOT = 16  # at least this many chunks per worker: balance and little lost in flight
MAX_CHUNK = 100  # at most this many tasks per chunk
CHUNK_SECONDS = 1.0  # about this much work per chunk when the tasks' duration is known
CONNECT_TIMEOUT_S = 30
MP_METHOD_KEY = "distributed.worker.multiprocessing-method"


def add_executor_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--executor``, ``--jobs``, ``--workers``, ``--scheduler``, ``--threads`` and
    ``--resume``."""
    group = parser.add_argument_group("execution (results do not depend on these; "
                                      "see docs/sweeps.md)")
    group.add_argument("--executor", choices=EXECUTORS, default="local",
                       help="local processes (default) or a Dask cluster")
    group.add_argument("--jobs", type=positive_int, default=1,
                       help="--executor local: parallel processes (1)")
    group.add_argument("--workers", type=positive_int, metavar="N",
                       help="--executor dask: start a local Dask cluster of N worker processes, "
                            "1 thread each (default: one per core)")
    group.add_argument("--scheduler", metavar="ADDRESS",
                       help="--executor dask: use the running Dask cluster whose scheduler is "
                            "at ADDRESS (e.g. tcp://10.0.0.1:8786)")
    group.add_argument("--threads", type=positive_int, metavar="N",
                       help="numba threads per worker process (default: 1 with --jobs 2 or "
                            "more and with Dask, so that the processes share the cores; with "
                            "--jobs 1 numba's default, one per core)")
    group.add_argument("--resume", action="store_true",
                       help=f"reuse the finished tasks in --out's {STORE_NAME} that match this "
                            f"run's tasks, options and code; compute only the rest")


def check_executor_arguments(args: argparse.Namespace) -> None:
    """Reject option combinations that do not fit the chosen executor.

    Raises
    ------
    BenchmarkError
        Naming the option.
    """
    if args.executor == "local":
        for option in ("workers", "scheduler"):
            if getattr(args, option) is not None:
                raise BenchmarkError(f"--{option}: applies to --executor dask (local processes: "
                                     f"--jobs)")
    else:
        if args.jobs != 1:
            raise BenchmarkError("--jobs: applies to --executor local (Dask: --workers or "
                                 "--scheduler)")
        if args.workers is not None and args.scheduler is not None:
            raise BenchmarkError("--workers, --scheduler: give one of them (start a local "
                                 "cluster, or use a running one)")
        if args.scheduler is not None and not args.scheduler.strip():
            raise BenchmarkError("--scheduler: empty address")


def describe_executor(args: argparse.Namespace) -> str:
    """A few words on where the tasks run, for the CLIs' header line (after checking the
    options with :func:`check_executor_arguments`, so that a bad one fails first)."""
    check_executor_arguments(args)
    if args.executor == "local":
        return f"{args.jobs} local process(es)"
    if args.scheduler is not None:
        return f"Dask cluster at {args.scheduler}"
    return f"local Dask cluster of {args.workers or os.cpu_count()} worker(s)"


def task_key(function_name: str, task_json: str, options_json: str, version: str) -> str:
    """The store key of a task: sha256 of the function, the task, the result-changing options
    and the task's code version (:func:`task_version`)."""
    text = "\0".join((function_name, task_json, options_json, version))
    return hashlib.sha256(text.encode()).hexdigest()


def run_tasks(function: Callable[[Any], Any], tasks: Sequence, *, out: str | Path,
              args: argparse.Namespace, desc: str, options: dict | None = None,
              chunk_size: int | None = None, next_phase: bool = False,
              task_seconds: float | None = None) -> list:
    """Run ``function`` on every task with the executor the options chose; results in task order.

    Every finished task's result is committed at once to ``out/tasks.sqlite``; with
    ``args.resume`` the tasks already there (same function, task, ``options`` and task code
    version, :func:`task_version`) are not run again. The returned results are always read
    back from their stored form (pickle), so a resumed run returns exactly what an
    uninterrupted one does. ``out`` is locked for the run (:func:`~benchmarks.common.output_lock`).

    Parameters
    ----------
    function : callable
        A module-level function of an installed package, called as ``function(task)`` on a
        worker; what it returns must pickle.
    tasks : sequence
        Plain data (JSON-serialisable: numbers, strings, lists, dicts), each carrying all it
        needs (an instance spec or a file's contents).
    out : str or Path
        The output folder; the store lives there.
    args : argparse.Namespace
        The parsed options of :func:`add_executor_arguments` (``threads`` may be absent: then
        its default).
    desc : str
        The progress bar's label.
    options : dict, optional
        Options that change results but are not part of the tasks (JSON-serialisable); part of
        every key.
    chunk_size : int, optional
        Tasks sent to a worker at once (default: from ``task_seconds``). A chunk's results are
        stored when the chunk finishes.
    next_phase : bool
        A later phase of the same run (a CLI whose second batch of tasks depends on the first's
        results): the store that the earlier phase of this run completed is kept, and the
        tasks already in it are reused, as with ``--resume``.
    task_seconds : float, optional
        The expected duration of one task (e.g. a solver's time limit). Chunks hold about
        :data:`CHUNK_SECONDS` of work (one task for tasks of a second or more, so that idle
        workers take the next one; at most :data:`MAX_CHUNK`), and at least
        :data:`CHUNKS_PER_SLOT` chunks per worker. Unknown: chunks of up to ``MAX_CHUNK``
        tasks, as for millisecond tasks.

    Returns
    -------
    list
        ``function(task)`` for every task, in task order.

    Raises
    ------
    BenchmarkError
        A bad option, a task that is not plain data, another run writing to ``out``, an
        unfinished store in ``out`` without ``args.resume``, a worker running other code, or
        an unreachable scheduler. Any error or interruption after the start keeps the
        finished tasks in the store and says so in a note on the exception.
    """
    check_executor_arguments(args)
    if chunk_size is not None and chunk_size < 1:
        raise BenchmarkError(f"chunk_size: must be at least 1, got {chunk_size}")
    if task_seconds is not None and not task_seconds > 0:
        raise BenchmarkError(f"task_seconds: must be positive, got {task_seconds}")
    function = _importable(function)
    name = f"{function.__module__}.{function.__qualname__}"
    version = task_version(function.__module__)
    options_json = _json(options or {}, "options")
    specs = [_json(task, f"task {i}") for i, task in enumerate(tasks)]
    keys = [task_key(name, spec, options_json, version) for spec in specs]
    if not tasks:
        return []
    threads = getattr(args, "threads", None)
    if threads is None and (args.executor != "local" or args.jobs > 1):
        threads = 1  # one numba thread per worker process: --jobs processes share the cores

    out = Path(out)
    with output_lock(out):
        path = out / STORE_NAME
        existed = path.exists()
        store = _open_store(path, existed, args.resume or next_phase)
        blobs = store.results(set(keys))
        if args.resume:
            reused = sum(k in blobs for k in keys)
            print(f"--resume: {reused} of {len(tasks)} tasks found in {path}"
                  + (f"; {len(store) - len(blobs)} stored results of other tasks, options or "
                     f"code are left unused" if len(store) > len(blobs) else ""),
                  file=sys.stderr)
        pending = [i for i, key in enumerate(keys) if key not in blobs]
        store.mark("running", function=name, task_version=version, code_version=code_version(),
                   started_utc=_now())
        try:
            _run_pending(function, tasks, pending, version, threads, args, desc, chunk_size,
                         task_seconds, store, keys, specs, name, blobs)
        except BaseException as exc:
            stored = len(store)
            store.close()
            if stored == 0 and not existed:
                remove_store(path)  # and the lock removes the folders it created
            else:
                exc.add_note(f"{len(blobs)} of {len(set(keys))} tasks are finished and kept in "
                             f"{path}; run the same command with --resume to continue")
            raise
        store.mark("complete", finished_utc=_now())
        store.close()
    return [pickle.loads(blobs[key]) for key in keys]


def chunk_count(pending: int, slots: int, chunk_size: int | None = None,
                task_seconds: float | None = None) -> int:
    """How many chunks ``pending`` tasks go to ``slots`` workers in (see :func:`run_tasks`)."""
    if pending == 0:
        return 0
    if chunk_size is not None:
        count = math.ceil(pending / chunk_size)
    elif slots <= 1:
        count = pending  # in this process: store every task as it finishes
    else:
        size = MAX_CHUNK if task_seconds is None else \
            max(1, min(MAX_CHUNK, int(CHUNK_SECONDS / task_seconds)))
        count = max(CHUNKS_PER_SLOT * slots, math.ceil(pending / size))
    return max(1, min(pending, count))


def _run_pending(function, tasks, pending, version, threads, args, desc, chunk_size,
                 task_seconds, store, keys, specs, name, blobs) -> None:
    """Run the pending tasks and commit each chunk's results as it returns."""
    from tqdm import tqdm

    def on_done(worker_version: str, worker_code: str, worker: str, done: list) -> None:
        if worker_version != version:
            raise BenchmarkError(f"worker {worker} runs other code (version {worker_version}, "
                                 f"this run {version}): install the same sources everywhere")
        store.put([(keys[i], name, specs[i], blob, worker_code, version, worker, elapsed)
                   for i, blob, elapsed in done])
        for i, blob, _ in done:
            blobs[keys[i]] = blob
        bar.update(len(done))

    def make_chunks(slots: int) -> list[list[tuple[int, Any]]]:
        count = chunk_count(len(pending), slots, chunk_size, task_seconds)
        # strided, so that slow and fast parts of the task list mix in every chunk
        return [[(i, tasks[i]) for i in pending[c::count]] for c in range(count)]

    with _terminate_as_interrupt(), tqdm(total=len(tasks), initial=len(tasks) - len(pending),
                                         desc=desc, unit="task", file=sys.stderr) as bar:
        if pending:
            run_chunk = partial(_run_chunk, function, version, threads)
            if args.executor == "local":
                _run_local(run_chunk, make_chunks, args.jobs, threads, on_done)
            else:
                _run_dask(run_chunk, make_chunks, args, on_done)


# formulations.loadbox.WORKERS_ENV (a test checks they agree)
SOLVER_WORKERS_ENV = "LLM_OFFLOADING_SOLVER_WORKERS"


def _run_chunk(function: Callable, version: str, threads: int | None,
               chunk: list) -> tuple[str, str, str, list]:
    """On a worker: run a chunk of (index, task); (task version, code version, worker,
    [(index, pickled result, seconds)]). A worker whose task version differs from the run's
    ``version`` runs nothing and reports its version."""
    worker = f"{socket.gethostname()}:{os.getpid()}"
    mine = task_version(function.__module__)
    if mine != version:
        return mine, code_version(), worker, []
    if threads is not None:
        set_numba_threads(threads)
    done = []
    # an exact search in a task uses the task's cores (1 unless --threads), not every core of
    # the machine: tasks run side by side (formulations.loadbox.default_workers)
    before = os.environ.get(SOLVER_WORKERS_ENV)
    os.environ[SOLVER_WORKERS_ENV] = str(threads or 1)
    try:
        for index, task in chunk:
            started = time.perf_counter()
            result = function(task)
            done.append((index, pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL),
                         time.perf_counter() - started))
    finally:
        if before is None:
            del os.environ[SOLVER_WORKERS_ENV]
        else:
            os.environ[SOLVER_WORKERS_ENV] = before
    return mine, code_version(), worker, done


def set_numba_threads(threads: int) -> None:
    """Let numba's parallel kernels in this thread use ``threads`` threads (at most the
    process's ``NUMBA_NUM_THREADS``); before numba is imported, set that variable instead, so
    that its thread pool is no larger."""
    if "numba" not in sys.modules:
        os.environ["NUMBA_NUM_THREADS"] = str(threads)
        return
    import numba

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


def _run_local(run_chunk: Callable, make_chunks: Callable, jobs: int, threads: int | None,
               on_done: Callable) -> None:
    """This process (``jobs`` 1) or a pool of ``jobs`` processes."""
    if jobs <= 1:
        with _numba_threads_here(threads), _stop_between_tasks() as stop:
            for chunk in make_chunks(1):
                on_done(*run_chunk(chunk))
                if stop.is_set():
                    raise KeyboardInterrupt
        return
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    chunks = make_chunks(jobs)
    # a clean interpreter per worker (forking would copy this process's threads: tqdm's monitor)
    context = multiprocessing.get_context(
        "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn")
    before = set(multiprocessing.active_children())
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(chunks)), mp_context=context,
                               initializer=_worker_setup, initargs=(os.getpid(), threads))
    futures = []
    try:
        futures = [pool.submit(run_chunk, chunk) for chunk in chunks]
        for future in as_completed(futures):
            on_done(*future.result())
    except BrokenProcessPool as exc:
        _stop_pool(pool, futures, before)
        raise BenchmarkError(f"--executor local: a worker process died ({exc}); --executor "
                             f"dask re-runs the tasks of a dead worker elsewhere") from None
    except BaseException:
        _stop_pool(pool, futures, before)
        raise
    pool.shutdown(wait=True)


@contextmanager
def _numba_threads_here(threads: int | None) -> Iterator[None]:
    """``threads`` numba threads in this thread for the block (None: leave as is)."""
    if threads is None:
        yield
        return
    import numba

    previous = numba.get_num_threads()
    set_numba_threads(threads)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def _worker_setup(driver_pid: int, threads: int | None) -> None:
    """In a pool process: leave signals to the driver, exit when the driver is gone, and use
    ``threads`` numba threads."""
    # Ctrl-C reaches the whole process group: only the driver handles it (and stops the pool).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if threads is not None:
        set_numba_threads(threads)
    parent = os.getppid()  # the driver (spawn) or its fork server, which exits with it

    def watch() -> None:
        # a killed driver (SIGKILL) cannot stop its pool; its orphans would wait forever
        while os.getppid() == parent and pid_alive(driver_pid):
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="driver-watch", daemon=True).start()


def _stop_pool(pool, futures: list, before: set) -> None:
    """Stop at once: a task in flight may run for minutes and its result would be dropped.
    The pool's processes are this process's children started since ``before``."""
    for future in futures:
        future.cancel()
    processes = [p for p in multiprocessing.active_children() if p not in before]
    for process in processes:
        process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.join(5)


def _run_dask(run_chunk: Callable, make_chunks: Callable, args: argparse.Namespace,
              on_done: Callable) -> None:
    """A running Dask cluster (``--scheduler``) or a local one started for this run."""
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise BenchmarkError("--executor dask: dask.distributed is not installed (pip install "
                             "-e '.[dask]')") from None
    with ExitStack() as stack:
        if args.scheduler is not None:
            try:
                client = stack.enter_context(Client(args.scheduler, timeout=CONNECT_TIMEOUT_S))
            except (OSError, TimeoutError, ValueError) as exc:
                raise BenchmarkError(f"--scheduler {args.scheduler}: cannot connect "
                                     f"({' '.join(str(exc).split())})") from None
        else:
            import dask

            if dask.config.get(MP_METHOD_KEY) == "spawn" and \
                    "forkserver" in multiprocessing.get_all_start_methods():
                # Dask's default, spawn, takes ~1.8 s to stop 2 workers here, forkserver ~0.1 s;
                # both start from a clean interpreter (fork would copy this process's threads)
                stack.enter_context(dask.config.set({MP_METHOD_KEY: "forkserver"}))
            cluster = stack.enter_context(LocalCluster(
                n_workers=args.workers or os.cpu_count(), threads_per_worker=1, processes=True,
                dashboard_address=":0", silence_logs=logging.ERROR))
            client = stack.enter_context(Client(cluster))
        slots = max(1, sum(client.nthreads().values()))
        # pure=False: every chunk is its own task, even if another run submits the same one
        futures = client.map(run_chunk, make_chunks(slots), pure=False)
        try:
            for _, result in as_completed(futures, with_results=True):
                on_done(*result)
        finally:
            client.cancel(futures)


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (``kill PID``) stops a run like Ctrl-C: workers stopped, finished tasks kept."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    with _handling({signal.SIGTERM: interrupt}):
        yield


@contextmanager
def _stop_between_tasks() -> Iterator[threading.Event]:
    """In this process, the first Ctrl-C or SIGTERM stops the run after the task in flight
    (an interrupt inside a numba kernel surfaces as a SystemError, not a KeyboardInterrupt);
    a second one stops it at once."""
    stop = threading.Event()

    def request(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("\nstopping after the task in flight (again to stop at once)", file=sys.stderr)

    with _handling({signal.SIGINT: request, signal.SIGTERM: request}):
        yield stop


@contextmanager
def _handling(handlers: dict) -> Iterator[None]:
    """Install signal handlers for the block (main thread only), except where the signal is
    ignored (a background job, nohup): that choice is the user's."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for signum, handler in handlers.items():
        if signal.getsignal(signum) is not signal.SIG_IGN:
            previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _open_store(path: Path, existed: bool, resume: bool) -> TaskStore:
    store = TaskStore(path)
    if existed and not resume:
        finished = len(store)
        if store.state != "complete" and finished > 0:
            store.close()
            raise BenchmarkError(
                f"--out {path.parent}: holds {finished} finished tasks of an unfinished run "
                f"({path}); add --resume to continue it, or delete {path} to start afresh")
        store.close()
        remove_store(path)
        if finished:
            print(f"replacing the task store of an earlier, completed run ({finished} tasks) in "
                  f"{path} (--resume reuses it)", file=sys.stderr)
        store = TaskStore(path)
    return store


def _importable(function: Callable) -> Callable:
    """The same function from its module's import name when it lives in ``__main__`` (run as
    ``python -m benchmarks.gap``), so that workers import it by reference, like any other."""
    if function.__module__ != "__main__":
        return function
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    if spec is None or not spec.name or spec.name == "__main__":
        raise BenchmarkError(f"task function {function.__qualname__}: must be importable (run "
                             f"the CLI as python -m PACKAGE.MODULE)")
    return getattr(importlib.import_module(spec.name), function.__qualname__)


def _json(value: Any, what: str) -> str:
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise BenchmarkError(f"{what}: must be plain data (numbers, strings, lists, dicts) "
                             f"to be sent to workers and keyed in the store ({exc})") from None


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
