"""Write instances/data/example_trace.jsonl: a small ILLUSTRATIVE trace in the measured-profile
format, with bAbI-style prompts. Its numbers are drawn from the synthetic profile (seed 2026),
not measured on real models: it exists to show and test the format. Run from the repo root:

    python scripts/make_example_trace.py
"""

import json

import numpy as np

from instances.generator import PRESETS
from instances.io import atomic_write_text
from instances.profiles import EXAMPLE_TRACE, synthetic_queries

NAMES = ["Mary", "John", "Sandra", "Daniel", "Fred", "Julie", "Bill", "Jeff"]
PLACES = ["bathroom", "hallway", "kitchen", "garden", "office", "bedroom", "park", "school"]
VERBS = ["moved to", "went to", "journeyed to", "travelled to", "went back to"]


def main() -> None:
    rng = np.random.default_rng(2026)
    params = PRESETS["paper"]
    n = 60
    queries = synthetic_queries(n, rng, params)
    lines = ["# Illustrative trace: bAbI-style prompts; probabilities, correctness and latencies "
             "drawn from the synthetic profile (scripts/make_example_trace.py), not measured."]
    for i in range(n):
        story = []
        where = {}
        for _ in range(int(rng.integers(2, 12))):
            who, place = rng.choice(NAMES), rng.choice(PLACES)
            where[who] = place
            story.append(f"{who} {rng.choice(VERBS)} the {place}.")
        who = rng.choice(sorted(where))
        prompt = " ".join(story) + f" Where is {who}? Answer with one word."
        truth = where[who]
        slm_ok, llm_ok = bool(queries.slm_correct[i]), bool(queries.llm_correct[i])
        wrong = [p for p in PLACES if p != truth]
        record = {
            "id": f"example-{i:03d}",
            "prompt": prompt,
            "prompt_bytes": len(prompt.encode("utf-8")),
            "topk_probs": [round(float(p), 6) for p in queries.topk_probs[i]],
            "slm_answer": truth if slm_ok else str(rng.choice(wrong)),
            "llm_answer": truth if llm_ok else str(rng.choice(wrong)),
            "slm_correct": slm_ok,
            "llm_correct": llm_ok,
        }
        if i % 5 == 4:  # some records give workloads instead of latencies
            record["slm_workload_flop"] = float(queries.local_workload_flop[i])
            record["llm_workload_flop"] = float(queries.edge_workload_flop[i])
        else:
            record["slm_latency_s"] = round(
                float(queries.local_workload_flop[i] / params["local_flops"]), 6)
            record["llm_latency_s"] = round(
                float(queries.edge_workload_flop[i] / params["server_cap_flops"]), 6)
        lines.append(json.dumps(record))
    atomic_write_text(EXAMPLE_TRACE, "\n".join(lines) + "\n")
    print(f"wrote {EXAMPLE_TRACE} ({n} records)")


if __name__ == "__main__":
    main()
