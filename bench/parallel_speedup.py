"""Parallel explicit search against the sequential one, measured side by side in one run.

For each model: the sequential engine (`explicit.explore`), the parallel engine with one worker
process (its overhead: the same work, plus pickling chunks to a worker and merging them back)
and with two. The three are run in turn, ``--repeat`` times, so that a change in the machine's
load falls on all of them; seconds are the best of the runs. The results must be identical
(the script checks states, transitions and verdicts). Alongside wall-clock time it reports the
CPU seconds of the coordinating process and of the workers in the best run, and the machine's
1-minute load average before and after each row (``os.getloadavg()``): other jobs may share
the cores. To say how much a second process can win at all at that moment, it also times a
busy loop (no communication) on one process and split over two, at the start and at the end.

    python bench/parallel_speedup.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import resource
import time
from datetime import UTC, datetime

from migcheck.checker.explicit import explore
from migcheck.checker.liveness import LIVENESS
from migcheck.checker.parallel import explore_parallel
from migcheck.models.library import bundled
from migcheck.models.model import build

CASES = [
    ("two-phase-commit rms=6", "two-phase-commit", {"rms": 6}, "safety"),
    ("two-phase-commit rms=7", "two-phase-commit", {"rms": 7}, "safety"),
    ("guest-assisted slots=2 pages=3", "guest-assisted", {"slots": 2, "pages": 3}, "safety"),
    ("guest-assisted slots=2 pages=2, with liveness", "guest-assisted", {"slots": 2, "pages": 2}, "all"),
]
MODES = [("sequential", None), ("parallel, 1 worker", 1), ("parallel, 2 workers", 2)]


def busy_loop(n: int) -> int:
    total = 0
    for i in range(n):
        total += i
    return total


def ceiling(n: int = 20_000_000) -> float:
    """The speed-up two processes get right now on work that needs no communication at all: a
    busy loop, once in this process, then split in halves over a pool of two. On an idle
    2-core machine it is close to 2; with other jobs on the cores it is what is left to win."""
    t = time.perf_counter()
    busy_loop(n)
    one = time.perf_counter() - t
    with multiprocessing.get_context("fork").Pool(2) as pool:
        t = time.perf_counter()
        pool.map(busy_loop, [n // 2, n - n // 2])
        two = time.perf_counter() - t
    return one / two


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def run_once(system, properties, workers):
    """One search: (result, wall seconds, coordinator CPU seconds, worker CPU seconds)."""
    self0, children0 = cpu_seconds(resource.RUSAGE_SELF), cpu_seconds(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    if workers is None:
        result = explore(system, properties)
    else:
        result = explore_parallel(system, properties, workers=workers)
    wall = time.perf_counter() - t
    return (result, wall, cpu_seconds(resource.RUSAGE_SELF) - self0,
            cpu_seconds(resource.RUSAGE_CHILDREN) - children0)


def fingerprint(result) -> tuple:
    return (result.stats.states, result.stats.transitions, result.stats.depth,
            tuple((n, v.verdict, v.trace) for n, v in result.verdicts.items()))


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown cpu"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {platform.machine()}, {cpu_name()}, "
          f"{os.cpu_count()} cores; CPython {platform.python_version()}, {platform.system()}")
    print(f"load average (1, 5, 15 min) at the start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"ceiling at the start (a busy loop split over 2 processes): speed-up {ceiling():.2f}\n")
    print("| model | search | states | seconds (best) | states/s | speed-up | coordinator CPU s "
          "| workers' CPU s | load avg (1 min) |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    loads = []
    for label, model, params, which in CASES:
        system = build(bundled(model), params)
        properties = None if which == "all" else [p.name for p in system.properties if p.kind not in LIVENESS]
        best: dict[str, tuple] = {}
        prints = set()
        load_before = os.getloadavg()[0]
        for _ in range(args.repeat):
            for name, workers in MODES:
                result, wall, own, children = run_once(system, properties, workers)
                prints.add(fingerprint(result))
                if name not in best or wall < best[name][1]:
                    best[name] = (result.stats.states, wall, own, children)
                loads.append(os.getloadavg()[0])
        load_after = os.getloadavg()[0]
        assert len(prints) == 1, f"{label}: the searches disagree"
        sequential = best["sequential"][1]
        for name, _ in MODES:
            states, wall, own, children = best[name]
            workers_cpu = f"{children:.2f}" if name != "sequential" else "-"
            print(f"| {label} | {name} | {states:,} | {wall:.2f} | {states / wall:,.0f} | "
                  f"{sequential / wall:.2f} | {own:.2f} | {workers_cpu} | "
                  f"{load_before:.2f} → {load_after:.2f} |")
    print(f"\nload average (1 min) sampled after each search: min {min(loads):.2f}, max {max(loads):.2f}, "
          f"mean {sum(loads) / len(loads):.2f}; at the end: "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"ceiling at the end (a busy loop split over 2 processes): speed-up {ceiling():.2f}")


if __name__ == "__main__":
    main()
