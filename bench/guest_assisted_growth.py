"""Distinct states and time of guest-assisted `disable-first` as the pages grow.

By default the ring has two slots and the pages grow (pages = n, slots = 2; a refill may put
its buffer in any page); ``--slots-follow`` grows both (slots = pages = n). Runs n = 1, 2, ...
until a run takes longer than ``--limit`` seconds; a run is cut at four times the limit and
then reported as inconclusive with the states reached. Only the safety properties and
witnesses are checked: liveness needs every transition recorded, which is a different
(slower, larger) search. ``--symmetry`` explores one state per permutation of the pages.

    python bench/guest_assisted_growth.py [--limit 60] [--variant disable-first] [--symmetry]
"""

from __future__ import annotations

import argparse
import platform
import resource

from migcheck.checker.explicit import explore
from migcheck.checker.liveness import LIVENESS
from migcheck.models.library import bundled
from migcheck.models.model import build


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=float, default=60.0)
    parser.add_argument("--variant", default="disable-first")
    parser.add_argument("--max-pages", type=int, default=32)
    parser.add_argument("--slots-follow", action="store_true", help="slots = pages (default: 2 slots)")
    parser.add_argument("--symmetry", action="store_true")
    args = parser.parse_args()
    cls = bundled("guest-assisted").variants()[args.variant]
    print(f"machine: {platform.machine()}, Python {platform.python_version()}; variant {args.variant}"
          + (", symmetry reduction" if args.symmetry else ""))
    size = "pages = slots" if args.slots_follow else "pages (slots = 2)"
    print(f"| {size} | distinct states | transitions | depth | seconds | states/s | peak RSS MiB "
          "| safety verdicts | witnesses not reached |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |")
    for n in range(1, args.max_pages + 1):
        system = build(cls, {"pages": n, "slots": n if args.slots_follow else 2})
        safety = [p.name for p in system.properties if p.kind not in LIVENESS] + ["deadlock"]
        result = explore(system, safety, timeout=4 * args.limit, symmetry=args.symmetry)
        s = result.stats
        safety = {v.verdict for v in result.verdicts.values() if v.kind != "reachable"}
        unreached = [k for k, v in result.verdicts.items() if v.kind == "reachable" and v.verdict != "holds"]
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"| {n} | {s.states:,} | {s.transitions:,} | {s.depth} | {s.seconds:.2f} | "
              f"{s.states / s.seconds:,.0f} | {rss:,.0f} | {', '.join(sorted(safety))} | "
              f"{', '.join(unreached) or '-'} |", flush=True)
        if s.seconds > args.limit:
            break


if __name__ == "__main__":
    main()
