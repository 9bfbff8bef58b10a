"""Time the simulator with batched edge servers: about 100,000 queries, N = 1,000 users, M = 4
ESs, the threshold policy (issue 23's goal: <= 60 s).

    python scripts/time_batched.py [--device NAME] [--server batched|ps] [--users N] ...

Prints the queries, the wall and CPU time of the whole ``online.simulate`` call (query drawing
included) and a few figures of the run. The machine may be shared: the CPU time is the figure
to compare across runs.
"""

from __future__ import annotations

import argparse
import time

import inference
import instances
import online


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--servers", type=int, default=4)
    parser.add_argument("--rate", type=float, default=0.5, help="queries per second per user")
    parser.add_argument("--duration", type=float, default=200.0, help="arrival window (s)")
    parser.add_argument("--device", default=inference.DEFAULT_DEVICE)
    parser.add_argument("--edge", default=inference.DEFAULT_EDGE)
    parser.add_argument("--server", default="batched", choices=online.SERVERS)
    parser.add_argument("--policy", default="threshold")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    inst = instances.generate(args.users, args.servers, seed=args.seed, costs="roofline",
                              device=args.device, edge=args.edge)
    wall, cpu = time.perf_counter(), time.process_time()
    sim = online.simulate(inst, args.policy, rate_per_user_hz=args.rate,
                          duration_s=args.duration, seed=args.seed, server=args.server)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    s = sim.summary()
    print(f"{len(sim.records)} queries, N = {args.users}, M = {args.servers}, {args.policy}, "
          f"server {args.server}, device {args.device}, edge {args.edge}: wall {wall:.1f} s, "
          f"CPU {cpu:.1f} s")
    print(f"  offloaded {s['offloaded_frac']:.3f}, mean {s['mean_ms']:.1f} ms, "
          f"p99 {s['p99_ms']:.1f} ms" + (
              f", largest batch {int(sim.records.largest_batch.max())}"
              if sim.records.largest_batch is not None else ""))


if __name__ == "__main__":
    main()
