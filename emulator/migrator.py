"""The hypervisor's migration controller, with real source and destination memories.

Setup turns dirty logging on and copies every page; each pre-copy round copies the pages
logged since the last harvest; then the guest is notified (if it opted in) and the migrator
waits for its acknowledgement, or times out; it stops the vCPU, makes the final copy of the
pages still logged, and switches over: the VM resumes on the destination and the source
stops. An abort before the switchover resumes the VM on the source.

With the mapped-page ``bitmap`` there is no event: the migrator stops the vCPU, clears BME
itself (a config write), waits until the VF has drained, and the final copy takes every page
logged or mapped (the bitmap), and the ring pages (coherent memory, always mapped). On an
abort it sets BME again.

The destination has a VF of its own: a fresh function (BME clear, no rings) that the guest's
driver finds after the switchover and rebuilds; with ``dest_starts_early`` the migrator
restores the source VF's state onto it and lets it run before guest RAM is loaded there.

Each copy of a page records whether the VF was quiet then (BME clear, nothing posted): a
copy of a page the VF may still write is not the page's last word.
"""

from __future__ import annotations

from dataclasses import dataclass

from .channel import MigrationChannel
from .errors import refuse
from .journal import Journal
from .layout import GuestLayout
from .memory import EMPTY_FILL, GuestMemory, Memory
from .vcpu import Vcpu
from .vf import VirtualFunction

PHASES = ("idle", "precopy", "notified", "quiescing", "stopped", "copied", "switched", "aborted",
          "blocked")


@dataclass(frozen=True)
class MigratorConfig:
    rounds: int = 1  # pre-copy rounds after the first full copy
    check_opt_in: bool = True  # refuse to migrate unless the driver opted in before bus mastering
    opt_in_needs_early: bool = True  # ... refuse a late opt-in, and drop the record at a rebind
    ack_timeout: bool = True  # stop waiting for the acknowledgement
    harvest_after_event: bool = True  # pre-copy rounds go on after the event
    bitmap: bool = False  # the mapped-page bitmap instead of the event
    proceed_on_bme_clear: bool = False  # stop the vCPU once the guest's BME clear traps
    dest_starts_early: bool = False  # start the destination's VF before guest RAM is loaded


class Migrator:
    def __init__(self, config: MigratorConfig, layout: GuestLayout, memory: GuestMemory,
                 vf: VirtualFunction, channel: MigrationChannel, vcpu: Vcpu, journal: Journal):
        self.config = config
        self.layout = layout
        self.memory = memory
        self.vf = vf
        self.channel = channel
        self.vcpu = vcpu
        self.journal = journal
        self.destination = Memory(layout.pages, EMPTY_FILL)
        self.phase = "idle"
        self.rounds_done = 0
        self.copied_quiet = [False] * layout.pages  # the page's last copy was made with the VF quiet
        self.started_with_opt_in: str | None = None  # the opt-in record when the migration started
        self.dest_vf: VirtualFunction | None = None  # the destination's VF, once there is one

    @property
    def destination_device(self) -> bool:
        """The VF runs on the destination (bus mastering on there)."""
        return self.dest_vf is not None and self.dest_vf.config.bus_master

    def _fresh_destination_vf(self) -> VirtualFunction:
        return VirtualFunction(self.layout, self.memory, self.vf.iommu, self.journal, self.vf.dma.max_posted)

    def opt_in_accepted(self) -> bool:
        if self.config.opt_in_needs_early:
            return self.channel.opt_in == "before_bme"
        return self.channel.opted_in

    # ------------------------------------------------------------ copying

    def _copy(self, pages: list[int], why: str) -> None:
        quiet = self.vf.quiet()
        for page in pages:
            self.destination.load_page(page, self.memory.ram.page(page))
            self.copied_quiet[page] = quiet
        names = ", ".join(self.layout.role(p) for p in pages) or "no page"
        state = "VF quiet" if quiet else (
            f"VF not quiet: BME {'set' if self.vf.config.bus_master else 'clear'}, "
            f"{len(self.vf.dma.posted)} posted")
        for page in pages:
            self.journal.record("migrator", "copy", f"{why}: copy {self.layout.role(page)} ({state})",
                                page=page)
        if not pages:
            self.journal.record("migrator", "copy", f"{why}: {names} logged, nothing to copy")

    # ------------------------------------------------------------ phases

    def why_not_start(self) -> str | None:
        if self.phase != "idle":
            return f"migrator: a migration already ran (phase {self.phase})"
        if not self.vf.config.bus_master_enabled_once:
            return "migrator: the VF's driver has not bound it yet (bus mastering never enabled)"
        if self.config.check_opt_in and not self.opt_in_accepted():
            return ("migrator: the driver did not opt in to dirty marking before bus mastering "
                    f"(opt-in: {self.channel.opt_in}); migration is blocked")
        return None

    def start(self) -> None:
        """Dirty logging on (the log is harvested and cleared) and the first full copy."""
        refuse(self.why_not_start())
        self.phase = "precopy"
        self.started_with_opt_in = self.channel.opt_in
        self.memory.dirty_log.harvest()
        self.journal.record("migrator", "start", "migration starts: dirty logging on"
                            f" (opt-in: {self.channel.opt_in})")
        self._copy(list(range(self.layout.pages)), "setup")

    def why_not_block(self) -> str | None:
        if not self.config.check_opt_in or self.phase != "idle":
            return "migrator: nothing to block"
        if not self.vf.config.bus_master_enabled_once:
            return "migrator: the VF's driver has not bound it yet"
        if self.opt_in_accepted():
            return "migrator: the driver opted in; migration is allowed"
        return None

    def block(self) -> None:
        refuse(self.why_not_block())
        self.phase = "blocked"
        self.journal.record("migrator", "block", "migration refused: no opt-in before bus mastering "
                            f"(opt-in: {self.channel.opt_in})")

    def driver_rebound(self) -> None:
        """The VF was rebound to another driver: the hypervisor drops the opt-in record with the
        old driver (or, without ``opt_in_needs_early``, keeps it for the new one)."""
        self.channel.opt_in = "none" if self.config.opt_in_needs_early else "inherited"

    def why_not_precopy_round(self) -> str | None:
        phases = ("precopy", "notified") if self.config.harvest_after_event else ("precopy",)
        if self.phase not in phases:
            return f"migrator: no pre-copy in phase {self.phase}"
        if self.rounds_done >= self.config.rounds:
            return f"migrator: all {self.config.rounds} pre-copy rounds done"
        return None

    def precopy_round(self) -> None:
        refuse(self.why_not_precopy_round())
        self.rounds_done += 1
        self._copy(self.memory.dirty_log.harvest(), f"pre-copy round {self.rounds_done}")

    def why_not_notify(self) -> str | None:
        if self.phase != "precopy" or self.config.bitmap:
            return f"migrator: cannot notify in phase {self.phase}" + (" (bitmap: no event)" if
                                                                       self.config.bitmap else "")
        if not self.channel.opted_in:
            return "migrator: the driver did not opt in; it gets no migration event"
        return None

    def notify(self) -> None:
        refuse(self.why_not_notify())
        self.phase = "notified"
        self.channel.event = True
        self.journal.record("migrator", "notify", "migration event raised; waiting for the acknowledgement")

    def why_not_stop_vcpu(self) -> str | None:
        if self.config.bitmap:
            if self.phase != "precopy":
                return f"migrator: cannot stop the vCPU in phase {self.phase}"
            return None
        if self.phase == "notified" and self.channel.acked:
            return None
        if self.phase == "notified" and self.config.proceed_on_bme_clear and not self.vf.config.bus_master:
            return None  # the guest's write clearing BME trapped: proceed
        if self.phase == "precopy" and not self.channel.opted_in:
            return None
        if self.phase == "notified":
            return "migrator: waiting for the driver's acknowledgement"
        if self.phase == "precopy":
            return "migrator: the driver opted in; notify it first"
        return f"migrator: cannot stop the vCPU in phase {self.phase}"

    def stop_vcpu(self) -> None:
        refuse(self.why_not_stop_vcpu())
        self.vcpu.running = False
        if self.config.bitmap:
            self.phase = "quiescing"
            self.vf.config.clear_bus_master()
            self.journal.record("migrator", "stop_vcpu", "vCPU stopped; the migrator clears BME "
                                f"itself (Command register := {self.vf.config.command:#06x})")
            return
        self.phase = "stopped"
        self.journal.record("migrator", "stop_vcpu", "vCPU stopped")

    def why_not_drain_device(self) -> str | None:
        if not self.config.bitmap or self.phase != "quiescing":
            return f"migrator: nothing to drain in phase {self.phase}"
        if not self.vf.quiet():
            return (f"migrator: drain waits: the register read completes only behind the "
                    f"{len(self.vf.dma.posted)} posted write(s) in flight")
        return None

    def drain_device(self) -> None:
        refuse(self.why_not_drain_device())
        self.phase = "stopped"
        self.journal.record("migrator", "drain", "RX queue disabled and a register read returned: "
                            "no posted write is in flight")

    def why_not_timeout(self) -> str | None:
        if not self.config.ack_timeout:
            return "migrator: it waits for the acknowledgement without a timeout"
        if self.phase != "notified" or self.channel.acked:
            return "migrator: not waiting for an acknowledgement"
        return None

    def timeout(self) -> None:
        refuse(self.why_not_timeout())
        self.journal.record("migrator", "timeout", "no acknowledgement in time")
        self._resume_on_source("timed out")

    def why_not_stop_and_copy(self) -> str | None:
        return None if self.phase == "stopped" else f"migrator: the vCPU is not stopped (phase {self.phase})"

    def stop_and_copy(self) -> None:
        refuse(self.why_not_stop_and_copy())
        self.phase = "copied"
        pages = set(self.memory.dirty_log.harvest())
        if self.config.bitmap:  # every page whose bit is set: mapped buffers and the rings
            pages |= {p for p in range(self.layout.ring_page) if self.vf.iommu.is_mapped(p)}
            pages |= {self.layout.ring_page, self.layout.tx_ring_page}
        self._copy(sorted(pages), "stop-and-copy")

    def why_not_switchover(self) -> str | None:
        return None if self.phase == "copied" else f"migrator: no final copy yet (phase {self.phase})"

    def switchover(self) -> None:
        """The VM resumes on the destination; the source machine stops for good."""
        refuse(self.why_not_switchover())
        self.phase = "switched"
        self.vf.power_off()
        if self.dest_vf is None:
            self.dest_vf = self._fresh_destination_vf()
        self.journal.record("migrator", "switchover", "switchover: guest RAM loaded on the destination; "
                            "the VM resumes there" + (" with its VF already running" if
                                                      self.destination_device else ", with a fresh VF"))

    def why_not_abort(self) -> str | None:
        if self.phase in ("precopy", "notified", "quiescing", "stopped", "copied"):
            return None
        return f"migrator: nothing to abort (phase {self.phase})"

    def abort(self) -> None:
        refuse(self.why_not_abort())
        if self.config.bitmap and self.phase in ("quiescing", "stopped", "copied"):
            self.vf.config.set_bus_master()  # it cleared BME; it sets it again
        self._resume_on_source("aborted")

    def _resume_on_source(self, how: str) -> None:
        self.phase = "aborted"
        self.vcpu.running = True
        self.channel.event = False
        self.channel.aborted = True
        self.journal.record("migrator", "abort", f"migration {how}: the VM resumes on the source")

    def why_not_start_destination_device(self) -> str | None:
        if not self.config.dest_starts_early:
            return "migrator: the destination's VF is started by its driver, after the switchover"
        if self.phase not in ("stopped", "copied"):
            return f"migrator: no destination VF to start in phase {self.phase}"
        if self.destination_device:
            return "migrator: the destination's VF already runs"
        return None

    def start_destination_device(self) -> None:
        """Restore the source VF's state onto the destination's VF and let it run."""
        refuse(self.why_not_start_destination_device())
        self.dest_vf = self._fresh_destination_vf()
        if self.vf.ring_base is not None:
            self.dest_vf.configure_rx_ring(self.vf.ring_base, self.vf.ring_len)
        self.dest_vf.config.set_bus_master()
        differ = [self.layout.role(p) for p in range(self.layout.pages)
                  if self.destination.page(p) != self.memory.ram.page(p)]
        self.journal.record("migrator", "dest_device", "the destination's VF starts with the source's "
                            f"ring state in phase {self.phase}, before the final copy is loaded there"
                            + (f" ({', '.join(differ)} still stale)" if differ else ""))
