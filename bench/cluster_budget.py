"""Where the CPU of a two-worker cluster search goes, against the sequential native search: the
budget behind BENCHMARKS.md's account of why `local:2` stays short of 1.5× on this machine.

1. The machine: the sequential native search alone, then two copies at once in two processes
   (each timed from a common start). If two take as long as one, the machine gives this search
   two cores' worth, and what a cluster search loses is its own.
2. The partition core without Dask: two native partitions driven level by level in this
   process, as `cluster.Partition` drives one (expand, rank, out, receive), without messages;
   their CPU seconds by phase against the sequential search's.
3. `local:2` on Dask: the CPU seconds of this process (the coordinator, with the local
   scheduler's event loop) and of each worker process; of them, the workers' search threads
   (their records); and how many CPU seconds the whole machine was busy (/proc/stat).
4. The bound: at a speed-up of 1.5 the two cores give 2 × (sequential alone) / 1.5 CPU
   seconds. Against them, the two partitions without Dask, slowed as two searches at once
   slow each other, are what no distribution layer can save; what is left over is all the
   coordinator, Dask, the links and the workers' waits may take.

    python bench/cluster_budget.py [--repeat 3]
        [--model guest-assisted --variant disable-first --set pages=4]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from dataclasses import replace

import numpy as np
from cluster_speedup import model_arguments, system_of  # (this directory: the same options and model)

from migcheck.checker.cluster import connect, explore_cluster
from migcheck.checker.codegen import Active, Packing
from migcheck.checker.explicit import Plan, explore, initial_states
from migcheck.checker.native.partition import NativePartition, source_of
from migcheck.checker.partitioning import owner_mask

TARGET = 1.5  # issue 20's speed-up of local:2 over the sequential search


def _timed_copy(args: argparse.Namespace, start, out) -> None:
    """In a process of its own: build, search once (compiles), wait for the others, search."""
    system, wanted, _ = system_of(args)
    explore(system, wanted, backend="native")
    start.wait()
    t = time.perf_counter()
    explore(system, wanted, backend="native")
    out.put(time.perf_counter() - t)


def copies_at_once(args: argparse.Namespace, n: int) -> list[float]:
    """The wall seconds of ``n`` sequential searches started together, one per process."""
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_timed_copy, args=(args, start, out)) for _ in range(n)]
    for p in procs:
        p.start()
    seconds = [out.get() for _ in procs]
    for p in procs:
        p.join()
    return seconds


def core_without_dask(system, wanted: list[str]) -> dict[str, float]:
    """Two native partitions, level by level in this thread; CPU seconds by phase."""
    plan = Plan.of(system, wanted)
    checks = Active(tuple(plan.invariants), tuple(plan.witnesses), tuple(plan.action_props), plan.deadlock,
                    False, False)
    packing, n = Packing.of(system.layout), 2
    source, mask = source_of(system, None, checks), owner_mask(system, n)
    parts = [NativePartition(system, source, checks, i, n, mask) for i in range(n)]
    initial, _ = initial_states(system, packing, False)
    states = sum(p.seed(list(zip(initial, range(len(initial)), strict=True))) for p in parts)
    spent = {"expand": 0.0, "rank": 0.0, "receive": 0.0}
    keys: list = []
    while True:
        t = time.thread_time()
        for p in parts:
            p.expand(checks)
        spent["expand"] += time.thread_time() - t
        t = time.thread_time()
        if keys:
            for i, p in enumerate(parts):
                p.rank(p.positions(keys, i)[i])
        spent["rank"] += time.thread_time() - t
        t = time.thread_time()
        outs = [p.out() for p in parts]
        spent["expand"] += time.thread_time() - t
        decided = {k for out in outs for k, _, _ in out[1]}
        checks = replace(checks, invariants=tuple(k for k in checks.invariants if k not in decided),
                         witnesses=tuple(k for k in checks.witnesses if k not in decided),
                         action_props=tuple(k for k in checks.action_props if k not in decided),
                         deadlock=checks.deadlock and all(out[2] < 0 for out in outs))
        t = time.thread_time()
        keys = [np.frombuffer(p.receive([out[0][i] for out in outs]), dtype=np.int64)
                for i, p in enumerate(parts)]
        spent["receive"] += time.thread_time() - t
        states += sum(map(len, keys))
        if not sum(map(len, keys)):
            break
    return {**spent, "states": states}


def _core_cpu(phases: dict[str, float]) -> float:
    """The two partitions' CPU seconds, every phase."""
    return phases["expand"] + phases["rank"] + phases["receive"]


def _process_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _busy() -> float:
    """CPU seconds the machine has been busy since boot (every core, all but idle and iowait)."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    args = model_arguments().parse_args()
    system, wanted, _ = system_of(args)
    reference = explore(system, wanted, backend="native")  # (compiles)
    print(f"{args.model} {args.variant} {reference.stats.states:,} states; load {os.getloadavg()[0]:.2f}")
    alone, pair, seq_cpu, core, dask = [], [], [], [], []
    with connect("local:2") as cluster:
        pids = list(cluster.client.run(os.getpid).values())
        explore_cluster(system, cluster, wanted, backend="native")  # (loads the library)
        for _ in range(args.repeat):
            alone += copies_at_once(args, 1)
            pair.append(max(copies_at_once(args, 2)))
            t = time.process_time()
            explore(system, wanted, backend="native")
            seq_cpu.append(time.process_time() - t)
            core.append(core_without_dask(system, wanted))
            assert core[-1]["states"] == reference.stats.states, core[-1]
            before = [_process_cpu(p) for p in (os.getpid(), *pids)], _busy()
            t = time.perf_counter()
            r = explore_cluster(system, cluster, wanted, backend="native")
            wall = time.perf_counter() - t
            after = [_process_cpu(p) for p in (os.getpid(), *pids)], _busy()
            assert r.stats.states == reference.stats.states
            dask.append({"wall": round(wall, 2), "busy": round(after[1] - before[1], 2),
                         "processes": [round(a - b, 2) for a, b in zip(after[0], before[0], strict=True)],
                         "search": [round(sum(lv["cpu"][w] for lv in r.levels), 2) for w in range(2)]})
            phases = {k: round(v, 2) for k, v in core[-1].items() if k != "states"}
            print(f"  alone {alone[-1]:.2f} s, two at once {pair[-1]:.2f} s; "
                  f"sequential CPU {seq_cpu[-1]:.2f} s; core without Dask {phases}; local:2 {dask[-1]}",
                  flush=True)
    best = min(range(args.repeat), key=lambda i: dask[i]["wall"])
    c = min(core, key=_core_cpu)
    core_cpu = _core_cpu(c)
    print(f"best: sequential alone {min(alone):.2f} s, two at once {min(pair):.2f} s (each); "
          f"sequential CPU {min(seq_cpu):.2f} s; two partitions without Dask "
          f"{core_cpu:.2f} CPU s (expand {c['expand']:.2f}, "
          f"rank {c['rank']:.2f}, receive {c['receive']:.2f}); local:2 {dask[best]['wall']:.2f} s wall, "
          f"processes (coordinator, workers) {dask[best]['processes']} CPU s, "
          f"search threads {dask[best]['search']}, "
          f"machine busy {dask[best]['busy']:.2f} CPU s; load {os.getloadavg()[0]:.2f}")
    at_target = 2 * min(alone) / TARGET
    core_slowed = core_cpu * min(pair) / min(alone)
    others = dask[best]["processes"][0] + sum(p - s for p, s in zip(dask[best]["processes"][1:],
                                                                     dask[best]["search"], strict=True))
    print(f"bound at {TARGET}x: the two cores give {at_target:.2f} CPU s; the partition core alone, slowed "
          f"as two searches slow each other, takes {core_slowed:.2f}, leaving {at_target - core_slowed:.2f} "
          f"for everything else, which took {others:.2f} here (coordinator and the workers' other threads), "
          f"besides the waits")


if __name__ == "__main__":
    main()
