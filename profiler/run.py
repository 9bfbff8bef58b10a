"""Write a measured query trace: every question through the SLM and the LLM, one JSON record per
question appended as it finishes, under a provenance header of ``#`` lines.

The file is the trace format that :func:`instances.profiles.load_trace` reads; it is checked by
that loader before :func:`run_trace` returns. A run that stops (killed, interrupted, a failing
model) keeps every record already written; running again with the same questions, models and
output skips the questions already there and appends the others. The header's ``identity``
(a hash of the questions, each model's name, weights, device, dtype and recipe settings, a
hash of the recipe) decides what "the same" means: a resume onto anything else stops with one
line saying what differs, or starts the file again with ``restart=True``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np

from .babi import Question, atomic_write_text, questions_digest
from .recipe import PROMPT_TEMPLATE, build_prompt

MAGIC = "# llm-offloading query trace, written by python -m profiler run"
"""The first line of every trace this module writes."""

PROVENANCE_PREFIX = "# provenance: "

RECIPE = {
    "prompt": PROMPT_TEMPLATE,
    "topk": "softmax of the last prompt position's logits; top `candidates` tokens decoded "
            "(special tokens as empty), stripped, lower-cased, empty dropped, equal strings "
            "summed, top `top_k` kept and renormalised",
    "answer": "greedy (argmax at every step, no logits processor: a checkpoint's generation "
              "config is ignored), `max_new_tokens` new tokens or up to the end-of-sequence "
              "token",
    "correct": "the gold word occurs in the continuation as a whole word, case-insensitive",
    "latency_s": "wall time of the generation (device synchronised), or of the server request; "
                 "each model's first generation is an untimed warm-up",
    "workload_flop": "2 x parameters x (prompt tokens + generated tokens)",
    "prompt_bytes": "UTF-8 bytes of the prompt",
}
"""What each measured field means; written into the provenance header."""

# a runner's provenance fields that must agree for a run to append to an existing trace
_SAME_ON_RESUME = ("runner", "model", "weights", "parameters", "architecture", "device", "dtype",
                   "base_url", "api", "top_k", "candidates", "max_new_tokens")


@dataclass(frozen=True)
class RunSummary:
    """What :func:`run_trace` did and what the trace says.

    ``written`` records were added by this call, ``skipped`` were already in the file,
    ``records`` is the file's total; accuracies in [0, 1]; latencies in seconds (means over the
    file); ``auroc_margin`` is the AUROC of the SLM's margin uncertainty for an SLM error (NaN
    when the SLM is always or never right).
    """

    path: str
    written: int
    skipped: int
    records: int
    slm_accuracy: float
    llm_accuracy: float
    slm_latency_s: float
    llm_latency_s: float
    auroc_margin: float

    def summary(self) -> str:
        """A few readable lines."""
        auc = "n/a" if np.isnan(self.auroc_margin) else f"{self.auroc_margin:.3f}"
        return (f"{self.path}: {self.records} records ({self.written} new, {self.skipped} "
                f"already there)\n"
                f"  accuracy SLM {100 * self.slm_accuracy:.1f} %, "
                f"LLM {100 * self.llm_accuracy:.1f} %"
                f"; mean latency SLM {1e3 * self.slm_latency_s:.1f} ms, "
                f"LLM {1e3 * self.llm_latency_s:.1f} ms; AUROC of the margin for an SLM error "
                f"{auc}")


def trace_record(question: Question, slm, llm) -> dict:
    """The flat trace record of one question from the two models' :class:`ModelRecord`s."""
    prompt = build_prompt(question)
    record = {
        "id": question.id, "task": question.task, "prompt": prompt,
        "prompt_bytes": len(prompt.encode("utf-8")), "gold": question.answer,
        "topk_probs": list(slm.topk_probs), "topk_tokens": list(slm.topk_tokens),
        "llm_topk_probs": list(llm.topk_probs), "llm_topk_tokens": list(llm.topk_tokens),
        "slm_answer": slm.answer, "llm_answer": llm.answer,
        "slm_correct": bool(slm.correct), "llm_correct": bool(llm.correct),
        "slm_latency_s": slm.latency_s, "llm_latency_s": llm.latency_s,
    }
    for name, rec in (("slm", slm), ("llm", llm)):
        if rec.workload_flop is not None:
            record[f"{name}_workload_flop"] = rec.workload_flop
        record[f"{name}_prompt_tokens"] = rec.prompt_tokens
        record[f"{name}_new_tokens"] = rec.new_tokens
    return record


def identity(questions, slm, llm) -> dict:
    """What a trace is a trace of, stored in its header and compared on resume: the SHA-256 of
    the questions (:func:`profiler.babi.questions_digest`, all of them, before any limit), each
    runner's model, weights, device, dtype and recipe settings (those of its provenance's
    ``_SAME_ON_RESUME`` keys it has), and the SHA-256 of :data:`RECIPE`."""
    recipe = json.dumps(RECIPE, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return {"questions_sha256": questions_digest(questions),
            "slm": {k: slm.provenance[k] for k in _SAME_ON_RESUME if k in slm.provenance},
            "llm": {k: llm.provenance[k] for k in _SAME_ON_RESUME if k in llm.provenance},
            "recipe_sha256": hashlib.sha256(recipe).hexdigest()}


def differences(before: dict, now: dict) -> list[str]:
    """What differs between two :func:`identity` dicts, in words (empty when they agree)."""
    out = []
    if before.get("questions_sha256") != now["questions_sha256"]:
        out.append(f"other questions (sha256 {str(before.get('questions_sha256'))[:12]}..., "
                   f"now {now['questions_sha256'][:12]}...)")
    for model in ("slm", "llm"):
        old, new = before.get(model) or {}, now[model]
        for key in _SAME_ON_RESUME:
            if old.get(key) != new.get(key):
                out.append(f"{model} {key} {old.get(key)!r}, now {new.get(key)!r}")
    if before.get("recipe_sha256") != now["recipe_sha256"]:
        out.append("another recipe (this version of the profiler measures differently)")
    return out


def provenance(slm, llm, questions: str | None = None, ident: dict | None = None) -> dict:
    """The header's provenance: both runners' descriptions, library versions, date, recipe, and
    the trace's :func:`identity` (``ident``)."""
    versions = {"python": platform.python_version()}
    for package in ("llm-offloading", "numpy", "torch", "transformers", "tokenizers"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "slm": slm.provenance, "llm": llm.provenance, "questions": questions,
            "identity": ident, "platform": platform.platform(), "versions": versions,
            "recipe": RECIPE}


def run_trace(questions, slm, llm, out: str | Path, limit: int | None = None,
              progress: bool = True, questions_path: str | None = None,
              restart: bool = False) -> RunSummary:
    """Run both models on the questions and write (or complete) the trace ``out``.

    Parameters
    ----------
    questions : sequence of Question
        The questions, ids unique.
    slm, llm : Runner
        The small and the large model (:class:`~profiler.runners.HFRunner`,
        :class:`~profiler.server.OpenAIRunner`, or any object with ``answer`` and
        ``provenance``).
    out : str or Path
        The trace file. If it exists, it must be a trace of this module with the same
        :func:`identity` (questions, models, weights, device, dtype, recipe); the questions it
        holds are skipped.
    limit : int, optional
        Only the first ``limit`` questions.
    progress : bool
        Show a progress bar.
    questions_path : str, optional
        Recorded in the header.
    restart : bool
        Start an existing trace of this module again from its header (its records dropped),
        whatever it was made with.

    Returns
    -------
    RunSummary

    Raises
    ------
    ValueError
        For an existing file that is not a trace of this module, or (without ``restart``) one
        made with another identity (one line saying what differs), a bad ``limit``, repeated
        ids, or a trace the loader of ``instances`` rejects.
    """
    from tqdm import tqdm

    from instances.instance import InstanceError
    from instances.profiles import auroc, load_trace, margin_uncertainty

    questions = list(questions)
    ident = identity(questions, slm, llm)
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit: must be a positive integer, got {limit!r}")
        questions = questions[:limit]
    ids = [q.id for q in questions]
    if len(set(ids)) != len(ids):
        raise ValueError("questions: repeated ids")
    for key in ("top_k", "candidates", "max_new_tokens"):
        if slm.provenance.get(key) != llm.provenance.get(key):
            raise ValueError(f"{key}: the SLM runner has {slm.provenance.get(key)!r}, the LLM "
                             f"runner {llm.provenance.get(key)!r}; both must use the same recipe")
    out = Path(out)
    prov = provenance(slm, llm, questions_path, ident)
    done = _open_trace(out, prov, restart, lambda done: any(q.id not in done for q in questions))
    todo = [q for q in questions if q.id not in done]
    written = 0
    with open(out, "a", encoding="utf-8") as fh:
        for q in tqdm(todo, desc=f"profiling {out.name}", unit="q", disable=not progress):
            record = trace_record(q, slm.answer(q), llm.answer(q))
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
            written += 1
    try:
        trace = load_trace(out)
    except InstanceError as exc:
        raise ValueError(f"trace check: instances cannot read {str(out)!r}: {exc}") from None
    alpha = margin_uncertainty(trace.topk_probs)
    errors = 1.0 - trace.slm_correct
    auc = auroc(alpha, errors) if 0 < errors.sum() < errors.size else float("nan")
    return RunSummary(
        path=str(out), written=written, skipped=len(questions) - len(todo), records=len(trace),
        slm_accuracy=float(trace.slm_correct.mean()), llm_accuracy=float(trace.llm_correct.mean()),
        slm_latency_s=float(np.nanmean(trace.slm_latency_s)),
        llm_latency_s=float(np.nanmean(trace.llm_latency_s)), auroc_margin=auc)


def _open_trace(out: Path, prov: dict, restart: bool, pending) -> set[str]:
    """Create the trace with its header (also when ``restart``), or check an existing one's
    identity and repair a torn last line; returns the ids already written. A ``# resumed`` line
    is added only when ``pending(done)`` says questions remain, so that a finished trace run
    again is left as it was."""
    header = MAGIC + "\n" + PROVENANCE_PREFIX + json.dumps(prov, ensure_ascii=False) + "\n"
    if out.is_dir():
        raise ValueError(f"out: {str(out)!r} is a folder; give the trace file's path")
    if not out.exists():
        if not out.parent.is_dir():
            raise ValueError(f"out: folder {str(out.parent)!r} does not exist")
        atomic_write_text(out, header)
        return set()
    try:
        text = out.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"out: cannot read the existing {str(out)!r}: {exc}") from None
    lines = text.split("\n")
    if lines[0] != MAGIC:
        raise ValueError(f"out: {str(out)!r} exists and is not a trace written by the profiler; "
                         "choose another file")
    if restart:
        atomic_write_text(out, header)
        return set()
    old = None
    for line in lines:
        if line.startswith(PROVENANCE_PREFIX):
            try:
                old = json.loads(line[len(PROVENANCE_PREFIX):])
            except json.JSONDecodeError:
                raise ValueError(f"out: {str(out)!r} has a provenance line that is not JSON") \
                    from None
            break
    if not isinstance(old, dict):
        raise ValueError(f"out: {str(out)!r} has no provenance line")
    if not isinstance(old.get("identity"), dict):
        raise ValueError(f"out: {str(out)!r} has no identity in its header (written by an older "
                         "profiler): run with --restart to redo it, or choose another file")
    changed = differences(old["identity"], prov["identity"])
    if changed:
        raise ValueError(f"out: {str(out)!r} was made with {'; '.join(changed)}: run with "
                         "--restart to redo it, or choose another file")
    done: set[str] = set()
    kept = []
    for number, line in enumerate(lines):
        if not line.strip() or line.startswith("#"):
            kept.append(line)
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number >= len(lines) - 2:   # the last line, cut by a kill: drop it
                continue
            raise ValueError(f"out: {out.name} line {number + 1} is not valid JSON") from None
        if not isinstance(record, dict) or not isinstance(record.get("id"), str):
            raise ValueError(f"out: {out.name} line {number + 1} is a record without an id")
        done.add(record["id"])
        kept.append(line)
    repaired = "\n".join(line for line in kept if line) + "\n"
    if pending(done):
        repaired += (f"# resumed {prov['created']} with {len(done)} records; versions "
                     f"{json.dumps(prov['versions'])}\n")
    if repaired != text:
        atomic_write_text(out, repaired)
    return done
