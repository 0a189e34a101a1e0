"""Distinct states and time with and without symmetry reduction, in one run.

    python bench/symmetry.py [--max-pages 5] [--timeout 600]

Two-phase commit (resource managers symmetric) at rms = 3..7, then guest-assisted
``disable-first`` (pages symmetric; RX buffers take any page) at slots = 2 and growing pages,
checking its safety properties and witnesses (symmetry reduction is for safety).
"""

from __future__ import annotations

import argparse
import math
import platform
import time

from migcheck.checker.explicit import explore
from migcheck.models.library import bundled
from migcheck.models.model import build

SAFETY = ("invariant", "action", "reachable")


def row(label: str, system, properties, timeout: float | None, n: int) -> None:
    t = time.perf_counter()
    full = explore(system, properties, timeout=timeout)
    t_full = time.perf_counter() - t
    t = time.perf_counter()
    sym = explore(system, properties, symmetry=True)
    t_sym = time.perf_counter() - t
    verdicts = [{k: v.verdict for k, v in r.verdicts.items()} for r in (full, sym)]
    finished = "inconclusive" not in verdicts[0].values()
    if finished:
        assert verdicts[0] == verdicts[1], "verdicts differ"
        states, reduction = f"{full.stats.states:,}", f"{full.stats.states / sym.stats.states:.1f}x"
    else:
        states, reduction = f"> {full.stats.states:,} (stopped at {timeout:.0f} s)", "-"
    print(f"| {label} | {states} | {t_full:.2f} | {sym.stats.states:,} | {t_sym:.2f} | {reduction} | "
          f"{math.factorial(n)} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-pages", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=600.0, help="limit of each search without symmetry")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, Python {platform.python_version()}")
    print("| model | states | seconds | states with symmetry | seconds | reduction | n! |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for rms in (3, 4, 5, 6, 7):
        system = build(bundled("two-phase-commit"), {"rms": rms})
        row(f"two-phase-commit rms={rms}", system, None, args.timeout, rms)
    for pages in range(1, args.max_pages + 1):
        system = build(bundled("guest-assisted"), {"slots": 2, "pages": pages})
        safety = [p.name for p in system.properties if p.kind in SAFETY]
        row(f"guest-assisted slots=2 pages={pages}", system, safety, args.timeout, pages)


if __name__ == "__main__":
    main()
