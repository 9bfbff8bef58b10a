"""Runners: one protocol, a question in, one model's record out.

:class:`Runner` is the protocol; :class:`HFRunner` runs a transformers model in this process;
:class:`profiler.server.OpenAIRunner` asks an OpenAI-compatible server. Both apply the recipe of
:mod:`profiler.recipe` and return the same :class:`ModelRecord`.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .babi import Question
from .recipe import (CANDIDATES_PER_K, MAX_NEW_TOKENS, TOP_K, analytic_workload_flop,
                     build_prompt, contains_word, merge_topk)


@dataclass(frozen=True)
class ModelRecord:
    """One model's answer to one question.

    Attributes
    ----------
    answer : str
        The greedy continuation (``max_new_tokens`` tokens at most), stripped.
    correct : bool
        The gold answer occurs in ``answer`` as a whole word, case-insensitively.
    topk_tokens : tuple of str
        The merged top-k words of the first answer token, most probable first.
    topk_probs : tuple of float
        Their probabilities, renormalised to sum 1.
    latency_s : float
        Wall time of the generation (in-process) or of the request (server).
    prompt_tokens, new_tokens : int
        Tokens of the prompt (special tokens included) and tokens generated.
    workload_flop : float or None
        ``2 x parameters x (prompt_tokens + new_tokens)``; None when the parameter count is
        unknown (a server that was not told it).
    """

    answer: str
    correct: bool
    topk_tokens: tuple[str, ...]
    topk_probs: tuple[float, ...]
    latency_s: float
    prompt_tokens: int
    new_tokens: int
    workload_flop: float | None


class Runner(Protocol):
    """What :func:`profiler.run_trace` needs of a model.

    ``provenance`` is a JSON-able dict describing the model and the recipe's settings (at least
    ``model``, ``parameters``, ``top_k``, ``candidates``, ``max_new_tokens``).
    """

    provenance: dict

    def answer(self, question: Question) -> ModelRecord:
        """Apply the recipe to one question."""
        ...


def _check_recipe(top_k, candidates, max_new_tokens) -> tuple[int, int, int]:
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 2:
        raise ValueError(f"top_k: must be an integer >= 2, got {top_k!r}")
    candidates = CANDIDATES_PER_K * top_k if candidates is None else candidates
    if isinstance(candidates, bool) or not isinstance(candidates, int) or candidates < top_k:
        raise ValueError(f"candidates: must be an integer >= top_k ({top_k}), got {candidates!r}")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or \
            max_new_tokens < 1:
        raise ValueError(f"max_new_tokens: must be a positive integer, got {max_new_tokens!r}")
    return top_k, candidates, max_new_tokens


def _pad_topk(words: list[str], probs: list[float]) -> tuple[tuple[str, ...], tuple[float, ...]]:
    # a distribution with a single word (all mass on one string) is certain: pad a zero so that
    # every record holds k >= 2 probabilities, as the trace format asks
    if len(words) == 1:
        words, probs = words + [""], probs + [0.0]
    return tuple(words), tuple(probs)


_DTYPES = ("auto", "float32", "float16", "bfloat16")
# generation settings that change nothing in the tokens chosen (not worth reporting as ignored)
_NO_EFFECT = ("transformers_version", "use_cache", "output_attentions", "output_hidden_states",
              "output_scores", "output_logits", "return_dict_in_generate")


class HFRunner:
    """The recipe on a transformers causal language model, in this process.

    Parameters
    ----------
    model : str or Path
        A local checkpoint folder (``save_pretrained``) or a hub name; loaded with
        ``AutoTokenizer`` and ``AutoModelForCausalLM.from_pretrained`` either way.
    device : str
        A torch device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.
    dtype : str, optional
        ``"float32"``, ``"float16"``, ``"bfloat16"`` or ``"auto"`` (the checkpoint's); default
        float32 on the CPU, ``"auto"`` elsewhere.
    top_k : int
        K, the first-token probabilities kept (10).
    candidates : int, optional
        Tokens decoded before merging (default ``3 * top_k``).
    max_new_tokens : int
        Tokens generated greedily (5).

    Notes
    -----
    Greedy means greedy: generation runs under an explicit configuration (argmax at every step,
    no logits processor: no repetition penalty, no banned n-grams, no forced or suppressed
    token), whatever the checkpoint's ``generation_config`` asks; it stops after
    ``max_new_tokens`` tokens or at the end-of-sequence token. What the checkpoint asked and
    was ignored is recorded in ``provenance["ignored_generation_config"]``. The first
    :meth:`answer` runs one untimed warm-up generation before its timed one.

    Raises
    ------
    ValueError
        For a missing model (naming it), an unknown dtype, an unavailable device.
    """

    def __init__(self, model: str | Path, device: str = "cpu", dtype: str | None = None,
                 top_k: int = TOP_K, candidates: int | None = None,
                 max_new_tokens: int = MAX_NEW_TOKENS):
        import torch
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.top_k, self.candidates, self.max_new_tokens = _check_recipe(
            top_k, candidates, max_new_tokens)
        name = str(model)
        if not name:
            raise ValueError("model: give a checkpoint folder or a hub name")
        looks_local = Path(name).is_absolute() or name.startswith((".", "~")) or \
            name.count("/") > 1 or Path(name).exists()
        if looks_local and not Path(name).expanduser().is_dir():
            raise ValueError(f"model: no checkpoint folder {name!r}")
        try:
            self.device = torch.device(device)
        except RuntimeError:
            raise ValueError(f"device: unknown torch device {device!r}") from None
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device: {device!r} asked for but CUDA is not available")
        if self.device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError(f"device: {device!r} asked for but MPS is not available")
        dtype = dtype or ("float32" if self.device.type == "cpu" else "auto")
        if dtype not in _DTYPES:
            raise ValueError(f"dtype: must be one of {', '.join(_DTYPES)}, got {dtype!r}")
        path = str(Path(name).expanduser()) if looks_local else name
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path)
            self.model = AutoModelForCausalLM.from_pretrained(
                path, dtype=dtype if dtype == "auto" else getattr(torch, dtype))
        except (OSError, ValueError, KeyError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ValueError(f"model: cannot load {name!r}: {first}") from None
        self.model.to(self.device).eval()
        self._torch = torch
        self._warm = False
        self.parameters = int(sum(p.numel() for p in self.model.parameters()))
        self.pad_token_id = (self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None
                             else self.tokenizer.eos_token_id)
        ignored = self._greedy_only()
        self.provenance = {
            "runner": "HFRunner", "model": name, "weights": _weights_id(self.model, path,
                                                                         looks_local),
            "parameters": self.parameters,
            "architecture": type(self.model).__name__, "device": str(self.device),
            "dtype": str(next(self.model.parameters()).dtype).replace("torch.", ""),
            "top_k": self.top_k, "candidates": self.candidates,
            "max_new_tokens": self.max_new_tokens, "ignored_generation_config": ignored,
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__}}

    def _greedy_only(self) -> dict:
        """Replace the checkpoint's generation configuration by a plain greedy one (its token
        ids kept) and build :attr:`generation_config`; returns the settings dropped."""
        from transformers import GenerationConfig

        checkpoint = self.model.generation_config
        tokens = {key: getattr(checkpoint, key, None)
                  for key in ("bos_token_id", "eos_token_id", "pad_token_id")}
        tokens["pad_token_id"] = self.pad_token_id
        ignored = {key: value for key, value in checkpoint.to_diff_dict().items()
                   if key not in tokens and not key.startswith("_") and key not in _NO_EFFECT}
        # generate() fills every setting left unset from the model's own generation_config:
        # a plain one leaves nothing there but the global defaults (greedy, no processor)
        self.model.generation_config = GenerationConfig(**tokens)
        self.generation_config = GenerationConfig(
            do_sample=False, num_beams=1, max_new_tokens=self.max_new_tokens,
            repetition_penalty=1.0, no_repeat_ngram_size=0, **tokens)
        return ignored

    def first_token_distribution(self, prompt: str):
        """The softmax over the vocabulary of the last prompt position's logits (float32, on the
        CPU), from one forward pass."""
        torch = self._torch
        enc = self.tokenizer(prompt, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            logits = self.model(**enc).logits[0, -1].float()
        return torch.softmax(logits, dim=-1).cpu()

    def answer(self, question: Question) -> ModelRecord:
        """The recipe on one question: top-k of the first answer token from one forward pass,
        then a timed greedy generation checked for the gold word."""
        torch = self._torch
        prompt = build_prompt(question)
        probs = self.first_token_distribution(prompt)
        top = torch.topk(probs, min(self.candidates, probs.numel()))
        tokens = [self.tokenizer.decode([int(i)], skip_special_tokens=True)
                  for i in top.indices.tolist()]
        words, merged = merge_topk(tokens, top.values.tolist(), self.top_k)

        enc = self.tokenizer(prompt, return_tensors="pt").to(self.device)
        n_prompt = int(enc["input_ids"].shape[1])
        if not self._warm:     # the first generation pays for allocations and kernel choices
            self._generate(enc)
            self._warm = True
        self._synchronize()
        start = time.perf_counter()
        out = self._generate(enc)
        self._synchronize()
        latency = time.perf_counter() - start
        new = out[0, n_prompt:]
        text = self.tokenizer.decode(new, skip_special_tokens=True).strip()
        words_t, probs_t = _pad_topk(words, merged)
        return ModelRecord(
            answer=text, correct=contains_word(text, question.answer), topk_tokens=words_t,
            topk_probs=probs_t, latency_s=latency, prompt_tokens=n_prompt,
            new_tokens=int(new.numel()),
            workload_flop=analytic_workload_flop(self.parameters, n_prompt, int(new.numel())))

    def _generate(self, enc):
        with self._torch.inference_mode():
            return self.model.generate(**enc, generation_config=self.generation_config)

    def _synchronize(self) -> None:
        if self.device.type == "cuda":
            self._torch.cuda.synchronize(self.device)
        elif self.device.type == "mps":
            self._torch.mps.synchronize()


WEIGHT_FILES = (".safetensors", ".bin", ".pt", ".pth")
"""Suffixes of the files whose bytes identify a local checkpoint's weights."""


def _weights_id(model, path: str, local: bool) -> str:
    """What identifies the loaded weights: ``"sha256:..."`` of a local checkpoint's weight files
    (names and bytes, in name order; configuration and notes such as ``training.json`` left
    out, so that a library upgrade does not change it), ``"revision:..."`` (the hub commit) for
    a hub name."""
    if local:
        digest = hashlib.sha256()
        for file in sorted(Path(path).rglob("*")):
            if file.is_file() and file.suffix in WEIGHT_FILES:
                digest.update(file.relative_to(path).as_posix().encode("utf-8") + b"\0")
                with open(file, "rb") as fh:
                    for block in iter(lambda: fh.read(1 << 20), b""):
                        digest.update(block)
        return "sha256:" + digest.hexdigest()
    return "revision:" + str(getattr(model.config, "_commit_hash", None) or "unknown")
