"""The hypervisor's migration controller, with real source and destination memories.

Setup turns dirty logging on and copies every page; each pre-copy round copies the pages
logged since the last harvest; then the guest is notified (if it opted in) and the migrator
waits for its acknowledgement, or times out; it stops the vCPU, makes the final copy of the
pages still logged, and switches over: the VM resumes on the destination and the source
stops. An abort before the switchover resumes the VM on the source.

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

PHASES = ("idle", "precopy", "notified", "stopped", "copied", "switched", "aborted", "blocked")


@dataclass(frozen=True)
class MigratorConfig:
    rounds: int = 1  # pre-copy rounds after the first full copy
    check_opt_in: bool = True  # refuse to migrate unless the driver opted in before bus mastering
    ack_timeout: bool = True  # stop waiting for the acknowledgement


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
        self.started_with_opt_in: bool | None = None
        self.destination_device = False

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
        if self.config.check_opt_in and not self.channel.opted_in:
            return "migrator: the driver did not opt in to dirty marking; migration is blocked"
        return None

    def start(self) -> None:
        """Dirty logging on (the log is harvested and cleared) and the first full copy."""
        refuse(self.why_not_start())
        self.phase = "precopy"
        self.started_with_opt_in = self.channel.opted_in
        self.memory.dirty_log.harvest()
        self.journal.record("migrator", "start", "migration starts: dirty logging on"
                            + ("" if self.channel.opted_in else " (the driver never opted in)"))
        self._copy(list(range(self.layout.pages)), "setup")

    def why_not_block(self) -> str | None:
        if not self.config.check_opt_in or self.phase != "idle":
            return "migrator: nothing to block"
        if not self.vf.config.bus_master_enabled_once:
            return "migrator: the VF's driver has not bound it yet"
        if self.channel.opted_in:
            return "migrator: the driver opted in; migration is allowed"
        return None

    def block(self) -> None:
        refuse(self.why_not_block())
        self.phase = "blocked"
        self.journal.record("migrator", "block", "migration refused: bus mastering on without opt-in")

    def why_not_precopy_round(self) -> str | None:
        if self.phase not in ("precopy", "notified"):
            return f"migrator: no pre-copy in phase {self.phase}"
        if self.rounds_done >= self.config.rounds:
            return f"migrator: all {self.config.rounds} pre-copy rounds done"
        return None

    def precopy_round(self) -> None:
        refuse(self.why_not_precopy_round())
        self.rounds_done += 1
        self._copy(self.memory.dirty_log.harvest(), f"pre-copy round {self.rounds_done}")

    def why_not_notify(self) -> str | None:
        if self.phase != "precopy":
            return f"migrator: cannot notify in phase {self.phase}"
        if not self.channel.opted_in:
            return "migrator: the driver did not opt in; it gets no migration event"
        return None

    def notify(self) -> None:
        refuse(self.why_not_notify())
        self.phase = "notified"
        self.channel.event = True
        self.journal.record("migrator", "notify", "migration event raised; waiting for the acknowledgement")

    def why_not_stop_vcpu(self) -> str | None:
        if self.phase == "notified" and self.channel.acked:
            return None
        if self.phase == "precopy" and not self.channel.opted_in:
            return None
        if self.phase == "notified":
            return "migrator: waiting for the driver's acknowledgement"
        if self.phase == "precopy":
            return "migrator: the driver opted in; notify it first"
        return f"migrator: cannot stop the vCPU in phase {self.phase}"

    def stop_vcpu(self) -> None:
        refuse(self.why_not_stop_vcpu())
        self.phase = "stopped"
        self.vcpu.running = False
        self.journal.record("migrator", "stop_vcpu", "vCPU stopped")

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
        self._copy(self.memory.dirty_log.harvest(), "stop-and-copy")

    def why_not_switchover(self) -> str | None:
        return None if self.phase == "copied" else f"migrator: no final copy yet (phase {self.phase})"

    def switchover(self) -> None:
        """The VM resumes on the destination; the source machine stops for good."""
        refuse(self.why_not_switchover())
        self.phase = "switched"
        self.vf.power_off()
        self.journal.record("migrator", "switchover", "switchover: the VM resumes on the destination")

    def why_not_abort(self) -> str | None:
        if self.phase in ("precopy", "notified", "stopped", "copied"):
            return None
        return f"migrator: nothing to abort (phase {self.phase})"

    def abort(self) -> None:
        refuse(self.why_not_abort())
        self._resume_on_source("aborted")

    def _resume_on_source(self, how: str) -> None:
        self.phase = "aborted"
        self.vcpu.running = True
        self.channel.event = False
        self.channel.aborted = True
        self.journal.record("migrator", "abort", f"migration {how}: the VM resumes on the source")

    def why_not_start_destination_device(self) -> str | None:
        if self.phase != "switched":
            return "migrator: the destination's RAM is not loaded (no switchover yet)"
        if self.destination_device:
            return "migrator: the destination's VF already runs"
        return None

    def start_destination_device(self) -> None:
        refuse(self.why_not_start_destination_device())
        self.destination_device = True
        self.journal.record("migrator", "dest_device", "the destination's VF starts")
