"""Train a small Llama from scratch on generated bAbI questions, on the CPU, seeded.

The model is a transformers ``LlamaForCausalLM`` built from a ``LlamaConfig`` over the
word-level bAbI tokenizer (:mod:`profiler.vocab`); it sees exactly the profiler's prompts
(:func:`profiler.recipe.build_prompt`) followed by the gold answer word and ``</s>``, and is saved
with ``save_pretrained`` (model and tokenizer), so :class:`profiler.HFRunner` and any
transformers user load it by path.

What the training does (docs/uncertainty.md says why and what each choice measured):

- training questions come from :func:`profiler.babi.generate_questions` with ``train_seed``;
  the held-out questions of the progress bar from ``eval_seed`` (a different seed, so a
  different random stream); the trace is later made from yet another seed;
- a curriculum on story length: during the first ``curriculum`` fraction of the steps, a batch
  only draws questions whose story has at most L sentences, L growing linearly from
  ``curriculum_start`` to the longest story;
- batches of similar prompt length: :data:`BUCKETS` batches are drawn at once (uniformly from
  the eligible questions), sorted by length, cut into batches and used in random order, so
  padding wastes little and the data distribution is unchanged;
- AdamW with a linear warm-up and a cosine decay to ``min_lr_ratio`` x the peak rate, gradient
  clipping at 1;
- the loss on the answer token and the ``</s>`` after it (``loss="answer"``) or on every token
  of the sequence (``loss="all"``).

Same seed, same configuration and the same number of torch threads give the same weights, bit
for bit (the batches are drawn from ``numpy.random.default_rng(seed)``, the initial weights from
``torch.manual_seed(seed)``).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from .babi import generate_questions
from .recipe import build_prompt

#: The tasks the pair is trained on: those of the generator with short stories (at most ~115
#: tokens), one-fact (1, 6, 9, 11, 12) and multi-fact (15: two facts, 16: three); left out are
#: 2 and 3 (stories up to 60 and 80 sentences, several times the compute per question) and 4
#: (a few hundred possible stories, which would repeat between training and evaluation).
TRAIN_TASKS = (1, 6, 9, 11, 12, 15, 16)


#: Batches drawn at once and grouped by prompt length (less padding, the same distribution).
BUCKETS = 8


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a trained model (with the seed and the thread count).

    ``model`` holds ``LlamaConfig`` fields (sizes); the rest is the optimisation and the data.
    """

    model: dict
    steps: int
    batch_size: int = 32
    lr: float = 3e-3
    warmup_steps: int = 100
    min_lr_ratio: float = 0.05
    weight_decay: float = 0.05
    loss: str = "answer"
    curriculum: float = 0.3
    curriculum_start: int = 2
    tasks: tuple = TRAIN_TASKS
    pool_per_task: int = 4000
    train_seed: int = 1000
    eval_seed: int = 2000
    eval_per_task: int = 20
    eval_every: int = 200
    max_position_embeddings: int = 1024

    def check(self) -> "TrainConfig":
        """Return self after checking every field (ValueError naming the field)."""
        for name in ("steps", "batch_size", "pool_per_task", "eval_per_task", "eval_every",
                     "curriculum_start"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: must be a positive integer, got {value!r}")
        for name in ("warmup_steps", "train_seed", "eval_seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}: must be a non-negative integer, got {value!r}")
        if self.train_seed == self.eval_seed:
            raise ValueError("eval_seed: must differ from train_seed (held-out questions)")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr: must be a positive number, got {self.lr!r}")
        for name in ("min_lr_ratio", "curriculum", "weight_decay"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 <= value <= 1):
                raise ValueError(f"{name}: must lie in [0, 1], got {value!r}")
        if self.loss not in ("answer", "all"):
            raise ValueError(f"loss: must be 'answer' or 'all', got {self.loss!r}")
        if not isinstance(self.model, dict):
            raise ValueError("model: must be a dict of LlamaConfig fields")
        return self


#: The pair: ``small`` has a quarter of ``large``'s parameters, half its depth and 400 steps
#: against 1000. The step budgets were chosen on held-out questions of seed 2000 (700, 100 per
#: task; first-token accuracy): large 57.6 %; small 41.7 % after 400 steps, 54.4 % after 700,
#: 58.6 % after 1200 (at equal steps our large model was no better than the small one). 400 is
#: the largest measured budget that leaves the large model 10 points ahead (docs/uncertainty.md).
SIZES = {
    "small": TrainConfig(
        model={"hidden_size": 64, "intermediate_size": 256, "num_hidden_layers": 2,
               "num_attention_heads": 4, "num_key_value_heads": 4},
        steps=400),
    "large": TrainConfig(
        model={"hidden_size": 96, "intermediate_size": 384, "num_hidden_layers": 4,
               "num_attention_heads": 6, "num_key_value_heads": 6},
        steps=1000, lr=2e-3),
}


@dataclass
class TrainResult:
    """A trained model, its tokenizer and the record of its training."""

    model: object
    tokenizer: object
    config: TrainConfig
    seed: int
    parameters: int
    history: list = field(default_factory=list)  # dicts: step, loss, lr, heldout_accuracy
    wall_s: float = 0.0
    cpu_s: float = 0.0  # CPU time of this process (all threads): the wall time on idle cores
    threads: int = 1

    @property
    def heldout_accuracy(self) -> float:
        """The last held-out accuracy measured (first answer token, greedy)."""
        return self.history[-1]["heldout_accuracy"] if self.history else math.nan


class _Encoded:
    """Questions encoded once: token ids of prompt + answer + ``</s>``, where the answer sits,
    the story length in sentences and the task."""

    def __init__(self, questions, tokenizer):
        prompts = [build_prompt(q) for q in questions]
        ids = tokenizer(prompts, add_special_tokens=True)["input_ids"]
        unk = tokenizer.unk_token_id
        self.answers = np.empty(len(questions), dtype=np.int64)
        for i, q in enumerate(questions):
            answer = tokenizer.convert_tokens_to_ids(q.answer)
            if answer is None or answer == unk:
                raise ValueError(f"question {q.id}: answer {q.answer!r} is not in the vocabulary")
            self.answers[i] = answer
        self.prompts = [np.asarray(x, dtype=np.int64) for x in ids]
        self.lengths = np.array([len(q.story) for q in questions])
        self.tasks = np.array([q.task for q in questions])


def _lr_factor(step: int, config: TrainConfig) -> float:
    """Linear warm-up to 1, then cosine decay to ``min_lr_ratio`` at the last step."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    span = max(1, config.steps - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    cosine = 0.5 * (1 + math.cos(math.pi * progress))
    return config.min_lr_ratio + (1 - config.min_lr_ratio) * cosine


def _story_limit(step: int, config: TrainConfig, longest: int) -> int:
    """The longest story a batch may draw at this step (the curriculum)."""
    end = config.curriculum * config.steps
    if end <= 0 or step >= end:
        return longest
    return int(config.curriculum_start + (longest - config.curriculum_start) * step / end)


def _batch(data: _Encoded, rows, pad_id: int, eos_id: int, loss: str):
    """Right-padded input ids, attention mask and labels (-100 where no loss) of some rows."""
    import torch

    seqs = [np.concatenate([data.prompts[r], [data.answers[r], eos_id]]) for r in rows]
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    labels = torch.full((len(seqs), width), -100, dtype=torch.long)
    for i, seq in enumerate(seqs):
        t = torch.from_numpy(seq)
        ids[i, :len(seq)] = t
        mask[i, :len(seq)] = 1
        if loss == "all":
            labels[i, 1:len(seq)] = t[1:]
        else:  # the answer and the end of sequence after it
            labels[i, len(seq) - 2:len(seq)] = t[-2:]
    return ids, mask, labels


def heldout_accuracy(model, data: _Encoded, pad_id: int, batch_size: int = 64) -> np.ndarray:
    """Per question, whether the model's greedy first answer token is the gold answer (the
    left-padded prompts in batches; what the recipe's 5-token generation starts with)."""
    import torch

    correct = np.zeros(len(data.prompts), dtype=bool)
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(data.prompts), batch_size):
            rows = range(start, min(start + batch_size, len(data.prompts)))
            width = max(len(data.prompts[r]) for r in rows)
            ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for i, r in enumerate(rows):
                ids[i, width - len(data.prompts[r]):] = torch.from_numpy(data.prompts[r])
                mask[i, width - len(data.prompts[r]):] = 1
            positions = (mask.cumsum(1) - 1).clamp(min=0)
            logits = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits
            predicted = logits[:, -1].argmax(-1).numpy()
            correct[list(rows)] = predicted == data.answers[list(rows)]
    model.train(was_training)
    return correct


def train(config: TrainConfig, seed: int = 0, progress: bool = True) -> TrainResult:
    """Train one model from scratch.

    Parameters
    ----------
    config : TrainConfig
        Sizes, optimisation, data (e.g. ``SIZES["small"]``, or a ``dataclasses.replace`` of it).
    seed : int
        Seeds the initial weights and the order of the batches.
    progress : bool
        Show a tqdm bar with the loss and the last held-out accuracy.

    Returns
    -------
    TrainResult

    Raises
    ------
    ValueError
        For a bad configuration field or seed (naming it).
    """
    import torch
    from tqdm import tqdm
    from .tiny import seeded_llama
    from .vocab import build_tokenizer

    config.check()
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: must be a non-negative integer, got {seed!r}")
    started, cpu_started = time.perf_counter(), time.process_time()
    tokenizer = build_tokenizer()
    train_data = _Encoded(generate_questions(config.tasks, config.pool_per_task,
                                             config.train_seed), tokenizer)
    eval_data = _Encoded(generate_questions(config.tasks, config.eval_per_task,
                                            config.eval_seed), tokenizer)
    fields = {"max_position_embeddings": config.max_position_embeddings,
              "tie_word_embeddings": True, **config.model}
    model = seeded_llama(tokenizer, seed, fields)
    model.train()
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay},
         {"params": no_decay, "weight_decay": 0.0}], lr=config.lr, betas=(0.9, 0.98))
    rng = np.random.default_rng(seed)
    longest = int(train_data.lengths.max())
    order = np.argsort(train_data.lengths, kind="stable")
    sorted_lengths = train_data.lengths[order]
    tokens = np.array([len(p) for p in train_data.prompts])
    pending, pending_limit = [], -1
    history = []
    parameters = int(sum(p.numel() for p in model.parameters()))
    bar = tqdm(range(config.steps), desc=f"train {parameters:,} params", disable=not progress,
               mininterval=1.0)
    smoothed = math.nan
    accuracy = math.nan
    for step in bar:
        factor = _lr_factor(step, config)
        for group in optimizer.param_groups:
            group["lr"] = config.lr * factor
        limit = _story_limit(step, config, longest)
        if not pending or pending_limit != limit:
            # draw BUCKETS batches at once and group them by length, so a batch pads little
            eligible = int(np.searchsorted(sorted_lengths, limit, side="right"))
            drawn = order[rng.integers(0, eligible, BUCKETS * config.batch_size)]
            drawn = drawn[np.argsort(tokens[drawn], kind="stable")]
            pending = [drawn[i * config.batch_size:(i + 1) * config.batch_size]
                       for i in rng.permutation(BUCKETS)]
            pending_limit = limit
        rows = pending.pop()
        ids, mask, labels = _batch(train_data, rows, tokenizer.pad_token_id,
                                   tokenizer.eos_token_id, config.loss)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        value = float(loss.detach())
        smoothed = value if math.isnan(smoothed) else 0.95 * smoothed + 0.05 * value
        last = step + 1 == config.steps
        if (step + 1) % config.eval_every == 0 or last:
            accuracy = float(heldout_accuracy(model, eval_data, tokenizer.pad_token_id).mean())
            history.append({"step": step + 1, "loss": smoothed, "lr": config.lr * factor,
                            "story_limit": limit, "heldout_accuracy": accuracy,
                            "elapsed_s": time.perf_counter() - started,
                            "cpu_s": time.process_time() - cpu_started})
        bar.set_postfix(loss=f"{smoothed:.3f}", heldout=f"{accuracy:.3f}", refresh=False)
    bar.close()
    model.eval()
    return TrainResult(model=model, tokenizer=tokenizer, config=config, seed=seed,
                       parameters=parameters, history=history,
                       wall_s=time.perf_counter() - started,
                       cpu_s=time.process_time() - cpu_started, threads=torch.get_num_threads())


def save(result: TrainResult, out: str | Path) -> Path:
    """``save_pretrained`` the model and tokenizer into ``out`` with ``training.json`` (the
    configuration, seed, history, wall time and thread count). Written into a temporary folder
    beside ``out`` and renamed, so a failure leaves no half-written checkpoint; an existing
    ``out`` is replaced."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        result.model.save_pretrained(stage)
        result.tokenizer.save_pretrained(stage)
        record = {"config": asdict(result.config), "seed": result.seed,
                  "parameters": result.parameters, "threads": result.threads,
                  "wall_s": result.wall_s, "cpu_s": result.cpu_s,
                  "history": result.history}
        (stage / "training.json").write_text(json.dumps(record, indent=1) + "\n",
                                             encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        os.replace(stage, out)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
    return out


def size_config(size: str, **changes) -> TrainConfig:
    """``SIZES[size]`` with some fields replaced (ValueError naming a bad size or field)."""
    if size not in SIZES:
        raise ValueError(f"size: must be one of {', '.join(SIZES)}, got {size!r}")
    known = set(TrainConfig.__dataclass_fields__)
    for key in changes:
        if key not in known:
            raise ValueError(f"{key}: not a training option; known: {', '.join(sorted(known))}")
    return replace(SIZES[size], **changes).check()
