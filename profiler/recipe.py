"""The profiling recipe as plain functions shared by every runner: the prompt, the top-k of the
first answer token, the whole-word answer check and the analytic workload.

The recipe (the authors' measurement of their SLM and LLM on bAbI):

* the prompt is raw text, no chat template (:data:`PROMPT_TEMPLATE`);
* top-k: one forward pass over the prompt; the softmax of the last position's logits (the
  distribution of the first answer token); the top ``3 k`` tokens are decoded, stripped and
  lower-cased, empty strings dropped, identical strings merged by summing their probabilities,
  the ``k`` most probable kept and renormalised to sum 1 (:func:`merge_topk`);
* correctness: greedy generation of :data:`MAX_NEW_TOKENS` new tokens; correct when the gold
  word occurs in the continuation as a whole word, case-insensitively (:func:`contains_word`);
* latency: the wall time of that generation; prompt size: the UTF-8 bytes of the prompt;
* workload (ours, analytic): ``2 x parameters x (prompt tokens + generated tokens)`` FLOP
  (:func:`analytic_workload_flop`).
"""

from __future__ import annotations

import re

PROMPT_TEMPLATE = ("Instruction: Answer with only one word. No explanation.\n"
                   "Context: {story}\nQuestion: {question}\nAnswer(only one word):")
"""The raw prompt; ``story`` is the question's statements joined by single spaces."""

MAX_NEW_TOKENS = 5
"""Tokens generated greedily for the answer."""

TOP_K = 10
"""K, the number of first-token probabilities kept."""

CANDIDATES_PER_K = 3
"""The top ``CANDIDATES_PER_K x K`` tokens are decoded before merging."""


def build_prompt(question) -> str:
    """The exact text fed to both models for a :class:`~profiler.babi.Question`."""
    return PROMPT_TEMPLATE.format(story=question.context, question=question.question)


def merge_topk(tokens, probs, k: int = TOP_K) -> tuple[list[str], list[float]]:
    """Merge decoded candidate tokens into the top-k answer words.

    Parameters
    ----------
    tokens : sequence of str
        The decoded candidate tokens, most probable first (usually the top ``3 k``).
    probs : sequence of float
        Their probabilities (softmax over the whole vocabulary, not renormalised).
    k : int
        How many words to keep.

    Returns
    -------
    words, probabilities : list of str, list of float
        Up to ``k`` distinct words (stripped, lower-cased, non-empty), most probable first (ties
        in order of first appearance), with probabilities renormalised to sum 1.

    Raises
    ------
    ValueError
        For ``k < 1``, lengths that differ, a negative or non-finite probability, or candidates
        that are all empty after stripping.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k: must be a positive integer, got {k!r}")
    tokens, probs = list(tokens), [float(p) for p in probs]
    if len(tokens) != len(probs):
        raise ValueError(f"probs: {len(probs)} probabilities for {len(tokens)} tokens")
    merged: dict[str, float] = {}
    for token, p in zip(tokens, probs):
        if not p >= 0.0 or p == float("inf"):
            raise ValueError(f"probs: must be finite and non-negative, got {p!r}")
        word = token.strip().lower()
        if word:
            merged[word] = merged.get(word, 0.0) + p
    if not merged:
        raise ValueError("tokens: every candidate is empty after stripping")
    ranked = sorted(merged.items(), key=lambda item: -item[1])[:k]   # stable: ties keep order
    total = sum(p for _, p in ranked)
    if total <= 0.0:
        raise ValueError("probs: the kept candidates have zero total probability")
    return [w for w, _ in ranked], [p / total for _, p in ranked]


def contains_word(text: str, word: str) -> bool:
    """True when ``word`` occurs in ``text`` as a whole word, case-insensitively.

    A whole word is not preceded or followed by a letter, digit or underscore: ``"no"`` is in
    ``"No, he is not."`` but not in ``"not"`` or ``"nobody"``.
    """
    word = word.strip()
    if not word:
        raise ValueError("word: the gold answer is empty")
    pattern = r"(?<!\w)" + re.escape(word) + r"(?!\w)"
    return re.search(pattern, text, flags=re.IGNORECASE) is not None


def analytic_workload_flop(parameters: int, prompt_tokens: int, new_tokens: int) -> float:
    """``2 x parameters x (prompt_tokens + new_tokens)``: the forward-pass FLOP of a decoder over
    every token it processes (the prompt once, then each generated token), attention ignored."""
    for name, value in (("parameters", parameters), ("prompt_tokens", prompt_tokens),
                        ("new_tokens", new_tokens)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name}: must be a non-negative integer, got {value!r}")
    return 2.0 * parameters * (prompt_tokens + new_tokens)
