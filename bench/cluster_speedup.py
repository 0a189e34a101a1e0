"""The cluster search (`checker/cluster.py`) against the sequential one, in one interleaved run.

For one model: the sequential native search, then the cluster search on ``local:1`` and
``local:2`` with native partitions (with ``--messages``, also ``local:2`` with the levels'
messages as Dask actor calls instead of the direct links; with ``--python``, the sequential
and ``local:2`` searches on the compiled Python backend), in turn, ``--repeat`` times, so that
a change in the machine's load falls on all of them; seconds are each search's best run. A
cluster is started before its timing begins and closed after. The script fails unless every
search finds the same states, depth and verdicts. Per cluster run it prints the states on each
worker, each worker's memory (resident before the search, and its peak, from ``VmHWM``), the
bytes of successor batches sent per state and per level, the seconds the slowest worker spent
working per level (the rest of the time is communication and the coordinator) and each
worker's CPU seconds of work (below the wall seconds when its core is shared), and the
1-minute load average before and after.

    python bench/cluster_speedup.py [--repeat 3] [--python]
        [--model guest-assisted --variant disable-first --set pages=4] [--symmetry] [--messages]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from typing import Any

from migcheck.checker.cluster import connect, explore_cluster
from migcheck.checker.explicit import Plan, explore
from migcheck.cli import parse_sets
from migcheck.models.library import bundled
from migcheck.models.model import build


def resident_mib() -> float:
    """A worker's resident memory now (run on the workers with ``client.run``)."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS:"))


def per_level(levels: list[dict]) -> str:
    """The bytes sent a level (successors and keys, all workers): their mean and the largest."""
    sent = [lv["bytes"] + lv["key_bytes"] for lv in levels]
    top = max(range(len(sent)), key=sent.__getitem__)
    mean = sum(sent) / len(sent)
    return f"{mean / 1024:.0f} KiB on average, {sent[top] / 1024:.0f} KiB at most (level {top})"


def model_arguments() -> argparse.ArgumentParser:
    """The options that choose the model and the rounds (shared with cluster_budget.py)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--model", default="guest-assisted")
    ap.add_argument("--variant", default="disable-first")
    ap.add_argument("--set", action="append", default=None)
    return ap


def system_of(args: argparse.Namespace) -> tuple[Any, list[str], list[str]]:
    """The model the options chose (guest-assisted at pages=4 unless told), its safety
    properties (the cluster refuses liveness) and the ``--set`` values used."""
    sets = args.set if args.set is not None else (["pages=4"] if args.model == "guest-assisted" else [])
    system = build(bundled(args.model).variants()[args.variant], parse_sets(sets))
    liveness = set(Plan.of(system, None).liveness)
    return system, [p.name for p in system.properties if p.name not in liveness], sets


def main() -> None:
    ap = model_arguments()
    ap.add_argument("--python", action="store_true", help="also the compiled Python backend")
    ap.add_argument("--symmetry", action="store_true", help="every search with --symmetry")
    ap.add_argument("--messages", action="store_true", help="also local:2 with Dask actor calls, no links")
    args = ap.parse_args()
    system, wanted, sets = system_of(args)
    print(f"{args.model} {args.variant} {sets}{' --symmetry' * args.symmetry}, properties {wanted}; "
          f"load {os.getloadavg()[0]:.2f}")
    runs = [("sequential", "native"), ("local:1", "native"), ("local:2", "native")]
    if args.messages:
        runs.append(("local:2 messages", "native"))
    if args.python:
        runs += [("sequential", "python"), ("local:2", "python")]
    best: dict[str, float] = {}
    reference = None
    for _ in range(args.repeat):
        for where, backend in runs:
            label = f"{where} {backend}"
            clustered = where.startswith("local:")
            spec, _, how = where.partition(" ")
            with connect(spec) if clustered else contextlib.nullcontext() as cluster:
                before = list(cluster.client.run(resident_mib).values()) if cluster else []
                t, cpu = time.perf_counter(), time.process_time()
                r = (explore_cluster(system, cluster, wanted, backend=backend, symmetry=args.symmetry,
                                     direct=how != "messages")
                     if cluster else explore(system, wanted, backend=backend, symmetry=args.symmetry))
                s, cpu = time.perf_counter() - t, time.process_time() - cpu
            best[label] = min(best.get(label, s), s)
            verdicts = sorted((n, v.verdict.value) for n, v in r.verdicts.items())
            outcome = (r.stats.states, r.stats.depth, verdicts)
            reference = reference or outcome
            assert outcome == reference, f"{label} disagrees: {outcome} against {reference}"
            line = f"{label:18} {r.stats.states:>10,} states  depth {r.stats.depth}  {s:7.2f} s"
            line += f"  (this process's CPU {cpu:.2f} s)"
            if r.workers:
                per_state = {what: sum(lv[what] for lv in r.levels) / r.stats.states
                             for what in ("bytes", "key_bytes")}
                slowest = sum(max(lv["work"]) for lv in r.levels)
                cpu = [round(sum(lv["cpu"][w] for lv in r.levels), 2) for w in range(len(r.workers))]
                line += (
                    f"\n{'':18} per worker {[w['states'] for w in r.workers]} states, resident before "
                    f"{[round(b, 1) for b in before]} MiB, peak {[w['peak_rss_mib'] for w in r.workers]} MiB"
                    f"\n{'':18} sent per state: successors {per_state['bytes']:.1f} B, keys "
                    f"{per_state['key_bytes']:.1f} B; per level {per_level(r.levels)}; the slowest "
                    f"worker's work {slowest:.2f} s of {sum(lv['seconds'] for lv in r.levels):.2f} s "
                    f"in {len(r.levels)} levels; CPU seconds of work per worker {cpu}"
                )
            print(line, flush=True)
    print("best: " + ", ".join(f"{k} {v:.2f} s" for k, v in best.items()))
    base = best["sequential native"]
    print("speed-up over the sequential native search: "
          + ", ".join(f"{k} {base / v:.2f}" for k, v in best.items() if k.startswith("local"))
          + f"; load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
