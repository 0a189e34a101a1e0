"""vfio-v2 `qemu-order`: distinct states and time as pages and devices grow, with and without
symmetry reduction, in one interleaved run.

    python bench/vfio_scaling.py [--grid 1x1 2x1 ...] [--timeout 600]

Each row checks the safety properties and witnesses (symmetry reduction is for safety):
first without symmetry, then with ``--symmetry`` (devices and pages both symmetric). A
search stopped by the timeout prints its state count so far with ``>``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from migcheck.checker.explicit import explore
from migcheck.models.library import bundled
from migcheck.models.model import build

SAFETY = ("invariant", "action", "reachable")


def run(system, props, symmetry: bool, timeout: float) -> tuple[str, float]:
    started = time.perf_counter()
    result = explore(system, props, symmetry=symmetry, timeout=timeout)
    seconds = time.perf_counter() - started
    done = all(v.verdict != "inconclusive" for v in result.verdicts.values())
    states = f"{result.stats.states:,}" if done else f"> {result.stats.states:,}"
    return states, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grid", nargs="+", default=["1x1", "1x2", "2x1", "2x2", "2x3", "2x4", "3x1", "3x2"],
                        help="DEVSxPAGES instances")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    model = bundled("vfio-v2")
    print(f"# {platform.python_implementation()} {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    print("| devs | pages | states | seconds | states (symmetry) | seconds (symmetry) | ratio of states |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for cell in args.grid:
        devs, pages = (int(x) for x in cell.split("x"))
        system = build(model, {"devs": devs, "pages": pages})
        props = [p.name for p in system.properties if p.kind in SAFETY]
        full, t_full = run(system, props, False, args.timeout)
        sym, t_sym = run(system, props, True, args.timeout)
        ratio = ""
        if not full.startswith(">") and not sym.startswith(">"):
            ratio = f"{int(full.replace(',', '')) / int(sym.replace(',', '')):.2f}"
        print(f"| {devs} | {pages} | {full} | {t_full:.1f} | {sym} | {t_sym:.1f} | {ratio} |", flush=True)


if __name__ == "__main__":
    main()
