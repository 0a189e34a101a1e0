"""The VFIO core: a SET_STATE ioctl (VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE) on a device,
carried out one primitive arc at a time, each the next step of the kernel's table
(`vfio_mig_get_next_state`), or of the driver's own table where it has one.

An arc into STOP or STOP_COPY completes only once nothing the device posted is in flight;
an arc into a *_P2P state once no P2P write it posted is (outstanding operations complete
before the arc returns). While such an arc is pending the device issues nothing new.
"""

from __future__ import annotations

from collections.abc import Callable

from migcheck.models.library import vfio_fsm as fsm

from ..journal import Journal
from .device import VfioDevice

P2P_STATES = ("RUNNING_P2P", "PRE_COPY_P2P")


class VfioCore:
    def __init__(self, devices: list[VfioDevice], features: frozenset[str],
                 driver_table: tuple[tuple[str, str, str], ...], journal: Journal,
                 on_arc: Callable[[int], None]):
        self.devices = devices
        self.features = features
        self.driver_table = {(c, g): n for c, g, n in driver_table}
        self.kernel_arcs = fsm.arcs(features)
        self.journal = journal
        self.on_arc = on_arc  # told after every arc (a new data fd, a STOP_COPY snapshot)
        self.pending: tuple[int, str] | None = None  # (device, goal) of the ioctl in progress
        self.generations = 0

    def next_arc(self, d: int) -> str | None:
        if self.pending is None or self.pending[0] != d:
            return None
        cur, goal = self.devices[d].state, self.pending[1]
        if (cur, goal) in self.driver_table:
            return self.driver_table[cur, goal]
        return fsm.next_state(cur, goal, self.features)

    def pending_into(self, d: int, states: tuple[str, ...]) -> bool:
        return self.next_arc(d) in states

    def begin(self, d: int, goal: str) -> None:
        self.pending = (d, goal)
        self.journal.record("qemu", "ioctl", f"QEMU: SET_STATE device {d} -> {goal} "
                            f"(from {self.devices[d].state})")

    def why_not_arc(self, d: int) -> str | None:
        dev = self.devices[d]
        nxt = self.next_arc(d)
        if self.pending is None or self.pending[0] != d:
            return f"VFIO core: no SET_STATE ioctl in progress on device {d}"
        if nxt is None:
            return f"VFIO core: device {d} cannot go from {dev.state} toward {self.pending[1]} (refused)"
        if nxt in fsm.STOPPED and (dev.posted_dma is not None or dev.posted_p2p is not None):
            return f"VFIO core: device {d}'s arc into {nxt} waits for its posted writes to land"
        if nxt in P2P_STATES and dev.posted_p2p is not None:
            return f"VFIO core: device {d}'s arc into {nxt} waits for its posted P2P write"
        return None

    def arc(self, d: int) -> None:
        dev, goal = self.devices[d], self.pending[1] if self.pending else ""
        before, after = dev.state, self.next_arc(d)
        assert after is not None
        dev.state = after
        legal = (before, after) in self.kernel_arcs
        self.journal.record("vfio", "arc", f"VFIO: device {d} {before} -> {after}"
                            + ("" if legal else " (an arc the kernel's table never takes)"),
                            slot=d, before=before.encode(), after=after.encode())
        if after in fsm.SAVING and (before not in fsm.SAVING):
            self.generations += 1
            dev.open_stream(self.generations)
        elif after not in fsm.SAVING:
            dev.stream = None
        if after == "STOP_COPY":
            dev.take_snapshot()
        if after == goal:
            self.pending = None
        self.on_arc(d)

    def fail_arc(self, d: int) -> None:
        """The driver fails the arc: the device is in ERROR, the ioctl returns an error."""
        dev = self.devices[d]
        self.journal.record("vfio", "arc", f"VFIO: device {d} {dev.state} -> ERROR (the arc failed)",
                            slot=d, before=dev.state.encode(), after=b"ERROR")
        dev.state = "ERROR"
        dev.stream = None
        self.pending = None
