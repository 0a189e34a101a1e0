"""The paravirtual channel between the guest's VF driver and the hypervisor's migrator (the
thread's proposal): the driver's opt-in to dirty marking, as the hypervisor records it, the
migration event the migrator raises, the driver's acknowledgement, and the notice that a
migration was aborted.
"""

from __future__ import annotations

OPT_IN = ("none", "before_bme", "after_bme", "inherited")


class MigrationChannel:
    def __init__(self) -> None:
        # what the hypervisor knows of the opt-in: made before bus mastering was enabled,
        # after it (the config-space trap shows BME set), or left by the driver bound before
        self.opt_in = "none"
        self.event = False  # a migration event is raised and not withdrawn
        self.acked = False  # the driver answered it: device quiet, pages marked
        self.aborted = False  # the migration was aborted: the VM runs on the source again

    @property
    def opted_in(self) -> bool:
        return self.opt_in != "none"
