"""Command line: ``python -m profiler SUBCOMMAND ...``.

Each subcommand is a module named in :data:`COMMANDS` that defines ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``; adding a subcommand is one line here.
Modules must not import torch at import time (``python -m profiler babi`` needs no torch).
Bad input prints one line on stderr (``python -m profiler SUBCOMMAND: error: ...``) and exits
with code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from instances.cli import OneLineParser

PROG = "python -m profiler"
#: What the extra ``[llm]`` installs: a command that needs one of them says so in one line.
LLM_MODULES = ("torch", "transformers", "tokenizers")

COMMANDS = {
    "tiny": "profiler.cmd_tiny",
    "babi": "profiler.cmd_babi",
    "run": "profiler.cmd_run",
    "train": "profiler.cmd_train",
}
"""Subcommand name -> module (``HELP``, ``add_arguments(parser)``, ``run(args) -> int``)."""


class Parser(OneLineParser):
    """An argparse parser whose errors are one line on stderr and exit code 2
    (:class:`instances.cli.OneLineParser`)."""


class UsageError(ValueError):
    """Bad input found after parsing: reported as one line, exit code 2."""


def build_parser() -> Parser:
    """The parser with one sub-parser per entry of :data:`COMMANDS`."""
    parser = Parser(prog=PROG, description="Measure language models on bAbI questions and "
                    "write query traces (docs/profiling.md).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=module.HELP, description=module.__doc__)
        command.formatter_class = argparse.RawDescriptionHelpFormatter
        module.add_arguments(command)
        command.set_defaults(_module=module, _prog=command.prog)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 success, 2 bad input)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args._module.run(args) or 0)
    except (ValueError, OSError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"{args._prog}: error: {message}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        if exc.name not in LLM_MODULES:
            raise
        print(f"{args._prog}: error: {exc.name} is not installed: this command needs the extra "
              f"[llm] (torch, transformers, tokenizers): pip install -e '.[llm]'",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
