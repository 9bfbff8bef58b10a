"""``python -m formulations export INSTANCE --tau T --format mps|lp --out FILE``: the count-indexed
MILP of an interference-"none" instance (docs/model.md section 4) as a standard MPS or LP file,
for any MILP solver (:mod:`formulations.export`).

Bad input (a missing or invalid instance file, a "full" instance, a bad tau or format, an
unwritable output) prints one line on stderr and exits with code 2; nothing is written then.
"""

from __future__ import annotations

import sys

from instances.cli import OneLineParser, _one_line
from instances.io import load

PROG = "python -m formulations"


def build_parser() -> OneLineParser:
    """The parser: one subcommand, ``export``."""
    parser = OneLineParser(prog=PROG, description="Exact models of problem (P).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    export = sub.add_parser(
        "export", help="write the count-indexed MILP of an interference-'none' instance",
        description="Write the count-indexed MILP of (P) (interference 'none') as MPS or LP: "
                    "objective in ms, columns x_i_j, y_j_n, z_i_j_n.")
    export.add_argument("instance", metavar="INSTANCE", help="an instance file (JSON)")
    export.add_argument("--tau", type=float, required=True,
                        help="the accuracy-guard threshold in [0, 1]")
    export.add_argument("--format", choices=("mps", "lp"), default=None,
                        help="file format (default: from the extension of --out)")
    export.add_argument("--out", required=True, metavar="FILE", help="the file to write")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 success, 2 bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from .export import FORMATS, export_model

    try:
        file_format = args.format
        if file_format is None:
            file_format = args.out.rsplit(".", 1)[-1].lower() if "." in args.out else ""
            if file_format not in FORMATS:
                raise ValueError(f"--format: not given, and --out {args.out!r} does not end "
                                 f"in .mps or .lp")
        model = export_model(load(args.instance), args.tau, args.out, file_format)
    except (ValueError, OSError) as exc:
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {model.n_cols} binary columns, {model.n_rows} rows, objective in "
          f"ms (constant {model.offset_ms:.6f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
