"""Shared fixtures: bundled models built once per session, programs the tests need."""

import shutil
import subprocess

import pytest
from system_tools import ToolUnavailable, debian_tool

from migcheck.models.library import bundled


def _tool(command: str, package: str) -> str:
    try:
        return debian_tool(command, package)
    except ToolUnavailable as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def graphviz_dot() -> str:
    """Graphviz's dot, installed from Debian when missing."""
    return _tool("dot", "graphviz")


@pytest.fixture(scope="session")
def chromium_browser() -> str:
    """Debian's headless-capable chromium, installed when missing."""
    return _tool("chromium", "chromium")


@pytest.fixture(scope="session")
def z3_answers():
    """``z3 FILE`` on a certificate file: its answers, each with the query's name that the file
    echoes before it (the z3 command comes with the z3-solver package, a dependency)."""
    binary = shutil.which("z3")
    if binary is None:
        pytest.fail("no z3 command: the z3-solver package installs one; install migcheck's dependencies",
                    pytrace=False)

    def answers(path, timeout: float = 120) -> list[tuple[str, str]]:
        proc = subprocess.run([binary, str(path)], capture_output=True, text=True, timeout=timeout)
        assert proc.returncode == 0 and "error" not in proc.stdout, proc.stdout[-2000:]
        lines = proc.stdout.splitlines()
        return list(zip(lines[0::2], lines[1::2], strict=True))

    return answers


@pytest.fixture(scope="session")
def guest_assisted():
    return bundled("guest-assisted")


@pytest.fixture(scope="session")
def two_phase_commit():
    return bundled("two-phase-commit")


@pytest.fixture(scope="session")
def peterson():
    return bundled("peterson")


@pytest.fixture(scope="session")
def dining_philosophers():
    return bundled("dining-philosophers")
