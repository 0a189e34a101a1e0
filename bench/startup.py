"""Start-up cost: wall seconds of ``migcheck list`` and of a whole explicit check of a small
model (an upper bound on the time to its first state), against a bare interpreter.

    python bench/startup.py [--repeat 7]

Each command runs ``--repeat`` times, interleaved; the median is shown, with the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "migcheck list": [sys.executable, "-m", "migcheck", "list"],
    "migcheck check spinlock": [sys.executable, "-m", "migcheck", "check", "spinlock"],
    "migcheck check two-phase-commit": [sys.executable, "-m", "migcheck", "check", "two-phase-commit"],
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    load = os.getloadavg()[0]
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.repeat):
        for name, cmd in COMMANDS.items():
            started = time.perf_counter()
            subprocess.run(cmd, check=False, capture_output=True)
            times[name].append(time.perf_counter() - started)
    print(f"load average {load:.2f} at start, {os.getloadavg()[0]:.2f} at end; median of {args.repeat}\n")
    print("| command | median s | min s |")
    print("| --- | ---: | ---: |")
    for name, ts in times.items():
        print(f"| {name} | {statistics.median(ts):.3f} | {min(ts):.3f} |")


if __name__ == "__main__":
    main()
