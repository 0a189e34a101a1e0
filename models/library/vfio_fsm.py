"""The VFIO migration device state machine (uAPI v2), kept as data.

Transcribed from Linux ``drivers/vfio/vfio_main.c``, ``vfio_mig_get_next_state()`` and its
``vfio_from_fsm_table``: for a device in state ``cur`` whose user asked for ``goal`` with one
``VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE`` SET, the table gives the next primitive arc. A
combination transition is several arcs, one per call; the kernel skips a state the device
does not support (``state_flags_table``: the P2P states need ``VFIO_MIGRATION_P2P``, the
PRE_COPY states ``VFIO_MIGRATION_PRE_COPY``) by reading the table again from it. ERROR in
the table marks a blocked transition (STOP_COPY to PRE_COPY or PRE_COPY_P2P): -EINVAL.

The skip loop as merged reads ERROR's flags (~0U) as "unsupported" and would spin on a
blocked transition of a precopy-capable device; a posted fix (Junrui Luo, "vfio: Terminate
the skip loop on the ERROR sentinel", Fixes: 4db52602a607) stops at ERROR. This module
follows the fixed behaviour: a blocked transition is refused.
"""

from __future__ import annotations

# In the uAPI's numbering (enum vfio_device_mig_state): ERROR = 0 ... PRE_COPY_P2P = 7.
STATES = ("ERROR", "STOP", "RUNNING", "STOP_COPY", "RESUMING", "RUNNING_P2P", "PRE_COPY",
          "PRE_COPY_P2P")

# What a device must support to be in a state (VFIO_MIGRATION_STOP_COPY is always needed).
NEEDS: dict[str, frozenset[str]] = {
    "STOP": frozenset(), "RUNNING": frozenset(), "STOP_COPY": frozenset(), "RESUMING": frozenset(),
    "RUNNING_P2P": frozenset({"p2p"}),
    "PRE_COPY": frozenset({"pre_copy"}),
    "PRE_COPY_P2P": frozenset({"p2p", "pre_copy"}),
}
FEATURES = frozenset({"p2p", "pre_copy"})

# vfio_from_fsm_table: (current state, goal) -> next state; rows are the current state.
_ROWS = {
    "STOP": {"STOP": "STOP", "RUNNING": "RUNNING_P2P", "PRE_COPY": "RUNNING_P2P",
             "PRE_COPY_P2P": "RUNNING_P2P", "STOP_COPY": "STOP_COPY", "RESUMING": "RESUMING",
             "RUNNING_P2P": "RUNNING_P2P", "ERROR": "ERROR"},
    "RUNNING": {"STOP": "RUNNING_P2P", "RUNNING": "RUNNING", "PRE_COPY": "PRE_COPY",
                "PRE_COPY_P2P": "RUNNING_P2P", "STOP_COPY": "RUNNING_P2P",
                "RESUMING": "RUNNING_P2P", "RUNNING_P2P": "RUNNING_P2P", "ERROR": "ERROR"},
    "PRE_COPY": {"STOP": "RUNNING", "RUNNING": "RUNNING", "PRE_COPY": "PRE_COPY",
                 "PRE_COPY_P2P": "PRE_COPY_P2P", "STOP_COPY": "PRE_COPY_P2P",
                 "RESUMING": "RUNNING", "RUNNING_P2P": "RUNNING", "ERROR": "ERROR"},
    "PRE_COPY_P2P": {"STOP": "RUNNING_P2P", "RUNNING": "RUNNING_P2P", "PRE_COPY": "PRE_COPY",
                     "PRE_COPY_P2P": "PRE_COPY_P2P", "STOP_COPY": "STOP_COPY",
                     "RESUMING": "RUNNING_P2P", "RUNNING_P2P": "RUNNING_P2P", "ERROR": "ERROR"},
    "STOP_COPY": {"STOP": "STOP", "RUNNING": "STOP", "PRE_COPY": "ERROR", "PRE_COPY_P2P": "ERROR",
                  "STOP_COPY": "STOP_COPY", "RESUMING": "STOP", "RUNNING_P2P": "STOP",
                  "ERROR": "ERROR"},
    "RESUMING": {"STOP": "STOP", "RUNNING": "STOP", "PRE_COPY": "STOP", "PRE_COPY_P2P": "STOP",
                 "STOP_COPY": "STOP", "RESUMING": "RESUMING", "RUNNING_P2P": "STOP",
                 "ERROR": "ERROR"},
    "RUNNING_P2P": {"STOP": "STOP", "RUNNING": "RUNNING", "PRE_COPY": "RUNNING",
                    "PRE_COPY_P2P": "PRE_COPY_P2P", "STOP_COPY": "STOP", "RESUMING": "STOP",
                    "RUNNING_P2P": "RUNNING_P2P", "ERROR": "ERROR"},
    "ERROR": {goal: "ERROR" for goal in STATES},
}
TABLE: dict[tuple[str, str], str] = {(cur, goal): nxt for cur, row in _ROWS.items()
                                      for goal, nxt in row.items()}

STOPPED = ("STOP", "STOP_COPY")  # no DMA, no interrupts, internal state frozen
RUNS = ("RUNNING", "RUNNING_P2P", "PRE_COPY", "PRE_COPY_P2P")  # may issue DMA to RAM
P2P_SENDS = ("RUNNING", "PRE_COPY")  # may also issue new peer-to-peer writes
SAVING = ("PRE_COPY", "PRE_COPY_P2P", "STOP_COPY")  # a data stream can be read


def supported(state: str, features: frozenset[str]) -> bool:
    """Whether a device with ``features`` can be in ``state`` (ERROR is never asked for)."""
    return state != "ERROR" and NEEDS[state] <= features


def next_state(cur: str, goal: str, features: frozenset[str] = FEATURES) -> str | None:
    """The state after the next primitive arc toward ``goal``, or None when refused.

    Refused: ``cur`` or ``goal`` unsupported, or a blocked transition (the table says ERROR).
    ``cur == goal`` gives ``cur`` (nothing to do).
    """
    if not (supported(cur, features) and supported(goal, features)):
        return None
    nxt = TABLE[cur, goal]
    while nxt != "ERROR" and not supported(nxt, features):
        nxt = TABLE[nxt, goal]
    return None if nxt == "ERROR" else nxt


def path(cur: str, goal: str, features: frozenset[str] = FEATURES) -> tuple[str, ...] | None:
    """Every state one SET_STATE ioctl passes through, ``cur`` first; None when refused."""
    states = [cur]
    while states[-1] != goal:
        nxt = next_state(states[-1], goal, features)
        if nxt is None or nxt in states:
            return None
        states.append(nxt)
    return tuple(states)


def arcs(features: frozenset[str] = FEATURES) -> frozenset[tuple[str, str]]:
    """The primitive arcs a driver with ``features`` is asked to take."""
    out = set()
    for cur in STATES:
        for goal in STATES:
            nxt = next_state(cur, goal, features)
            if nxt is not None and nxt != cur:
                out.add((cur, nxt))
    return frozenset(out)
