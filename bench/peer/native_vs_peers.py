"""migcheck's native backend against SPIN and Rumur, in one interleaved run.

Run through ``bench/peer/native_run.sh``, which installs SPIN and Rumur (Debian's ``spin`` and
``rumur``) when they are missing.

Models: two-phase commit (``rms``) and guest-assisted dirty tracking (variant disable-first,
``slots`` and ``pages``). The Promela and Murphi models are written from the same IR by
``export.py``; the symmetric Murphi two-phase commit is ``two_phase_commit_sym.m`` (by hand: the
IR has no scalarsets). A row counts only when every tool reports the same distinct states.

Each tool checks the model's invariants (the assertions in Promela, Murphi's ``invariant``);
no tool checks deadlock. Seconds are wall-clock seconds of the search, the best of
``--repeat`` rounds; a round runs every tool once on every model, one after the other
(interleaved, so the tools see the same load):

- migcheck: ``explore(system, invariants, backend="native")`` in this process, with its C
  library already built (it is cached by source; the build is timed apart, as ``gcc`` is for
  the peers);
- SPIN 6.5: ``pan`` compiled with ``gcc -O2 -DSAFETY`` (exhaustive, no bitstate), run with
  ``-m1000000`` (deeper than any of these searches) and a hash table of 2^w slots, w = the
  bits of the state count + 1;
- Rumur: one thread (``--threads 1``), deadlock detection off, compiled with ``gcc -O2``;
  symmetric rows with ``--symmetry-reduction exhaustive`` (canonical forms, as migcheck's).

Memory: peak resident set of each tool's process (GNU time's ``%M``; for migcheck, a Python
process that imports it, about 24 MiB before the search); migcheck also reports the bytes its
C store allocated per state (``Exploration.store_bytes``).

    python bench/peer/native_vs_peers.py [--repeat 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from export import murphi, promela  # noqa: E402

from migcheck.checker.explicit import explore  # noqa: E402
from migcheck.models.library import bundled  # noqa: E402
from migcheck.models.model import build  # noqa: E402

CASES = [  # (label, model, variant, params, symmetric: False, "exhaustive" or "heuristic")
    ("2pc rms=7", "two-phase-commit", "base", {"rms": 7}, False),
    ("2pc rms=8", "two-phase-commit", "base", {"rms": 8}, False),
    ("guest-assisted slots=2 pages=3", "guest-assisted", "disable-first", {"slots": 2, "pages": 3}, False),
    # Rumur's exhaustive canonicalisation tries every permutation (8! per state at rms=8), so the
    # symmetric row is at 6 resource managers.
    ("2pc rms=6 symmetric", "two-phase-commit", "base", {"rms": 6}, "exhaustive"),
]
QUICK = [("2pc rms=5", "two-phase-commit", "base", {"rms": 5}, False),
         ("2pc rms=5 symmetric", "two-phase-commit", "base", {"rms": 5}, "exhaustive")]
# Rumur's default symmetry reduction: faster, but not a canonical form, so it stores more states
# than there are orbits; these rows compare speed only (their state counts differ by design).
HEURISTIC = [("2pc rms=%d symmetric" % n, "two-phase-commit", "base", {"rms": n}, "heuristic")
             for n in (6, 7, 8)]


def timed_child(cmd: list[str], cwd: Path) -> tuple[str, float, int]:
    """Output, wall seconds and peak RSS (KiB) of one child process. The RSS is GNU time's
    (``/usr/bin/time -f %M``): a child forked from this Python process would count the
    parent's pages it shares until ``exec``."""
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "MAXRSS %M", *cmd], cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed:\n{(done.stdout + done.stderr)[-2000:]}")
    rss = int(re.findall(r"MAXRSS (\d+)", done.stderr)[-1])
    return done.stdout + done.stderr, seconds, rss


class Spin:
    name = "SPIN -DSAFETY"

    def prepare(self, system, folder: Path, symmetric: bool) -> list[str] | None:
        if symmetric:
            return None  # SPIN has no symmetry reduction
        (folder / "model.pml").write_text(promela(system))
        subprocess.run(["spin", "-a", "model.pml"], cwd=folder, check=True, capture_output=True)
        subprocess.run(["gcc", "-O2", "-DSAFETY", "-o", "pan", "pan.c"], cwd=folder, check=True)
        return ["./pan", "-m1000000", "-w{w}"]

    @staticmethod
    def states(out: str) -> int:
        return int(re.search(r"(\d+) states, stored", out).group(1))


class Rumur:
    name = "Rumur"

    def prepare(self, system, folder: Path, symmetric: bool) -> list[str] | None:
        if symmetric:
            text = (HERE / "two_phase_commit_sym.m").read_text()
            text = re.sub(r"const RMS : \d+;", f"const RMS : {dict(system.params)['rms']};", text)
            sym = symmetric
        else:
            text, sym = murphi(system), "off"
        (folder / "model.m").write_text(text)
        subprocess.run(["rumur", "--threads", "1", "--deadlock-detection", "off", "--symmetry-reduction", sym,
                        "model.m", "-o", "model.c"], cwd=folder, check=True, capture_output=True)
        subprocess.run(["gcc", "-O2", "-o", "checker", "model.c", "-lpthread"], cwd=folder, check=True)
        return ["./checker"]

    @staticmethod
    def states(out: str) -> int:
        return int(re.search(r"(\d+) states, \d+ rules fired", out).group(1))


MIGCHECK_CHILD = """
import json, resource, sys, time
from migcheck.checker.explicit import explore
from migcheck.models.library import bundled
from migcheck.models.model import build
model, variant, params, symmetric = json.loads(sys.argv[1])
system = build(bundled(model).variants()[variant], params)
wanted = [p.name for p in system.properties if p.kind == "invariant"]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
result = explore(system, wanted, symmetry=bool(symmetric), backend="native")
seconds = time.perf_counter() - started
print(json.dumps({"states": result.stats.states, "seconds": seconds, "before_kib": before,
                  "store_bytes": result.store_bytes,
                  "verdicts": {k: v.verdict for k, v in result.verdicts.items()}}))
"""


def migcheck_round(case) -> dict:
    _, model, variant, params, symmetric = case
    out, _, rss = timed_child([sys.executable, "-c", MIGCHECK_CHILD, json.dumps([model, variant, params,
                                                                                 symmetric])], HERE)
    got = json.loads([x for x in out.splitlines() if x.startswith("{")][-1])
    got["rss_kib"] = rss
    return got


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="small instances only (a smoke test)")
    ap.add_argument("--heuristic", action="store_true",
                    help="symmetric two-phase commit against Rumur's heuristic symmetry reduction")
    args = ap.parse_args()
    cases = QUICK if args.quick else HEURISTIC if args.heuristic else CASES
    load_start = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="migcheck-peers-"))
    peers = [Spin(), Rumur()]
    prepared: dict[tuple[int, str], list[str] | None] = {}
    build_seconds: dict[tuple[int, str], float] = {}
    for n, case in enumerate(cases):
        label, model, variant, params, symmetric = case
        system = build(bundled(model).variants()[variant], params)
        started = time.perf_counter()
        explore(system, [p.name for p in system.properties if p.kind == "invariant"][:1],
                symmetry=bool(symmetric), backend="native", max_states=1)  # builds (and caches) the C library
        build_seconds[(n, "migcheck")] = time.perf_counter() - started
        for peer in peers:
            folder = work / f"{n}-{peer.name.split()[0]}"
            folder.mkdir()
            started = time.perf_counter()
            prepared[(n, peer.name)] = peer.prepare(system, folder, symmetric)
            build_seconds[(n, peer.name)] = time.perf_counter() - started
    best: dict[tuple[int, str], dict] = {}
    for _ in range(args.repeat):
        for n, case in enumerate(cases):
            got = migcheck_round(case)
            key = (n, "migcheck")
            if key not in best or got["seconds"] < best[key]["seconds"]:
                best[key] = got
            for peer in peers:
                cmd = prepared[(n, peer.name)]
                if cmd is None:
                    continue
                states_hint = best[key]["states"]
                cmd = [c.replace("{w}", str(states_hint.bit_length() + 1)) for c in cmd]
                out, seconds, rss = timed_child(cmd, work / f"{n}-{peer.name.split()[0]}")
                row = {"states": peer.states(out), "seconds": seconds, "rss_kib": rss}
                print(f"{case[0]}: {peer.name} {row}; migcheck {got}", file=sys.stderr, flush=True)
                if (n, peer.name) not in best or seconds < best[(n, peer.name)]["seconds"]:
                    best[(n, peer.name)] = row
    load_end = os.getloadavg()
    print(f"load average at start {load_start[0]:.2f}, at end {load_end[0]:.2f} (1 min); "
          f"{os.cpu_count()} CPUs; best of {args.repeat} interleaved rounds\n")
    print("| model | tool | distinct states | seconds | states/s | ratio migcheck/tool | peak RSS MiB "
          "| build s |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    ok = True
    for n, case in enumerate(cases):
        label = case[0]
        mine = best[(n, "migcheck")]
        rate_mine = mine["states"] / mine["seconds"]
        tools = [("migcheck native", "migcheck")] + [(p.name, p.name) for p in peers if (n, p.name) in best]
        for shown, key in tools:
            row = best[(n, key)]
            rate = row["states"] / row["seconds"]
            ratio = "" if key == "migcheck" else f"{rate_mine / rate:.2f}"
            if row["states"] != mine["states"] and case[4] != "heuristic":
                ok = False
            print(f"| {label} | {shown} | {row['states']:,} | {row['seconds']:.3f} | {rate:,.0f} | {ratio} "
                  f"| {row['rss_kib'] / 1024:.0f} | {build_seconds[(n, key)]:.2f} |")
        print(f"| {label} | migcheck C store | bytes per stored state: "
              f"{mine['store_bytes'] / mine['states']:.1f} | | | | | |")
    print("\nidentical state counts in every row:" if ok else "\nSTATE COUNTS DIFFER", ok)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
