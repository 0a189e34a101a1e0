"""Explicit search, k-induction and PDR side by side on guest-assisted `disable-first`,
proving `completeness` as the model grows (slots = pages = n), measured in one run.

Each cell is one run with a time limit; a run that reaches it is reported as "> limit".
A PDR or k-induction `holds` is only counted when its certificate was re-checked.

    python bench/symbolic_scaling.py [--sizes 1 2 4 8 16 32] [--limit 300]
"""

from __future__ import annotations

import argparse
import platform
import time

from migcheck.checker.explicit import explore
from migcheck.checker.symbolic import check_symbolic
from migcheck.models.library import bundled
from migcheck.models.model import build

PROPERTY = "completeness"


def cell(verdict, seconds: float, limit: float) -> str:
    if verdict.verdict == "inconclusive" or seconds >= limit:
        return f"> {limit:.0f} s ({verdict.verdict})"
    return f"{seconds:.1f} s ({verdict.verdict}, {verdict.completeness})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    parser.add_argument("--limit", type=float, default=300.0)
    parser.add_argument("--engines", nargs="+", default=["explicit", "kind", "pdr"])
    args = parser.parse_args()
    cls = bundled("guest-assisted")
    print(f"machine: {platform.machine()}, Python {platform.python_version()}; guest-assisted "
          f"disable-first, property {PROPERTY}, time limit {args.limit:.0f} s per cell")
    print("| pages = slots | " + " | ".join(args.engines) + " |")
    print("| ---: |" + " --- |" * len(args.engines))
    given_up: set[str] = set()
    allowed = cls.parameters()["pages"].allowed
    for n in args.sizes:
        if n not in allowed or n not in cls.parameters()["slots"].allowed:
            outside = ["outside the model's parameter range"] * len(args.engines)
            print(f"| {n} | " + " | ".join(outside) + " |")
            continue
        system = build(cls, {"pages": n, "slots": n})
        cells = []
        for engine in args.engines:
            if engine in given_up:
                cells.append("not run (smaller size timed out)")
                continue
            started = time.perf_counter()
            if engine == "explicit":
                ex = explore(system, [PROPERTY], timeout=args.limit)
                v = ex.verdicts[PROPERTY]
                text = cell(v, time.perf_counter() - started, args.limit)
                text += f", {ex.stats.states:,} states"
            else:
                v = check_symbolic(system, engine, [PROPERTY], None, args.limit)[PROPERTY]
                text = cell(v, time.perf_counter() - started, args.limit)
            if text.startswith(">"):
                given_up.add(engine)
            cells.append(text)
        print(f"| {n} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
