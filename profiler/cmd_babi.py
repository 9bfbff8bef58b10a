"""Write bAbI questions as JSONL: generated (seeded), or read from the original data set's text
files.

  python -m profiler babi --tasks 1 2 3 --per-task 100 --seed 0 --out questions.jsonl
  python -m profiler babi --from tasks_1-20_v1-2/en --out questions.jsonl
"""

from __future__ import annotations

from collections import Counter

from instances.cli import check_output_file

from . import babi

HELP = "write bAbI questions (generated, or from the original files) as JSONL"


def add_arguments(parser) -> None:
    """The options of ``babi``."""
    parser.add_argument("--tasks", type=int, nargs="+", default=None, metavar="T",
                        help="tasks to generate (default 1 2 3 6 15 16; available: "
                        f"{' '.join(map(str, babi.TASK_NAMES))}); with --from, the tasks to "
                        "read from a folder (default: all but 7 8 19)")
    parser.add_argument("--per-task", type=int, default=100, metavar="N",
                        help="questions per generated task (100)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generator (0)")
    parser.add_argument("--from", dest="source", default=None, metavar="PATH",
                        help="read the original bAbI format from this file or folder instead")
    parser.add_argument("--split", default="test",
                        help="with --from FOLDER: files ending _SPLIT.txt (test); 'all' for any")
    parser.add_argument("--out", required=True, help="the questions file to write (JSONL)")


def run(args) -> int:
    """Generate or load, then write the questions file and print a count per task."""
    check_output_file(args.out)
    if args.source is not None:
        try:
            questions = babi.load_babi(args.source, tasks=args.tasks,
                                       split=None if args.split == "all" else args.split)
        except ValueError as exc:
            message = str(exc)
            raise ValueError("--from:" + message[5:] if message.startswith("path:")
                             else message) from None
    else:
        if args.per_task < 1:
            raise ValueError(f"--per-task: must be at least 1, got {args.per_task}")
        if args.seed < 0:
            raise ValueError(f"--seed: must be a non-negative integer, got {args.seed}")
        try:
            questions = babi.generate_questions(tasks=args.tasks or (1, 2, 3, 6, 15, 16),
                                                per_task=args.per_task, seed=args.seed)
        except ValueError as exc:
            raise ValueError(f"--{exc}") from None
    babi.write_questions(questions, args.out)
    counts = Counter(q.task for q in questions)
    per_task = ", ".join(f"task {t}: {n}" for t, n in sorted(counts.items()))
    print(f"wrote {len(questions)} questions to {args.out} ({per_task})")
    return 0
