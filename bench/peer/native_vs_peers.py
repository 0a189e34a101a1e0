"""migcheck's native backend against SPIN and Rumur, in one interleaved run.

Run through ``bench/peer/native_run.sh``, which installs SPIN and Rumur (Debian's ``spin`` and
``rumur``) when they are missing.

Models: two-phase commit (``rms``) and guest-assisted dirty tracking (variant disable-first,
``slots`` and ``pages``). The Promela and Murphi models are written from the same IR by
``export.py``. For Rumur's symmetric search they are written by hand, with the symmetric index
set as a scalarset (the IR has no scalarsets, and Murphi's scalarset rules forbid the flattened
arrays the exporter writes): ``two_phase_commit_sym.m`` (resource managers) and
``guest_assisted_sym.m`` (pages; disable-first). A row counts only when every tool reports the
same distinct states and transitions (Rumur's rules fired; SPIN's stored + matched states, less
the initial one); the run fails otherwise. Rows with Rumur's heuristic symmetry reduction
(``--heuristic``) are reported, not compared: it may store more states than there are orbits.
``--unreduced`` runs the hand-written models with Rumur's symmetry reduction off against
migcheck without symmetry: identical counts there show that each is the same transition system
as the bundled model.
``--large`` runs guest-assisted at 4 pages (6.6 M states), whose visited table outgrows
the cache.

Each tool checks the model's invariants (the assertions in Promela, Murphi's ``invariant``), and
on the hand-written models also the action properties (``assert`` in the Murphi rules); no tool
checks deadlock. Seconds are wall-clock seconds of the search, the best of
``--repeat`` rounds; a round runs every tool once on every model, one after the other
(interleaved, so the tools see the same load):

- migcheck: ``explore(system, properties, symmetry=..., backend="native")`` in a fresh Python
  process, with its C library already built (it is cached by source; the build is timed apart,
  as ``gcc`` is for the peers);
- SPIN 6.5: ``pan`` compiled with ``gcc -O2 -DSAFETY`` (exhaustive, no bitstate), run with
  ``-m1000000`` (deeper than any of these searches) and a hash table of 2^w slots, w = the
  bits of the state count + 1;
- Rumur: one thread (``--threads 1``), deadlock detection off, compiled with ``gcc -O2``;
  symmetric rows with ``--symmetry-reduction exhaustive`` (canonical forms, as migcheck's), or
  ``heuristic`` (Rumur's default) with ``--heuristic``.

"migcheck ÷ tool" is the tool's seconds divided by migcheck's: how many times faster migcheck
finished the same check (where the counts agree, the ratio of the states per second).

Memory: peak resident set of each tool's process (GNU time's ``%M``; for migcheck, a Python
process that imports it, about 24 MiB before the search); migcheck also reports the bytes its
C store allocated per state (``Exploration.store_bytes``).

    python bench/peer/native_vs_peers.py [--repeat 3] [--quick | --heuristic | --unreduced | --large]
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
from typing import NamedTuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from export import murphi, promela  # noqa: E402

from migcheck.checker.explicit import explore  # noqa: E402
from migcheck.models.library import bundled  # noqa: E402
from migcheck.models.model import build  # noqa: E402

# The hand-written Murphi models, by (model, variant): the file and, for each of its constants,
# the parameter it takes (the other parameters are fixed at the model's defaults in the file).
HAND_WRITTEN = {
    ("two-phase-commit", "base"): ("two_phase_commit_sym.m", {"RMS": "rms"}),
    ("guest-assisted", "disable-first"): ("guest_assisted_sym.m", {"SLOTS": "slots", "PAGES": "pages"}),
}


class Case(NamedTuple):
    label: str
    model: str
    variant: str
    params: dict
    rumur: str  # "export": no symmetry, Murphi by export.py; else the hand-written model's reduction

    @property
    def symmetric(self) -> bool:
        """migcheck runs with --symmetry (against Rumur's symmetric search)."""
        return self.rumur in ("exhaustive", "heuristic")

    @property
    def properties(self) -> tuple[str, ...]:
        """The property kinds every tool checks: the exported models assert the invariants."""
        return ("invariant",) if self.rumur == "export" else ("invariant", "action")


def _guest_assisted(pages: int, rumur: str) -> Case:
    suffix = "" if rumur == "export" else " symmetric" if rumur != "off" else " hand-written"
    return Case(f"guest-assisted slots=2 pages={pages}{suffix}", "guest-assisted", "disable-first",
                {"slots": 2, "pages": pages}, rumur)


def _two_phase_commit(rms: int, rumur: str) -> Case:
    suffix = "" if rumur == "export" else " symmetric" if rumur != "off" else " hand-written"
    return Case(f"2pc rms={rms}{suffix}", "two-phase-commit", "base", {"rms": rms}, rumur)


CASES = [
    _two_phase_commit(7, "export"),
    _two_phase_commit(8, "export"),
    _guest_assisted(3, "export"),
    # Rumur's exhaustive canonicalisation tries every permutation (8! per state at rms=8), so the
    # symmetric two-phase commit is at 6 resource managers, guest-assisted at 2 to 5 pages.
    _two_phase_commit(6, "exhaustive"),
    *(_guest_assisted(n, "exhaustive") for n in (2, 3, 4, 5)),
]
QUICK = [_two_phase_commit(5, "export"), _two_phase_commit(5, "exhaustive"), _guest_assisted(2, "exhaustive")]
# Rumur's default symmetry reduction: faster, but not a canonical form, so it may store more
# states than there are orbits; these rows are reported, their counts not compared.
HEURISTIC = [*(_two_phase_commit(n, "heuristic") for n in (6, 7, 8)),
             *(_guest_assisted(n, "heuristic") for n in (2, 3, 4, 5))]
# The hand-written models without symmetry reduction, against migcheck without --symmetry.
UNREDUCED = [*(_two_phase_commit(n, "off") for n in (5, 6)),
             *(_guest_assisted(n, "off") for n in (1, 2, 3, 4, 5))]
# A search whose visited table outgrows the cache (6.6 M states), where the lookups dominate.
LARGE = [_guest_assisted(4, "export")]


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

    def prepare(self, system, folder: Path, case: Case) -> list[str] | None:
        if case.rumur != "export":
            return None  # SPIN has no symmetry reduction; the Promela is the exported model
        (folder / "model.pml").write_text(promela(system))
        subprocess.run(["spin", "-a", "model.pml"], cwd=folder, check=True, capture_output=True)
        subprocess.run(["gcc", "-O2", "-DSAFETY", "-o", "pan", "pan.c"], cwd=folder, check=True)
        return ["./pan", "-m1000000", "-w{w}"]

    @staticmethod
    def states(out: str) -> int:
        return int(re.search(r"(\d+) states, stored", out).group(1))

    @staticmethod
    def transitions(out: str) -> int | None:
        """Its "transitions (= stored+matched)" count the initial state too, reached by none."""
        return int(re.search(r"(\d+) transitions \(= stored\+matched\)", out).group(1)) - 1


class Rumur:
    name = "Rumur"

    def prepare(self, system, folder: Path, case: Case) -> list[str] | None:
        if case.rumur == "export":
            text, sym = murphi(system), "off"
        else:
            text, sym = hand_written(case), case.rumur
        (folder / "model.m").write_text(text)
        subprocess.run(["rumur", "--threads", "1", "--deadlock-detection", "off", "--symmetry-reduction", sym,
                        "model.m", "-o", "model.c"], cwd=folder, check=True, capture_output=True)
        subprocess.run(["gcc", "-O2", "-o", "checker", "model.c", "-lpthread"], cwd=folder, check=True)
        return ["./checker"]

    @staticmethod
    def states(out: str) -> int:
        return int(re.search(r"(\d+) states, \d+ rules fired", out).group(1))

    @staticmethod
    def transitions(out: str) -> int | None:
        return int(re.search(r"\d+ states, (\d+) rules fired", out).group(1))


def hand_written(case: Case) -> str:
    """The hand-written Murphi model of ``case``, its constants set to the case's parameters."""
    file, constants = HAND_WRITTEN[(case.model, case.variant)]
    text = (HERE / file).read_text()
    for constant, param in constants.items():
        text, n = re.subn(rf"(\b{constant} : )\d+;", rf"\g<1>{case.params[param]};", text, count=1)
        if n != 1:
            raise ValueError(f"{file}: no constant {constant} to set")
    return text


MIGCHECK_CHILD = """
import json, resource, sys, time
from migcheck.checker.explicit import explore
from migcheck.models.library import bundled
from migcheck.models.model import build
model, variant, params, symmetric, kinds = json.loads(sys.argv[1])
system = build(bundled(model).variants()[variant], params)
wanted = [p.name for p in system.properties if p.kind in kinds]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
result = explore(system, wanted, symmetry=symmetric, backend="native")
seconds = time.perf_counter() - started
print(json.dumps({"states": result.stats.states, "transitions": result.stats.transitions,
                  "seconds": seconds, "before_kib": before,
                  "store_bytes": result.store_bytes,
                  "verdicts": {k: v.verdict for k, v in result.verdicts.items()}}))
"""


def migcheck_round(case: Case) -> dict:
    out, _, rss = timed_child([sys.executable, "-c", MIGCHECK_CHILD, json.dumps(
        [case.model, case.variant, case.params, case.symmetric, case.properties])], HERE)
    got = json.loads([x for x in out.splitlines() if x.startswith("{")][-1])
    got["rss_kib"] = rss
    return got


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    modes = ap.add_mutually_exclusive_group()
    modes.add_argument("--quick", action="store_true", help="small instances only (a smoke test)")
    modes.add_argument("--heuristic", action="store_true",
                       help="the symmetric models against Rumur's heuristic symmetry reduction")
    modes.add_argument("--unreduced", action="store_true",
                       help="the hand-written Murphi models without symmetry reduction, against migcheck "
                            "without --symmetry (the same transition systems)")
    modes.add_argument("--large", action="store_true", help="guest-assisted at 4 pages (6.6 M states)")
    args = ap.parse_args()
    cases = (QUICK if args.quick else HEURISTIC if args.heuristic else UNREDUCED if args.unreduced
             else LARGE if args.large else CASES)
    load_start = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="migcheck-peers-"))
    peers = [Spin(), Rumur()]
    prepared: dict[tuple[int, str], list[str] | None] = {}
    build_seconds: dict[tuple[int, str], float] = {}
    for n, case in enumerate(cases):
        system = build(bundled(case.model).variants()[case.variant], case.params)
        started = time.perf_counter()
        # builds (and caches) the C library the timed run loads: its source depends on the properties
        explore(system, [p.name for p in system.properties if p.kind in case.properties],
                symmetry=case.symmetric, backend="native", max_states=1)
        build_seconds[(n, "migcheck")] = time.perf_counter() - started
        for peer in peers:
            folder = work / f"{n}-{peer.name.split()[0]}"
            folder.mkdir()
            started = time.perf_counter()
            prepared[(n, peer.name)] = peer.prepare(system, folder, case)
            build_seconds[(n, peer.name)] = time.perf_counter() - started
    best: dict[tuple[int, str], dict] = {}
    differ: list[str] = []
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
                row = {"states": peer.states(out), "transitions": peer.transitions(out), "seconds": seconds,
                       "rss_kib": rss}
                print(f"{case.label}: {peer.name} {row}; migcheck {got}", file=sys.stderr, flush=True)
                differ += disagreement(case, peer.name, row, got)
                if (n, peer.name) not in best or seconds < best[(n, peer.name)]["seconds"]:
                    best[(n, peer.name)] = row
    load_end = os.getloadavg()
    print(f"load average at start {load_start[0]:.2f}, at end {load_end[0]:.2f} (1 min); "
          f"{os.cpu_count()} CPUs; best of {args.repeat} interleaved rounds\n")
    print("| model | tool | distinct states | transitions | seconds | states/s | migcheck ÷ tool "
          "| peak RSS MiB | build s |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n, case in enumerate(cases):
        mine = best[(n, "migcheck")]
        tools = [("migcheck native", "migcheck")] + [(p.name, p.name) for p in peers if (n, p.name) in best]
        for shown, key in tools:
            row = best[(n, key)]
            if key == "migcheck" and case.symmetric:
                shown += " --symmetry"
            elif case.rumur != "export" and key == Rumur.name:
                shown += {"exhaustive": ", exhaustive symmetry", "heuristic": ", heuristic symmetry",
                          "off": ", no symmetry reduction"}[case.rumur]
            ratio = "" if key == "migcheck" else f"{row['seconds'] / mine['seconds']:.2f}"
            moves = "" if row["transitions"] is None else f"{row['transitions']:,}"
            print(f"| {case.label} | {shown} | {row['states']:,} | {moves} | {row['seconds']:.3f} "
                  f"| {row['states'] / row['seconds']:,.0f} | {ratio} | {row['rss_kib'] / 1024:.0f} "
                  f"| {build_seconds[(n, key)]:.2f} |")
        print(f"| {case.label} | migcheck C store | bytes per stored state: "
              f"{mine['store_bytes'] / mine['states']:.1f} | | | | | | |")
    for line in dict.fromkeys(differ):
        print(line)
    print("\nthe same distinct states and transitions in every compared row:", not differ)
    return 1 if differ else 0


def disagreement(case: Case, peer: str, row: dict, mine: dict) -> list[str]:
    """Why a peer's counts do not match migcheck's (empty when they do, or are not compared)."""
    if case.rumur == "heuristic":
        return []  # not a canonical form: it may store more states than there are orbits
    found = [f"{case.label}: {peer} found {row[what]:,} {what}, migcheck {mine[what]:,}"
             for what in ("states", "transitions") if row[what] is not None and row[what] != mine[what]]
    return found


if __name__ == "__main__":
    raise SystemExit(main())
