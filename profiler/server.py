"""The recipe against an OpenAI-compatible server (vLLM, llama.cpp's server, llama-cpp-python,
Ollama, ...), over plain HTTP with the standard library.

Two endpoints:

* ``completions`` (the default): ``POST {base_url}/completions`` with the raw prompt,
  ``logprobs = candidates``, ``temperature = 0``, ``max_tokens = max_new_tokens``. The first
  generated position's ``top_logprobs`` is the distribution of the first answer token, as in the
  in-process recipe.
* ``chat``: ``POST {base_url}/chat/completions`` with the prompt as one user message,
  ``logprobs = true``, ``top_logprobs = candidates``. The server wraps the prompt in the model's
  chat template, so this is not the raw-prompt recipe; use it when a server offers only chat.

Latency is the wall time of the request; the first question is sent twice, the first time
untimed (a warm-up). The workload needs the model's parameter count, which a server does not
report: pass ``parameters`` to get ``2 x parameters x (prompt + generated tokens)`` from the
response's ``usage``.

The completions API returns the top tokens as an object keyed by their text, so tokens that
share a text (``"Kitchen"`` at two token ids) arrive as one entry: fewer entries than asked are
accepted there (the recipe merges equal strings anyway). The chat API lists every token, so
fewer entries than asked there means the server caps them: an error.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.request

from .babi import Question
from .recipe import MAX_NEW_TOKENS, TOP_K, analytic_workload_flop, build_prompt, contains_word, \
    merge_topk
from .runners import ModelRecord, _check_recipe, _pad_topk

APIS = ("completions", "chat")


class OpenAIRunner:
    """The recipe on a model served over the OpenAI HTTP API.

    Parameters
    ----------
    base_url : str
        The API root, e.g. ``"http://127.0.0.1:8000/v1"``.
    model : str
        The model's name on the server (as ``GET {base_url}/models`` lists it).
    api : {"completions", "chat"}
        The endpoint (see the module docstring).
    parameters : int, optional
        The model's parameter count, for the analytic workload (else no workload).
    top_k, candidates, max_new_tokens
        As :class:`~profiler.runners.HFRunner`; ``candidates`` (default ``3 * top_k``) is the
        number of top log-probabilities asked of the server, which servers cap (vLLM: 20 unless
        started with ``--max-logprobs``).
    timeout_s : float
        Seconds to wait for one response.
    api_key : str, optional
        Sent as ``Authorization: Bearer``.

    Raises
    ------
    ValueError
        For a bad URL, a server that cannot be reached, or a model it does not serve.
    """

    def __init__(self, base_url: str, model: str, api: str = "completions",
                 parameters: int | None = None, top_k: int = TOP_K,
                 candidates: int | None = None, max_new_tokens: int = MAX_NEW_TOKENS,
                 timeout_s: float = 120.0, api_key: str | None = None):
        self.top_k, self.candidates, self.max_new_tokens = _check_recipe(
            top_k, candidates, max_new_tokens)
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url: must start with http:// or https://, got {base_url!r}")
        if api not in APIS:
            raise ValueError(f"api: must be one of {', '.join(APIS)}, got {api!r}")
        if not isinstance(model, str) or not model:
            raise ValueError("model: give the model's name on the server")
        if parameters is not None and (isinstance(parameters, bool) or
                                       not isinstance(parameters, int) or parameters < 1):
            raise ValueError(f"parameters: must be a positive integer, got {parameters!r}")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s: must be positive, got {timeout_s!r}")
        self.base_url = base_url.rstrip("/")
        self.model, self.api, self.parameters = model, api, parameters
        self.timeout_s, self._api_key = float(timeout_s), api_key
        served = self._request("GET", "/models")
        names = [m.get("id") for m in served.get("data", []) if isinstance(m, dict)]
        if names and model not in names:
            raise ValueError(f"model: the server at {self.base_url} serves {', '.join(names)}, "
                             f"not {model!r}")
        self._warm = False
        self.provenance = {
            "runner": "OpenAIRunner", "model": model, "base_url": self.base_url, "api": api,
            "parameters": parameters, "top_k": self.top_k, "candidates": self.candidates,
            "max_new_tokens": self.max_new_tokens}

    def answer(self, question: Question) -> ModelRecord:
        """One request: the top-k of the first answer token and the greedy continuation."""
        prompt = build_prompt(question)
        common = {"model": self.model, "max_tokens": self.max_new_tokens, "temperature": 0}
        if self.api == "completions":
            body = {**common, "prompt": prompt, "logprobs": self.candidates}
            resp, latency = self._timed("/completions", body)
            choice = self._choice(resp)
            text = choice.get("text")
            try:
                first = choice["logprobs"]["top_logprobs"][0]
                tokens, logprobs = list(first.keys()), list(first.values())
            except (KeyError, IndexError, TypeError, AttributeError):
                raise ValueError(self._shape_error("choices[0].logprobs.top_logprobs[0]")) \
                    from None
        else:
            body = {**common, "messages": [{"role": "user", "content": prompt}],
                    "logprobs": True, "top_logprobs": self.candidates}
            resp, latency = self._timed("/chat/completions", body)
            choice = self._choice(resp)
            text = (choice.get("message") or {}).get("content")
            try:
                first = choice["logprobs"]["content"][0]["top_logprobs"]
                tokens = [t["token"] for t in first]
                logprobs = [t["logprob"] for t in first]
            except (KeyError, IndexError, TypeError):
                raise ValueError(self._shape_error(
                    "choices[0].logprobs.content[0].top_logprobs")) from None
        if not isinstance(text, str):
            raise ValueError(self._shape_error("the generated text"))
        if self.api == "chat" and len(tokens) < self.candidates:
            raise ValueError(
                f"{self.base_url}: the server returned {len(tokens)} top log-probabilities where "
                f"{self.candidates} were asked: it caps them; raise its limit (vLLM: "
                f"--max-logprobs {self.candidates}) or ask for fewer (--candidates/--top-k)")
        order = sorted(range(len(tokens)), key=lambda i: -logprobs[i])
        words, probs = merge_topk([tokens[i] for i in order],
                                  [math.exp(logprobs[i]) for i in order], self.top_k)
        usage = resp.get("usage") or {}
        prompt_tokens = int(usage.get("prompt_tokens") or 0)
        new_tokens = int(usage.get("completion_tokens") or 0)
        workload = None
        if self.parameters is not None and prompt_tokens > 0:
            workload = analytic_workload_flop(self.parameters, prompt_tokens, new_tokens)
        text = text.strip()
        words_t, probs_t = _pad_topk(words, probs)
        return ModelRecord(answer=text, correct=contains_word(text, question.answer),
                           topk_tokens=words_t, topk_probs=probs_t, latency_s=latency,
                           prompt_tokens=prompt_tokens, new_tokens=new_tokens,
                           workload_flop=workload)

    def _timed(self, path: str, body: dict) -> tuple[dict, float]:
        """The response to one POST and its wall time; the first call sends it once untimed
        before (a warm-up)."""
        if not self._warm:
            self._request("POST", path, body)
            self._warm = True
        start = time.perf_counter()
        resp = self._request("POST", path, body)
        return resp, time.perf_counter() - start

    def _choice(self, resp: dict) -> dict:
        try:
            choice = resp["choices"][0]
        except (KeyError, IndexError, TypeError):
            raise ValueError(self._shape_error("choices[0]")) from None
        if not isinstance(choice, dict):
            raise ValueError(self._shape_error("choices[0]"))
        return choice

    def _shape_error(self, what: str) -> str:
        return (f"{self.base_url}: the response has no {what}; is this an OpenAI-compatible "
                f"server with log-probabilities ({self.api} API)?")

    def _request(self, method: str, path: str, body: dict | None = None) -> dict:
        url = self.base_url + path
        data = None if body is None else json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            message = _error_message(exc)
            if exc.code == 400 and body is not None and "logprob" in message.lower():
                raise ValueError(
                    f"{url}: the server refused {self.candidates} top log-probabilities "
                    f"({message}); servers cap them (vLLM: 20 by default): restart it with a "
                    f"higher cap (vLLM: --max-logprobs {self.candidates}) or ask for fewer "
                    f"(--candidates, or a smaller --top-k)") from None
            raise ValueError(f"{url}: HTTP {exc.code}: {message}") from None
        except urllib.error.URLError as exc:
            raise ValueError(f"base_url: cannot reach {url}: {exc.reason}") from None
        except (TimeoutError, OSError) as exc:
            raise ValueError(f"base_url: no answer from {url}: {exc}") from None
        try:
            out = json.loads(payload)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ValueError(f"{url}: the response is not JSON") from None
        if not isinstance(out, dict):
            raise ValueError(f"{url}: the response is not a JSON object")
        return out


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read())
    except Exception:  # noqa: BLE001 - any unreadable body: fall back to the reason
        return str(exc.reason)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return " ".join(str(err["message"]).split())
        if isinstance(err, str):
            return err
    return str(exc.reason)
