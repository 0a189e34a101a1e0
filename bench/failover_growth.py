"""Size and time of the failover model's full check as the packets offered (``pkts``) grow.

For each ``pkts`` and each variant: the explicit search with every property (liveness
included, so every transition is recorded), its distinct states, transitions and seconds;
whether every verdict is the one the variant expects. ``--symbolic`` also times BMC (to the
explicit depth) and PDR on the base variant's safety properties. Each size is run
``--repeats`` times, the sizes interleaved, and the fastest run is reported; the load
average before and after says what else the machine was doing.

    python bench/failover_growth.py [--pkts 1 2 4 8 16 32] [--repeats 2] [--symbolic]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from migcheck.checker.explicit import explore
from migcheck.models.library import bundled
from migcheck.models.model import build
from migcheck.runner import run


def explicit_all(pkts: int) -> tuple[int, int, float, list[str]]:
    """States and transitions summed over the variants, seconds, and the verdicts that differ
    from those the variants expect (at the default parameters)."""
    states = transitions = 0
    differ = []
    start = time.perf_counter()
    for vname, cls in bundled("failover").variants().items():
        system = build(cls, {"pkts": pkts})
        result = explore(system)
        states += result.stats.states
        transitions += result.stats.transitions
        differ += [f"{vname} {k} {v.verdict}" for k, v in result.verdicts.items()
                   if v.verdict != system.expected(k)]
    return states, transitions, time.perf_counter() - start, differ


def symbolic(pkts: int, engine: str) -> tuple[float, bool]:
    start = time.perf_counter()
    rows = run(bundled("failover"), variants=["standby"], engine=engine, params={"pkts": pkts},
               properties=["vf-gone-before-copy", "no-duplicate-mac", "loss-bounded",
                           "dest-vf-after-switch", "completeness", "quiescence"])
    return time.perf_counter() - start, all(r.as_expected for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pkts", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--symbolic", action="store_true")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    best: dict[int, tuple] = {}
    for _ in range(args.repeats):
        for n in args.pkts:
            got = explicit_all(n)
            if n not in best or got[2] < best[n][2]:
                best[n] = got
    print("| pkts | distinct states (7 variants) | transitions | seconds (all properties) "
          "| verdicts other than expected |")
    print("| ---: | ---: | ---: | ---: | --- |")
    for n in args.pkts:
        states, transitions, seconds, differ = best[n]
        print(f"| {n} | {states:,} | {transitions:,} | {seconds:.2f} | {', '.join(differ) or 'none'} |")
    if args.symbolic:
        print("\n| pkts | bmc seconds | pdr seconds | as expected |")
        print("| ---: | ---: | ---: | --- |")
        for n in args.pkts:
            bmc, ok1 = symbolic(n, "bmc")
            pdr, ok2 = symbolic(n, "pdr")
            print(f"| {n} | {bmc:.2f} | {pdr:.2f} | {'yes' if ok1 and ok2 else 'NO'} |", flush=True)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
