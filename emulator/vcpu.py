"""The guest's vCPU as the hypervisor controls it: running, or stopped for the final copy.
Guest software (the driver) runs only while it runs.

The rest of guest RAM, which only the CPU writes, is left out: the dirty log covers it, as
the model's abstraction says.
"""

from __future__ import annotations


class Vcpu:
    def __init__(self) -> None:
        self.running = True

    def why_not_run(self) -> str | None:
        return None if self.running else "guest: the vCPU is stopped"
