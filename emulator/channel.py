"""The paravirtual channel between the guest's VF driver and the hypervisor's migrator (the
thread's proposal): the driver's opt-in to dirty marking, the migration event the migrator
raises, the driver's acknowledgement, and the notice that a migration was aborted.
"""

from __future__ import annotations


class MigrationChannel:
    def __init__(self) -> None:
        self.opted_in = False  # the driver said it marks the pages its device writes
        self.event = False  # a migration event is raised and not withdrawn
        self.acked = False  # the driver answered it: device quiet, pages marked
        self.aborted = False  # the migration was aborted: the VM runs on the source again
