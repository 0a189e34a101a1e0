"""Explicit search, k-induction and PDR side by side on guest-assisted `disable-first`,
proving `completeness` as the pages grow at a fixed number of RX slots, measured in one run
(or another variant and property: refuting a flawed variant as it grows).

Each cell is one run with a time limit; a run that reaches it is shown as ``timeout``, and
that engine is not run at larger sizes (shown as ``not run``). A k-induction or PDR `holds`
counts only with its certificate re-checked (the engines report ``inconclusive`` otherwise).
The symbolic engines use an explicit search of the sample instance (pages cut to
`lemmas.SAMPLE_SIZE`): k-induction mines lemmas from it; PDR generalises the cubes that block
its counterexamples to induction against it (`strengthen`), and mines lemmas for Spacer only
when that fails. That time is inside their cells.

    python bench/symbolic_scaling.py [--variant disable-first] [--property completeness]
        [--slots 2] [--sizes 1 2 4 8 16 32] [--limit 300]
        [--engines explicit symmetry kind pdr]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time

import z3

from migcheck.checker.explicit import explore
from migcheck.checker.symbolic import check_symbolic
from migcheck.checker.symbolic.lemmas import sample_params
from migcheck.models.library import bundled
from migcheck.models.model import build

TITLES = {"explicit": "explicit", "symmetry": "explicit --symmetry", "kind": "k-induction", "pdr": "PDR"}


def cell(verdict, seconds: float, limit: float) -> tuple[str, bool]:
    """The table's text for one run, and whether it ran out of time."""
    if seconds >= limit or "time limit" in verdict.reason:
        return f"timeout ({limit:.0f} s)", True
    if verdict.verdict == "violated" and verdict.trace is not None:
        return f"{seconds:.1f} s (violated, {len(verdict.trace.steps) - 1} steps)", False
    if verdict.verdict == "inconclusive":
        return f"{seconds:.1f} s (inconclusive: {verdict.reason.split(';')[0]})", False
    return f"{seconds:.1f} s ({verdict.verdict}, {verdict.completeness})", False


def run_one(engine: str, cls, system, limit: float, prop: str) -> tuple[str, bool]:
    started = time.perf_counter()
    if engine in ("explicit", "symmetry"):
        ex = explore(system, [prop], timeout=limit, symmetry=engine == "symmetry")
        v = ex.verdicts[prop]
        text, out = cell(v, time.perf_counter() - started, limit)
        return f"{text}, {ex.stats.states:,} states", out
    sample = build(cls, sample_params(system))
    v = check_symbolic(system, engine, [prop], None, limit, sample=sample)[prop]
    text, out = cell(v, time.perf_counter() - started, limit)
    if v.verdict == "holds" and v.complete:
        by = v.extra.get("invariant_by", f"k = {v.extra.get('k')}")
        text += f", invariant by {by}"
        if by == "blocking":
            text += f" ({v.extra['ctis']} CTIs, {v.extra['lemmas']:,} lemmas)"
    return text, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variant", default="disable-first")
    parser.add_argument("--property", default="completeness")
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    parser.add_argument("--limit", type=float, default=300.0)
    parser.add_argument("--engines", nargs="+", default=["explicit", "symmetry", "kind", "pdr"],
                        choices=list(TITLES))
    args = parser.parse_args()
    cls = bundled("guest-assisted").variants()[args.variant]
    print(f"{datetime.date.today()}, {platform.machine()}, CPython {platform.python_version()}, "
          f"z3 {z3.get_version_string()}; guest-assisted {args.variant}, property {args.property}, "
          f"slots = {args.slots}, time limit {args.limit:.0f} s per cell")
    print("| pages | " + " | ".join(TITLES[e] for e in args.engines) + " |")
    print("| ---: |" + " --- |" * len(args.engines))
    given_up: set[str] = set()
    for n in args.sizes:
        system = build(cls, {"pages": n, "slots": args.slots})
        cells = []
        for engine in args.engines:
            if engine in given_up:
                cells.append("not run (timeout at a smaller size)")
                continue
            text, out = run_one(engine, cls, system, args.limit, args.property)
            if out:
                given_up.add(engine)
            cells.append(text)
        print(f"| {n} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
