"""Train a small Llama from scratch on generated bAbI questions (CPU, seeded) and save it with
save_pretrained, loadable by ``python -m profiler run --slm/--llm DIR`` (docs/uncertainty.md).

  python -m profiler train --size small --out models/slm
  python -m profiler train --size large --out models/llm
"""

from __future__ import annotations

HELP = "train a small or large Llama on bAbI questions from scratch (CPU) and save it"


def add_arguments(parser) -> None:
    """The options of ``train``."""
    from .train import SIZES

    parser.add_argument("--size", required=True, choices=tuple(SIZES),
                        help="the model: small (the SLM) or large (the LLM)")
    parser.add_argument("--out", required=True, help="the checkpoint folder to write")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the initial weights and the batch order (0)")
    parser.add_argument("--steps", type=int, default=None,
                        help="optimiser steps (default: the size's)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1); the weights depend on it, bit for bit")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    """Train, save, and print the held-out accuracy and the wall time."""
    from .train import save, size_config, train

    if args.threads < 1:
        raise ValueError(f"--threads: must be at least 1, got {args.threads}")
    if args.seed < 0:
        raise ValueError(f"--seed: must be a non-negative integer, got {args.seed}")
    changes = {}
    if args.steps is not None:
        if args.steps < 1:
            raise ValueError(f"--steps: must be at least 1, got {args.steps}")
        changes["steps"] = args.steps
    config = size_config(args.size, **changes)
    import torch

    torch.set_num_threads(args.threads)
    result = train(config, seed=args.seed, progress=not args.no_progress)
    out = save(result, args.out)
    steps_per_s = config.steps / result.wall_s
    print(f"wrote {out}: {args.size}, {result.parameters:,} parameters, {config.steps} steps in "
          f"{result.wall_s:.0f} s wall, {result.cpu_s:.0f} s CPU ({steps_per_s:.2f} steps/s, "
          f"{result.threads} threads), "
          f"held-out first-token accuracy {result.heldout_accuracy * 100:.1f} %")
    return 0
