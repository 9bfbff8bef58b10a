"""``python -m benchmarks.fuzz``: throw generated bad inputs at every loader and command line.

Targets (``--targets``, all by default):

* ``instance-file``: :func:`instances.load` on instance files broken in every way we generate:
  a field deleted, replaced by a value of another type, size or depth (huge integers, NaN,
  nesting thousands deep), a list made longer or shorter, the text truncated, bytes
  flipped, not UTF-8, not JSON, a folder, a missing path;
* ``trace-file``: :func:`instances.load_trace` on query traces broken the same ways, line by
  line;
* ``instances-cli``: ``python -m instances`` with one bad argument among good ones (a bad
  number, choice, path, --out, --profile, a missing or unknown option), and ``show`` on broken
  files;
* ``benchmark-clis``: every ``python -m benchmarks.X`` that has a ``build_parser`` (``gap``,
  ``paper``, ``certified``, ``exact``, ``pareto``, ``scale``, ...) with one bad option
  (numbers, choices, --out, --instances files).

Every input is run in this process (fast); a bad input must give exit code 2 (CLIs) or an
``InstanceError`` (loaders), one line of message naming the field, the option or the file, and
no traceback. A mutation may also give a valid input (an edited provenance, a changed seed):
counted as accepted. ``--sample K`` inputs of the CLI targets are rerun as real subprocesses,
to confirm the exit code and that stderr holds one error line and no traceback. Writes
``fuzz.csv`` (one row per failure, empty when all is well) and ``summary.txt`` to ``--out``
(default ``results/fuzz``); exit code 1 if any input failed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Iterator

from benchmarks.common import (
    Parser, machine_line, non_negative_int, positive_float, positive_int, run_cli,
    staged_output, table, write_csv)

PROG = "python -m benchmarks.fuzz"
TARGETS = ("instance-file", "trace-file", "instances-cli", "benchmark-clis")


def benchmark_clis() -> tuple[str, ...]:
    """The benchmark CLIs: the modules of this package with a ``build_parser`` and a ``main``
    (a new one is fuzzed as soon as it exists)."""
    import importlib
    import pkgutil

    import benchmarks

    names = []
    for info in pkgutil.iter_modules(benchmarks.__path__):
        if info.name == "fuzz" or info.ispkg:
            continue
        module = importlib.import_module(f"benchmarks.{info.name}")
        if callable(getattr(module, "build_parser", None)) and callable(getattr(module, "main",
                                                                                None)):
            names.append(info.name)
    return tuple(sorted(names))


BENCHMARK_CLIS = benchmark_clis()
COLUMNS = ["target", "index", "outcome", "input", "detail"]
DEEP = 5000  # nesting beyond Python's recursion limit


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="Generated bad inputs against every loader and CLI.")
    parser.add_argument("--count", type=positive_int, default=10_000,
                        help="inputs in all, spread evenly over the targets (10000)")
    parser.add_argument("--targets", nargs="+", choices=TARGETS, default=list(TARGETS),
                        help="what to fuzz (all)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="random seed (0)")
    parser.add_argument("--sample", type=non_negative_int, default=40,
                        help="CLI inputs rerun as subprocesses (40)")
    parser.add_argument("--timeout", type=positive_float, default=30.0,
                        help="seconds one input may take before it counts as hung (30)")
    parser.add_argument("--out", default="results/fuzz", help="output folder (results/fuzz)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (1 if any input failed)."""
    args = build_parser().parse_args(argv)
    return run_cli(PROG, lambda: _run(args))


# --- bad values ------------------------------------------------------------------------------

def weird_value(rng: random.Random):
    """A JSON value of a surprising type, size or depth."""
    choice = rng.randrange(16)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([True, False])
    if choice == 2:
        return rng.choice(["", "x", "1.5", "NaN", "\u00e9\u4e2d", "\x00"])
    if choice == 3:
        return rng.choice([[], {}, [[]], [{}], {"a": []}])
    if choice == 4:
        return rng.choice([0, -1, 1, -0.0, 2 ** 63, -(2 ** 63) - 1])
    if choice == 5:
        return rng.choice([1e308, -1e308, 5e-324, 1e-300, -5e-324])
    if choice == 6:
        return rng.choice([10 ** 400, -(10 ** 400), 10 ** 4000])
    if choice == 7:
        return rng.choice([float("nan"), float("inf"), float("-inf")])
    if choice == 8:
        value: object = 1.0
        for _ in range(rng.choice([3, 40, DEEP])):
            value = [value]
        return value
    if choice == 9:
        return [rng.random() for _ in range(rng.choice([1, 7, 1000]))]
    if choice == 10:
        return [[rng.random()] * rng.randrange(0, 4) for _ in range(rng.randrange(1, 5))]
    if choice == 11:
        return "x" * rng.choice([100, 100_000])
    if choice == 12:
        return {"nested": {"deeper": [1, "a", None]}}
    if choice == 13:
        return rng.uniform(-1e3, 1e3)
    if choice == 14:
        return rng.randrange(-10, 10)
    return [rng.choice([1, "a", None, True, [1, 2]]) for _ in range(3)]


def _paths(value, prefix=()) -> Iterator[tuple]:
    """Every (path to a container entry) in a JSON document."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield prefix + (key,)
            yield from _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value[:6]):  # a few entries of long lists suffice
            yield prefix + (index,)
            yield from _paths(item, prefix + (index,))


def _at(doc, path):
    for key in path[:-1]:
        doc = doc[key]
    return doc


def mutate_document(doc, rng: random.Random):
    """A copy of a JSON document with one structural mutation; (document, description)."""
    doc = json.loads(json.dumps(doc))
    paths = list(_paths(doc))
    path = rng.choice(paths)
    parent, key = _at(doc, path), path[-1]
    kind = rng.randrange(4)
    if kind == 0:
        del parent[key]
        return doc, f"delete {'.'.join(map(str, path))}"
    if kind == 1 and isinstance(parent[key], list):
        if parent[key] and rng.random() < 0.5:
            parent[key].pop(rng.randrange(len(parent[key])))
            return doc, f"shorten {'.'.join(map(str, path))}"
        parent[key].append(parent[key][0] if parent[key] else 1.0)
        return doc, f"lengthen {'.'.join(map(str, path))}"
    if kind == 2 and isinstance(parent, dict):
        parent[f"unknown_{rng.randrange(100)}"] = weird_value(rng)
        return doc, f"add a field beside {'.'.join(map(str, path))}"
    value = weird_value(rng)
    parent[key] = value
    return doc, f"set {'.'.join(map(str, path))} = {_describe(value)}"


def _describe(value) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 60:
        return f"an integer of {value.bit_length()} bits"
    text = json.dumps(value) if _depth(value) < 50 else f"a list nested {_depth(value)} deep"
    return text if len(text) < 60 else text[:57] + "..."


def _depth(value) -> int:
    depth = 0
    while isinstance(value, list) and value:
        value, depth = value[0], depth + 1
    return depth


def _dumps(doc) -> str:
    """JSON text of a document, even one nested deeper than ``json.dumps`` recurses."""
    depth = _depth(doc)
    if depth > 100:
        inner = doc
        for _ in range(depth):
            inner = inner[0]
        return "[" * depth + json.dumps(inner) + "]" * depth
    try:
        return json.dumps(doc)
    except (RecursionError, ValueError):
        return "[" * DEEP + "]" * DEEP


def _deep_dumps(doc) -> str:
    """``json.dumps`` that writes lists nested beyond the recursion limit by hand."""
    if isinstance(doc, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{_deep_dumps(v)}" for k, v in doc.items()) + "}"
    if isinstance(doc, list):
        if _depth(doc) > 100:
            return _dumps(doc)
        return "[" + ",".join(_deep_dumps(v) for v in doc) + "]"
    try:
        return json.dumps(doc)
    except ValueError:  # an integer beyond Python's conversion limit: write its digits
        return str(doc) if not isinstance(doc, int) else "9" * 5000


def corrupt_text(text: str, rng: random.Random) -> tuple[bytes, str]:
    """Byte-level damage to a file's text; (bytes, description)."""
    data = text.encode()
    kind = rng.randrange(7)
    if kind == 0:
        cut = rng.randrange(len(data))
        return data[:cut], f"truncated at byte {cut}"
    if kind == 1:
        at = rng.randrange(len(data))
        return data[:at] + bytes([rng.randrange(256)]) + data[at + 1:], f"byte {at} replaced"
    if kind == 2:
        return b"\xff\xfe" + data, "not UTF-8"
    if kind == 3:
        return "\ufeff".encode() + data, "a byte-order mark first"
    if kind == 4:
        return b"", "empty"
    if kind == 5:
        return _deep_dumps(weird_value(rng)).encode()[:200_000], \
            "another JSON value"
    return rng.randbytes(rng.randrange(1, 200)), "random bytes"


# --- targets ---------------------------------------------------------------------------------

class Case:
    """One generated input: how to run it in-process and, for CLIs, as a command."""

    def __init__(self, target: str, description: str, run: Callable[[], tuple[int, str]],
                 names: tuple[str, ...], command: list[str] | None = None):
        self.target, self.description, self.run = target, description, run
        self.names, self.command = names, command


def _loader_case(target: str, load: Callable, path: Path, description: str,
                 names: tuple[str, ...]) -> Case:
    def run() -> tuple[int, str]:
        from instances import InstanceError

        try:
            load(path)
        except InstanceError as exc:
            return 2, f"error: {exc}\n"
        return 0, ""

    return Case(target, description, run, names)


def _cli_case(target: str, module: str, argv: list[str], description: str,
              names: tuple[str, ...]) -> Case:
    """``python -m module argv``; in this process, ``module``'s (or ``module.cli``'s)
    ``main(argv)``."""
    def run() -> tuple[int, str]:
        import importlib

        main_function = getattr(importlib.import_module(module), "main", None) or \
            importlib.import_module(f"{module}.cli").main
        stderr, stdout = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(stdout):
            try:
                code = main_function(list(argv))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
        return code, stderr.getvalue()

    return Case(target, description, run, names, [sys.executable, "-m", module, *argv])


INSTANCE_NAMES = ("format", "version", "interference", "provenance", "scalars", "users",
                  "servers", "channel", "top level", "not valid JSON", "instance file",
                  "cannot read", "UTF-8")


def instance_file_cases(count: int, rng: random.Random, folder: Path) -> Iterator[Case]:
    """Broken instance files for :func:`instances.load`."""
    import instances
    from instances.instance import ARRAY_FIELDS, OPTIONAL_USER_FIELDS, SCALAR_FIELDS
    from instances.io import to_dict

    base = to_dict(instances.generate(3, 2, seed=1))
    names = INSTANCE_NAMES + tuple(ARRAY_FIELDS) + tuple(OPTIONAL_USER_FIELDS) + SCALAR_FIELDS
    for index in range(count):
        path = folder / f"instance_{index}.json"
        kind = rng.random()
        if kind < 0.02:
            path, description = folder / "missing.json", "a missing file"
        elif kind < 0.04:
            path, description = folder, "a folder"
        elif kind < 0.7:
            doc, description = mutate_document(base, rng)
            path.write_text(_deep_dumps(doc), encoding="utf-8")
        else:
            data, description = corrupt_text(json.dumps(base), rng)
            path.write_bytes(data)
        yield _loader_case("instance-file", instances.load, path, description,
                           names + (str(path),))


TRACE_NAMES = ("prompt_bytes", "topk_probs", "slm_correct", "llm_correct", "slm_workload_flop",
               "slm_latency_s", "llm_workload_flop", "llm_latency_s", "not valid JSON",
               "a record", "JSON object", "holds no records", "cannot read", "UTF-8")


def _trace_records() -> list[dict]:
    from instances import EXAMPLE_TRACE

    lines = Path(EXAMPLE_TRACE).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip() and not line.startswith("#")][:4]


def broken_trace(rng: random.Random) -> tuple[bytes, str]:
    """A query trace with one broken record or broken bytes."""
    records = _trace_records()
    if rng.random() < 0.75:
        which = rng.randrange(len(records))
        record, description = mutate_document(records[which], rng)
        if rng.random() < 0.1:
            record, description = weird_value(rng), "a record that is not an object"
        records[which] = record
        text = "\n".join(_deep_dumps(r) for r in records) + "\n"
        return text.encode(), f"record {which + 1}: {description}"
    text = "\n".join(json.dumps(r) for r in records) + "\n"
    if rng.random() < 0.2:
        return b"# only a comment\n\n", "no records"
    return corrupt_text(text, rng)


def trace_file_cases(count: int, rng: random.Random, folder: Path) -> Iterator[Case]:
    """Broken traces for :func:`instances.load_trace`."""
    import instances

    for index in range(count):
        path = folder / f"trace_{index}.jsonl"
        if rng.random() < 0.03:
            path, description = folder / "missing.jsonl", "a missing file"
        else:
            data, description = broken_trace(rng)
            path.write_bytes(data)
        yield _loader_case("trace-file", instances.load_trace, path, description,
                           TRACE_NAMES + (path.name,))


BAD_INTS = ("", "x", "1.5", "-3", "0", "nan", "1e3", "0x10", "--", "3 4", "\u0663.5")
BAD_FLOATS = ("", "x", "nan", "inf", "-inf", "-1", "0", "1e400", "--", "1,5", "0x1p3", "1.5",
              "-0.1")


def instances_cli_cases(count: int, rng: random.Random, folder: Path) -> Iterator[Case]:
    """``python -m instances`` with one bad argument."""
    from instances.generator import PRESETS

    good_file = folder / "good.json"
    if not good_file.exists():
        import instances

        instances.save(instances.generate(3, 2, seed=0), good_file)
    a_file = folder / "a_file.txt"
    a_file.write_text("x")
    overrides = [f"--{k.replace('_', '-')}" for k in PRESETS["paper"]]
    for index in range(count):
        out = str(folder / f"out_{index % 50}.json")
        argv = {"--users": "3", "--servers": "2", "--out": out}
        extra: list[str] = []
        extra_names: tuple[str, ...] = ()
        kind = rng.randrange(10)
        if kind == 0:
            option = rng.choice(["--users", "--servers", "--seed", "--count"])
            argv[option] = rng.choice(BAD_INTS)
            if option == "--users" and rng.random() < 0.3:
                argv[option] = str(rng.choice([10 ** 13, 10 ** 20]))  # too large to hold
            description = f"{option} {argv[option]!r}"
        elif kind == 1:
            option = rng.choice(overrides)
            argv[option] = rng.choice(BAD_FLOATS + ("-5", "1e-320"))
            description = f"{option} {argv[option]!r}"
        elif kind == 2:
            option = rng.choice(["--preset", "--interference"])
            argv[option] = rng.choice(["", "x", "FULL", "paper ", "none,full"])
            description = f"{option} {argv[option]!r}"
        elif kind == 3:
            data, what = broken_trace(rng)
            trace = folder / f"cli_trace_{index}.jsonl"
            trace.write_bytes(data)
            argv["--profile"] = str(trace) if rng.random() < 0.9 else str(folder / "nothing")
            description = f"--profile with {what}"
            extra_names = TRACE_NAMES + (trace.name,)
        elif kind == 4:
            argv["--out"] = rng.choice([str(a_file / "x.json"), str(folder / "no" / "x.json"),
                                        str(folder)])
            description = f"--out {argv['--out']}"
        elif kind == 5:
            argv["--count"] = "2"
            argv["--out"] = str(a_file)
            description = "--count 2 --out an existing file"
        elif kind == 6:
            del argv[rng.choice(["--users", "--out"])]
            description = "a required option missing"
        elif kind == 7:
            extra = [rng.choice(["--bogus", "-x", "--users", "--out=", "--top-k", "a\rb",
                                 "x\ny", "\x1c", "\u2028", "\x1b[2J"])]
            description = f"extra {extra[0]!r}"
        elif kind == 8:
            path = folder / f"show_{index}.json"
            if rng.random() < 0.5:
                doc, what = mutate_document(json.loads(good_file.read_text()), rng)
                path.write_text(_deep_dumps(doc), encoding="utf-8")
            else:
                data, what = corrupt_text(good_file.read_text(), rng)
                path.write_bytes(data)
            yield _cli_case("instances-cli", "instances", ["show", str(good_file), str(path)],
                            f"show a file with {what}", INSTANCE_NAMES + (str(path),))
            continue
        else:
            argv_list = rng.choice([[], ["bogus"], ["show"], ["generate"], ["-h" * 0 + "--x"]])
            yield _cli_case("instances-cli", "instances", argv_list,
                            f"command line {argv_list}", ("argument", "invalid choice",
                                                          "required", "unrecognized"))
            continue
        tokens = ["generate"] + [t for kv in argv.items() for t in kv] + extra
        fields = tuple(o.lstrip("-").replace("-", "_") for o in argv)  # generator's names
        yield _cli_case("instances-cli", "instances", tokens, description,
                        tuple(argv) + fields + extra_names + ("argument", "profile",
                                                              "unrecognized", "required"))


def _option_types(module) -> list:
    """(option, kind, choices) of a benchmark CLI's options: kind one of int, float, choice,
    path, flag, text."""
    from benchmarks import common

    kinds = {common.positive_int: "int", common.non_negative_int: "int", int: "int",
             common.unit_float: "float", common.positive_float: "float", float: "float"}
    options = []
    for action in module.build_parser()._actions:  # noqa: SLF001 - argparse has no public list
        if not action.option_strings or action.dest == "help":
            continue
        option = action.option_strings[-1]
        if action.choices:
            kind = "choice"
        elif action.nargs == 0:
            kind = "flag"
        elif action.type in kinds:
            kind = kinds[action.type]
        elif action.dest in ("out", "instances"):
            kind = "path"
        else:
            kind = "text"
        options.append((option, kind, action.type if kind in ("int", "float") else
                        action.choices, action.dest))
    return options


def _rejects(convert: Callable, text: str) -> bool:
    """Whether an option's type rejects ``text`` ("--" always: argparse swallows it)."""
    if text == "--":
        return True
    try:
        convert(text)
    except (ValueError, TypeError, argparse.ArgumentTypeError):
        return True
    return False


#: What a benchmark CLI needs besides the one bad option (its required options, valid).
REQUIRED_ARGS = {"uncertainty": ["--trace", "example"]}
#: The subcommand a CLI with subcommands is fuzzed through (its --out a folder).
SUBCOMMANDS = {"library": ["build"]}


def with_required(name: str, argv: list[str]) -> list[str]:
    """``argv`` for ``benchmarks.name`` with its :data:`SUBCOMMANDS` and :data:`REQUIRED_ARGS`
    in front (those that ``argv`` does not set itself)."""
    required = REQUIRED_ARGS.get(name, [])
    given = {a.split("=")[0] for a in argv if a.startswith("--")}
    extra = [v for i in range(0, len(required), 2) if required[i] not in given
             for v in required[i:i + 2]]
    return SUBCOMMANDS.get(name, []) + extra + list(argv)


def benchmark_cli_cases(count: int, rng: random.Random, folder: Path) -> Iterator[Case]:
    """``python -m benchmarks.X`` with one bad option."""
    import importlib

    a_file = folder / "a_file.txt"
    a_file.write_text("x")
    bad_instance = folder / "bad_instance.json"
    bad_instance.write_text('{"format": "llm-offloading-instance", "version": 2}')
    modules = {name: importlib.import_module(f"benchmarks.{name}") for name in BENCHMARK_CLIS}
    options = {name: [o for o in _option_types(module) if o[1] in ("int", "float", "choice",
                                                                   "path")]
               for name, module in modules.items()}
    bad_values = {(name, option): [v for v in (BAD_INTS if kind == "int" else BAD_FLOATS)
                                   if _rejects(convert, v)]
                  for name, entries in options.items()
                  for option, kind, convert, _ in entries if kind in ("int", "float")}
    for _ in range(count):
        name = rng.choice(BENCHMARK_CLIS)
        option, kind, choices, dest = rng.choice(options[name])
        if kind in ("int", "float"):  # only what the option's type rejects: never a valid run
            value = rng.choice(bad_values[name, option])
        elif kind == "choice":
            value = rng.choice(["", "x", "ALL", "goa goa"])
        elif dest == "out":
            value = rng.choice([str(a_file), str(a_file / "sub")])
        else:
            value = rng.choice([str(folder / "missing.json"), str(folder), str(a_file),
                                str(bad_instance)])
        if kind in ("path",) and dest == "out":
            names = ("--out", value)
        elif dest == "instances":
            names = (value, Path(value).name, "--instances")
        else:
            names = (option, "argument")
        if value.startswith("-") and kind in ("int", "float"):
            argv = [f"{option}={value}"]
        else:
            argv = [option, value]
        argv = with_required(name, argv)
        yield _cli_case("benchmark-clis", f"benchmarks.{name}", argv,
                        f"{name} {' '.join(argv)}", names)


GENERATORS = {"instance-file": instance_file_cases, "trace-file": trace_file_cases,
              "instances-cli": instances_cli_cases, "benchmark-clis": benchmark_cli_cases}


# --- checks ----------------------------------------------------------------------------------

def judge(code: int, stderr: str, names: tuple[str, ...]) -> tuple[str, str]:
    """(outcome, detail): ``rejected`` (exit 2, one error line naming a field, no traceback),
    ``accepted`` (exit 0), or a failure: ``traceback``, ``exit N``, ``lines`` (not exactly one
    error line, or a warning printed with it), ``unnamed``."""
    if "Traceback" in stderr:
        return "traceback", stderr.strip().splitlines()[-1][:200]
    if code == 0:
        return "accepted", ""
    if code != 2:
        return f"exit {code}", stderr.strip()[-200:]
    errors = [line for line in stderr.splitlines() if "error:" in line]
    if len(errors) != 1 or "Warning" in stderr:
        return "lines", " | ".join(stderr.strip().splitlines())[:300]
    if not any(name in errors[0] for name in names):
        return "unnamed", errors[0][:300]
    return "rejected", ""


class _Hung(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    def alarm(signum, frame):
        raise _Hung

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_case(case: Case, timeout: float) -> tuple[str, str]:
    """Run one case in this process and judge it."""
    import warnings

    try:
        with _time_limit(timeout), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            code, stderr = case.run()
        if caught and code != 0:  # a real command prints them above its error line
            stderr = "".join(f"{w.category.__name__}: {w.message}\n" for w in caught) + stderr
    except _Hung:
        return "hung", f"more than {timeout:g} s"
    except BaseException as exc:  # noqa: BLE001 - an exception escaping is what we look for
        return "traceback", f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
    return judge(code, stderr, case.names)


def run_subprocess(case: Case, timeout: float) -> tuple[str, str]:
    """Run one CLI case as a real command and judge it."""
    try:
        done = subprocess.run(case.command, capture_output=True, text=True, timeout=timeout,
                              errors="replace", cwd=os.getcwd())
    except subprocess.TimeoutExpired:
        return "hung", f"more than {timeout:g} s"
    return judge(done.returncode, done.stderr, case.names)


def _run(args) -> int:
    from tqdm import tqdm

    rng = random.Random(args.seed)
    per_target = {t: args.count // len(args.targets) + (i < args.count % len(args.targets))
                  for i, t in enumerate(args.targets)}
    print(f"{PROG}: {args.count} inputs over {list(per_target)}, seed {args.seed}; "
          f"{machine_line()}", file=sys.stderr)
    started = time.perf_counter()
    counts: Counter = Counter()
    failures: list[dict] = []
    sampled: list[Case] = []
    clis = [t for t in per_target if t.endswith("-cli") or t.endswith("-clis")]
    quota = Counter({t: args.sample // len(clis) + (i < args.sample % len(clis))
                     for i, t in enumerate(clis)})  # spread over the CLI targets
    picked: Counter = Counter()
    with staged_output(args.out) as stage, tempfile.TemporaryDirectory() as scratch, \
            contextlib.chdir(scratch):  # a CLI's default --out lands in the scratch folder
        with tqdm(total=args.count, desc="fuzz", unit="input", file=sys.stderr) as bar:
            for target, count in per_target.items():
                folder = Path(scratch) / target
                folder.mkdir()
                for index, case in enumerate(GENERATORS[target](count, rng, folder)):
                    outcome, detail = run_case(case, args.timeout)
                    counts[target, outcome] += 1
                    if outcome not in ("rejected", "accepted"):
                        failures.append({"target": target, "index": index, "outcome": outcome,
                                         "input": case.description, "detail": detail})
                    if case.command is not None and outcome == "rejected" and \
                            picked[target] < quota[target] and \
                            rng.random() < 4 * quota[target] / count:
                        picked[target] += 1
                        sampled.append(case)
                    bar.update(1)
            for case in tqdm(sampled, desc="subprocesses", unit="run", file=sys.stderr):
                outcome, detail = run_subprocess(case, max(args.timeout, 60.0))
                counts[f"{case.target} (subprocess)", outcome] += 1
                if outcome != "rejected":
                    failures.append({"target": f"{case.target} (subprocess)", "index": -1,
                                     "outcome": outcome, "input": " ".join(case.command[2:]),
                                     "detail": detail})
        targets = list(per_target) + sorted({t for t, _ in counts if "subprocess" in t})
        outcomes = ["rejected", "accepted", "traceback", "hung", "lines", "unnamed"]
        other = sorted({o for _, o in counts if o not in outcomes})
        rows = [[t] + [counts[t, o] for o in outcomes + other] + [sum(
            counts[t, o] for o in outcomes + other)] for t in targets]
        report = table(["target"] + outcomes + other + ["inputs"], rows,
                       title=f"Generated bad inputs (seed {args.seed}): rejected = exit 2 or "
                             f"InstanceError, one line naming the field; accepted = a valid "
                             f"input; the rest are failures")
        report += (f"\n\n{len(failures)} failure(s); wall time "
                   f"{time.perf_counter() - started:.1f} s")
        write_csv(stage / "fuzz.csv", failures, COLUMNS)
        (stage / "summary.txt").write_text(report + "\n", encoding="utf-8")
    print(report)
    for failure in failures[:20]:
        print(f"  {failure['target']}: {failure['outcome']}: {failure['input']} -> "
              f"{failure['detail']}")
    print(f"\nwrote {Path(args.out) / 'fuzz.csv'}, summary.txt")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
