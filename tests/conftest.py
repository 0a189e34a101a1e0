"""Shared fixtures: bundled models built once per session."""

import pytest

from migcheck.models.library import bundled


@pytest.fixture(scope="session")
def guest_assisted():
    return bundled("guest-assisted")


@pytest.fixture(scope="session")
def two_phase_commit():
    return bundled("two-phase-commit")


@pytest.fixture(scope="session")
def peterson():
    return bundled("peterson")
