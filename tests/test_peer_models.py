"""bench/peer/minicheck_models.py states migcheck's models for minicheck: its fields, enumerations
and initial states must stay migcheck's, or the peer benchmark compares different machines.

minicheck is never installed beside migcheck, so only the layout facts are checked here (the
transitions are compared by bench/peer/run.sh, which asserts that both checkers reach the same set
of states); the module loads without minicheck for this.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from migcheck.models.library import bundled
from migcheck.models.model import build

PEER_MODELS = Path(__file__).parent.parent / "bench" / "peer" / "minicheck_models.py"


@pytest.fixture(scope="module")
def mm():
    spec = importlib.util.spec_from_file_location("minicheck_models", PEER_MODELS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def field_names(system) -> tuple[str, ...]:
    """migcheck's packed slots, named as the peer models name fields (slot[1] -> slot1)."""
    return tuple(re.sub(r"\[(\d+)\]$", r"\1", s.name) for s in system.layout.slots)


def enum_labels(system) -> dict[str, tuple[str, ...]]:
    return {s.var: s.domain.labels for s in system.layout.slots if s.domain.kind == "enum"}


@pytest.mark.parametrize("pages", [1, 2, 3])
def test_guest_assisted_layout_is_migcheck_s(mm, pages):
    system = build(bundled("guest-assisted"), {"slots": 2, "pages": pages})
    fields = mm.guest_assisted_fields(2, pages)
    assert fields == field_names(system)
    for var, labels in enum_labels(system).items():
        assert mm.ENUM_LABELS[var] == labels, var
    initial = mm.guest_assisted_initial(2, pages)
    packed = tuple(mm.ENUM_LABELS[f.rstrip("0123456789")].index(v) if isinstance(v, str) else int(v)
                   for f, v in initial.items())
    assert (packed,) == system.initial


def test_two_phase_commit_layout_is_migcheck_s(mm):
    system = build(bundled("two-phase-commit"), {"rms": 5})
    assert mm.two_phase_fields(5) == field_names(system)
    for var, labels in enum_labels(system).items():
        assert mm.ENUM_LABELS[var] == labels, var
