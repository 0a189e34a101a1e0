"""Distinct states and time with and without symmetry reduction, in one run.

    python bench/symmetry.py
"""

from __future__ import annotations

import platform
import time

from migcheck.checker.explicit import explore
from migcheck.models.library import bundled
from migcheck.models.model import build


def main() -> None:
    print(f"machine: {platform.machine()}, Python {platform.python_version()}")
    print("| model | states | seconds | states with symmetry | seconds | reduction | n! |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for rms in (3, 4, 5, 6, 7):
        system = build(bundled("two-phase-commit"), {"rms": rms})
        t = time.perf_counter()
        full = explore(system)
        t_full = time.perf_counter() - t
        t = time.perf_counter()
        sym = explore(system, symmetry=True)
        t_sym = time.perf_counter() - t
        verdicts = [{k: v.verdict for k, v in r.verdicts.items()} for r in (full, sym)]
        assert verdicts[0] == verdicts[1], "verdicts differ"
        fact = 1
        for k in range(2, rms + 1):
            fact *= k
        print(f"| two-phase-commit rms={rms} | {full.stats.states:,} | {t_full:.2f} | {sym.stats.states:,} | "
              f"{t_sym:.2f} | {full.stats.states / sym.stats.states:.1f}x | {fact} |", flush=True)


if __name__ == "__main__":
    main()
