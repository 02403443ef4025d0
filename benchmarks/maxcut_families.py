"""Max-Cut beyond Gset: real-valued weights, sparse random regular graphs, large tori.

Same protocol as ``maxcut_gset.py``: derand (one search thread, ``time_limit=T``) and
dwave-samplers' simulated annealing (one long anneal filling ``T``) side by side, one core
each, same wall time. No best-known values exist for these graphs; the proven bound says how
far from optimal each cut can be.

    python benchmarks/maxcut_families.py --time-limit 60 --results families.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from maxcut_peers import (
    add_worker_options,
    load_average,
    run_pair,
    sa_available,
    table,
    worker_main,
)

FAMILIES = (
    "gnp:n=2000,p=0.005,seed=1,weights=uniform",
    "gnp:n=3000,p=0.002,seed=2,weights=normal",
    "regular:n=10000,d=3,seed=3",
    "regular:n=5000,d=5,seed=4,weights=pm1",
    "torus:rows=150,cols=150,seed=5",
    "torus:rows=100,cols=200,seed=6,weights=normal",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="*", default=list(FAMILIES))
    add_worker_options(parser)
    args = parser.parse_args()
    if args.worker is not None:
        return worker_main(args)

    from derand.results import machine_summary

    sa = not args.no_sa and sa_available()
    rows = []
    load_before = load_average()
    for spec in args.specs:
        r = run_pair(__file__, spec, args.time_limit, args.seed, args.threads, sa)
        rows.append((spec, r, None))
        if args.results is not None:
            with open(args.results, "a") as fh:
                fh.write(json.dumps({"instance": spec, **r}) + "\n")
        print(f"{spec}: {json.dumps({k: v.get('cut', v.get('final')) for k, v in r.items()})}",
              file=sys.stderr, flush=True)  # fmt: skip
    print(f"Machine: {machine_summary()}; load average before {load_before}, "
          f"after {load_average()} (absolute times measured under that load).")  # fmt: skip
    print(f"Each graph: derand (1 search thread) and SA (1 process) side by side, "
          f"{args.time_limit:g} s wall each.")  # fmt: skip
    print()
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
