"""``python -m benchmarks.online_engines``: the simulator's event loop against the same model
written on SimPy, on the same scenario (why online/ keeps its own loop: docs/online.md).

Both engines replay the same queries with the same places (those chosen by the threshold policy
in a first run of ``online.simulate``), so that only the engine differs: the records must agree
(delays to 1e-9 relative) and the wall times are compared. SimPy has no resource whose rate is
shared by a changing set of jobs, so its version keeps one controller process per shared
resource (the uploads, coupled by interference, and each ES's compute) that sleeps until its
next completion or until a job joins, whichever is first. Needs ``pip install simpy``
(the ``engines`` extra).
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np

from benchmarks.common import (
    BenchmarkError, Parser, machine_line, non_negative_int, positive_float, positive_int,
    run_cli, table, unit_float)
from benchmarks.common import check_instance_memory, check_simulation_memory

PROG = "python -m benchmarks.online_engines"


class _Fluid:
    """A SimPy process sharing a rate among its jobs: ``rates(jobs)`` gives each job's rate."""

    def __init__(self, env, rates):
        self.env, self.rates = env, rates
        self.jobs: dict[int, list] = {}  # job -> [remaining, rate, done event, data]
        self.wake = env.event()
        env.process(self._run())

    def add(self, job: int, amount: float, data):
        done = self.env.event()
        self._progress()
        self.jobs[job] = [amount, 0.0, done, data]
        self.rates(self.jobs)
        if not self.wake.triggered:
            self.wake.succeed()
        return done

    def _progress(self):
        dt = self.env.now - self.last
        if dt > 0:
            for entry in self.jobs.values():
                entry[0] -= entry[1] * dt
        self.last = self.env.now

    def _run(self):
        self.last = self.env.now
        while True:
            if not self.jobs:
                yield self.wake
                self.wake = self.env.event()
                continue
            job, entry = min(self.jobs.items(), key=lambda item: item[1][0] / item[1][1])
            timer = self.env.timeout(entry[0] / entry[1])
            yield timer | self.wake
            if self.wake.triggered:
                self.wake = self.env.event()
                continue
            self._progress()
            del self.jobs[job]
            self.rates(self.jobs)
            entry[2].succeed()


def simpy_run(instance, queries, places) -> np.ndarray:
    """Finish times of ``queries`` at the given places, simulated on SimPy."""
    import simpy

    env = simpy.Environment()
    m = instance.n_servers
    pg = instance.tx_power_w[:, None] * instance.gain
    noise, band = instance.noise_w, instance.bandwidth_hz
    full = instance.interference == "full"

    def upload_rates(jobs):
        counts = [0] * m
        interference = [0.0] * m
        for entry in jobs.values():
            i, j = entry[3]
            counts[j] += 1
            if full:
                for k in range(m):
                    if k != j:
                        interference[k] += pg[i, k]
        for entry in jobs.values():
            i, j = entry[3]
            sinr = pg[i, j] / (noise[j] + interference[j])
            entry[1] = band[j] / counts[j] * math.log2(1.0 + sinr)

    def compute_rates(j):
        def rates(jobs):
            n = len(jobs)
            for entry in jobs.values():
                entry[1] = min(instance.server_cap_flops[j], instance.server_flops[j] / n)
        return rates

    uploads = _Fluid(env, upload_rates)
    servers = [_Fluid(env, compute_rates(j)) for j in range(m)]
    devices = [simpy.Resource(env, capacity=1) for _ in range(instance.n_users)]
    finish = np.full(len(queries), np.nan)
    local_s = queries.local_workload_flop / instance.local_flops[queries.user]

    def query(q):
        yield env.timeout(queries.arrival_s[q] - env.now)
        i, j = int(queries.user[q]), int(places[q])
        if j < 0:
            with devices[i].request() as slot:
                yield slot
                yield env.timeout(local_s[q])
        else:
            yield uploads.add(q, queries.prompt_bits[q], (i, j))
            yield servers[j].add(q, queries.edge_workload_flop[q], None)
        finish[q] = env.now

    def source():
        for q in range(len(queries)):
            yield env.timeout(queries.arrival_s[q] - env.now)
            env.process(query(q))

    env.process(source())
    env.run()
    return finish


class _Replay:
    """A policy that returns given places (so that both engines see the same decisions)."""

    name = "replay"

    def __init__(self, places):
        self.places = places

    def decide(self, state, arrivals):
        return self.places[arrivals.query]


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="The simulator's own event loop against SimPy on "
                                           "the same scenario (same queries, same places).")
    parser.add_argument("--users", type=positive_int, default=100, help="N (100)")
    parser.add_argument("--servers", type=positive_int, default=4, help="M (4)")
    parser.add_argument("--rate", type=positive_float, default=10.0,
                        help="arrival rate per user, Hz (10)")
    parser.add_argument("--duration", type=positive_float, default=20.0,
                        help="arrival window, s (20)")
    parser.add_argument("--tau", type=unit_float, default=0.8, help="threshold policy's tau (0.8)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed (0)")
    parser.add_argument("--speed", action="store_true",
                        help="instead: the speed goals, about 100,000 queries (N 100, M 4, "
                             "full, 10 Hz per user for 100 s) under local-all and threshold "
                             "(per arrival) and GOA and goa_ls (per slot of --slot)")
    parser.add_argument("--slot", type=positive_float, default=0.05,
                        help="--speed: decision slot of GOA and goa_ls, s (0.05)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = build_parser().parse_args(argv)
    return run_cli(PROG, lambda: _run(args))


def _speed(args) -> int:
    import goa
    import instances
    import online

    inst = instances.generate(100, 4, seed=args.seed)
    goa.solve(inst, tau=0.8, method="goa_ls")  # numba kernels loaded before any clock starts
    print(f"{PROG} --speed: N 100, M 4, full, 10 Hz per user, 100 s, tau 0.8, seed "
          f"{args.seed}; {machine_line()}")
    lines = []
    for name, slot, predict in (("local_all", None, False), ("threshold", None, False),
                                ("goa", args.slot, False), ("goa_ls", args.slot, False),
                                ("goa_ls", args.slot, True)):
        started, cpu = time.perf_counter(), time.process_time()
        sim = online.simulate(inst, name, 10.0, 100.0, seed=args.seed, tau=0.8, slot_s=slot,
                              predict=predict)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        summary = sim.summary(deadline_s=0.1)
        lines.append([name, "-" if slot is None else f"{slot * 1e3:g} ms", "yes" if predict
                      else "no", len(sim.records), wall, cpu, summary["p95_ms"],
                      summary["decide_ms_per_call"]])
    print(table(["policy", "slot", "predictions", "queries", "wall s", "CPU s", "p95 ms",
                 "decide ms/call"], lines))
    return 0


def _run(args) -> int:
    if args.speed:
        return _speed(args)
    check_instance_memory(args.users, args.servers, f"--users {args.users}, --servers "
                          f"{args.servers}")
    check_simulation_memory(args.users, {"--rate": args.rate}, args.duration)
    try:
        import simpy  # noqa: F401
    except ImportError:
        raise BenchmarkError("simpy is not installed (pip install -e '.[engines]')") from None
    import instances
    import online

    inst = instances.generate(args.users, args.servers, seed=args.seed)
    first = online.simulate(inst, online.Threshold(args.tau), args.rate, args.duration,
                            seed=args.seed, tau=args.tau)
    places = first.records.place.copy()
    queries = online.draw_queries(inst, args.rate, args.duration, args.seed)
    cpu = time.process_time()
    ours = online.run_queries(inst, _Replay(places), queries, tau=args.tau)
    ours_s = time.process_time() - cpu
    cpu = time.process_time()
    theirs = simpy_run(inst, queries, places)
    simpy_s = time.process_time() - cpu
    delay_ours = ours.records.delay_s
    delay_simpy = theirs - queries.arrival_s
    worst = float(np.max(np.abs(delay_ours - delay_simpy) / delay_ours))
    print(f"{PROG}: N {args.users}, M {args.servers}, {args.rate:g} Hz per user, "
          f"{args.duration:g} s, threshold tau {args.tau:g} places replayed; {machine_line()}")
    print(table(["engine", "queries", "offloaded", "CPU s", "us per query",
                 "max rel. delay difference"],
                [["online (own loop)", len(queries), int((places >= 0).sum()), ours_s,
                  ours_s / len(queries) * 1e6, 0.0],
                 ["SimPy", len(queries), int((places >= 0).sum()), simpy_s,
                  simpy_s / len(queries) * 1e6, worst]]))
    if worst > 1e-9:
        raise BenchmarkError(f"the engines disagree: max relative delay difference {worst:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
