"""Property-based tests (hypothesis): the instance and trace loaders and the command lines turn
any bad input into one line naming the field (never a traceback), and the evaluator keeps its
invariants on random instances; the crashes the fuzzer found stay fixed.

The examples per test come from a settings profile: ``FUZZ_PROFILE=ci`` (the default, small
enough for the whole file to run in seconds) or ``FUZZ_PROFILE=big`` (the opt-in long run)::

    FUZZ_PROFILE=big .venv/bin/python -m pytest tests/test_fuzz.py
"""

import contextlib
import io
import json
import math
import os
import random
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

import instances
from instances import InstanceError, evaluate, generate
from instances.instance import ARRAY_FIELDS, OPTIONAL_USER_FIELDS, SCALAR_FIELDS
from instances.io import to_dict
from benchmarks import fuzz

settings.register_profile("ci", max_examples=100, deadline=None, derandomize=True,
                          database=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("big", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
FUZZ = settings.get_profile(os.environ.get("FUZZ_PROFILE", "ci"))

BASE = to_dict(generate(3, 2, seed=1))
FIELD_NAMES = (tuple(ARRAY_FIELDS) + tuple(OPTIONAL_USER_FIELDS) + SCALAR_FIELDS
               + ("format", "version", "interference", "provenance", "scalars", "users",
                  "servers", "channel", "top level", "not valid JSON", "instance file",
                  "UTF-8"))
TRACE_FIELDS = ("prompt_bytes", "topk_probs", "slm_correct", "llm_correct",
                "slm_workload_flop", "slm_latency_s", "llm_workload_flop", "llm_latency_s",
                "not valid JSON", "a record", "JSON object", "holds no records", "UTF-8")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6)
    | st.sampled_from([10 ** 400, -(10 ** 400), 5e-324, 1e308]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=8)


def _paths(value, prefix=()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield prefix + (key,)
            yield from _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value[:3]):
            yield prefix + (index,)
            yield from _paths(item, prefix + (index,))


BASE_PATHS = list(_paths(BASE))


def _mutated(doc, path, value, delete):
    doc = json.loads(json.dumps(doc))
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return doc


def _one_named_line(message: str, names) -> None:
    assert "\n" not in message.strip(), message
    assert any(name in message for name in names), message


@contextlib.contextmanager
def _scratch():
    """A temporary folder, also the working directory (a CLI's default --out lands there)."""
    with tempfile.TemporaryDirectory() as folder, contextlib.chdir(folder):
        yield Path(folder)


# --- the instance file loader ----------------------------------------------------------------

@FUZZ
@given(path=st.sampled_from(BASE_PATHS), value=json_values, delete=st.booleans())
def test_instance_loader_names_the_field_of_any_mutation(path, value, delete):
    """A valid instance file with one entry replaced by any JSON value (or deleted) loads as a
    valid instance, or fails with an InstanceError: one line naming the file and the field."""
    doc = _mutated(BASE, path, value, delete)
    with _scratch() as folder:
        file = folder / "inst.json"
        file.write_text(json.dumps(doc), encoding="utf-8")
        try:
            inst = instances.load(file)
        except InstanceError as exc:
            _one_named_line(str(exc), FIELD_NAMES)
            assert str(file) in str(exc)
            return
    assert evaluate(inst, np.full(inst.n_users, -1)).delay_s.shape == (inst.n_users,)


@FUZZ
@given(data=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_instance_loader_rejects_any_bytes(data):
    """Arbitrary bytes are an InstanceError naming the file, never another exception."""
    with _scratch() as folder:
        file = folder / "inst.json"
        file.write_bytes(data)
        with pytest.raises(InstanceError) as error:
            instances.load(file)
    _one_named_line(str(error.value), FIELD_NAMES)


# --- the trace loader ------------------------------------------------------------------------

TRACE_RECORD = {"prompt_bytes": 120, "topk_probs": [0.6, 0.3, 0.1], "slm_correct": True,
                "llm_correct": 1, "slm_latency_s": 0.2, "llm_workload_flop": 1e12}


@FUZZ
@given(key=st.sampled_from(sorted(TRACE_RECORD) + ["topk_probs.0", "other"]),
       value=json_values, delete=st.booleans(), line=st.integers(0, 2))
def test_trace_loader_names_the_line_and_field(key, value, delete, line):
    """A trace with one record's field replaced by any JSON value (or deleted) loads, or fails
    with an InstanceError: one line naming the line and the field."""
    records = [dict(TRACE_RECORD) for _ in range(3)]
    path = tuple(int(k) if k.isdigit() else k for k in key.split("."))
    if path[0] not in records[line] and delete:
        delete = False
    records[line] = _mutated(records[line], path, value, delete)
    with _scratch() as folder:
        file = folder / "trace.jsonl"
        file.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
        try:
            trace = instances.load_trace(file)
        except InstanceError as exc:
            _one_named_line(str(exc), TRACE_FIELDS)
            assert f"line {line + 1}" in str(exc)
            return
    assert len(trace) == 3
    assert np.all(np.isfinite(trace.topk_probs))


@FUZZ
@given(data=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_trace_loader_rejects_any_bytes_by_name(data):
    """Arbitrary bytes load as a trace or fail with a one-line InstanceError naming the line
    or the file, never another exception."""
    with _scratch() as folder:
        file = folder / "trace.jsonl"
        file.write_bytes(data)
        try:
            instances.load_trace(file)
        except InstanceError as exc:
            _one_named_line(str(exc), TRACE_FIELDS + ("trace.jsonl",))


# --- the command lines -----------------------------------------------------------------------

USERS = ["", "x", "-1", "0", "1", "3", "1.5", "nan", "--", "10000000000000"]
NUMBERS = ["", "x", "nan", "inf", "-1", "0", "0.5", "2", "1e400", "--", "1e-320"]
GENERATE_OPTIONS = {
    "--users": USERS, "--servers": USERS, "--seed": ["-1", "0", "x", "7"],
    "--count": ["0", "1", "2", "-2", "x"], "--preset": ["paper", "x", ""],
    "--interference": ["full", "none", "FULL"], "--top-k": NUMBERS, "--area-m": NUMBERS,
    "--bandwidth-hz": NUMBERS, "--server-flops": NUMBERS, "--profile": ["synthetic", "", "x"],
    "--out": ["o.json", "folder", "a_file/x.json", "missing/x.json", ""],
}


def _run_cli(main, argv) -> tuple[int, str]:
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    return code, stderr.getvalue()


@FUZZ
@given(options=st.lists(st.sampled_from(sorted(GENERATE_OPTIONS)), max_size=6, unique=True),
       data=st.data(), equals=st.booleans(),
       junk=st.lists(st.text(max_size=5), max_size=2))
def test_instances_cli_exit_0_or_one_line_and_exit_2(options, data, equals, junk):
    """``python -m instances generate`` with any mix of good and bad options (and junk words)
    writes its files (exit 0) or prints one error line and exits 2, never a traceback."""
    from instances.cli import main

    argv = ["generate"]
    for option in options:
        value = data.draw(st.sampled_from(GENERATE_OPTIONS[option]), label=option)
        argv += [f"{option}={value}"] if equals else [option, value]
    argv += junk
    with _scratch() as folder:
        (folder / "folder").mkdir()
        (folder / "a_file").write_text("x")
        code, err = _run_cli(main, argv)
    assert "Traceback" not in err
    assert code in (0, 2), (argv, code, err)
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("python -m instances"), (argv, err)
        assert ": error: " in lines[0], (argv, err)


def _benchmark_options():
    """(module name, option, bad values) of every numeric option of the benchmark CLIs."""
    import importlib

    from benchmarks import fuzz

    out = []
    for name in fuzz.BENCHMARK_CLIS:
        module = importlib.import_module(f"benchmarks.{name}")
        for option, kind, convert, _ in fuzz._option_types(module):
            if kind in ("int", "float"):
                bad = [v for v in (fuzz.BAD_INTS if kind == "int" else fuzz.BAD_FLOATS)
                       if fuzz._rejects(convert, v)]
                out.append((name, option, bad))
    return out


BENCHMARK_OPTIONS = _benchmark_options()


@FUZZ
@given(entry=st.sampled_from(BENCHMARK_OPTIONS), data=st.data())
def test_benchmark_clis_reject_bad_numbers_in_one_line(entry, data):
    """Every numeric option of every benchmark CLI, given a value its type rejects, is one
    error line naming the option, exit code 2."""
    import importlib

    name, option, bad = entry
    value = data.draw(st.sampled_from(bad))
    with _scratch():
        code, err = _run_cli(importlib.import_module(f"benchmarks.{name}").main,
                             fuzz.with_required(name, [f"{option}={value}"]))
    assert code == 2, (name, option, value, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and option in lines[0], (name, option, value, err)


def _benchmark_clis():
    from benchmarks import fuzz

    return fuzz.BENCHMARK_CLIS


@pytest.mark.parametrize("name", _benchmark_clis())
def test_benchmark_clis_reject_bad_out_and_missing_files(name, tmp_path, monkeypatch):
    """--out an existing file or a path under one is one error line naming --out; a missing
    --instances file names the file; exit code 2, and nothing is written."""
    import importlib

    main = importlib.import_module(f"benchmarks.{name}").main
    monkeypatch.chdir(tmp_path)
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    for out in (a_file, a_file / "sub"):
        code, err = _run_cli(main, fuzz.with_required(name, ["--out", str(out)]))
        errors = [line for line in err.splitlines() if "error:" in line]
        assert code == 2 and len(errors) == 1 and "--out" in errors[0], (out, err)
        assert "Traceback" not in err
    if name == "gap":
        code, err = _run_cli(main, ["--instances", str(tmp_path / "missing.json")])
        assert code == 2 and "missing.json" in err and "Traceback" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_run_cli_reports_user_errors_and_lets_bugs_through(monkeypatch):
    """run_cli turns the project's input errors (BenchmarkError, InstanceError, a file that
    cannot be read) into one line and exit 2, and lets any other exception through with its
    traceback: a ZeroDivisionError, and a plain ValueError raised inside numpy, both of which
    it used to print as if the user had erred (the latter, because ValueError was caught)."""
    from benchmarks import uncertainty
    from benchmarks.common import BenchmarkError, run_cli

    def raising(exc):
        def body():
            raise exc
        return body

    for exc, line in [(BenchmarkError("--x: must be 1"), "prog: error: --x: must be 1"),
                      (InstanceError("users: too few"), "prog: error: users: too few"),
                      (FileNotFoundError(2, "No such file or directory", "a.json"),
                       "prog: error: a.json: No such file or directory")]:
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            assert run_cli("prog", raising(exc)) == 2
        assert stderr.getvalue() == line + "\n"
    with pytest.raises(ZeroDivisionError):
        run_cli("prog", lambda: 1 // 0)
    with pytest.raises(ValueError, match="could not be broadcast"):
        run_cli("prog", lambda: np.ones(2) + np.ones(3))

    def broken(*args, **kwargs):          # a bug deep inside the benchmark
        return np.ones(2) + np.ones(3)

    monkeypatch.setattr(uncertainty, "analyse", broken)
    with _scratch(), pytest.raises(ValueError, match="could not be broadcast"):
        uncertainty.main(["--trace", "example", "--out", "u"])


# --- the crashes the fuzzer found ------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("[" * 5000 + "]" * 5000, "nested too deeply"),
    ("9" * 5000, "a number too long to read"),
])
def test_instance_loader_survives_deep_and_long_json(tmp_path, text, message):
    """JSON nested beyond the recursion limit and integers beyond Python's digit limit are
    InstanceErrors naming the file (they used to escape as RecursionError / ValueError)."""
    file = tmp_path / "inst.json"
    file.write_text(text)
    with pytest.raises(InstanceError, match=message):
        instances.load(file)


def test_huge_integers_name_the_field(tmp_path):
    """An integer beyond the largest float is a clear error in an instance and in a trace
    (it used to raise OverflowError)."""
    doc = _mutated(BASE, ("users", "prompt_bits", 0), 10 ** 400, False)
    with pytest.raises(InstanceError, match="users.prompt_bits: .* too large"):
        instances.io.from_dict(doc)
    file = tmp_path / "t.jsonl"
    file.write_text(json.dumps({**TRACE_RECORD, "prompt_bytes": 10 ** 400}) + "\n")
    with pytest.raises(InstanceError, match="line 1: prompt_bytes must be a finite number"):
        instances.load_trace(file)


def test_trace_that_is_not_utf8(tmp_path):
    """A trace that is not UTF-8 names the file (it used to be a bare UnicodeDecodeError)."""
    file = tmp_path / "t.jsonl"
    file.write_bytes(b"\xff\xfe{}")
    with pytest.raises(InstanceError, match="t.jsonl' is not UTF-8"):
        instances.load_trace(file)


@pytest.mark.parametrize("argv, message", [
    (["generate", "--users=--", "--out", "x.json"], "argument --users: expected a value"),
    (["generate", "--users", "10000000000000", "--out", "x.json"],
     "--users 10000000000000, --servers 4: an instance too large"),
    (["generate", "--users", "3", "--out", "a_file/x.json"], "--out: folder a_file does not"),
    (["generate", "--users", "3", "--out", "x.json", "\r0", "a\nb"],
     "unrecognized arguments: 0 a b"),
    (["generate", "--users", "3", "--out", "x.json", "--carrier-hz", "1e-320"],
     "gain: contains a NaN or infinite value (with --carrier-hz 1e-320)"),
])
def test_instances_cli_crashes_found_by_fuzzing(tmp_path, monkeypatch, argv, message):
    """--users=-- (argparse handed an empty list), a size too large to hold (MemoryError),
    --out under a file (an error naming a temporary file), arguments holding line breaks and
    an override that breaks a derived field (named alone) are one clear line, exit 2."""
    from instances.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("x")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a numpy warning would print a line above the error
        code, err = _run_cli(main, argv)
    assert code == 2 and err.count("\n") == 1 and message in err, err


# --- evaluator invariants --------------------------------------------------------------------

instance_specs = st.tuples(st.integers(2, 7), st.integers(1, 4), st.integers(0, 10 ** 6),
                           st.sampled_from(["full", "none"]))


def _instance(spec):
    n, m, seed, interference = spec
    return generate(n, m, seed=seed, interference=interference)


@FUZZ
@given(spec=instance_specs, data=st.data())
def test_an_extra_interferer_never_shortens_a_delay(spec, data):
    """Offloading one more (formerly local) user to any ES never makes another user faster:
    it adds load on its ES and interference on the others."""
    inst = _instance(spec)
    assignment = np.array(data.draw(st.lists(st.integers(-1, inst.n_servers - 1),
                                             min_size=inst.n_users, max_size=inst.n_users)))
    local = np.flatnonzero(assignment < 0)
    if local.size == 0:
        assignment[data.draw(st.integers(0, inst.n_users - 1))] = -1
        local = np.flatnonzero(assignment < 0)
    user = data.draw(st.sampled_from(local.tolist()))
    before = evaluate(inst, assignment).delay_s
    assignment[user] = data.draw(st.integers(0, inst.n_servers - 1))
    after = evaluate(inst, assignment).delay_s
    others = np.arange(inst.n_users) != user
    assert np.all(after[others] >= before[others] * (1 - 1e-12))


@FUZZ
@given(spec=instance_specs, data=st.data())
def test_moving_a_user_to_an_idle_es(spec, data):
    """Moving an offloaded user to an idle ES leaves the users of every third ES exactly as
    fast (the mover interferes there as before, loads are unchanged), and, without
    interference, never slows the users it leaves."""
    inst = _instance(spec)
    if inst.n_servers < 2:
        return
    assignment = np.array(data.draw(st.lists(st.integers(-1, inst.n_servers - 2),
                                             min_size=inst.n_users, max_size=inst.n_users)))
    idle = inst.n_servers - 1
    offloaded = np.flatnonzero(assignment >= 0)
    if offloaded.size == 0:
        return
    user = data.draw(st.sampled_from(offloaded.tolist()))
    left = assignment[user]
    before = evaluate(inst, assignment).delay_s
    moved = assignment.copy()
    moved[user] = idle
    after = evaluate(inst, moved).delay_s
    third = (assignment >= 0) & (assignment != left) & (np.arange(inst.n_users) != user)
    assert_allclose(after[third], before[third], rtol=1e-12)
    assert_array_equal(after[assignment < 0], before[assignment < 0])
    if inst.interference == "none":
        stay = (assignment == left) & (np.arange(inst.n_users) != user)
        assert np.all(after[stay] <= before[stay] * (1 + 1e-12))


@FUZZ
@given(spec=instance_specs, data=st.data())
def test_interference_only_adds_delay_and_relabelling_changes_nothing(spec, data):
    """The same assignment is never faster with interference than without; renumbering the
    ESs (and the assignment with them) or reordering the users permutes the delays and
    nothing else."""
    inst = _instance(spec)
    n, m = inst.n_users, inst.n_servers
    assignment = np.array(data.draw(st.lists(st.integers(-1, m - 1), min_size=n, max_size=n)))
    full = evaluate(inst.replace(interference="full"), assignment).delay_s
    none = evaluate(inst.replace(interference="none"), assignment).delay_s
    assert np.all(full >= none * (1 - 1e-12))

    rng = random.Random(data.draw(st.integers(0, 2 ** 32)))
    servers = list(range(m))
    rng.shuffle(servers)
    servers = np.array(servers)  # new ES k is old ES servers[k]
    inverse = np.argsort(servers)
    users = np.array(rng.sample(range(n), n))
    fields = {name: getattr(inst, name)[:, servers] if name == "gain"
              else getattr(inst, name)[servers] for name in
              ("server_xy_m", "bandwidth_hz", "server_flops", "server_cap_flops", "gain")}
    relabelled = inst.replace(**fields)
    user_fields = {name: getattr(relabelled, name)[users] for name in
                   ("user_xy_m", "prompt_bits", "tx_power_w", "local_flops",
                    "local_workload_flop", "edge_workload_flop", "topk_probs", "alpha",
                    "slm_correct", "llm_correct", "gain", "p_slm_correct", "p_llm_correct")}
    relabelled = relabelled.replace(**user_fields)
    new_assignment = np.where(assignment >= 0, inverse[np.maximum(assignment, 0)], -1)[users]
    base = evaluate(inst, assignment)
    other = evaluate(relabelled, new_assignment)
    assert_allclose(other.delay_s, base.delay_s[users], rtol=1e-12)
    assert math.isclose(other.accuracy_pct, base.accuracy_pct, rel_tol=1e-12)


# --- the fuzz benchmark itself ---------------------------------------------------------------

def test_fuzz_benchmark_counts_and_writes_no_failure(tmp_path, capsys):
    """A small run of ``python -m benchmarks.fuzz`` (every target, two subprocesses) finds no
    failure: exit 0, a summary with a row per target whose counts add up, an empty
    fuzz.csv."""
    from benchmarks import fuzz
    from benchmarks.common import read_csv

    out = tmp_path / "fuzz"
    assert fuzz.main(["--count", "80", "--sample", "2", "--out", str(out)]) == 0
    assert read_csv(out / "fuzz.csv") == []
    summary = (out / "summary.txt").read_text()
    for target in fuzz.TARGETS:
        row = next(line.split() for line in summary.splitlines()
                   if line.strip().startswith(target + " "))
        rejected, accepted, *failures, inputs = map(int, row[1:])
        assert inputs == 20 and rejected + accepted == 20 and failures == [0] * 4, row
    assert "0 failure(s)" in capsys.readouterr().out


def test_fuzz_judge_catches_what_it_must():
    """The fuzzer's verdicts: a traceback, another exit code, two error lines, a message
    naming nothing it should, an escaping exception and an input that hangs are failures."""
    import time

    from benchmarks import fuzz

    assert fuzz.judge(2, "p: error: --users: bad\n", ("--users",)) == ("rejected", "")
    assert fuzz.judge(0, "", ()) == ("accepted", "")
    assert fuzz.judge(2, "Traceback (most recent call last):\nX\n", ())[0] == "traceback"
    assert fuzz.judge(1, "p: error: x\n", ("x",))[0] == "exit 1"
    assert fuzz.judge(2, "p: error: a\np: error: b\n", ("a",))[0] == "lines"
    assert fuzz.judge(2, "x.py:1: RuntimeWarning: overflow\np: error: a\n", ("a",))[0] == "lines"
    assert fuzz.judge(2, "p: error: something\n", ("--users",))[0] == "unnamed"

    def crash():
        raise RecursionError("deep")

    def hang():
        time.sleep(5)
        return 0, ""

    assert fuzz.run_case(fuzz.Case("t", "crash", crash, ()), 10)[0] == "traceback"
    assert fuzz.run_case(fuzz.Case("t", "hang", hang, ()), 0.2)[0] == "hung"
