"""The VFIO transition table against what the kernel documents beside it.

The comment above ``vfio_from_fsm_table`` in ``drivers/vfio/vfio_main.c`` lists the arcs a
driver must implement for each feature set, the combination transitions one ioctl steps
through when every optional feature is supported, and the blocked transitions. The lists
below are those, written out by hand; the table must produce exactly them.
"""

from __future__ import annotations

import pytest

from migcheck.models.library.vfio_fsm import FEATURES, STATES, arcs, next_state, path


def _arcs(text: str) -> frozenset[tuple[str, str]]:
    return frozenset(tuple(part.strip() for part in line.split("->"))
                     for line in text.strip().splitlines())


BASE = _arcs("""
RESUMING -> STOP
STOP -> RESUMING
STOP -> STOP_COPY
STOP_COPY -> STOP
""")
P2P = _arcs("""
RUNNING -> RUNNING_P2P
RUNNING_P2P -> RUNNING
RUNNING_P2P -> STOP
STOP -> RUNNING_P2P
""")
PRE_COPY_ONLY = _arcs("""
RUNNING -> PRE_COPY
PRE_COPY -> RUNNING
PRE_COPY -> STOP_COPY
""")
PRE_COPY_WITH_P2P = _arcs("""
PRE_COPY -> RUNNING
PRE_COPY -> PRE_COPY_P2P
PRE_COPY_P2P -> PRE_COPY
PRE_COPY_P2P -> RUNNING_P2P
PRE_COPY_P2P -> STOP_COPY
RUNNING -> PRE_COPY
RUNNING_P2P -> PRE_COPY_P2P
""")
NEITHER = _arcs("""
RUNNING -> STOP
STOP -> RUNNING
""")

COMBINATIONS = """
PRE_COPY -> PRE_COPY_P2P -> STOP_COPY
PRE_COPY -> RUNNING -> RUNNING_P2P
PRE_COPY -> RUNNING -> RUNNING_P2P -> STOP
PRE_COPY -> RUNNING -> RUNNING_P2P -> STOP -> RESUMING
PRE_COPY_P2P -> RUNNING_P2P -> RUNNING
PRE_COPY_P2P -> RUNNING_P2P -> STOP
PRE_COPY_P2P -> RUNNING_P2P -> STOP -> RESUMING
RESUMING -> STOP -> RUNNING_P2P
RESUMING -> STOP -> RUNNING_P2P -> PRE_COPY_P2P
RESUMING -> STOP -> RUNNING_P2P -> RUNNING
RESUMING -> STOP -> RUNNING_P2P -> RUNNING -> PRE_COPY
RESUMING -> STOP -> STOP_COPY
RUNNING -> RUNNING_P2P -> PRE_COPY_P2P
RUNNING -> RUNNING_P2P -> STOP
RUNNING -> RUNNING_P2P -> STOP -> RESUMING
RUNNING -> RUNNING_P2P -> STOP -> STOP_COPY
RUNNING_P2P -> RUNNING -> PRE_COPY
RUNNING_P2P -> STOP -> RESUMING
RUNNING_P2P -> STOP -> STOP_COPY
STOP -> RUNNING_P2P -> PRE_COPY_P2P
STOP -> RUNNING_P2P -> RUNNING
STOP -> RUNNING_P2P -> RUNNING -> PRE_COPY
STOP_COPY -> STOP -> RESUMING
STOP_COPY -> STOP -> RUNNING_P2P
STOP_COPY -> STOP -> RUNNING_P2P -> RUNNING
"""
BLOCKED = _arcs("""
STOP_COPY -> PRE_COPY
STOP_COPY -> PRE_COPY_P2P
""")
ASKABLE = [s for s in STATES if s != "ERROR"]


@pytest.mark.parametrize("features, documented", [
    (frozenset(), BASE | NEITHER),
    (frozenset({"p2p"}), BASE | P2P),
    (frozenset({"pre_copy"}), BASE | NEITHER | PRE_COPY_ONLY),
    (FEATURES, BASE | P2P | PRE_COPY_WITH_P2P),
], ids=["stop-copy-only", "p2p", "pre-copy", "p2p-and-pre-copy"])
def test_primitive_arcs_are_those_the_driver_must_implement(features, documented):
    assert arcs(features) == documented


def test_combination_transitions_step_through_the_documented_states():
    documented = {tuple(s.strip() for s in line.split("->")) for line in COMBINATIONS.strip().splitlines()}
    longer = {p for cur in ASKABLE for goal in ASKABLE
              if (p := path(cur, goal)) is not None and len(p) > 2}
    assert longer == documented


def test_blocked_transitions_are_refused_and_nothing_else_is():
    refused = {(cur, goal) for cur in ASKABLE for goal in ASKABLE if path(cur, goal) is None}
    assert refused == BLOCKED
    assert next_state("STOP_COPY", "PRE_COPY") is None  # the fixed skip loop stops at ERROR


def test_unsupported_states_are_skipped():
    # Without P2P, PRE_COPY goes straight to STOP_COPY (PRE_COPY_P2P is skipped) and
    # RUNNING goes through STOP, not RUNNING_P2P.
    assert path("PRE_COPY", "STOP_COPY", frozenset({"pre_copy"})) == ("PRE_COPY", "STOP_COPY")
    assert path("RUNNING", "STOP_COPY", frozenset()) == ("RUNNING", "STOP", "STOP_COPY")
    assert next_state("RUNNING", "RUNNING_P2P", frozenset()) is None  # asked for an unsupported state
