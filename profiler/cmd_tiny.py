"""Save a tiny random Llama checkpoint over the bAbI word vocabulary (save_pretrained), to try
the profiler without model weights. Its answers are noise.

  python -m profiler tiny --out models/tiny-slm --seed 0
  python -m profiler tiny --out models/tiny-llm --seed 1 --size llm
"""

from __future__ import annotations

from pathlib import Path

HELP = "save a tiny random Llama checkpoint (no weights needed)"

SIZES = {
    "slm": {},
    "llm": {"hidden_size": 24, "intermediate_size": 48, "num_hidden_layers": 2,
            "num_attention_heads": 3, "num_key_value_heads": 1},
}
"""Overrides of :data:`profiler.tiny.TINY_CONFIG` per ``--size``."""


def add_arguments(parser) -> None:
    """The options of ``tiny``."""
    parser.add_argument("--out", required=True, help="the checkpoint folder to write")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights (0)")
    parser.add_argument("--size", choices=sorted(SIZES), default="slm",
                        help="slm (1 layer, width 16) or llm (2 layers, width 24)")


def run(args) -> int:
    """Build and save the checkpoint; refuse a non-empty folder."""
    from .tiny import save_tiny_model

    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"--out: {str(out)!r} exists and is not an empty folder")
    if args.seed < 0:
        raise ValueError(f"--seed: must be a non-negative integer, got {args.seed}")
    save_tiny_model(out, seed=args.seed, **SIZES[args.size])
    print(f"wrote {out}/ (tiny {args.size}, seed {args.seed})")
    return 0
