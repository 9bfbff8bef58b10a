"""``python -m inference calibrate --out my_hardware.json``: fit this machine's hardware spec.

It times transformers' ``LlamaForCausalLM`` with random weights (no download) on the CPU,
fits the roofline's achievable fractions and per-pass overhead on part of the grid, prints
the error on the rest, and writes a :class:`inference.HardwareSpec` JSON file that any
``hardware=`` argument accepts (docs/serving.md, "Calibration").
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from .calibrate import GRIDS, calibrate_cpu, check_report, format_report
from .presets import save_hardware


class _Parser(argparse.ArgumentParser):
    """One-line errors, exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


def main(argv=None) -> int:
    parser = _Parser(prog="python -m inference",
                     description="Measure this machine and write a hardware spec file.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    cal = sub.add_parser("calibrate", help="time random Llama models and fit a hardware spec")
    cal.add_argument("--out", required=True, help="the hardware spec JSON file to write")
    cal.add_argument("--grid", choices=sorted(GRIDS), default="default",
                     help="which grid to time: quick (seconds), default (about 3 min on 2 "
                          "cores), big (longer prompts, larger batches, 5 repeats)")
    cal.add_argument("--dtype", choices=("bf16", "fp32"), default="bf16",
                     help="the weights' precision (bf16)")
    cal.add_argument("--name", default="host-cpu", help="the spec's name (host-cpu)")
    cal.add_argument("--report", help="also write the measurements and errors as JSON here")
    cal.add_argument("--seed", type=int, default=0, help="seeds the random weights and tokens")
    cal.add_argument("--threads", type=int, default=None,
                     help="torch threads (default: one per core); 1 is steadier on a shared "
                          "machine")
    check = sub.add_parser("check", help="how well a hardware spec predicts a saved report")
    check.add_argument("--report", required=True, help="a report written by calibrate --report")
    check.add_argument("--hardware", required=True, help="a preset name or a spec file")
    args = parser.parse_args(argv)
    if args.command == "check":
        return _check(parser, args)
    for option, path in (("--out", args.out), ("--report", args.report)):
        folder = os.path.dirname(os.path.abspath(path)) if path else None
        if folder and not os.path.isdir(folder):
            parser.error(f"argument {option}: folder {folder} does not exist")
    try:
        spec, report = calibrate_cpu(GRIDS[args.grid], dtype=args.dtype, seed=args.seed,
                                     name=args.name, threads=args.threads,
                                     progress=lambda text: print(text, file=sys.stderr))
    except ValueError as exc:
        print(f"{parser.prog}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    print(format_report(report))
    save_hardware(spec, args.out)
    if args.report:
        tmp = f"{args.report}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=1)
        os.replace(tmp, args.report)
    print(f"wrote {args.out}: eta_flops {spec.eta_flops:.4f}, eta_bw {spec.eta_bw:.4f}, "
          f"overhead_s {spec.overhead_s:.5f}")
    return 0


def _check(parser, args) -> int:
    try:
        with open(args.report, encoding="utf-8") as handle:
            report = json.load(handle)
        summary = check_report(report, args.hardware)
    except (OSError, json.JSONDecodeError) as exc:
        print(f"{parser.prog}: error: report: cannot read {args.report} ({exc})", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"{parser.prog}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    print(f"{args.hardware} on {args.report}: median error {100 * summary['median']:.1f} %, "
          f"worst {100 * summary['worst']:.1f} % ({summary['count']} passes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
