"""Start-up: listing models and an explicit check never load z3 (nor networkx without liveness).

z3 costs about 0.2 s and networkx about 0.3 s to import; they are loaded where a symbolic
engine runs or a graph is built, not when the CLI starts.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
from migcheck.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
print("LOADED", " ".join(m for m in ("z3", "networkx") if m in sys.modules))
"""


def loaded(argv: list[str]) -> set[str]:
    # -P: the checkout's root is not put first on sys.path, so the installed package is probed
    out = subprocess.run([sys.executable, "-P", "-c", PROBE.format(argv=argv)], capture_output=True,
                         text=True, check=True).stdout
    line = [x for x in out.splitlines() if x.startswith("LOADED")][-1]
    return set(line.split()[1:])


@pytest.mark.parametrize("argv", [["list"], ["check", "two-phase-commit", "--backend", "python"]])
def test_list_and_an_explicit_check_load_neither_z3_nor_networkx(argv):
    assert loaded(argv) == set()


def test_a_liveness_check_loads_no_z3():
    assert "z3" not in loaded(["check", "spinlock", "--backend", "python"])


def test_a_symbolic_engine_loads_z3():
    assert "z3" in loaded(["check", "peterson", "--engine", "bmc", "--depth", "3"])
