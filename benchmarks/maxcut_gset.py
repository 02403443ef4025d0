"""Max-Cut on all 71 Gset instances: derand against simulated annealing at the same wall time.

For each instance, derand (``solve_maxcut(..., time_limit=T, threads=1)``) and dwave-samplers'
simulated annealing (one long anneal filling ``T``, see ``maxcut_peers.sa_long_anneal``) run
*at the same time*, one process and one core each, for the same wall time; a machine load
hits both. One markdown table: best known, SDP, proven bound, derandomized cut, final cut,
% of best known, SA, seconds, peak memory; summary rows at the end.

    python benchmarks/maxcut_gset.py --all --time-limit 60 --results gset.jsonl
    python benchmarks/maxcut_gset.py G1 G22 G81 --time-limit 20

The instances ship with derand (``gset:G1``); ``--gset-dir`` reads rudy files instead.
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("instances", nargs="*", default=["G1", "G14", "G22", "G81"])
    parser.add_argument("--all", action="store_true", help="all 71 instances")
    parser.add_argument("--gset-dir", type=Path, help="read G<k>.txt from here")
    add_worker_options(parser)
    args = parser.parse_args()
    if args.worker is not None:
        return worker_main(args)

    from derand.maxcut.graph import GSET_NAMES, gset_best_known
    from derand.results import machine_summary

    names = list(GSET_NAMES) if args.all else args.instances
    known = gset_best_known()
    sa = not args.no_sa and sa_available()
    rows = []
    load_before = load_average()
    for name in names:
        spec = str(args.gset_dir / f"{name}.txt") if args.gset_dir else f"gset:{name}"
        r = run_pair(__file__, spec, args.time_limit, args.seed, args.threads, sa)
        best = known.get(name, {}).get("best_known")
        rows.append((name, r, best))
        if args.results is not None:
            with open(args.results, "a") as fh:
                fh.write(json.dumps({"instance": name, "best_known": best, **r}) + "\n")
        print(f"{name}: {json.dumps({k: v.get('cut', v.get('final')) for k, v in r.items()})}",
              file=sys.stderr, flush=True)  # fmt: skip
    print(f"Machine: {machine_summary()}; load average before {load_before}, "
          f"after {load_average()} (absolute times measured under that load).")  # fmt: skip
    print(f"Each instance: derand (1 search thread) and SA (1 process) side by side, "
          f"{args.time_limit:g} s wall each.")  # fmt: skip
    print()
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
