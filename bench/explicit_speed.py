"""Explicit-engine speed and memory, measured side by side in one run.

Runs migcheck's explicit engine on two-phase-commit (rms=5, rms=6) and on guest-assisted,
and a straightforward hand-written breadth-first search of the same two-phase commit in
plain Python (tuple states, a set, a deque). Reports distinct states per second (best of
``--repeat`` runs, no tracing) and bytes per stored state (peak traced memory of a separate
run under tracemalloc, divided by the states stored).

    python bench/explicit_speed.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import platform
import time
import tracemalloc
from collections import deque

from migcheck.checker.explicit import explore
from migcheck.checker.liveness import LIVENESS
from migcheck.models.library import bundled
from migcheck.models.model import build

WORKING, PREPARED, COMMITTED, ABORTED = range(4)
INIT, DONE = range(2)


def handwritten_two_phase(rms: int) -> int:
    """Lamport's TwoPhase by hand: state = (rm states..., tm, tm_prepared..., prepared msgs...,
    commit msg, abort msg). Returns the number of distinct states."""
    start = (WORKING,) * rms + (INIT,) + (0,) * rms + (0,) * rms + (0, 0)
    tm, prep, msg, commit, abort = rms, rms + 1, 2 * rms + 1, 3 * rms + 1, 3 * rms + 2
    seen = {start}
    queue = deque([start])
    while queue:
        s = queue.popleft()
        succ = []
        if s[tm] == INIT:
            for r in range(rms):
                if s[msg + r]:
                    succ.append(s[:prep + r] + (1,) + s[prep + r + 1:])
            if all(s[prep:prep + rms]):
                succ.append(s[:tm] + (DONE,) + s[tm + 1:commit] + (1, s[abort]))
            succ.append(s[:tm] + (DONE,) + s[tm + 1:abort] + (1,))
        for r in range(rms):
            if s[r] == WORKING:
                t = s[:r] + (PREPARED,) + s[r + 1:]
                succ.append(t[:msg + r] + (1,) + t[msg + r + 1:])
                succ.append(s[:r] + (ABORTED,) + s[r + 1:])
            if s[commit]:
                succ.append(s[:r] + (COMMITTED,) + s[r + 1:])
            if s[abort]:
                succ.append(s[:r] + (ABORTED,) + s[r + 1:])
        for t in succ:
            if t not in seen:
                seen.add(t)
                queue.append(t)
    return len(seen)


def engine_run(model: str, params: dict) -> int:
    """Safety properties and witnesses only: liveness records every transition, another search."""
    system = build(bundled(model), params)
    safety = [p.name for p in system.properties if p.kind not in LIVENESS]
    return explore(system, safety).stats.states


def measure(fn, arg, repeat: int) -> tuple[int, float, float]:
    best = float("inf")
    states = 0
    for _ in range(repeat):
        t = time.perf_counter()
        states = fn(*arg)
        best = min(best, time.perf_counter() - t)
    tracemalloc.start()
    fn(*arg)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return states, best, peak / states


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs = [
        ("hand-written BFS", "two-phase-commit rms=5", handwritten_two_phase, (5,)),
        ("migcheck explicit", "two-phase-commit rms=5", engine_run, ("two-phase-commit", {"rms": 5})),
        ("hand-written BFS", "two-phase-commit rms=6", handwritten_two_phase, (6,)),
        ("migcheck explicit", "two-phase-commit rms=6", engine_run, ("two-phase-commit", {"rms": 6})),
        ("hand-written BFS", "two-phase-commit rms=7", handwritten_two_phase, (7,)),
        ("migcheck explicit", "two-phase-commit rms=7", engine_run, ("two-phase-commit", {"rms": 7})),
        ("migcheck explicit", "guest-assisted (defaults)", engine_run, ("guest-assisted", {})),
        ("migcheck explicit", "guest-assisted slots=2 pages=3", engine_run,
         ("guest-assisted", {"slots": 2, "pages": 3})),
    ]
    print(f"machine: {platform.machine()}, {platform.processor() or 'unknown cpu'}, "
          f"Python {platform.python_version()}, {platform.system()}")
    print("| checker | model | distinct states | seconds (best) | states/s | bytes/state |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    rates = {}
    for who, what, fn, arg in runs:
        states, seconds, per_state = measure(fn, arg, args.repeat)
        rates[(who, what)] = states / seconds
        print(f"| {who} | {what} | {states:,} | {seconds:.3f} | {states / seconds:,.0f} | {per_state:.0f} |")
    for rms in (5, 6, 7):
        what = f"two-phase-commit rms={rms}"
        ratio = rates[("migcheck explicit", what)] / rates[("hand-written BFS", what)]
        print(f"\nspeed ratio migcheck / hand-written, {what}: {ratio:.2f}")


if __name__ == "__main__":
    main()
