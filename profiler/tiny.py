"""Tiny seeded random Llama models over the bAbI word vocabulary, saved the way every
transformers model is saved (``save_pretrained``), so that tests and examples load them by path
exactly as a real checkpoint is loaded. Their answers are noise: they exercise the code path, they
are not language models.
"""

from __future__ import annotations

from pathlib import Path

TINY_CONFIG = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
               "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 8,
               "max_position_embeddings": 2048, "tie_word_embeddings": True,
               "initializer_range": 0.3}
"""Default sizes of :func:`build_tiny_llama` (a few thousand parameters). The weights' spread is
wider than Llama's 0.02, so that the random first-token distributions and answers vary from
prompt to prompt instead of being nearly uniform."""


def build_tiny_llama(tokenizer=None, seed: int = 0, **config):
    """A ``LlamaForCausalLM`` with random weights drawn from ``seed``.

    Parameters
    ----------
    tokenizer : PreTrainedTokenizerFast, optional
        Sets the vocabulary size and special token ids (default
        :func:`profiler.vocab.build_tokenizer`).
    seed : int
        Seeds the weights (the global torch generator is left as it was).
    **config
        ``LlamaConfig`` fields overriding :data:`TINY_CONFIG`.

    Returns
    -------
    model, tokenizer
        The model in eval mode, float32, and its tokenizer.
    """
    from .vocab import build_tokenizer

    tokenizer = tokenizer if tokenizer is not None else build_tokenizer()
    model = seeded_llama(tokenizer, seed, {**TINY_CONFIG, **config})
    model.eval()
    return model, tokenizer


def seeded_llama(tokenizer, seed: int, fields: dict):
    """A ``LlamaForCausalLM`` over ``tokenizer``'s vocabulary and special tokens, with the
    ``LlamaConfig`` ``fields`` and random weights drawn from ``seed`` (torch's global generator
    is left as it was): the one constructor of the tiny test models and of the trained pair.

    Raises
    ------
    ValueError
        If ``seed`` is not a non-negative integer.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: must be a non-negative integer, got {seed!r}")
    cfg = LlamaConfig(vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                      eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                      **fields)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LlamaForCausalLM(cfg)


def save_tiny_model(path: str | Path, seed: int = 0, **config) -> Path:
    """Build :func:`build_tiny_llama` and ``save_pretrained`` model and tokenizer into ``path``.

    Returns
    -------
    Path
        ``path``, loadable with ``AutoModelForCausalLM.from_pretrained`` and
        ``AutoTokenizer.from_pretrained``.
    """
    model, tokenizer = build_tiny_llama(seed=seed, **config)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
