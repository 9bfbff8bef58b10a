#!/usr/bin/env bash
# Reproduce instances/data/babi_tiny_trace.jsonl: train our small and large Llama on generated
# bAbI questions (CPU, seeded), then profile both on 2,030 held-out questions (seven tasks,
# question seed 0; the training questions use seed 1000, the progress bar's held-out ones 2000).
# Needs the [llm] extra (torch, transformers, tokenizers). Run from the repository root:
#
#     bash scripts/make_babi_tiny_trace.sh
#
# The checkpoints land in models/ (not committed). The trace is rebuilt from scratch: profiled
# into models/babi_tiny_trace.jsonl (--restart: nothing of an earlier run is kept), then moved
# over the shipped file only once it is complete, so an interrupted run leaves the shipped
# trace as it was. To continue an interrupted profile instead of starting it again, run the
# `profiler run` line below without --restart, then the `mv` line.
set -euo pipefail
# one torch thread per process: on a shared CPU, more threads only wait for each other
export OMP_NUM_THREADS=1
PY=${PYTHON:-.venv/bin/python}
TRACE=instances/data/babi_tiny_trace.jsonl
WORK=models/babi_tiny_trace.jsonl
$PY -m profiler train --size small --seed 0 --threads 1 --out models/slm
$PY -m profiler train --size large --seed 0 --threads 1 --out models/llm
$PY -m profiler babi --tasks 1 6 9 11 12 15 16 --per-task 290 --seed 0 \
    --out models/babi_tiny_questions.jsonl
$PY -m profiler run --questions models/babi_tiny_questions.jsonl --slm models/slm \
    --llm models/llm --device cpu --out "$WORK" --restart
mv "$WORK" "$TRACE"
$PY -m benchmarks.uncertainty --trace babi-tiny --out results/uncertainty
