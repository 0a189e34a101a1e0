"""Shared fixtures: bundled models built once per session, programs the tests need."""

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
