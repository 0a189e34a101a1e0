"""migcheck's explicit engine against minicheck 0.4.0, side by side in one run.

Run through ``bench/peer/run.sh``, which makes a venv of its own with minicheck and this
repository installed (minicheck is never a dependency of migcheck, nor installed beside it).

Models, written for each checker (migcheck: the bundled library; minicheck: minicheck_models.py
beside this file):

- Lamport's two-phase commit, rms = 5, 6, 7 (published distinct-state counts 8,832, 50,816,
  296,448: every checker must report them);
- guest-assisted dirty tracking, variant ``disable-first`` as the bundled model is now (the RX
  ring with next_to_alloc, the TX ring, the opt-in record and rebinding), at 2 slots and 1 (the
  defaults), 2 and 3 pages (a refill may put its buffer in any page): every checker must reach
  the same states (the same set, not only as many). ``--pages`` picks fewer sizes for a quick
  run. The Model-class front end took 67 s for one check at 2 pages (419,797 states) on 30
  November; at 3 pages (1,742,055 states) a check would take minutes, so the timed run leaves
  that front end out (``--skip-class``).

Only safety is checked: migcheck's invariants and action properties of the model with their
witnesses (what ``explore(system, safety)`` decides), minicheck's ``check_safety`` with the same
invariants, the witnesses as invariants that must be refuted, the action properties checked in
the transitions. Deadlock is not checked by either. Each model is built (traced, or its class
created) outside the timed region; seconds are the best of ``--repeat`` runs of the check alone
(migcheck ``explore``, which includes compiling the search; minicheck ``check_safety``). Bytes per
stored state are the peak memory traced by tracemalloc over a separate build and check, divided by
the distinct states.

    bash bench/peer/run.sh [--repeat 3] [--skip-class] [--pages 1 2 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import platform
import time
import tracemalloc
from collections.abc import Callable

import minicheck
import minicheck_models as mm
from minicheck import check_safety

from migcheck.checker.explicit import explore
from migcheck.checker.liveness import LIVENESS
from migcheck.models.library import bundled
from migcheck.models.model import build

MAX_STATES = 10**8  # minicheck stops at 200,000 states by default
GUEST_SLOTS, GUEST_PAGES = 2, (1, 2, 3)  # guest-assisted's sizes
PUBLISHED = {5: 8_832, 6: 50_816, 7: 296_448}  # TwoPhase distinct states (TLC)

MIGCHECK, MC_PROTOCOL, MC_CLASS = "migcheck explicit", "minicheck Protocol", "minicheck Model class"


@dataclasses.dataclass
class Case:
    label: str
    migcheck: tuple[str, dict]  # bundled model name, parameters
    protocol: Callable[[], object]  # builds minicheck's Protocol (and the violations list)
    model_class: Callable[[], object]
    published: int | None = None


def cases(pages: tuple[int, ...] = GUEST_PAGES) -> list[Case]:
    out = [Case(f"two-phase-commit rms={rms}", ("two-phase-commit", {"rms": rms}),
                lambda rms=rms: (mm.two_phase_protocol(rms), None),
                lambda rms=rms: (mm.two_phase_class(rms), None), PUBLISHED[rms])
           for rms in (5, 6, 7)]
    for n in pages:
        out.append(Case(f"guest-assisted disable-first slots={GUEST_SLOTS} pages={n}",
                        ("guest-assisted", {"slots": GUEST_SLOTS, "pages": n}),
                        lambda p=n: mm.guest_assisted_protocol(GUEST_SLOTS, p),
                        lambda p=n: mm.guest_assisted_class(GUEST_SLOTS, p)))
    return out


# ---------------------------------------------------------------- one run of each checker

def migcheck_build(model: str, params: dict):
    system = build(bundled(model), params)
    return system, [p.name for p in system.properties if p.kind not in LIVENESS]


def migcheck_check(built) -> tuple[int, dict[str, bool], object]:
    """Safety properties (their witnesses are decided too). Returns states, {property: ok}."""
    system, safety = built
    result = explore(system, safety)
    verdicts = {}
    for name, v in result.verdicts.items():
        key = name.replace("-", "_")
        kind = next(p.kind for p in system.properties if p.name == name)
        verdicts[key] = v.verdict in ("holds", "vacuous") if kind != "reachable" else v.verdict != "holds"
    return result.stats.states, verdicts, result


def minicheck_check(built) -> tuple[int, dict[str, bool], object]:
    """check_safety; a witness invariant "not w" holds (True) exactly when w is never reached,
    as migcheck's reachable property is then violated: so True means the same on both sides."""
    protocol, violations = built
    result = check_safety(protocol, max_states=MAX_STATES)
    assert result["exhaustive"], result.get("incomplete_reason")
    verdicts = {name: bool(p["holds"]) for name, p in result["properties"].items()}
    if violations is not None:  # action properties, checked in the transitions
        for name in mm.ACTION_PROPERTIES:
            verdicts[name] = not any(v[0] == name for v in violations)
    return result["reachable_states"], verdicts, result


def timed(make: Callable[[], object], check: Callable, repeat: int) -> tuple[int, dict, float, float]:
    """Best-of-``repeat`` seconds of the check alone, then bytes per state of a separate traced
    build and check."""
    best = float("inf")
    states, verdicts = 0, {}
    for _ in range(repeat):
        built = make()
        gc.collect()
        t = time.perf_counter()
        states, verdicts, _ = check(built)
        best = min(best, time.perf_counter() - t)
        del built
    gc.collect()
    tracemalloc.start()
    check(make())
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return states, verdicts, best, peak / states


# ---------------------------------------------------------------- the same states on both sides

def migcheck_states(case: Case) -> set[tuple[int, ...]]:
    _, _, result = migcheck_check(migcheck_build(*case.migcheck))
    return {result.state(i) for i in range(len(result.states))}


def minicheck_states(make: Callable[[], object]) -> set[tuple[int, ...]]:
    """Every reachable state, recorded by one more invariant, as migcheck packs it (enumerations
    as label indexes, booleans as 0 and 1)."""
    protocol, _ = make()
    seen: set = set()
    codes = [mm.ENUM_LABELS.get(f.rstrip("0123456789")) for f in protocol.fields]

    def record(d):
        seen.add(tuple(labels.index(v) if labels and isinstance(v, str) else int(v)
                       for labels, v in zip(codes, d.values(), strict=True)))
        return True

    check_safety(dataclasses.replace(protocol, invariants={**protocol.invariants, "_record": record}),
                 max_states=MAX_STATES)
    return seen


# ---------------------------------------------------------------- main

def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-class", action="store_true",
                        help="leave out minicheck's Model-class front end (the slow one)")
    parser.add_argument("--pages", type=int, nargs="+", choices=GUEST_PAGES, default=list(GUEST_PAGES),
                        help="guest-assisted's page counts to run (default: all)")
    args = parser.parse_args()
    cpu = "unknown cpu"
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    print(f"machine: {platform.machine()}, {cpu}, {os.cpu_count()} cpus, Python "
          f"{platform.python_version()}, {platform.system()}; minicheck {minicheck.__version__}\n")

    rows, rates = [], {}
    for case in cases(tuple(args.pages)):
        runs = [(MIGCHECK, lambda c=case: migcheck_build(*c.migcheck), migcheck_check),
                (MC_PROTOCOL, case.protocol, minicheck_check)]
        if not args.skip_class:
            runs.append((MC_CLASS, case.model_class, minicheck_check))
        counts, verdicts = {}, {}
        for who, make, check in runs:
            states, v, seconds, per_state = timed(make, check, args.repeat)
            counts[who], verdicts[who] = states, v
            rates[(who, case.label)] = states / seconds
            rows.append(f"| {who} | {case.label} | {states:,} | {seconds:.3f} | {states / seconds:,.0f} "
                        f"| {per_state:.0f} |")
            print(rows[-1], flush=True)
        if case.published is not None:
            assert all(n == case.published for n in counts.values()), (case.label, counts)
        assert len(set(counts.values())) == 1, (case.label, counts)
        for who, v in verdicts.items():
            assert v == verdicts[MIGCHECK], (case.label, who, v, verdicts[MIGCHECK])
        if case.published is None:  # the same state set, not only the same count
            same = migcheck_states(case)
            assert minicheck_states(case.protocol) == same, case.label
            if not args.skip_class:
                assert minicheck_states(case.model_class) == same, case.label

    print("\n| checker | model | distinct states | seconds (best) | states/s | bytes/state |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    print("\n".join(rows))
    print("\nSpeed ratio, states per second of migcheck / minicheck on the same model, same run:\n")
    front_ends = [MC_PROTOCOL] + ([] if args.skip_class else [MC_CLASS])
    print("| model | " + " | ".join(f"migcheck / {f}" for f in front_ends) + " |")
    print("| --- | " + " | ".join("---:" for _ in front_ends) + " |")
    for case in cases(tuple(args.pages)):
        ratios = [rates[(MIGCHECK, case.label)] / rates[(f, case.label)] for f in front_ends]
        print(f"| {case.label} | " + " | ".join(f"{r:.2f}" for r in ratios) + " |")
    print("\nAll state counts and verdicts agree (two-phase commit: the published counts; "
          "guest-assisted: the same state sets).")


if __name__ == "__main__":
    main()
