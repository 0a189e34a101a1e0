"""`--engine all` on guest-assisted at its defaults, variant by variant, and the proofs for
every number of pages: CPU seconds of this process (one core), so the figures hold on a
shared machine where wall-clock time does not.

    python bench/engine_all.py [--every]        # --every: also `--set pages=any` proofs
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time

from migcheck.models.library import bundled
from migcheck.runner import run

EVERY = [("guest-assisted", "disable-first", ["completeness", "quiescence", "rings-last"], ("pages",)),
         ("vfio-v2", "qemu-order", ["completeness"], ("pages", "devs"))]


def engine_all() -> None:
    model = bundled("guest-assisted")
    print("| variant | CPU s | verdicts | confirmed by pdr | by bmc (same length) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    total = 0.0
    for name in model.variants():
        started = time.process_time()
        rows = run(model, variants=[name], engine="all")
        spent = time.process_time() - started
        total += spent
        engines = [r.verdict.extra.get("engines") or {} for r in rows]
        bad = [r for r in rows if r.verdict.verdict == "error" or not r.as_expected]
        assert not bad, [(r.verdict.property, r.verdict.reason) for r in bad]
        print(f"| {name} | {spent:.1f} | {len(rows)} | {sum('pdr' in e for e in engines)} | "
              f"{sum('bmc' in e for e in engines)} |")
    print(f"| **all ten** | **{total:.1f}** | | | |")


def every_size() -> None:
    print("| model | variant | property | for every | verdict | CPU s |")
    print("| --- | --- | --- | --- | --- | ---: |")
    for model, variant, props, sets in EVERY:
        for prop in props:
            started = time.process_time()
            (row,) = run(bundled(model), variants=[variant], properties=[prop], engine="pdr",
                         params={k: "any" for k in sets})
            spent = time.process_time() - started
            v = row.verdict
            print(f"| {model} | {variant} | {prop} | {' and '.join(sets)} | {v.verdict} ({v.completeness}, "
                  f"{v.extra.get('lemmas')} lemmas) | {spent:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", action="store_true", help="also time the proofs for every size")
    args = parser.parse_args()
    machine = platform.processor() or platform.machine()
    print(f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, {machine}, "
          f"Python {platform.python_version()}\n")
    engine_all()
    if args.every:
        print()
        every_size()


if __name__ == "__main__":
    main()
