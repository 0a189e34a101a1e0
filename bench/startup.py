"""Start-up cost: wall seconds of ``migcheck list`` and of a whole explicit check of a small
model (an upper bound on the time to its first state), against a bare interpreter.

    python bench/startup.py [--repeat 7]

Each command runs ``--repeat`` times, interleaved; the median is shown, with the load average.
Bytecode is cached as an installed package's would be (``PYTHONPYCACHEPREFIX`` in a temporary
folder, ``PYTHONDONTWRITEBYTECODE`` unset), so the figures do not include compiling the sources.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

# The moment the search first expands a state, printed (as wall-clock time) by the CLI process.
FIRST_STATE = """
import sys, time
from migcheck.checker import explicit
from migcheck.cli import main
for engine in (explicit.PythonSearch,):
    run = engine.search
    def search(self, *args, run=run):
        if not getattr(sys, "first_state", None):
            sys.first_state = time.time()
            print("FIRST", sys.first_state, file=sys.stderr)
        return run(self, *args)
    engine.search = search
sys.exit(main(sys.argv[1:]))
"""

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
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="migcheck-pycache-")
    for cmd in COMMANDS.values():  # fills the bytecode cache
        subprocess.run(cmd, check=False, capture_output=True, env=env)
    load = os.getloadavg()[0]
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.repeat):
        for name, cmd in COMMANDS.items():
            started = time.perf_counter()
            subprocess.run(cmd, check=False, capture_output=True, env=env)
            times[name].append(time.perf_counter() - started)
    print(f"load average {load:.2f} at start, {os.getloadavg()[0]:.2f} at end; median of {args.repeat}\n")
    first: list[float] = []
    for _ in range(args.repeat):
        started = time.time()
        done = subprocess.run([sys.executable, "-c", FIRST_STATE, "check", "spinlock", "--backend", "python"],
                              check=False, capture_output=True, text=True, env=env)
        stamp = next(float(x.split()[1]) for x in done.stderr.splitlines() if x.startswith("FIRST"))
        first.append(stamp - started)
    print("| command | median s | min s |")
    print("| --- | ---: | ---: |")
    for name, ts in times.items():
        print(f"| {name} | {statistics.median(ts):.3f} | {min(ts):.3f} |")
    print(f"| first state of check spinlock (process start to the search) | {statistics.median(first):.3f} "
          f"| {min(first):.3f} |")


if __name__ == "__main__":
    main()
