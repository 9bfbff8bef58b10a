"""scripts/make_babi_tiny_trace.sh as a fresh clone runs it, with the training and the size of
the question set scaled down by a stand-in for Python (train -> a tiny checkpoint, 290
questions per task -> 1, the final benchmark skipped): the shipped trace is rebuilt from
scratch, never appended to."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "make_babi_tiny_trace.sh"

STAND_IN = """#!/usr/bin/env bash
# python, with `profiler train` replaced by `profiler tiny`, 1 question per task, no benchmark
set -e
if [ "$2" = profiler ] && [ "$3" = train ]; then
    out="${@: -1}"; rm -rf "$out"
    exec "$REAL_PYTHON" -m profiler tiny --out "$out" --seed 0
fi
if [ "$2" = profiler ] && [ "$3" = babi ]; then
    exec "$REAL_PYTHON" "${@/290/1}"
fi
if [ "$2" = benchmarks.uncertainty ]; then
    exit 0
fi
exec "$REAL_PYTHON" "$@"
"""


def _records(path):
    return [json.loads(line) for line in path.read_text().splitlines()
            if line and not line.startswith("#")]


def test_script_rebuilds_the_shipped_trace_from_scratch(tmp_path):
    """In a clone holding the shipped trace, the script leaves a trace of exactly
    the questions it made, with an identity in its header and no "# resumed" line; the
    shipped records are gone (it used to find them "already there" and append a line to the
    tracked file)."""
    shipped = tmp_path / "instances" / "data" / "babi_tiny_trace.jsonl"
    shipped.parent.mkdir(parents=True)
    shutil.copy(ROOT / "instances" / "data" / "babi_tiny_trace.jsonl", shipped)
    stand_in = tmp_path / "python"
    stand_in.write_text(STAND_IN)
    stand_in.chmod(0o755)
    env = {**os.environ, "PYTHON": str(stand_in), "REAL_PYTHON": sys.executable,
           "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(["bash", str(SCRIPT)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    text = shipped.read_text()
    questions = [json.loads(line) for line in
                 (tmp_path / "models" / "babi_tiny_questions.jsonl").read_text().splitlines()]
    assert [r["id"] for r in _records(shipped)] == [q["id"] for q in questions]
    assert len(questions) == 7 and "# resumed" not in text
    assert '"identity": {"questions_sha256"' in text.splitlines()[1]
    assert not (tmp_path / "models" / "babi_tiny_trace.jsonl").exists()
