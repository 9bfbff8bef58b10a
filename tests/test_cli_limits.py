"""Command lines refuse, in one line, what they cannot do: a folder where a file is expected,
and sizes that would take more memory than the machine has (checked before allocating)."""

import pytest

import instances.cli
from benchmarks import online as online_bench
from profiler.cli import main as profiler_main


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_profiler_babi_out_folder_is_one_clear_line(tmp_path, capsys):
    """profiler babi --out FOLDER: one line naming --out and saying it is a folder (not
    an error about a temporary file), exit 2, nothing written."""
    assert profiler_main(["babi", "--per-task", "2", "--out", str(tmp_path)]) == 2
    err = _one_line_error(capsys)
    assert f"--out: {tmp_path} is a folder" in err and ".tmp" not in err
    assert list(tmp_path.iterdir()) == []


def test_profiler_run_out_folder_is_refused_before_the_models_load(tmp_path, capsys):
    """profiler run --out FOLDER: refused before the models are looked up (here they do not
    exist, which would otherwise be the error), one line naming --out."""
    questions = tmp_path / "q.jsonl"
    assert profiler_main(["babi", "--per-task", "2", "--out", str(questions)]) == 0
    capsys.readouterr()
    folder = tmp_path / "traces"
    folder.mkdir()
    assert profiler_main(["run", "--questions", str(questions), "--slm", str(tmp_path / "none"),
                          "--llm", str(tmp_path / "none"), "--out", str(folder)]) == 2
    assert f"--out: {folder} is a folder" in _one_line_error(capsys)


def test_instances_generate_refuses_sizes_beyond_the_memory(tmp_path, monkeypatch, capsys):
    """instances generate with more users than the available memory holds (here 50 MB) stops
    before generating, naming --users and --servers (and --count when several), exit 2."""
    monkeypatch.setattr(instances.cli, "available_memory_bytes", lambda: 50_000_000)
    out = tmp_path / "big.json"
    assert instances.cli.main(["generate", "--users", "100000", "--out", str(out)]) == 2
    err = _one_line_error(capsys)
    assert "--users 100000, --servers 4: an instance too large for this machine (about" in err
    assert "0.05 GB available" in err and not out.exists()
    assert instances.cli.main(["generate", "--users", "20000", "--count", "3", "--out",
                               str(tmp_path / "set")]) == 2
    assert "--users 20000, --servers 4, --count 3: 3 instances too large" in _one_line_error(capsys)
    assert not (tmp_path / "set").exists()
    # what fits is still generated
    assert instances.cli.main(["generate", "--users", "20", "--out", str(out)]) == 0
    assert out.exists()


def test_memory_estimate_covers_what_generate_takes():
    """The estimate is above what generating really takes (tracemalloc's peak), on three
    shapes: many users, many ESs, a long top-k."""
    import tracemalloc

    import instances

    instances.generate(5, 2, seed=0)
    for n, m, k in ((4000, 4, 10), (2000, 30, 10), (1000, 4, 60)):
        tracemalloc.start()
        try:
            instances.generate(n, m, seed=0, top_k=k)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < instances.cli.instance_bytes(n, m, k), (n, m, k)


@pytest.mark.parametrize("argv, option", [
    (["--rates", "5", "1e9"], "--rates 1e+09"),
    (["--tau-rate", "1e9"], "--tau-rate 1e+09"),
])
def test_online_benchmark_refuses_rates_beyond_the_memory(tmp_path, capsys, argv, option):
    """benchmarks.online --rates 1e9 (2.5e11 queries per run): one line naming the rate option
    and the users and duration, exit 2, before any run or output folder."""
    out = tmp_path / "o"
    assert online_bench.main(argv + ["--out", str(out)]) == 2
    err = _one_line_error(capsys)
    assert f"{option} (about" in err and "--users 50, --duration 5 s" in err
    assert "GB of memory" in err and "a run too large" in err and not out.exists()


def test_online_benchmark_memory_check_counts_parallel_runs(monkeypatch, capsys, tmp_path):
    """With --jobs 2, two runs are held at once: a rate that fits once but not twice in the
    available memory is refused, naming the two runs."""
    from benchmarks.common import BYTES_PER_QUERY

    queries = 12 * 40.0 * 1.0  # --quick: N 12, 1 s, its highest rate 40 Hz
    monkeypatch.setattr(instances.cli, "available_memory_bytes",
                        lambda: int(1.5 * queries * BYTES_PER_QUERY))
    monkeypatch.setattr(online_bench, "check_instance_memory", lambda *args: None)  # queries only
    assert online_bench.main(["--quick", "--jobs", "2", "--out", str(tmp_path / "o")]) == 2
    assert "2 runs at a time" in _one_line_error(capsys)


@pytest.mark.parametrize("module, argv, named", [
    ("gap", ["--servers", "100000"], "--servers 100000"),
    ("paper", ["--users", "100000"], "--users 100000, --servers 4"),
    ("scale", ["--users", "100000"], "--users 100000, --servers 4"),
    ("certified", ["--sizes", "100000"], "--sizes 100000, --servers 4"),
    ("proofs", ["--sizes", "100000"], "--sizes 100000, --servers 4"),
    ("compare", ["--sizes", "100000"], "--sizes 100000"),
    ("online_engines", ["--users", "100000"], "--users 100000, --servers 4"),
    ("online", ["--users", "100000", "--rates", "1e-6"], "--users 100000, --servers 4"),
    ("online_engines", ["--rate", "1e9"], "--rate 1e+09 (about 2e+12 queries per run"),
])
def test_every_benchmark_refuses_sizes_beyond_the_memory(tmp_path, monkeypatch, capsys, module,
                                                         argv, named):
    """Each benchmark CLI whose options size the instances (or the queries of a simulation)
    estimates the memory first: beyond what the machine has (here 50 MB) it stops at once with
    one line naming the options, exit 2, and writes nothing."""
    import importlib

    monkeypatch.setattr(instances.cli, "available_memory_bytes", lambda: 50_000_000)
    monkeypatch.chdir(tmp_path)
    cli = importlib.import_module(f"benchmarks.{module}")
    assert cli.main(argv) == 2
    err = _one_line_error(capsys)
    assert named in err and "too large for this machine (about" in err, err
    assert list(tmp_path.iterdir()) == []
