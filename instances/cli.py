"""Command line: ``python -m instances generate ...`` and ``python -m instances show FILE``
(``--plot OUT.png`` draws the drop and a heuristic's plan: :mod:`instances.plot`), also
installed as the console script ``offload-instances``.

Bad input prints a one-line error on stderr, prefixed with the command as the user typed it
(``offload-instances: error: ...`` or ``python -m instances: error: ...``), and exits with code 2,
never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from .calibration import CALIBRATION_SAMPLES
from .evaluate import evaluate
from .generator import COSTS, PRESETS, generate
from .instance import INTERFERENCE_MODELS, Instance, InstanceError, check_tau
from .io import load, save
from .law import LAW_HELP
from .profiles import NAMED_TRACES
from .uncertainty import DEFAULT_SIGNAL, SIGNALS

_TAUS = (0.6, 0.7, 0.8, 0.9)
PLOT_METHOD = "goa"
PLOT_TAU = 0.8
CONSOLE_SCRIPT = "offload-instances"
MODULE_COMMAND = "python -m instances"


def program_name() -> str:
    """The command as the user typed it: the console script's name when run through it, else
    ``python -m instances`` (``python -m`` puts the module's file path in ``sys.argv[0]``)."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return CONSOLE_SCRIPT if name.startswith(CONSOLE_SCRIPT) else MODULE_COMMAND


class OneLineParser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line on stderr and exit code 2 (every command
    line of the project uses it: instances, profiler, benchmarks)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        # one line even when it quotes an argument holding a line break
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")

    def parse_known_args(self, args=None, namespace=None):
        """argparse's, but ``--option=--`` is an error (argparse would drop the ``--`` and
        hand the option an empty list, unchecked by its type)."""
        for token in sys.argv[1:] if args is None else args:
            if isinstance(token, str) and token.startswith("-") and token.endswith("=--"):
                self.error(f"argument {token[:-3]}: expected a value, got '--'")
        return super().parse_known_args(args, namespace)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The parser of the command line, its messages prefixed with ``prog`` (default:
    :func:`program_name`)."""
    parser = OneLineParser(prog=prog or program_name(),
                     description="Generate and inspect LLM-offloading instances.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    gen = sub.add_parser("generate", help="generate instance files",
                         description="Generate instances from a preset (docs/model.md section 7).")
    gen.add_argument("--users", type=int, required=True, help="N, the number of users")
    gen.add_argument("--servers", type=int, default=4, help="M, the number of edge servers (4)")
    gen.add_argument("--seed", type=int, default=0, help="seed of the first instance (0)")
    gen.add_argument("--count", type=int, default=1,
                     help="write K instances with seeds seed..seed+K-1 into the folder --out")
    gen.add_argument("--trace-cost", default="auto", choices=("auto", "workload", "latency"),
                     help="with a trace giving both, use each model's workload or its measured "
                     "latency (auto: the workload where given)")
    gen.add_argument("--preset", default="paper", choices=sorted(PRESETS), help="preset (paper)")
    gen.add_argument("--interference", default="full", choices=INTERFERENCE_MODELS,
                     help="interference model (full)")
    gen.add_argument("--profile", default="synthetic",
                     help="'synthetic' (default), a shipped trace by name "
                          f"({', '.join(NAMED_TRACES)}) or the path of a JSONL query trace")
    gen.add_argument("--uncertainty", default=DEFAULT_SIGNAL, metavar="SIGNAL",
                     help=f"the uncertainty signal that becomes alpha: {', '.join(SIGNALS)} "
                          f"({DEFAULT_SIGNAL})")
    gen.add_argument("--law", default="ps", metavar="LAW", help=LAW_HELP)
    gen.add_argument("--out", required=True, help="output file (or folder with --count > 1)")
    serving = gen.add_argument_group("realistic costs (docs/model.md, realistic instances)")
    serving.add_argument("--costs", default="paper", choices=COSTS,
                         help="paper: the preset's FLOPs over FLOP/s (default); roofline: "
                              "delays of LLM inference as it runs on the named hardware")
    hardware, model = "a name of inference.HARDWARE or a hardware spec file", \
        "a name of inference.MODELS"
    for name, what in (("device", f"the users' hardware: {hardware}"),
                       ("edge", f"the ESs' hardware: {hardware}"),
                       ("slm", f"the small model: {model}"), ("llm", f"the large model: {model}")):
        serving.add_argument(f"--{name}", default=None, metavar="NAME",
                             help=f"{what} (with --costs roofline)")
    serving.add_argument("--output-tokens", type=int, default=None, metavar="T",
                         help="tokens of each answer with --costs roofline (5)")
    group = gen.add_argument_group("preset overrides (any preset value, by name)")
    for key, value in PRESETS["paper"].items():
        group.add_argument(f"--{key.replace('_', '-')}", dest=f"set_{key}", type=float,
                           default=None, metavar="X", help=f"(paper: {value:g})")

    show = sub.add_parser("show", help="print a summary of instance files",
                          description="Print a readable summary of instance files; with --plot, "
                                      "draw one drop and a heuristic's plan.")
    show.add_argument("files", nargs="+", help="instance JSON files")
    show.add_argument("--plot", metavar="OUT.png", default=None,
                      help="draw the drop (one FILE) and the plan of --method at --tau into this "
                           "image: users by alpha and place, the ESs, who offloads where")
    show.add_argument("--method", default=None,
                      help=f"with --plot: a registered heuristic of (P) ({PLOT_METHOD})")
    show.add_argument("--tau", type=float, default=None,
                      help=f"with --plot: the accuracy guard's threshold ({PLOT_TAU:g})")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 success, 2 bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        # extreme values overflow on the way (a carrier of 1e-320 Hz): the instance's checks
        # then name the field, on one line, without numpy's warnings before it
        with np.errstate(all="ignore"):
            _run(args)
    except BrokenPipeError:
        # the reader went away (``... show f.json | head``): not an error; point stdout at
        # devnull so that the interpreter's final flush does not complain either
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ValueError, OSError) as exc:
        print(f"{parser.prog}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    return 0


def _run(args: argparse.Namespace) -> None:
    if args.command == "generate":
        _generate(args)
        return
    if args.plot is None:
        if args.method is not None or args.tau is not None:
            raise ValueError("--method, --tau: apply to --plot only")
    else:
        args.method = PLOT_METHOD if args.method is None else args.method
        args.tau = PLOT_TAU if args.tau is None else args.tau
        if len(args.files) != 1:
            raise ValueError(f"--plot: draws one instance file, got {len(args.files)}")
        check_output_file(args.plot, "--plot", image=True)
        check_tau_option(args.tau)
    instances = [load(path) for path in args.files]
    if args.plot is not None:
        _plot(instances[0], args)
    for number, (path, instance) in enumerate(zip(args.files, instances)):
        if number:
            print()
        print(summary(instance, title=str(path)))
    if args.plot is not None:
        print(f"wrote {args.plot}")


def check_tau_option(tau: float, option: str = "--tau") -> float:
    """``tau`` if it lies in [0, 1]; else a ValueError naming ``option``."""
    try:
        return check_tau(tau)
    except ValueError as exc:
        raise ValueError(f"{option}: {str(exc).split(': ', 1)[1]}") from None


def _plot(instance: Instance, args: argparse.Namespace) -> None:
    """Plan ``instance`` with the registered heuristic ``--method`` and draw it."""
    from .plot import plot_plan
    from .starts import planner_methods, registered_planner

    plan = registered_planner(args.method)
    if plan is None:
        known = planner_methods()
        if not known:
            raise ValueError(f"--method {args.method}: no planner of (P) is registered (the "
                             f"goa package registers its methods when it is loaded)")
        raise ValueError(f"--method: unknown method {args.method!r}; registered: "
                         f"{', '.join(known)}")
    assignment = plan(instance, args.tau, seed=0)
    plot_plan(instance, assignment, args.plot, tau=args.tau, label=args.method)


def check_output_file(path: str | Path, option: str = "--out", image: bool = False) -> Path:
    """The output file ``path`` of a command line, checked before any work: not a folder, in a
    folder that exists, and with ``image=True`` an extension matplotlib writes.

    Raises
    ------
    ValueError
        One line naming ``option`` and the problem.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{option}: {path} is a folder, not a file; give a file name")
    if not path.parent.is_dir():
        raise ValueError(f"{option}: folder {path.parent} does not exist")
    if image:
        from .plot import image_formats

        formats = image_formats()
        if path.suffix[1:].lower() not in formats:
            raise ValueError(f"{option}: cannot tell the image format of {path.name} (give an "
                             f"extension: {', '.join(formats)})")
    return path


def _generate(args: argparse.Namespace) -> None:
    if args.count < 1:
        raise ValueError(f"--count: must be at least 1, got {args.count}")
    overrides = {key[4:]: value for key, value in vars(args).items()
                 if key.startswith("set_") and value is not None}
    options = dict(n_servers=args.servers, preset=args.preset, interference=args.interference,
                   profile=args.profile, uncertainty=args.uncertainty, costs=args.costs,
                   law=args.law,
                   **{key: getattr(args, key) for key in (
                       "device", "edge", "slm", "llm", "output_tokens")
                      if getattr(args, key) is not None}, **overrides)
    if args.seed < 0:
        raise ValueError(f"--seed: must be a non-negative integer, got {args.seed}")
    top_k = overrides.get("top_k", PRESETS[args.preset]["top_k"])
    if args.users >= 1 and args.servers >= 1 and np.isfinite(top_k):  # else checked later
        check_memory(args.count * instance_bytes(args.users, args.servers, max(top_k, 1.0)),
                     f"--users {args.users}, --servers {args.servers}"
                     + (f", --top-k {top_k:g}" if "top_k" in overrides else "")
                     + (f", --count {args.count}" if args.count > 1 else ""),
                     "an instance" if args.count == 1 else f"{args.count} instances")
    if args.trace_cost != "auto" and args.profile != "synthetic":
        from .profiles import load_trace

        options["profile"] = load_trace(args.profile).using(args.trace_cost)
    # Generate everything first, so that bad options never leave some files written.
    try:
        made = [generate(args.users, seed=args.seed + k, **options) for k in range(args.count)]
    except InstanceError as exc:
        # a value derived from the options (the channel gains) names itself: name the
        # overrides that gave it too
        given = [f"--{key.replace('_', '-')} {value!r}" for key, value in overrides.items()]
        if given and not any(key in str(exc) for key in overrides):
            raise InstanceError(f"{exc} (with {', '.join(given)})") from None
        raise
    except (ValueError, MemoryError) as exc:  # numpy cannot hold arrays of these sizes
        sizes = [f"--users {args.users}", f"--servers {args.servers}"] + (
            [f"--top-k {overrides['top_k']:g}"] if "top_k" in overrides else [])
        raise ValueError(f"{', '.join(sizes)}: an instance too large for this machine "
                         f"({_one_line(exc)})") from None
    out = Path(args.out)
    if args.count == 1:
        check_output_file(out)
        _save(made[0], out)
        print(f"wrote {out}")
        return
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out: {out} exists and is not a folder (needed with --count > 1)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"--out: cannot create the folder {out} ({exc.strerror})") from None
    for instance in made:
        seed = instance.provenance["seed"]
        _save(instance, out / f"{args.interference}_N{args.users}_M{args.servers}_seed{seed}.json")
    print(f"wrote {args.count} instances to {out}/")


# Bytes that generating an instance takes: per (user, ES) pair, per user, and per top-k entry
# of every query drawn, the calibration sample's (CALIBRATION_SAMPLES queries) included. The
# peak of instances.generate (tracemalloc) measured 15 MB at N = 20000, M = 4, k = 10; 39 MB at
# M = 40; 50 MB at N = 1000, M = 4, k = 60 (a new calibration); these constants overestimate
# each by 1.6-3 x, so that an estimate errs on the safe side.
_BYTES_PER_PAIR = 8 * 8
_BYTES_PER_USER = 8 * 64
_BYTES_PER_TOPK = 8 * 8


def instance_bytes(n_users: int, n_servers: int, top_k: int = 10) -> float:
    """About how much memory generating an instance of this size takes, in bytes."""
    return (float(n_users) * (n_servers * _BYTES_PER_PAIR + _BYTES_PER_USER)
            + (float(n_users) + CALIBRATION_SAMPLES) * top_k * _BYTES_PER_TOPK
            + 1e4 * n_servers)


def available_memory_bytes() -> int | None:
    """The memory a new allocation can take on this machine (Linux's ``MemAvailable``, else
    the free physical pages), or None where neither is known."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(need_bytes: float, arguments: str, what: str = "a run") -> None:
    """Refuse, before allocating, ``what`` (``"an instance"``, ``"a run"``) whose ``arguments``
    (as the user gave them, e.g. ``"--users 1000000000"``) would need more memory than this
    machine has available.

    Raises
    ------
    ValueError
        One line naming ``arguments``, the estimate and the memory available.
    """
    available = available_memory_bytes()
    if available is not None and need_bytes > available:
        raise ValueError(f"{arguments}: {what} too large for this machine (about "
                         f"{_gigabytes(need_bytes)} of memory, {_gigabytes(available)} "
                         f"available)")


def _gigabytes(n_bytes: float) -> str:
    gb = n_bytes / 1e9
    return f"{gb:.3g} GB" if gb < 1000 else (f"{gb:,.0f} GB" if gb < 1e9 else f"{gb:.1e} GB")


def _save(instance: Instance, path: Path) -> None:
    """Save, naming --out and the file (not the temporary file) when writing fails."""
    try:
        save(instance, path)
    except OSError as exc:
        raise ValueError(f"--out: cannot write {path} ({exc.strerror})") from None


def summary(instance: Instance, title: str = "instance") -> str:
    """A readable multi-line summary of an instance."""
    n, m = instance.n_users, instance.n_servers
    local = instance.local_delay_s * 1e3
    alpha = instance.alpha
    all_local = evaluate(instance, np.full(n, -1))
    strongest = evaluate(instance, np.argmax(instance.gain, axis=1))
    prov = instance.provenance
    lines = [
        f"{title}",
        f"  users N = {n}, edge servers M = {m}, top-k = {instance.top_k}, "
        f"interference = {instance.interference}, area = {instance.area_m:g} m",
        f"  provenance: preset={prov.get('preset')} seed={prov.get('seed')} "
        f"profile={prov.get('profile')} uncertainty={prov.get('uncertainty', DEFAULT_SIGNAL)} "
        f"overrides={prov.get('overrides') or {}}",
        f"  prompt size: mean {instance.prompt_bits.mean() / 8:.0f} B "
        f"(min {instance.prompt_bits.min() / 8:.0f}, max {instance.prompt_bits.max() / 8:.0f})",
        f"  local delay: mean {local.mean():.2f} ms (min {local.min():.2f}, max {local.max():.2f})",
        "  alpha: quantiles 10/25/50/75/90 % = "
        + " / ".join(f"{q:.3f}" for q in np.quantile(alpha, [0.1, 0.25, 0.5, 0.75, 0.9])),
        "  forced users (alpha > tau): "
        + ", ".join(f"tau={t:g}: {int(np.sum(alpha > t))}" for t in _TAUS),
        f"  accuracy: SLM {instance.slm_correct.mean() * 100:.1f} %, "
        f"LLM {instance.llm_correct.mean() * 100:.1f} %",
        f"  all-local: total delay {all_local.total_delay_ms:.1f} ms, "
        f"accuracy {all_local.accuracy_pct:.1f} %",
        f"  all-edge (each user on its strongest-gain server): total delay "
        f"{strongest.total_delay_ms:.1f} ms, accuracy {strongest.accuracy_pct:.1f} %, "
        f"loads {strongest.loads.tolist()}",
    ]
    return "\n".join(lines)


def _one_line(exc: BaseException) -> str:
    text = str(exc) if not isinstance(exc, OSError) or not exc.strerror else (
        f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror)
    return " ".join(text.split())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
