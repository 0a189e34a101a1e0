"""The VFIO migration emulator, assembled: the source's guest RAM with KVM's dirty log, the
IOMMU with dirty bits and an IOTLB, the devices, the VFIO core, QEMU on both sides, and the
journal. The devices' own operations (posting and landing writes) live here, since they
reach across parts: a write to RAM goes through the IOMMU into memory and the device log;
a peer-to-peer write lands in another device.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from migcheck.models.library import vfio_fsm as fsm

from ..errors import refuse
from ..journal import Context, Journal
from ..layout import GUEST_RAM_BASE, PAGE_SIZE
from ..memory import GuestMemory, Memory
from .core import P2P_STATES, VfioCore
from .device import VfioDevice
from .dirty_iommu import DirtyTrackingIommu
from .qemu import Qemu, QemuConfig


@dataclass(frozen=True)
class VfioConfig:
    devs: int = 2
    pages: int = 2
    qemu: QemuConfig = field(default_factory=QemuConfig)
    driver_table: tuple[tuple[str, str, str], ...] = ()


class PageLayout:
    """Guest RAM as the damage report reads it: every page is ordinary guest RAM."""

    def __init__(self, pages: int):
        self.pages = pages

    def role(self, page: int) -> str:
        return f"guest RAM page {page}"

    def descriptor_ring(self, page: int) -> str | None:
        return None  # no descriptor ring is emulated here

    def address(self, page: int) -> int:
        return GUEST_RAM_BASE + page * PAGE_SIZE


class VfioMachine:
    def __init__(self, config: VfioConfig | None = None):
        self.config = config = config or VfioConfig()
        self.layout = PageLayout(config.pages)
        self.journal = Journal()
        self.memory = GuestMemory(config.pages)
        self.iommu = DirtyTrackingIommu(config.pages)
        self.devices = [VfioDevice(d, config.pages) for d in range(config.devs)]
        features = frozenset(f for f, on in (("p2p", config.qemu.p2p), ("pre_copy", config.qemu.pre_copy))
                             if on)
        self.core = VfioCore(self.devices, features, config.driver_table, self.journal,
                             lambda d: self.qemu.on_arc(d))
        self.qemu = Qemu(config.qemu, self.memory, self.iommu, self.devices, self.core, self.journal)
        self.cpu_writes = 0
        self.journal.attach(self.context)

    def context(self) -> Context:
        running = any(dev.state in fsm.RUNS for dev in self.devices)
        posted = sum((dev.posted_dma is not None) + (dev.posted_p2p is not None) for dev in self.devices)
        return Context(running, self.vcpu_running, self.qemu.phase, posted)

    @property
    def vcpu_running(self) -> bool:
        return self.qemu.phase in ("idle", "setup", "precopy", "failing_p2p", "failing", "failed", "blocked")

    @property
    def destination(self) -> Memory:
        return self.qemu.destination

    @property
    def switched_over(self) -> bool:
        return self.qemu.phase == "switched"

    # ------------------------------------------------------------ devices

    def why_not_issue_dma(self, d: int) -> str | None:
        dev = self.devices[d]
        if self.qemu.phase == "idle":
            return "device: the workload starts with the migration"
        if dev.state not in fsm.RUNS:
            return f"device {d}: in {dev.state}, it issues no DMA"
        if dev.posted_dma is not None:
            return f"device {d}: a DMA write is already posted"
        if self.core.pending_into(d, fsm.STOPPED):
            return f"device {d}: an arc into {self.core.next_arc(d)} is pending; nothing new is issued"
        return None

    def issue_dma(self, d: int) -> None:
        refuse(self.why_not_issue_dma(d))
        state = self.devices[d].state
        self.devices[d].issue_dma()
        self.journal.record("device", "dma_issue", f"device {d} ({state}) posts a DMA write",
                            slot=d, before=state.encode())

    def why_not_land_dma(self, d: int, page: int = 0) -> str | None:
        return None if self.devices[d].posted_dma is not None else f"device {d}: no DMA write posted"

    def land_dma(self, d: int, page: int) -> None:
        refuse(self.why_not_land_dma(d))
        dev = self.devices[d]
        data = dev.posted_dma
        assert data is not None
        dev.posted_dma = None
        tracked = self.qemu.config.tracker == "iommu"
        if not (self.iommu.translate_write(page) if tracked else self.iommu.mapped[page]):
            self.journal.record("device", "dma_fault", f"device {d}'s write to page {page} faults "
                                "(not mapped)", page=page, slot=d)
            return
        dev.record_write(page)
        offset = 64 * d
        self.memory.dma_write(page, offset, data)
        synced = "after the final dirty sync" if self.qemu.final_synced else ""
        self.journal.record("device", "data_land", f"device {d}'s DMA write lands in page {page} "
                            f"+{offset:#05x} ({len(data)} bytes){' ' + synced if synced else ''}",
                            page=page, offset=offset, length=len(data), slot=d)

    def why_not_issue_p2p(self, d: int) -> str | None:
        dev = self.devices[d]
        if len(self.devices) < 2 or self.qemu.phase == "idle":
            return "device: no peer to write to"
        if dev.state not in fsm.P2P_SENDS:
            return f"device {d}: in {dev.state}, it issues no P2P write"
        if dev.posted_p2p is not None:
            return f"device {d}: a P2P write is already posted"
        if self.core.pending_into(d, fsm.STOPPED + P2P_STATES):
            return f"device {d}: an arc into {self.core.next_arc(d)} is pending"
        return None

    def issue_p2p(self, d: int) -> None:
        refuse(self.why_not_issue_p2p(d))
        state = self.devices[d].state
        self.devices[d].issue_p2p()
        self.journal.record("device", "p2p_issue", f"device {d} ({state}) posts a P2P write",
                            slot=d, before=state.encode())

    def why_not_land_p2p(self, d: int, e: int) -> str | None:
        if d == e:
            return f"device {d} does not write into itself"
        return None if self.devices[d].posted_p2p is not None else f"device {d}: no P2P write posted"

    def land_p2p(self, d: int, e: int) -> None:
        refuse(self.why_not_land_p2p(d, e))
        data = self.devices[d].posted_p2p
        assert data is not None
        self.devices[d].posted_p2p = None
        peer = self.devices[e]
        before = bytes(peer.internal)
        peer.receive_p2p(data)
        self.journal.record("device", "p2p_land", f"device {d}'s P2P write lands in device {e} "
                            f"(in {peer.state}), changing its state", slot=e,
                            before=before, after=bytes(peer.internal))

    def why_not_arc_fails(self, d: int) -> str | None:
        ok = self.core.pending is not None and self.core.pending[0] == d \
            and self.qemu.phase in ("setup", "precopy") and self.qemu.attempt == 0
        return None if ok else f"device {d}: no arc of an ioctl to fail now"

    def arc_fails(self, d: int) -> None:
        refuse(self.why_not_arc_fails(d))
        self.core.fail_arc(d)
        self.qemu.fail()

    def why_not_reset(self, d: int) -> str | None:
        ok = self.core.pending is None and self.qemu.phase == "precopy" \
            and self.devices[d].state == "PRE_COPY"
        return None if ok else f"device {d}: no asynchronous reset now (only in PRE_COPY, between ioctls)"

    def reset(self, d: int) -> None:
        refuse(self.why_not_reset(d))
        self.devices[d].reset()
        self.journal.record("device", "reset", f"device {d} is reset asynchronously: RUNNING, its data "
                            "transfer ended", slot=d)

    # ------------------------------------------------------------ the guest

    def why_not_cpu_write(self, p: int) -> str | None:
        return None if self.qemu.phase in ("setup", "precopy") else "the vCPUs are not running"

    def cpu_write(self, p: int) -> None:
        refuse(self.why_not_cpu_write(p))
        self.cpu_writes += 1
        data = b"CPU" + self.cpu_writes.to_bytes(4, "little")
        self.memory.cpu_write(p, 2048, data)
        self.journal.record("cpu", "cpu_write", f"a vCPU writes page {p} +0x800", page=p, offset=2048,
                            length=len(data))
