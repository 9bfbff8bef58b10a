"""python -m benchmarks.compare on the executor layer: a tiny run, its store and --resume."""

import pytest

from benchmarks import compare
from benchmarks.common import read_csv


def test_compare_tiny_run_and_resume(tmp_path, capsys):
    """One size, one seed, one tau: three rows, goa_ls never worse than
    GOA, the task store written, and a --resume run reproduces the CSV exactly (runtimes
    included: they are read back from the store, not recomputed)."""
    out = tmp_path / "c"
    argv = ["--sizes", "8", "--seeds", "3", "--tau", "0.6", "--out", str(out)]
    assert compare.main(argv) == 0
    rows = read_csv(out / "compare.csv")
    assert list(rows[0]) == list(compare.COLUMNS)
    assert [r["method"] for r in rows] == list(compare.METHODS)
    for k in range(0, len(rows), 3):
        by = {r["method"]: float(r["objective_ms"]) for r in rows[k:k + 3]}
        assert by["goa_ls"] <= by["goa"] * (1 + 1e-12)
    assert (out / "tasks.sqlite").exists() and (out / "summary.txt").stat().st_size > 0
    first = (out / "compare.csv").read_text()
    assert compare.main(argv + ["--resume"]) == 0
    assert (out / "compare.csv").read_text() == first
    assert "ls<=GA %" in capsys.readouterr().out


@pytest.mark.parametrize("argv, name", [(["--sizes", "0"], "--sizes"),
                                        (["--tau", "1.5"], "--tau"),
                                        (["--patience", "-1"], "--patience")])
def test_bad_option_is_one_line_exit_2(tmp_path, capsys, argv, name):
    """A bad option prints one line naming it on stderr and exits with code 2."""
    with pytest.raises(SystemExit) as exit_:
        compare.main(argv + ["--out", str(tmp_path / "x")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and name in err
    assert not (tmp_path / "x").exists()
