"""QEMU migrating VFIO devices, on the source and on the destination.

Source: setup (tracking on, every device to PRE_COPY), the first pass and pre-copy rounds
of dirty syncs, pause, every device to a P2P state, every device to STOP_COPY, the final
dirty sync, the devices' STOP_COPY data; or, on a failure, every device back to RUNNING
(through RUNNING_P2P) and a second attempt that resumes from the dirty bitmap. A dirty
sync copies every page whose bit is set in QEMU's bitmap, KVM's log or the tracker (the
IOMMU's D bits, the devices' DMA logs, or, with legacy type1, every mapped page).
Destination: devices to RESUMING, guest RAM loaded, each device's state loaded, each
device run, then the vCPUs resume there.

What QEMU rebuilds at the destination for a device is its stream's base image (read in
pre-copy) with the STOP_COPY delta applied on top: right only when both come from one
stream, which an asynchronous reset breaks ("data_fd out of sync").
"""

from __future__ import annotations

from dataclasses import dataclass

from migcheck.models.library import vfio_fsm as fsm

from ..errors import refuse
from ..journal import Journal
from ..layout import PAGE_SIZE
from ..memory import EMPTY_FILL, GuestMemory, Memory
from .core import VfioCore
from .device import STATE_SIZE, VfioDevice, xor
from .dirty_iommu import DirtyTrackingIommu


@dataclass(frozen=True)
class QemuConfig:
    rounds: int = 1
    tracker: str = "iommu"  # iommu, device (DMA logging) or type1
    iotlb_flush: bool = True
    harvest_before_unmap: bool = True
    sync_after_stop: bool = True
    p2p: bool = True
    pre_copy: bool = True
    read_stop_copy: bool = True
    blocked: bool = False  # QEMU refuses this migration (post-copy, devices without P2P)
    postcopy: bool = False
    detects_reset: bool = True
    redirty_on_abort: bool = True
    track_before_copy: bool = True


MIGRATING = ("setup", "precopy", "p2p", "stopping")


class Qemu:
    def __init__(self, config: QemuConfig, memory: GuestMemory, iommu: DirtyTrackingIommu,
                 devices: list[VfioDevice], core: VfioCore, journal: Journal):
        self.config, self.memory, self.iommu = config, memory, iommu
        self.devices, self.core, self.journal = devices, core, journal
        pages = len(memory.ram)
        self.phase = "idle"
        self.attempt = 0
        self.rounds_done = 0
        self.tracking = False
        self.final_synced = False
        self.skipped = False
        self.bitmap = [False] * pages  # QEMU's migration bitmap (beside KVM's log)
        self.held: list[tuple[int, bytes] | None] = [None] * len(devices)  # (generation, base)
        self.image: list[bytes | None] = [None] * len(devices)  # what the destination rebuilds
        self.destination = Memory(pages, EMPTY_FILL)
        self.dest_state = ["idle"] * len(devices)
        self.dest_device: list[bytes | None] = [None] * len(devices)
        self.ram_loaded = False

    # ------------------------------------------------------------ what QEMU asks of devices

    def target(self, phase: str | None = None) -> str | None:
        c = self.config
        return {"setup": "PRE_COPY" if c.pre_copy else None,
                "p2p": ("PRE_COPY_P2P" if c.pre_copy else "RUNNING_P2P") if c.p2p else None,
                "stopping": "STOP_COPY",
                "failing_p2p": "RUNNING_P2P" if c.p2p else None,
                "failing": "RUNNING"}.get(phase or self.phase)

    def at_target(self) -> bool:
        goal = self.target()
        return self.core.pending is None and (goal is None or all(d.state == goal for d in self.devices))

    def stream_ok(self, d: int) -> bool:
        held = self.held[d]
        return held is None or held[0] not in self.devices[d].ended_by_reset

    def on_arc(self, d: int) -> None:
        """After an arc: a new data fd is taken unless QEMU holds one (then it is out of
        sync); the STOP_COPY snapshot is what QEMU will read."""
        stream = self.devices[d].stream
        if self.held[d] is None and stream is not None:
            self.held[d] = (stream.generation, stream.base)
        if self.devices[d].state == "STOP_COPY" and self.config.read_stop_copy:
            self.image[d] = self.rebuilt(d)

    def rebuilt(self, d: int) -> bytes | None:
        held, delta = self.held[d], self.devices[d].stop_copy_data()
        if held is None or delta is None:
            return None
        return xor(held[1], delta)

    # ------------------------------------------------------------ source

    def why_not_start(self) -> str | None:
        return None if self.phase == "idle" else f"QEMU: a migration was already started ({self.phase})"

    def start(self) -> None:
        refuse(self.why_not_start())
        if self.config.blocked:
            self.phase = "blocked"
            self.journal.record("qemu", "blocked", "QEMU: migration blocked (VFIO device)")
            return
        self.phase = "setup"
        self.bitmap = [True] * len(self.bitmap)  # the first pass copies every page
        self.journal.record("qemu", "start", "QEMU: migration setup; the bitmap starts full")

    def why_not_enable_tracking(self) -> str | None:
        when = "setup" if self.config.track_before_copy else "precopy"
        if self.tracking or self.phase != when:
            return f"QEMU: dirty tracking is turned on once, in {when}"
        return None

    def enable_tracking(self) -> None:
        refuse(self.why_not_enable_tracking())
        self.tracking = True
        if self.config.tracker == "iommu":
            self.iommu.set_dirty_tracking()
        elif self.config.tracker == "device":
            for dev in self.devices:
                dev.start_logging()
        self.journal.record("qemu", "tracking", f"QEMU: dirty tracking on ({self.config.tracker})")

    def why_not_set_state(self, d: int) -> str | None:
        goal = self.target()
        if self.core.pending is not None:
            return f"QEMU: the SET_STATE ioctl on device {self.core.pending[0]} has not returned"
        if goal is None or self.devices[d].state in (goal, "ERROR"):
            return f"QEMU: nothing to ask of device {d} in phase {self.phase}"
        return None

    def set_state(self, d: int) -> None:
        refuse(self.why_not_set_state(d))
        goal = self.target()
        assert goal is not None
        self.core.begin(d, goal)

    def _reported(self) -> list[bool]:
        kvm = set(self.memory.dirty_log.harvest())
        tracker = self.config.tracker
        if tracker == "iommu":
            bits = self.iommu.read_and_clear(self.config.iotlb_flush)
        elif tracker == "device":
            reports = [dev.report() for dev in self.devices]
            bits = [any(r[p] for r in reports) for p in range(len(self.bitmap))]
        else:
            bits = list(self.iommu.mapped)  # type1: every pinned page
        return [self.bitmap[p] or p in kvm or bits[p] for p in range(len(self.bitmap))]

    def harvest(self, final: bool) -> None:
        reported = self._reported()
        for p, copy in enumerate(reported):
            if copy:
                self.destination.load_page(p, self.memory.ram.page(p))
                self.journal.record("qemu", "copy", f"QEMU: page {p} copied", page=p, length=PAGE_SIZE)
        self.bitmap = [False] * len(self.bitmap)
        if final:
            self.final_synced = True
            self.skipped = any(self.iommu.mapped[p] and not reported[p] for p in range(len(reported)))
            self.journal.record("qemu", "final_sync", "QEMU: final dirty sync, pages "
                                f"{[p for p, c in enumerate(reported) if c]} copied")

    def why_not_first_copy(self) -> str | None:
        if self.phase != "setup" or (self.config.track_before_copy and not self.tracking):
            return "QEMU: the first pass comes in setup, once tracking is on"
        return None if self.at_target() else "QEMU: devices are not in PRE_COPY yet"

    def first_copy(self) -> None:
        refuse(self.why_not_first_copy())
        self.phase = "precopy"
        self.harvest(final=False)

    def why_not_precopy_round(self) -> str | None:
        ok = self.phase == "precopy" and self.tracking and self.rounds_done < self.config.rounds
        return None if ok else "QEMU: no pre-copy round left"

    def precopy_round(self) -> None:
        refuse(self.why_not_precopy_round())
        self.rounds_done += 1
        self.harvest(final=False)
        if not self.config.read_stop_copy:  # PRE_COPY data taken as final
            for d, dev in enumerate(self.devices):
                if dev.state == "PRE_COPY" and self.held[d] is not None and dev.stream is not None:
                    self.image[d] = xor(self.held[d][1], xor(bytes(dev.internal), dev.stream.base))

    def why_not_pause(self) -> str | None:
        return None if self.phase == "precopy" and self.tracking else "QEMU: not in pre-copy"

    def pause(self) -> None:
        refuse(self.why_not_pause())
        self.phase = "p2p" if self.config.p2p else "stopping"
        self.journal.record("qemu", "pause", "QEMU: vCPUs paused")

    def why_not_stop_devices(self) -> str | None:
        return None if self.phase == "p2p" and self.at_target() else "QEMU: devices not all in P2P"

    def stop_devices(self) -> None:
        refuse(self.why_not_stop_devices())
        self.phase = "stopping"

    def why_not_final_sync(self) -> str | None:
        if self.final_synced:
            return "QEMU: the final sync is done"
        if self.config.sync_after_stop:
            ok = self.phase == "stopping" and self.at_target()
        else:
            ok = self.phase in ("p2p", "stopping")
        return None if ok else "QEMU: not time for the final sync"

    def final_sync(self) -> None:
        refuse(self.why_not_final_sync())
        self.harvest(final=True)

    def why_not_save_devices(self) -> str | None:
        if not (self.phase == "stopping" and self.at_target() and self.final_synced):
            return "QEMU: devices not all in STOP_COPY, or no final sync yet"
        if self.config.detects_reset and not all(self.stream_ok(d) for d in range(len(self.devices))):
            return "QEMU: a device's data stream was ended"
        return None

    def save_devices(self) -> None:
        refuse(self.why_not_save_devices())
        self.phase = "saved"
        self.journal.record("qemu", "saved", "QEMU: every device's STOP_COPY data read")

    def why_not_detect_reset(self, d: int) -> str | None:
        if self.config.detects_reset and self.phase in MIGRATING and self.core.pending is None \
                and not self.stream_ok(d):
            return None
        return f"QEMU: device {d}'s data stream is in sync"

    def detect_reset(self, d: int) -> None:
        refuse(self.why_not_detect_reset(d))
        self.journal.record("qemu", "fail", f"QEMU: device {d}: data_fd out of sync; migration fails")
        self.fail()

    def fail(self) -> None:
        self.phase = "failing_p2p" if self.config.p2p else "failing"
        self.destination = Memory(len(self.bitmap), EMPTY_FILL)
        if self.config.redirty_on_abort:
            self.bitmap = [True] * len(self.bitmap)
        self.image = [None] * len(self.devices)
        self.dest_state = ["idle"] * len(self.devices)
        self.dest_device = [None] * len(self.devices)
        self.ram_loaded = False
        self.final_synced = False
        self.rounds_done = 0

    def why_not_cancel(self) -> str | None:
        ok = self.phase in ("precopy", "stopping") and self.core.pending is None and self.attempt == 0
        return None if ok else "QEMU: no cancel now"

    def cancel(self) -> None:
        refuse(self.why_not_cancel())
        self.journal.record("qemu", "fail", "QEMU: migration cancelled")
        self.fail()

    def why_not_recover(self, d: int) -> str | None:
        ok = self.phase in ("failing_p2p", "failing") and self.core.pending is None \
            and self.devices[d].state == "ERROR"
        return None if ok else f"QEMU: device {d} is not in ERROR on the failure path"

    def recover(self, d: int) -> None:
        refuse(self.why_not_recover(d))
        self.devices[d].reset()
        self.held[d] = None
        self.journal.record("qemu", "reset", f"QEMU: device {d} reset (VFIO_DEVICE_RESET), RUNNING")

    def why_not_resume_devices(self) -> str | None:
        return None if self.phase == "failing_p2p" and self.at_target() else "QEMU: not all in RUNNING_P2P"

    def resume_devices(self) -> None:
        refuse(self.why_not_resume_devices())
        self.phase = "failing"

    def why_not_failed(self) -> str | None:
        return None if self.phase == "failing" and self.at_target() else "QEMU: not all RUNNING"

    def failed(self) -> None:
        refuse(self.why_not_failed())
        self.phase = "failed"
        self.held = [None] * len(self.devices)
        self.journal.record("qemu", "failed", "QEMU: migration failed; the VM runs on the source")

    def why_not_retry(self) -> str | None:
        return None if self.phase == "failed" and self.attempt == 0 else "QEMU: no retry now"

    def retry(self) -> None:
        refuse(self.why_not_retry())
        self.attempt = 1
        self.phase = "setup"
        self.journal.record("qemu", "start", "QEMU: second attempt, resuming from the bitmap")

    # ------------------------------------------------------------ guest and host

    def why_not_unmap(self, p: int) -> str | None:
        return None if self.phase == "precopy" and self.iommu.mapped[p] else f"page {p}: no unmap now"

    def unmap(self, p: int) -> None:
        refuse(self.why_not_unmap(p))
        if self.config.tracker == "type1":
            self.bitmap[p] = True  # type1 reports every pinned page of the range dirty
        elif self.config.harvest_before_unmap:
            bit = self.iommu.read_page(p) or any(dev.log[p] for dev in self.devices)
            self.bitmap[p] = self.bitmap[p] or bit
        for dev in self.devices:
            dev.log[p] = False
        self.iommu.unmap(p)
        self.journal.record("host", "unmap", f"page {p} unmapped from the IOMMU", page=p)

    def why_not_remap(self, p: int) -> str | None:
        return None if self.phase == "precopy" and not self.iommu.mapped[p] else f"page {p}: no remap now"

    def remap(self, p: int) -> None:
        refuse(self.why_not_remap(p))
        self.iommu.map(p)

    # ------------------------------------------------------------ destination

    def why_not_dest_resuming(self) -> str | None:
        return None if self.phase == "saved" and all(s == "idle" for s in self.dest_state) else \
            "destination: not ready for RESUMING"

    def dest_resuming(self) -> None:
        refuse(self.why_not_dest_resuming())
        self.dest_state = ["resuming"] * len(self.devices)

    def why_not_dest_load_ram(self) -> str | None:
        return None if self.phase in ("saved", "switched") and not self.ram_loaded else \
            "destination: RAM not to load now"

    def dest_load_ram(self) -> None:
        refuse(self.why_not_dest_load_ram())
        self.ram_loaded = True
        self.journal.record("dest", "load_ram", "destination: guest RAM loaded")

    def why_not_dest_load_device(self, d: int) -> str | None:
        return None if self.phase == "saved" and self.dest_state[d] == "resuming" else \
            f"destination: device {d} is not RESUMING"

    def dest_load_device(self, d: int) -> None:
        refuse(self.why_not_dest_load_device(d))
        self.dest_state[d] = "loaded"
        self.dest_device[d] = self.image[d] if self.image[d] is not None else bytes(STATE_SIZE)

    def why_not_dest_run(self, d: int) -> str | None:
        ram = True if self.config.postcopy else self.ram_loaded
        ok = self.phase == "saved" and self.dest_state[d] == "loaded" and ram
        return None if ok else f"destination: device {d} cannot run yet"

    def dest_run(self, d: int) -> None:
        refuse(self.why_not_dest_run(d))
        self.dest_state[d] = "running"
        self.journal.record("dest", "dest_run", f"destination: device {d} RUNNING"
                            + ("" if self.ram_loaded else ", guest RAM not loaded yet"), slot=d,
                            before=b"ram" if self.ram_loaded else b"")

    def why_not_switchover(self) -> str | None:
        return None if self.phase == "saved" and all(s == "running" for s in self.dest_state) else \
            "destination: devices not all running"

    def switchover(self) -> None:
        refuse(self.why_not_switchover())
        self.phase = "switched"
        self.journal.record("qemu", "switchover", "the vCPUs resume at the destination")


STOPPED = fsm.STOPPED
