"""profiler.recipe, HFRunner and run_trace: the top-k merge and whole-word match against hand
computations, the in-process runner against an independent computation on a tiny checkpoint,
and the resumable trace that instances reads."""

import json

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import instances
from profiler import babi
from profiler.cli import main as cli_main
from profiler.recipe import analytic_workload_flop, build_prompt, contains_word, merge_topk
from profiler.run import MAGIC, run_trace
from profiler.runners import ModelRecord


def test_merge_topk_by_hand():
    """Stripped, lower-cased, empty dropped, equal strings summed, top k kept, renormalised."""
    tokens = [" Garden", "kitchen", "garden", " ", "\n", "Office", "KITCHEN ", "hall"]
    probs = [0.30, 0.20, 0.10, 0.08, 0.07, 0.06, 0.05, 0.04]
    words, p = merge_topk(tokens, probs, k=3)
    assert words == ["garden", "kitchen", "office"]
    assert_allclose(p, np.array([0.40, 0.25, 0.06]) / 0.71, rtol=0, atol=1e-15)
    words, p = merge_topk(["b", "a", "c"], [0.2, 0.2, 0.1], k=5)   # ties keep their order
    assert words == ["b", "a", "c"] and abs(sum(p) - 1) < 1e-15
    with pytest.raises(ValueError, match="k: must be"):
        merge_topk(["a"], [1.0], k=0)
    with pytest.raises(ValueError, match="every candidate is empty"):
        merge_topk([" ", ""], [0.5, 0.5])
    with pytest.raises(ValueError, match="probs: 1 probabilities for 2 tokens"):
        merge_topk(["a", "b"], [0.5])
    with pytest.raises(ValueError, match="non-negative"):
        merge_topk(["a", "b"], [0.5, float("nan")])


@pytest.mark.parametrize("text, word, expected", [
    ("kitchen. The", "kitchen", True), ("The Kitchen", "kitchen", True),
    ("kitchens", "kitchen", False), ("No, he is not", "no", True), ("not here", "no", False),
    ("nobody", "no", False), ("(yes)", "yes", True), ("", "yes", False),
    ("a.b", "a.b", True), ("xa.b", "a.b", False),
])
def test_contains_word(text, word, expected):
    """The gold word must appear as a whole word, case-insensitively."""
    assert contains_word(text, word) is expected


def test_analytic_workload():
    """2 x parameters x (prompt + generated tokens); bad counts refused."""
    assert analytic_workload_flop(1_000, 40, 5) == 90_000.0
    with pytest.raises(ValueError, match="new_tokens"):
        analytic_workload_flop(10, 3, -1)


@pytest.fixture(scope="module")
def questions():
    """8 generated questions of each default task (seed 2)."""
    return babi.generate_questions(per_task=8, seed=2)


@pytest.fixture(scope="module")
def slm_runner(tiny_models):
    """HFRunner on the tiny SLM checkpoint, loaded by path."""
    from profiler.runners import HFRunner

    return HFRunner(tiny_models["slm"])


def test_hf_runner_equals_an_independent_computation(slm_runner, tiny_models, questions):
    """The runner's top-k and answer equal a separate computation on the same checkpoint:
    first-step logits from generate(output_logits=True), a float64 softmax, tokens by
    convert_ids_to_tokens (special tokens as empty), merged with a plain dict: to 1e-6."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_models["slm"]).eval()
    tok = AutoTokenizer.from_pretrained(tiny_models["slm"])
    for q in questions[::6]:
        enc = tok(build_prompt(q), return_tensors="pt")
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=5, do_sample=False, output_logits=True,
                                 return_dict_in_generate=True, pad_token_id=tok.pad_token_id)
        logits = out.logits[0][0].double().numpy()
        p = np.exp(logits - logits.max())
        p /= p.sum()
        order = np.argsort(-p, kind="stable")[:30]
        merged = {}
        for i in order:
            word = "" if i in tok.all_special_ids else tok.convert_ids_to_tokens(int(i))
            word = word.strip().lower()
            if word:
                merged[word] = merged.get(word, 0.0) + p[i]
        top = sorted(merged.items(), key=lambda kv: -kv[1])[:10]
        total = sum(v for _, v in top)
        record = slm_runner.answer(q)
        assert list(record.topk_tokens) == [w for w, _ in top]
        assert_allclose(record.topk_probs, [v / total for _, v in top], rtol=0, atol=1e-6)
        new = out.sequences[0, enc["input_ids"].shape[1]:]
        assert record.answer == tok.decode(new, skip_special_tokens=True).strip()
        assert record.correct == contains_word(record.answer, q.answer)
        assert record.prompt_tokens == enc["input_ids"].shape[1]
        assert record.new_tokens == new.numel() <= 5        # fewer when </s> comes first
        params = sum(t.numel() for t in model.parameters())
        assert record.workload_flop == 2.0 * params * (record.prompt_tokens + new.numel())
        assert record.latency_s > 0


def test_hf_runner_bad_input(tmp_path):
    """A missing checkpoint folder, an unknown device or dtype, a bad k: ValueError naming it."""
    from profiler.runners import HFRunner

    with pytest.raises(ValueError, match="model: no checkpoint folder"):
        HFRunner(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="model: cannot load"):
        HFRunner(tmp_path / "empty")
    with pytest.raises(ValueError, match="device"):
        HFRunner(tmp_path / "empty", device="gpu7")
    with pytest.raises(ValueError, match="top_k"):
        HFRunner(tmp_path / "empty", top_k=1)


class FakeRunner:
    """A runner whose answers are a deterministic function of the question; raises
    KeyboardInterrupt on the question with id ``stop_at`` (a simulated kill)."""

    def __init__(self, name, stop_at=None):
        self.provenance = {"runner": "fake", "model": name, "parameters": 1000, "top_k": 3,
                           "candidates": 9, "max_new_tokens": 5}
        self.stop_at = stop_at
        self.calls = 0

    def answer(self, q):
        if q.id == self.stop_at:
            raise KeyboardInterrupt
        self.calls += 1
        rng = np.random.default_rng(abs(hash((q.id, self.provenance["model"]))) % 2**32)
        p = np.sort(rng.random(3))[::-1]
        return ModelRecord(answer=q.answer if rng.random() < 0.5 else "hallway",
                           correct=bool(rng.random() < 0.5), topk_tokens=("a", "b", "c"),
                           topk_probs=tuple((p / p.sum()).tolist()), latency_s=0.01 + rng.random(),
                           prompt_tokens=40, new_tokens=5, workload_flop=90_000.0)


def test_resume_after_interruption_and_torn_line(tmp_path, questions):
    """A run stopped mid-way keeps its records; a torn last line (a kill during a write) is
    dropped; the re-run appends only the missing questions; the records written first are kept
    byte for byte; the finished file is read by instances."""
    out = tmp_path / "trace.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run_trace(questions, FakeRunner("s"), FakeRunner("l", stop_at=questions[7].id), out,
                  progress=False)
    first = out.read_text()
    assert first.startswith(MAGIC) and first.count('"id"') == 7
    with open(out, "a") as fh:
        fh.write('{"id": "qa2-00003", "task": 2, "prom')     # killed while writing
    slm, llm = FakeRunner("s"), FakeRunner("l")
    result = run_trace(questions, slm, llm, out, progress=False)
    assert (result.written, result.skipped, result.records) == (41, 7, 48)
    assert slm.calls == 41
    text = out.read_text()
    assert text.startswith(first) and "# resumed" in text and '"prom\n' not in text
    ids = [json.loads(line)["id"] for line in text.splitlines() if not line.startswith("#")]
    assert ids == [q.id for q in questions]
    again = run_trace(questions, FakeRunner("s"), FakeRunner("l"), out, progress=False)
    assert again.written == 0 and again.records == 48
    trace = instances.load_trace(out)
    assert len(trace) == 48


def test_refuses_other_models_and_foreign_files(tmp_path, questions):
    """Continuing a trace with another model, or writing over a file that is not a trace, is
    refused and the file left as it was; the two runners must share the recipe's settings."""
    out = tmp_path / "trace.jsonl"
    run_trace(questions, FakeRunner("s"), FakeRunner("l"), out, limit=3, progress=False)
    before = out.read_text()
    with pytest.raises(ValueError, match=r"was made with llm model 'l', now 'other': run with "
                                         r"--restart to redo it"):
        run_trace(questions, FakeRunner("s"), FakeRunner("other"), out, progress=False)
    assert out.read_text() == before
    foreign = tmp_path / "notes.jsonl"
    foreign.write_text("my notes\n")
    for restart in (False, True):
        with pytest.raises(ValueError, match="not a trace written by the profiler"):
            run_trace(questions, FakeRunner("s"), FakeRunner("l"), foreign, progress=False,
                      restart=restart)
    assert foreign.read_text() == "my notes\n"
    with pytest.raises(ValueError, match="out: .* is a folder; give the trace file's path"):
        run_trace(questions, FakeRunner("s"), FakeRunner("l"), tmp_path, progress=False)
    odd = FakeRunner("l")
    odd.provenance["top_k"] = 4
    with pytest.raises(ValueError, match="top_k: the SLM runner has 3, the LLM runner 4"):
        run_trace(questions, FakeRunner("s"), odd, tmp_path / "x.jsonl", progress=False)


def _with(runner, **changes):
    runner.provenance.update(changes)
    return runner


def _records(path):
    return [json.loads(line) for line in path.read_text().splitlines()
            if line and not line.startswith("#")]


def test_resume_onto_other_questions_or_models_stops_with_what_differs(tmp_path, questions):
    """A trace resumed onto another questions file (same ids, other content), another device,
    dtype or weights stops with one line naming each difference and leaves the file as it
    was (it used to report "0 new, N already there" and keep the old questions); restart=True
    redoes it from the header; a header without an identity (an older profiler's) is refused
    with the way out."""
    out = tmp_path / "trace.jsonl"
    run_trace(questions, FakeRunner("s"), FakeRunner("l"), out, limit=4, progress=False)
    before = out.read_text()
    header = json.loads(before.splitlines()[1][len("# provenance: "):])
    assert header["identity"]["questions_sha256"] == babi.questions_digest(questions)
    others = [babi.Question(**{**q.__dict__, "id": q.id.rsplit("-", 1)[0]})
              for q in babi.generate_questions(per_task=8, seed=5)]
    same_ids = [babi.Question(**{**o.__dict__, "id": q.id}) for o, q in zip(others, questions)]
    for qs, slm, llm, expected in [
            (same_ids, FakeRunner("s"), FakeRunner("l"), r"was made with other questions \("),
            (questions, _with(FakeRunner("s"), device="cuda"), FakeRunner("l"),
             r"slm device None, now 'cuda'"),
            (questions, FakeRunner("s"), _with(FakeRunner("l"), dtype="bfloat16",
                                               weights="sha256:abc"),
             r"llm weights None, now 'sha256:abc'; llm dtype None, now 'bfloat16'")]:
        with pytest.raises(ValueError, match=expected) as error:
            run_trace(qs, slm, llm, out, progress=False)
        assert "\n" not in str(error.value) and "--restart" in str(error.value)
        assert out.read_text() == before
    result = run_trace(same_ids, FakeRunner("s"), FakeRunner("l"), out, limit=2,
                       progress=False, restart=True)
    assert (result.written, result.skipped, result.records) == (2, 0, 2)
    assert [r["prompt"] for r in _records(out)] == [build_prompt(q) for q in same_ids[:2]]
    assert "# resumed" not in out.read_text()
    old = tmp_path / "old.jsonl"
    old.write_text(before.replace('"identity"', '"identity_was_not_there"'))
    with pytest.raises(ValueError, match="no identity in its header .* --restart"):
        run_trace(questions, FakeRunner("s"), FakeRunner("l"), old, progress=False)


def test_finished_trace_run_again_is_left_as_it_was(tmp_path, questions):
    """Running a finished trace again asks no model and leaves the file byte for byte (it
    used to append a "# resumed" line each time, e.g. to the shipped trace)."""
    out = tmp_path / "trace.jsonl"
    run_trace(questions, FakeRunner("s"), FakeRunner("l"), out, progress=False)
    before = out.read_bytes()
    slm = FakeRunner("s")
    again = run_trace(questions, slm, FakeRunner("l"), out, limit=10, progress=False)
    assert (again.written, again.skipped, slm.calls) == (0, 10, 0)
    assert out.read_bytes() == before


def test_cli_restart_and_refusal(tmp_path, tiny_models, questions, capsys):
    """``profiler run`` onto a trace of another questions file: one error line naming the
    difference and --restart, exit 2, file unchanged; with --restart the trace is made again
    for the new file."""
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    babi.write_questions(questions, first)
    babi.write_questions(babi.generate_questions(per_task=2, seed=9), second)
    out = tmp_path / "trace.jsonl"
    base = ["run", "--slm", str(tiny_models["slm"]), "--llm", str(tiny_models["llm"]),
            "--out", str(out), "--limit", "2", "--no-progress"]
    assert cli_main(base + ["--questions", str(first)]) == 0
    before = out.read_text()
    capsys.readouterr()
    assert cli_main(base + ["--questions", str(second)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "--out: " in errors[0] and "other questions" in errors[0], errors
    assert "Traceback" not in errors[0] and out.read_text() == before
    assert cli_main(base + ["--questions", str(second), "--restart"]) == 0
    assert [r["id"] for r in _records(out)] == [q.id for q in babi.read_questions(second)[:2]]


def test_greedy_ignores_the_checkpoints_generation_config(tmp_path, questions):
    """On a checkpoint whose generation_config sets a repetition penalty and bans repeated
    tokens (which do change its answers under plain generate()), the runner's answer equals a
    hand-written argmax loop (full forward pass per token, stop at </s> or after 5 tokens):
    greedy means greedy; the settings ignored are recorded in the provenance."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    from profiler.cmd_tiny import SIZES
    from profiler.runners import HFRunner
    from profiler.tiny import save_tiny_model

    path = save_tiny_model(tmp_path / "rep", seed=0, **SIZES["slm"])
    config = GenerationConfig.from_pretrained(path)
    config.repetition_penalty, config.no_repeat_ngram_size = 10.0, 1
    config.save_pretrained(path)
    runner = HFRunner(path)
    assert runner.provenance["ignored_generation_config"] == {
        "repetition_penalty": 10.0, "no_repeat_ngram_size": 1}
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    tok = AutoTokenizer.from_pretrained(path)
    changed = 0
    for q in questions[::4]:
        enc = tok(build_prompt(q), return_tensors="pt")
        ids = enc["input_ids"]
        for _ in range(5):
            with torch.no_grad():
                token = int(model(ids).logits[0, -1].argmax())
            ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
            if token == tok.eos_token_id:
                break
        new = ids[0, enc["input_ids"].shape[1]:]
        record = runner.answer(q)
        assert record.answer == tok.decode(new, skip_special_tokens=True).strip(), q
        assert record.new_tokens == new.numel()
        with torch.no_grad():   # what generate() does with the checkpoint's own settings
            plain = model.generate(**enc, max_new_tokens=5)[0, enc["input_ids"].shape[1]:]
        changed += tok.decode(plain, skip_special_tokens=True).strip() != record.answer
    assert changed > 0


def test_one_untimed_warm_up_generation(slm_runner, questions, monkeypatch):
    """The runner's first answer generates twice, the first time untimed (a slow first
    generation does not reach the latency); later answers generate once."""
    import time

    from profiler.runners import HFRunner

    runner = HFRunner.__new__(HFRunner)
    runner.__dict__.update(slm_runner.__dict__)
    runner._warm = False
    calls = []
    generate = runner._generate

    def slow_first(enc):
        calls.append(1)
        if len(calls) == 1:
            time.sleep(0.5)
        return generate(enc)

    monkeypatch.setattr(runner, "_generate", slow_first)
    first = runner.answer(questions[0])
    assert len(calls) == 2 and first.latency_s < 0.4
    runner.answer(questions[1])
    assert len(calls) == 3


def test_cli_run_writes_a_trace_instances_uses(tmp_path, tiny_models, questions, capsys):
    """``python -m profiler run`` on the tiny checkpoints: every record has the documented
    fields, prompt_bytes is the prompt's UTF-8 size, the header names both models and parameter
    counts, and the trace drives instances.generate with either cost."""
    qfile = tmp_path / "q.jsonl"
    babi.write_questions(questions, qfile)
    out = tmp_path / "trace.jsonl"
    argv = ["run", "--questions", str(qfile), "--slm", str(tiny_models["slm"]), "--llm",
            str(tiny_models["llm"]), "--out", str(out), "--limit", "6", "--no-progress"]
    assert cli_main(argv) == 0
    assert "6 records (6 new, 0 already there)" in capsys.readouterr().out
    lines = out.read_text().splitlines()
    header = json.loads(lines[1][len("# provenance: "):])
    assert header["slm"]["model"] == str(tiny_models["slm"])
    assert header["llm"]["parameters"] > header["slm"]["parameters"] > 1000
    assert header["recipe"]["prompt"].startswith("Instruction: Answer with only one word.")
    records = [json.loads(line) for line in lines if not line.startswith("#")]
    assert [r["id"] for r in records] == [q.id for q in questions[:6]]
    for r, q in zip(records, questions):
        assert r["prompt"] == build_prompt(q) and r["gold"] == q.answer and r["task"] == q.task
        assert r["prompt_bytes"] == len(r["prompt"].encode("utf-8"))
        for key in ("topk_probs", "llm_topk_probs"):
            assert len(r[key]) == 10 and abs(sum(r[key]) - 1) < 1e-9
        for key in ("slm_answer", "llm_answer", "slm_correct", "llm_correct", "slm_latency_s",
                    "llm_latency_s", "slm_workload_flop", "llm_workload_flop"):
            assert key in r
        assert r["slm_workload_flop"] == 2.0 * header["slm"]["parameters"] * (
            r["slm_prompt_tokens"] + r["slm_new_tokens"])
    work = instances.generate(20, 4, seed=0, profile=instances.load_trace(out).using("workload"))
    assert set((work.prompt_bits / 8).tolist()) <= {r["prompt_bytes"] for r in records}
    assert set(work.local_workload_flop.tolist()) <= {r["slm_workload_flop"] for r in records}
    lat = instances.generate(20, 4, seed=0, profile=instances.load_trace(out).using("latency"))
    assert_array_equal(lat.topk_probs, work.topk_probs)
    assert not np.array_equal(lat.local_workload_flop, work.local_workload_flop)


def test_cli_run_bad_input(tmp_path, tiny_models, capsys):
    """A missing model, a malformed questions file, a bad limit: one line, exit code 2, and a
    trace already there is left as it was."""
    qfile = tmp_path / "q.jsonl"
    babi.write_questions(babi.generate_questions(per_task=1), qfile)
    out = tmp_path / "t.jsonl"
    base = ["run", "--questions", str(qfile), "--llm", str(tiny_models["llm"]), "--out", str(out)]
    assert cli_main(base + ["--slm", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--slm: no checkpoint folder" in err
    (tmp_path / "bad.jsonl").write_text('{"id": "a"}\n')
    assert cli_main(["run", "--questions", str(tmp_path / "bad.jsonl"), "--slm", "x", "--llm",
                     "y", "--out", str(out)]) == 2
    assert "--questions: bad.jsonl line 1: missing field 'task'" in capsys.readouterr().err
    assert cli_main(base + ["--slm", str(tiny_models["slm"]), "--limit", "0"]) == 2
    assert "--limit: must be at least 1" in capsys.readouterr().err
    assert not out.exists()


def test_run_without_the_llm_extra_is_one_line(tmp_path, monkeypatch, capsys):
    """Without torch (the extra [llm] not installed), `profiler run` on a model is one error
    line naming the missing package and the extra, exit code 2, and no trace file."""
    import sys

    from profiler import babi, cli

    questions = tmp_path / "q.jsonl"
    babi.write_questions(babi.generate_questions([1], 2, seed=0), questions)
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails
    out = tmp_path / "trace.jsonl"
    code = cli.main(["run", "--questions", str(questions), "--slm", str(tmp_path),
                     "--llm", str(tmp_path), "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "torch is not installed" in err[0] and "[llm]" in err[0], err
    assert not out.exists()
