"""The sequential native search of two migcheck installs, interleaved: a change to the C core
against the tree before it.

Each search runs in a fresh process of the install's own Python, once to build its library
(untimed), then once timed (CPU seconds of that process); the two installs alternate, model
by model, ``--repeat`` times, so that a change in the machine's load falls on both. The script
fails unless both find the same states, transitions, depth and verdicts (with the length of
each counterexample).

    python bench/native_ab.py --before /path/to/old/venv/bin/python --after /path/to/new/venv/bin/python
        [--repeat 3] [MODEL:VARIANT[:name=value,...] ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess

DEFAULT = ["guest-assisted:disable-first:pages=4", "guest-assisted:thread-order:pages=3",
           "guest-assisted:mapped-bitmap:pages=4", "vfio-v2:qemu-order:devs=2,pages=4",
           "vfio-v2:qemu-order:devs=3,pages=2", "two-phase-commit:base:rms=8"]

_ONE = r"""
import json, sys, time
from migcheck.checker.explicit import Plan, explore
from migcheck.cli import parse_sets
from migcheck.models.library import bundled
from migcheck.models.model import build
model, variant, sets = sys.argv[1], sys.argv[2], [s for s in sys.argv[3].split(",") if s]
system = build(bundled(model).variants()[variant], parse_sets(sets))
liveness = set(Plan.of(system, None).liveness)
wanted = [p.name for p in system.properties if p.name not in liveness]
explore(system, wanted, backend="native")
t = time.process_time()
r = explore(system, wanted, backend="native")
seconds = time.process_time() - t
verdicts = sorted((n, v.verdict.value, len(v.trace or ())) for n, v in r.verdicts.items())
print(json.dumps([seconds, r.stats.states, r.stats.transitions, r.stats.depth, verdicts]))
"""


def run(python: str, spec: str) -> list:
    model, variant, *rest = spec.split(":")
    done = subprocess.run([python, "-c", _ONE, model, variant, rest[0] if rest else ""],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", required=True, help="the Python of the install before the change")
    ap.add_argument("--after", required=True, help="the Python of the install with the change")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("models", nargs="*", default=DEFAULT)
    args = ap.parse_args()
    print(f"load {os.getloadavg()[0]:.2f}")
    print("| model | states | transitions | before (CPU s) | after (CPU s) | before ÷ after |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for spec in args.models:
        best: dict[str, float] = {}
        outcomes = set()
        for _ in range(args.repeat):
            for label, python in (("before", args.before), ("after", args.after)):
                seconds, *outcome = run(python, spec)
                outcomes.add(json.dumps(outcome))
                best[label] = min(best.get(label, seconds), seconds)
        assert len(outcomes) == 1, f"{spec}: the two installs disagree: {outcomes}"
        states, transitions = json.loads(outcomes.pop())[:2]
        print(f"| {spec} | {states:,} | {transitions:,} | {best['before']:.3f} | {best['after']:.3f} "
              f"| {best['before'] / best['after']:.2f} |", flush=True)
    print(f"load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
