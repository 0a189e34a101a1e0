"""The guest's vCPU as the hypervisor controls it: running, or stopped for the final copy.
Guest software (the driver, the CPU's own stores) runs only while it runs.

Besides the driver, the guest's software stores to one ordinary page: a counter that goes
up by one each time, so every store changes the page.
"""

from __future__ import annotations

import struct

from .errors import refuse
from .journal import Journal
from .memory import GuestMemory

COUNTER_OFFSET = 0x100


class Vcpu:
    def __init__(self, memory: GuestMemory, page: int, journal: Journal):
        self.running = True
        self.memory = memory
        self.page = page
        self.journal = journal
        self.stores = 0

    def why_not_run(self) -> str | None:
        return None if self.running else "guest: the vCPU is stopped"

    def store(self) -> None:
        """The guest writes its ordinary page (the dirty log sees it)."""
        refuse(self.why_not_run())
        self.stores += 1
        self.memory.cpu_write(self.page, COUNTER_OFFSET, struct.pack("<Q", self.stores))
        self.journal.record("cpu", "cpu_write", f"guest stores {self.stores} at CPU page "
                            f"+{COUNTER_OFFSET:#05x} (logged)", page=self.page, offset=COUNTER_OFFSET,
                            length=8)
