"""The whole emulated system, assembled: the source's guest RAM with its dirty log, the
IOMMU, the VF, the guest (vCPU, VF driver, network stack), the wire, the migrator with the
destination's RAM, and the journal that stamps every event with the machine's context.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .channel import MigrationChannel
from .dma import PostedWrite
from .driver import DriverConfig, GuestDriver
from .errors import StepRefused, refuse
from .iommu import WHOLE_RAM, Iommu
from .journal import Context, Journal
from .layout import GuestLayout
from .memory import GuestMemory, Memory
from .migrator import Migrator, MigratorConfig
from .packets import Wire
from .stack import GuestStack
from .vcpu import Vcpu
from .vf import VirtualFunction


@dataclass(frozen=True)
class MachineConfig:
    slots: int = 2  # RX descriptors
    buffer_pages: int = 1  # RX buffer allocations
    span: int = 1  # 4 KiB pages per RX buffer allocation (a jumbo buffer covers them all)
    max_posted: int = 1  # posted DMA writes in flight at once
    iommu: str = WHOLE_RAM  # what the VF can reach: the whole guest RAM, or only mapped pages
    driver: DriverConfig = field(default_factory=DriverConfig)
    migrator: MigratorConfig = field(default_factory=MigratorConfig)


class Machine:
    def __init__(self, config: MachineConfig | None = None):
        self.config = config = config or MachineConfig()
        self.layout = GuestLayout(config.slots, config.buffer_pages, config.span)
        self.journal = Journal()
        self.memory = GuestMemory(self.layout.pages)
        self.iommu = Iommu(self.layout, config.iommu)
        self.vf = VirtualFunction(self.layout, self.memory, self.iommu, self.journal, config.max_posted)
        self.channel = MigrationChannel()
        self.vcpu = Vcpu()
        self.stack = GuestStack()
        self.driver = GuestDriver(config.driver, self.layout, self.memory, self.iommu, self.vf,
                                  self.channel, self.vcpu, self.stack, self.journal)
        self.migrator = Migrator(config.migrator, self.layout, self.memory, self.vf, self.channel,
                                 self.vcpu, self.journal)
        self.wire = Wire()
        self.driver.migration_phase = lambda: self.migrator.phase
        self.journal.attach(self.context)

    def context(self) -> Context:
        return Context(self.vf.config.bus_master, self.vcpu.running, self.migrator.phase,
                       len(self.vf.dma.posted))

    @property
    def destination(self) -> Memory:
        return self.migrator.destination

    @property
    def switched_over(self) -> bool:
        return self.migrator.phase == "switched"

    def world(self) -> tuple[Memory, str]:
        """The memory the VM runs in now, and its name."""
        if self.switched_over:
            return self.destination, "destination"
        return self.memory.ram, "source"

    # ------------------------------------------------------------ operations on several parts

    def why_not_switchover(self) -> str | None:
        return self.migrator.why_not_switchover()

    def switchover(self) -> None:
        """The VM resumes on the destination; its driver now drives the destination's VF."""
        self.migrator.switchover()
        assert self.migrator.dest_vf is not None
        self.driver.vf = self.migrator.dest_vf

    def why_not_rebind(self) -> str | None:
        d = self.driver
        if not d.config.marks_dma_pages or d.state != "up" or self.migrator.phase != "idle":
            return "guest: a rebind is modelled before any migration, of an opted-in driver that is up"
        if not self.channel.opted_in:
            return "guest: the driver never opted in: nothing for the next driver to inherit"
        return None

    def rebind(self) -> None:
        """The VF is rebound to another driver, which neither marks nor answers the event."""
        refuse(self.why_not_rebind())
        self.driver.state = "foreign"
        self.migrator.driver_rebound()
        self.journal.record("driver", "rebind", "the VF is rebound to a driver that does not mark; "
                            f"the hypervisor's opt-in record is now {self.channel.opt_in}")

    def packet_arrives(self) -> int:
        """The wire delivers the next packet to the VF; returns the descriptor it used."""
        refuse(self.vf.why_not_receive())
        return self.vf.receive(self.wire.next_packet())

    def why_not_land(self, slot: int, purpose: str) -> str | None:
        if self.vf.dma.find(slot, purpose) is None:
            return f"DMA engine: no posted {purpose} write for descriptor {slot}"
        if self.vf.dma.halted:
            return "DMA engine: the source machine is stopped; posted writes no longer land"
        return None

    def land(self, slot: int, purpose: str) -> PostedWrite:
        """Land the posted write of ``purpose`` ("data" or "writeback") for descriptor ``slot``."""
        refuse(self.why_not_land(slot, purpose))
        index = self.vf.dma.find(slot, purpose)
        assert index is not None
        return self.vf.dma.land(index)


__all__ = ["DriverConfig", "Machine", "MachineConfig", "MigratorConfig", "StepRefused"]
