"""The durable task store of a sweep: one SQLite file in the output folder (docs/sweeps.md).

The results of every chunk of finished tasks are committed in one transaction as soon as the
chunk returns, keyed by a hash of the task, the options that change results and the version of
the code the task runs, so that an interrupted run loses only the tasks in flight and a resumed
run never mixes in results computed with other options or other code. A reader (``sqlite3``
on the file while a sweep runs) sees whole chunks or nothing.
"""

from __future__ import annotations

import datetime
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from benchmarks.common import BenchmarkError

STORE_NAME = "tasks.sqlite"
FORMAT = "llm-offloading-task-store"
VERSION = "2"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY,       -- sha256 of (function, task, options, task version)
    function TEXT NOT NULL,     -- module.qualname of the task function
    task TEXT NOT NULL,         -- the task spec as JSON
    result BLOB NOT NULL,       -- pickle of the function's return value
    code_version TEXT NOT NULL, -- sha256 of all the package sources on the worker (record)
    task_version TEXT NOT NULL, -- sha256 of the code the task runs (in the key)
    worker TEXT NOT NULL,       -- host:pid of the process that computed it
    elapsed_s REAL NOT NULL,    -- wall time of the task on that worker
    finished_utc TEXT NOT NULL
);
"""


class TaskStore:
    """An open task store (one writer: the process driving the sweep, which holds the output
    folder's lock).

    The connection is in autocommit mode (``isolation_level=None``): every write method opens
    its own transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on an error), so a
    method's rows are stored all together or not at all.

    Parameters
    ----------
    path : Path
        The SQLite file; created if missing.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
            # WAL: a commit is one append, and a killed writer never corrupts the file;
            # NORMAL: no fsync per commit (a process crash loses nothing committed, a power
            # failure may lose the last commits, never the file's consistency).
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            found = dict(self._db.execute("SELECT name, value FROM meta"))
        except sqlite3.Error as exc:
            raise BenchmarkError(f"{self.path}: cannot open the task store ({exc})") from None
        if not found:
            self._set(format=FORMAT, version=VERSION, state="new")
        elif found.get("format") != FORMAT or found.get("version") != VERSION:
            self.close()
            older = found.get("format") == FORMAT and found.get("version") == "1"
            raise BenchmarkError(
                f"{self.path}: " + ("a task store of version 1, whose keys this code no longer "
                                    "computes" if older else
                                    f"not a task store of version {VERSION} (format "
                                    f"{found.get('format')!r}, version {found.get('version')!r})")
                + "; move it away to start afresh")

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _set(self, **values: str) -> None:
        with self._transaction():
            self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", values.items())

    @property
    def state(self) -> str:
        """``new``, ``running`` (a run started and did not finish) or ``complete``."""
        return self._db.execute("SELECT value FROM meta WHERE name = 'state'").fetchone()[0]

    def mark(self, state: str, **extra: str) -> None:
        """Record the run's state (and any extra meta fields)."""
        self._set(state=state, **extra)

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0]

    def results(self, keys: Iterable[str]) -> dict[str, bytes]:
        """The stored result blobs of those ``keys`` that are present."""
        keys = list(keys)
        found: dict[str, bytes] = {}
        for start in range(0, len(keys), 500):  # SQLite's limit on bound parameters
            part = keys[start:start + 500]
            found.update(self._db.execute(
                f"SELECT key, result FROM results WHERE key IN ({','.join('?' * len(part))})",
                part))
        return found

    def put(self, rows: Iterable[tuple]) -> None:
        """Commit finished tasks in one transaction: rows of (key, function, task JSON,
        result blob, code version, task version, worker, elapsed seconds)."""
        now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        with self._transaction():
            self._db.executemany(f"INSERT OR REPLACE INTO results VALUES ({', '.join('?' * 9)})",
                                 [tuple(row) + (now,) for row in rows])

    def close(self) -> None:
        """Close the file (the WAL is checkpointed into it)."""
        self._db.close()


def remove_store(path: Path) -> None:
    """Delete a store file with its WAL side files."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
