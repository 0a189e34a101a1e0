"""The cluster search (`checker/cluster.py`) against the sequential one, in one interleaved run.

For each model: the sequential search (compiled Python and native backends) and the cluster
search on ``local:1`` and ``local:2`` (each started before its timing begins), in turn,
``--repeat`` times, so that a change in the machine's load falls on all of them; seconds are the
best run's. It checks that the state counts and verdicts agree, and prints per run the states
on each worker, each worker's peak memory, and the bytes of successor batches sent per level
and per state. The machine's 1-minute load average is printed before and after.

    python bench/cluster_speedup.py [--repeat 2] [--model two-phase-commit --set rms=8]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time

from migcheck.checker.cluster import connect, explore_cluster
from migcheck.checker.explicit import explore
from migcheck.cli import parse_sets
from migcheck.models.library import bundled
from migcheck.models.model import build


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--model", default="two-phase-commit")
    ap.add_argument("--variant", default="base")
    ap.add_argument("--set", action="append", default=["rms=8"])
    args = ap.parse_args()
    system = build(bundled(args.model).variants()[args.variant], parse_sets(args.set))
    print(f"{args.model} {args.variant} {args.set}; load {os.getloadavg()[0]:.2f}")
    best: dict[str, float] = {}
    for _ in range(args.repeat):
        for label in ("python", "native", "local:1", "local:2"):
            # one cluster at a time: Dask actors call through the process's default client
            with connect(label) if label.startswith("local:") else contextlib.nullcontext() as cluster:
                t = time.perf_counter()
                r = explore_cluster(system, cluster) if cluster else explore(system, backend=label)
                s = time.perf_counter() - t
                best[label] = min(best.get(label, s), s)
                verdicts = sorted((n, v.verdict) for n, v in r.verdicts.items())
                line = (
                    f"{label:8} {r.stats.states:>10,} states  depth {r.stats.depth}  {s:7.2f} s  {verdicts}"
                )
                if r.workers:
                    sent = sum(lv["bytes"] for lv in r.levels)
                    widest = max(r.levels, key=lambda lv: lv["new"])
                    line += (
                        f"\n         per worker {[w['states'] for w in r.workers]} states, "
                        f"peak RSS {[w['peak_rss_mib'] for w in r.workers]} MiB; sent {sent / 1e6:.1f} MB "
                        f"= {sent / r.stats.states:.1f} B/state; widest level {widest['level']}: "
                        f"{widest['new']:,} new, {widest['bytes'] / 1e6:.1f} MB, {widest['seconds']:.2f} s"
                    )
                else:
                    line += f"  peak RSS {r.stats.peak_rss_mib:.0f} MiB (this process, so far)"
                print(line, flush=True)
    print("best: " + ", ".join(f"{k} {v:.2f} s" for k, v in best.items()))
    print(
        "local:2 / python speed-up: %.2f; local:2 / local:1: %.2f; load %.2f"
        % (best["python"] / best["local:2"], best["local:1"] / best["local:2"], os.getloadavg()[0])
    )


if __name__ == "__main__":
    main()
