"""The guest's net_failover master: which slave carries the MAC's traffic.

While a primary (a VF) is registered, frames arriving on the standby are not passed up
(``net_failover_handle_frame``), so only the active slave receives. The primary is dropped in
the VF's unregister notifier, inside the eject; a bound VF becomes the primary in a step of
its own. Without STANDBY there is no master: the VF, while bound, is the guest's only NIC.
"""

from __future__ import annotations

from .journal import Journal

SLAVES = ("primary", "standby", "none")


class FailoverMaster:
    def __init__(self, journal: Journal):
        self.journal = journal
        self.active = "primary"

    def target(self, primary_up: bool, standby: bool) -> str:
        return "primary" if primary_up else "standby" if standby else "none"

    def drop_primary(self, standby: bool) -> None:
        """The primary unregisters: traffic falls to the standby, or to nothing."""
        if self.active == "primary":
            self.set(self.target(False, standby), "the primary unregistered")

    def set(self, slave: str, why: str) -> None:
        self.active = slave
        self.journal.record("guest", "failover_switch", f"net_failover: active slave {slave} ({why})")
