"""profiler.server.OpenAIRunner against a real HTTP server on 127.0.0.1 serving the tiny
checkpoints in vLLM's response shapes (tests/openai_server.py): the same records as the
in-process runner, a clear error for a server's cap on k, an unreachable server and an unknown
model, and ``python -m profiler run --slm-url/--llm-url``."""

import json
import math
import socket
import time

import pytest
from numpy.testing import assert_allclose

import instances
from profiler import babi
from profiler.cli import main as cli_main
from profiler.server import OpenAIRunner

from .openai_server import OpenAIServer


@pytest.fixture(scope="module")
def server(tiny_models):
    """Both tiny checkpoints served as "slm" and "llm", with a cap of 30 top log-probabilities."""
    with OpenAIServer({"slm": tiny_models["slm"], "llm": tiny_models["llm"]},
                      max_logprobs=30) as srv:
        yield srv


@pytest.fixture(scope="module")
def questions():
    """1 generated question of each default task (seed 4)."""
    return babi.generate_questions(per_task=1, seed=4)


@pytest.mark.parametrize("api", ["completions", "chat"])
def test_server_records_equal_in_process_records(server, tiny_models, questions, api):
    """Over HTTP (completions or chat shapes) the top-k words, probabilities (to 1e-6), answer,
    correctness and token counts equal the in-process runner's on the same checkpoint."""
    from profiler.runners import HFRunner

    local = HFRunner(tiny_models["llm"])
    remote = OpenAIRunner(server.url, "llm", api=api, parameters=local.parameters)
    assert remote.provenance["candidates"] == 30
    for q in questions:
        a, b = local.answer(q), remote.answer(q)
        assert b.topk_tokens == a.topk_tokens and b.answer == a.answer
        assert_allclose(b.topk_probs, a.topk_probs, rtol=0, atol=1e-6)
        assert (b.correct, b.prompt_tokens, b.new_tokens, b.workload_flop) == (
            a.correct, a.prompt_tokens, a.new_tokens, a.workload_flop)
        assert b.latency_s > 0


def test_cap_on_k_unreachable_server_and_unknown_model(tiny_models, server, questions):
    """vLLM's default cap (20) against the recipe's 30 candidates: a clear error that says how
    to fix it, and a run with --candidates 20 works; nothing listening, or a model the server
    does not serve, is named at construction."""
    with OpenAIServer({"slm": tiny_models["slm"]}, max_logprobs=20) as capped:
        runner = OpenAIRunner(capped.url, "slm")
        with pytest.raises(ValueError, match=r"refused 30 top log-probabilities .*greater than "
                           r"max allowed: 20.*--max-logprobs 30"):
            runner.answer(questions[0])
        fewer = OpenAIRunner(capped.url, "slm", candidates=20)
        assert len(fewer.answer(questions[0]).topk_probs) == 10
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ValueError, match="base_url: cannot reach"):
        OpenAIRunner(f"http://127.0.0.1:{port}/v1", "slm", timeout_s=5)
    with pytest.raises(ValueError, match="serves slm, llm, not 'gpt'"):
        OpenAIRunner(server.url, "gpt")
    with pytest.raises(ValueError, match="base_url: must start with http"):
        OpenAIRunner("127.0.0.1:8000", "slm")


def test_cli_run_against_servers(tmp_path, server, questions, capsys):
    """``run --slm-url --llm-url``: a trace with latencies (no workloads without a parameter
    count) that instances reads; an unreachable URL is one line and exit code 2."""
    qfile = tmp_path / "q.jsonl"
    babi.write_questions(questions, qfile)
    out = tmp_path / "trace.jsonl"
    assert cli_main(["run", "--questions", str(qfile), "--slm", "slm", "--slm-url", server.url,
                     "--llm", "llm", "--llm-url", server.url, "--llm-parameters", "15960",
                     "--out", str(out), "--no-progress"]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()
               if not line.startswith("#")]
    assert len(records) == len(questions)
    assert all("slm_workload_flop" not in r and "llm_workload_flop" in r for r in records)
    assert len(instances.load_trace(out)) == len(questions)
    capsys.readouterr()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert cli_main(["run", "--questions", str(qfile), "--slm", "slm", "--slm-url",
                     f"http://127.0.0.1:{port}/v1", "--llm", "llm", "--llm-url", server.url,
                     "--out", str(tmp_path / "x.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--slm-url: cannot reach" in err


def test_fewer_distinct_strings_than_asked_are_merged_not_a_cap(server, questions, monkeypatch):
    """The completions API keys the top tokens by their text, so tokens sharing a text arrive as
    one entry: 3 entries where 30 were asked are merged as the recipe says (they used to be
    reported as a cap); the chat API lists every token, so fewer entries there is a cap."""
    runner = OpenAIRunner(server.url, "slm")
    top = {" Kitchen": math.log(0.5), "kitchen": math.log(0.2), "garden": math.log(0.1)}
    reply = {"choices": [{"text": " kitchen", "logprobs": {"top_logprobs": [top]}}],
             "usage": {"prompt_tokens": 40, "completion_tokens": 1}}
    monkeypatch.setattr(runner, "_request", lambda method, path, body=None: reply)
    record = runner.answer(questions[0])
    assert record.topk_tokens == ("kitchen", "garden")
    assert_allclose(record.topk_probs, [0.7 / 0.8, 0.1 / 0.8], rtol=0, atol=1e-12)
    chat = OpenAIRunner(server.url, "slm", api="chat")
    listed = [{"token": t, "logprob": v} for t, v in top.items()]
    reply_chat = {"choices": [{"message": {"content": "kitchen"},
                               "logprobs": {"content": [{"top_logprobs": listed}]}}]}
    monkeypatch.setattr(chat, "_request", lambda method, path, body=None: reply_chat)
    with pytest.raises(ValueError, match="returned 3 top log-probabilities where 30 were asked"):
        chat.answer(questions[0])


def test_server_runner_warms_up_once(server, questions, monkeypatch):
    """The first question is sent twice, the first time untimed (a slow first answer does not
    reach the latency); later questions once."""
    runner = OpenAIRunner(server.url, "llm")
    sent = []
    request = runner._request

    def slow_first(method, path, body=None):
        sent.append(path)
        if len(sent) == 1:
            time.sleep(0.5)
        return request(method, path, body)

    monkeypatch.setattr(runner, "_request", slow_first)
    first = runner.answer(questions[0])
    assert sent == ["/completions", "/completions"] and first.latency_s < 0.4
    runner.answer(questions[1])
    assert len(sent) == 3
