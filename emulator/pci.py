"""The VF's PCI configuration space, as far as migration cares: the Command register and its
Bus Master Enable bit (bit 2, ``0x4``). With BME clear the function issues no memory writes:
no DMA and no MSI-X.

The hypervisor traps config-space writes of a passed-through function (QEMU emulates its
config space), so it knows whether the guest ever enabled bus mastering.
"""

from __future__ import annotations

COMMAND_MEMORY = 0x2  # Memory Space Enable
COMMAND_BUS_MASTER = 0x4  # Bus Master Enable (BME)


class ConfigSpace:
    def __init__(self) -> None:
        self.command = 0
        self.bus_master_enabled_once = False  # the hypervisor's trap saw BME set

    @property
    def bus_master(self) -> bool:
        return bool(self.command & COMMAND_BUS_MASTER)

    def write_command(self, value: int) -> None:
        self.command = value & 0xFFFF
        if self.bus_master:
            self.bus_master_enabled_once = True

    def set_bus_master(self) -> None:
        self.write_command(self.command | COMMAND_MEMORY | COMMAND_BUS_MASTER)

    def clear_bus_master(self) -> None:
        self.write_command(self.command & ~COMMAND_BUS_MASTER)

    def function_level_reset(self) -> None:
        """FLR returns the Command register to 0: BME is clear afterwards."""
        self.command = 0
