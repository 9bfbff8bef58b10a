"""Task functions for the executor's tests, in a module that imports next to nothing, so that
the worker processes of a local pool (which import a task's module when they start) start
quickly."""


def square(task):
    """A test task: plain data in, plain data out."""
    return {"x": task, "square": task * task}


def numba_threads(task):
    """A test task: the numba threads its worker thread may use."""
    import numba

    return numba.get_num_threads()


def solver_workers(task):
    """A test task: the exact search's default worker processes in its worker."""
    import os

    return os.environ.get("LLM_OFFLOADING_SOLVER_WORKERS")
