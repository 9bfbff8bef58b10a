"""A small OpenAI-compatible HTTP server for the tests: serves transformers models on
127.0.0.1 with the response shapes of vLLM's ``/v1/models``, ``/v1/completions`` (``logprobs``:
top log-probabilities as a token -> logprob object per generated position) and
``/v1/chat/completions`` (``logprobs.content[i].top_logprobs`` lists), and vLLM's error when more
top log-probabilities are asked than its cap. Tokens are decoded one by one with special tokens
as empty strings; chat messages are used as raw text (the tiny models have no chat template).
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import torch


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):   # keep the test output quiet
        pass

    def _send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path != "/v1/models":
            return self._send(404, {"object": "error", "message": "not found", "code": 404})
        self._send(200, {"object": "list", "data": [
            {"id": name, "object": "model", "owned_by": "tests"} for name in self.server.models]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        chat = self.path == "/v1/chat/completions"
        if self.path not in ("/v1/completions", "/v1/chat/completions"):
            return self._send(404, {"object": "error", "message": "not found", "code": 404})
        if body.get("model") not in self.server.models:
            return self._send(404, {"object": "error", "type": "NotFoundError", "code": 404,
                                    "message": f"The model `{body.get('model')}` does not exist."})
        n = body.get("top_logprobs") if chat else body.get("logprobs")
        if n is not None and n > self.server.max_logprobs:
            return self._send(400, {
                "object": "error", "type": "BadRequestError", "param": None, "code": 400,
                "message": f"Requested sample logprobs of {n}, which is greater than max "
                           f"allowed: {self.server.max_logprobs}"})
        model, tok = self.server.models[body["model"]]
        prompt = body["messages"][-1]["content"] if chat else body["prompt"]
        enc = tok(prompt, return_tensors="pt")
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=body.get("max_tokens", 16),
                                 do_sample=False, output_logits=True,
                                 return_dict_in_generate=True, pad_token_id=tok.pad_token_id)
        new = out.sequences[0, enc["input_ids"].shape[1]:].tolist()
        text = tok.decode(new, skip_special_tokens=True)
        word = lambda i: tok.decode([i], skip_special_tokens=True)  # noqa: E731
        positions = []
        for step, token_id in enumerate(new):
            logprobs = torch.log_softmax(out.logits[step][0].float(), dim=-1)
            top = torch.topk(logprobs, n or 1)
            positions.append((word(token_id), float(logprobs[token_id]),
                              [(word(i), float(v)) for i, v in zip(top.indices.tolist(),
                                                                  top.values.tolist())]))
        usage = {"prompt_tokens": enc["input_ids"].shape[1], "completion_tokens": len(new),
                 "total_tokens": enc["input_ids"].shape[1] + len(new)}
        if chat:
            logprobs = None if not body.get("logprobs") else {"content": [
                {"token": t, "logprob": lp, "bytes": list(t.encode()),
                 "top_logprobs": [{"token": w, "logprob": v, "bytes": list(w.encode())}
                                  for w, v in top]} for t, lp, top in positions]}
            choice = {"index": 0, "message": {"role": "assistant", "content": text},
                      "logprobs": logprobs, "finish_reason": "length"}
            return self._send(200, {"id": "chatcmpl-0", "object": "chat.completion",
                                    "created": 0, "model": body["model"], "choices": [choice],
                                    "usage": usage})
        logprobs = None if n is None else {
            "tokens": [t for t, _, _ in positions],
            "token_logprobs": [lp for _, lp, _ in positions],
            "top_logprobs": [dict(top) for _, _, top in positions], "text_offset": []}
        choice = {"index": 0, "text": text, "logprobs": logprobs, "finish_reason": "length"}
        self._send(200, {"id": "cmpl-0", "object": "text_completion", "created": 0,
                         "model": body["model"], "choices": [choice], "usage": usage})


class OpenAIServer:
    """Serve ``{name: checkpoint folder}`` on 127.0.0.1 (a free port) in a daemon thread; use as
    a context manager. ``url`` is the API root (``http://127.0.0.1:PORT/v1``)."""

    def __init__(self, models, max_logprobs=20):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.models = {name: (AutoModelForCausalLM.from_pretrained(path).eval(),
                                    AutoTokenizer.from_pretrained(path))
                             for name, path in models.items()}
        self.httpd.max_logprobs = max_logprobs
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()
