"""Run an SLM and an LLM on a questions file and write the measured trace (JSONL) that
``instances generate --profile`` reads.

  python -m profiler run --questions questions.jsonl --slm SLM_DIR_OR_NAME --llm LLM_DIR_OR_NAME \\
      --out trace.jsonl [--device cuda] [--top-k 10] [--limit 1000]
  python -m profiler run --questions questions.jsonl --slm NAME --slm-url http://host:8000/v1 \\
      --llm NAME --llm-url http://host:8001/v1 --out trace.jsonl

Records are appended as they finish; the same command run again continues where it stopped.
A trace is continued only with the questions, models (weights, device, dtype) and recipe it was
made with; anything else stops with one line saying what differs, or starts the file again with
--restart.
"""

from __future__ import annotations

import sys

from .babi import read_questions
from .recipe import MAX_NEW_TOKENS, TOP_K

HELP = "run two models on questions and write (or continue) a trace"


def add_arguments(parser) -> None:
    """The options of ``run``."""
    parser.add_argument("--questions", required=True, help="questions file (python -m profiler "
                        "babi)")
    parser.add_argument("--slm", required=True, help="the small model: a checkpoint folder or a "
                        "hub name (with --slm-url: the model's name on the server)")
    parser.add_argument("--llm", required=True, help="the large model, as --slm")
    parser.add_argument("--slm-url", default=None, help="OpenAI-compatible server of the SLM "
                        "(e.g. http://127.0.0.1:8000/v1)")
    parser.add_argument("--llm-url", default=None, help="OpenAI-compatible server of the LLM")
    parser.add_argument("--api", choices=("completions", "chat"), default="completions",
                        help="server endpoint (completions: the raw prompt, as the recipe)")
    parser.add_argument("--slm-parameters", type=int, default=None, metavar="N",
                        help="parameter count of the served SLM, for its analytic workload")
    parser.add_argument("--llm-parameters", type=int, default=None, metavar="N",
                        help="parameter count of the served LLM")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1, mps)")
    parser.add_argument("--dtype", default=None, choices=("auto", "float32", "float16",
                        "bfloat16"), help="weights' dtype (float32 on cpu, else the checkpoint's)")
    parser.add_argument("--top-k", type=int, default=TOP_K, help=f"K ({TOP_K})")
    parser.add_argument("--candidates", type=int, default=None,
                        help="tokens decoded before merging (3 x K)")
    parser.add_argument("--max-new-tokens", type=int, default=MAX_NEW_TOKENS,
                        help=f"greedy answer length ({MAX_NEW_TOKENS})")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds per server request (120)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N questions")
    parser.add_argument("--out", required=True, help="the trace to write or continue")
    parser.add_argument("--restart", action="store_true",
                        help="start an existing trace again (its records dropped) instead of "
                        "continuing it")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _runner(args, which: str):
    model, url = getattr(args, which), getattr(args, f"{which}_url")
    recipe = dict(top_k=args.top_k, candidates=args.candidates,
                  max_new_tokens=args.max_new_tokens)
    try:
        if url is None:
            from .runners import HFRunner
            return HFRunner(model, device=args.device, dtype=args.dtype, **recipe)
        from .server import OpenAIRunner
        return OpenAIRunner(url, model, api=args.api,
                            parameters=getattr(args, f"{which}_parameters"),
                            timeout_s=args.timeout, **recipe)
    except ValueError as exc:
        message = str(exc)
        for field, option in (("base_url: ", f"--{which}-url"), ("model: ", f"--{which}")):
            if message.startswith(field):
                raise ValueError(f"{option}: {message[len(field):]}") from None
        raise ValueError(f"--{which}: {message}") from None


def run(args) -> int:
    """Load the questions and both models, run, check the trace with instances' loader."""
    from instances.cli import check_output_file

    from .run import run_trace

    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit: must be at least 1, got {args.limit}")
    check_output_file(args.out)  # before the models load: a folder is no trace
    try:
        questions = read_questions(args.questions)
    except ValueError as exc:
        raise ValueError(f"--questions: {exc}") from None
    slm = _runner(args, "slm")
    llm = _runner(args, "llm")
    try:
        result = run_trace(questions, slm, llm, args.out, limit=args.limit,
                           progress=not args.no_progress, questions_path=args.questions,
                           restart=args.restart)
    except KeyboardInterrupt:
        print(f"interrupted; the records written so far are in {args.out}: run the same command "
              "again to continue", file=sys.stderr)
        return 130
    except ValueError as exc:
        message = str(exc)
        raise ValueError("--" + message if message.startswith(("out:", "limit:")) else message) \
            from None
    print(result.summary())
    return 0
