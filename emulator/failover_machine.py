"""Failover migration on the emulator: the guest-assisted machine's source RAM, dirty log, VF
and migrator, with a virtio standby, the VF's hot-plug slot, a destination VF, the guest's
net_failover master, an L2 switch, and QEMU's failover phases around the migrator.

QEMU's phases: idle, wait_unplug (the unplug was requested; RAM copying waits for the
eject), active (the migrator's setup copy and pre-copy rounds), stopcopy (vCPU stopped,
final copy), switched, cancelled (the wait ended without the unplug), failed (the
migration failed after it started copying; the VM runs on at the source), blocked.

Every packet comes from the wire with a sequence number; the switch sends it to a host,
where the guest's active slave takes it (the source VF by real DMA into its RX buffer, the
virtio backend by a logged write, the destination VF into the destination's RAM) or nobody
does and it is lost. At the switchover the pages that differ between source and
destination are recorded: later writes at the destination are the VM's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .damage import Damage, PacketFate, PageDifference, page_differences
from .dma import DATA, WRITEBACK
from .errors import refuse
from .hotplug import DestinationVf, SourceVfSlot
from .journal import Context
from .machine import Machine, MachineConfig
from .migrator import MigratorConfig
from .net_failover import FailoverMaster
from .packets import FRAME_LEN, Packet
from .schedule import OperationKind
from .switch import L2Switch
from .virtio_standby import VirtioStandby

ENDED = ("switched", "cancelled", "failed", "blocked")
PATHS = ("primary", "standby", "lost")


@dataclass(frozen=True)
class FailoverConfig:
    """The emulated system's design choices (what the failover variants change)."""

    pkts: int = 2  # packets the wire offers
    loss_bound: int = 1  # packets that may be lost (what loss-bounded's observer judges by)
    waits_for_unplug: bool = True
    unplug_timeout: bool = True
    replug_on_failure: bool = True
    plug_dest_after_switch: bool = True
    checks_standby: bool = True
    same_l2: bool = True


@dataclass(frozen=True)
class Delivery:
    """What became of one packet: the path that took it, where, and why (for a lost one)."""

    seq: int
    path: str  # "source VF", "standby", "destination VF", or "lost"
    host: str
    why: str = ""
    slot: int = -1
    page: int = -1
    offset: int = 0


class FailoverMachine:
    def __init__(self, config: FailoverConfig | None = None):
        self.config = config = config or FailoverConfig()
        # one RX descriptor per packet, so the VF never waits for the guest to clean one
        self.source = Machine(MachineConfig(slots=max(2, config.pkts), buffer_pages=1,
                                            migrator=MigratorConfig(rounds=1, check_opt_in=False,
                                                                    ack_timeout=False)))
        src = self.source
        self.journal = src.journal
        self.virtio = VirtioStandby(src.layout, self.journal)
        self.slot = SourceVfSlot(src.vf, self.journal)
        self.dest_vf = DestinationVf(src.layout, self.journal)
        self.master = FailoverMaster(self.journal)
        self.switch = L2Switch(self.journal, config.same_l2)
        self.phase = "idle"
        self.deliveries: list[Delivery] = []
        self.at_switchover: tuple[PageDifference, ...] = ()
        self.dest_rx_at_switchover = b""
        self.journal.attach(self.context)
        src.driver.probe()  # the guest boots with its VF bound and its RX ring filled
        for _ in range(src.layout.slots):
            src.driver.refill()

    def context(self) -> Context:
        vf = self.source.vf
        return Context(vf.config.bus_master, self.source.vcpu.running, self.phase, len(vf.dma.posted))

    # ------------------------------------------------------------ where the guest is

    @property
    def switched_over(self) -> bool:
        return self.phase == "switched"

    @property
    def guest_host(self) -> str:
        return "destination" if self.switched_over else "source"

    def primary_up(self) -> bool:
        if self.switched_over:
            return self.dest_vf.state == "bound"
        return self.slot.can_dma()

    def taker(self) -> str:
        """The path that takes a packet the switch sends now: primary, standby, or lost."""
        if self.switch.fdb != self.guest_host:
            return "lost"
        if self.master.active == "primary" and self.primary_up():
            return "primary"
        if self.master.active == "standby" and self.switch.standby_on_segment:
            return "standby"
        return "lost"

    def why_lost(self) -> str:
        host = self.switch.fdb
        if host != self.guest_host:
            return f"the switch sent it to the {host}, but the VM runs at the {self.guest_host}"
        slave = self.master.active
        if slave == "primary":
            return (f"the switch sent it to the {host}, where the guest's active slave is a primary "
                    "that no VF backs")
        if slave == "standby":
            return (f"the switch sent it to the {host} on the VF's segment; the guest's active slave is "
                    "the standby, whose backend is on another segment")
        return f"the switch sent it to the {host}, where the guest has no datapath (no VF, no standby)"

    # ------------------------------------------------------------ the guest

    def why_not_negotiate(self) -> str | None:
        if self.phase != "idle":
            return f"virtio-net: features are negotiated at probe, before a migration (phase {self.phase})"
        return self.virtio.why_not_negotiate()

    def negotiate(self) -> None:
        refuse(self.why_not_negotiate())
        self.virtio.negotiate()

    def why_not_eject(self) -> str | None:
        return "guest: the VM runs at the destination" if self.switched_over else self.slot.why_not_eject()

    def eject(self) -> None:
        refuse(self.why_not_eject())
        self.slot.eject()
        self.master.drop_primary(self.virtio.standby_negotiated)

    def why_not_bind_source(self) -> str | None:
        return "guest: the VM runs at the destination" if self.switched_over else self.slot.why_not_bind()

    def bind_source(self) -> None:
        refuse(self.why_not_bind_source())
        self.slot.bind()

    def why_not_bind_dest(self) -> str | None:
        return self.dest_vf.why_not_bind() or (
            None if self.switched_over else "guest: the VM does not run at the destination yet")

    def bind_dest(self) -> None:
        refuse(self.why_not_bind_dest())
        self.dest_vf.bind()

    def why_not_failover_switch(self) -> str | None:
        target = self.master.target(self.primary_up(), self.virtio.standby_negotiated)
        return f"net_failover: the active slave is already {target}" if target == self.master.active else None

    def failover_switch(self) -> None:
        refuse(self.why_not_failover_switch())
        up = self.primary_up()
        target = self.master.target(up, self.virtio.standby_negotiated)
        self.master.set(target, "a bound VF of the same MAC appeared" if up else "the primary is gone")

    # ------------------------------------------------------------ QEMU

    def why_not_start(self) -> str | None:
        if self.phase != "idle":
            return f"QEMU: a migration already ran (phase {self.phase})"
        if self.config.checks_standby and not self.virtio.standby_negotiated:
            return "QEMU: the guest did not negotiate STANDBY; unplugging its VF would cut it off"
        return None

    def start(self) -> None:
        refuse(self.why_not_start())
        self.slot.request_unplug()
        if self.config.waits_for_unplug:
            self.phase = "wait_unplug"
            self.journal.record("qemu", "wait_unplug", "migration state wait-unplug")
        else:
            self._copy_ram()

    def _copy_ram(self) -> None:
        self.phase = "active"
        self.source.migrator.start()

    def why_not_refuse(self) -> str | None:
        if not self.config.checks_standby or self.phase != "idle" or self.virtio.standby_negotiated:
            return "QEMU: nothing to refuse"
        return None

    def refuse_migration(self) -> None:
        refuse(self.why_not_refuse())
        self.phase = "blocked"
        self.journal.record("qemu", "block", "migration blocked: a VF with no standby to fall back to")

    def why_not_unplug_done(self) -> str | None:
        if self.phase != "wait_unplug":
            return f"QEMU: not waiting for an unplug (phase {self.phase})"
        return None if self.slot.state == "absent" else "QEMU: the source VF is not ejected yet"

    def unplug_done(self) -> None:
        refuse(self.why_not_unplug_done())
        self.journal.record("qemu", "unplug_done", "the unplug completed: wait-unplug ends")
        self._copy_ram()

    def why_not_cancel(self) -> str | None:
        if not self.config.unplug_timeout:
            return "QEMU: the wait for the unplug has no timeout"
        if self.phase != "wait_unplug" or self.slot.state == "absent":
            return "QEMU: not waiting for an unplug"
        return None

    def cancel(self) -> None:
        refuse(self.why_not_cancel())
        self.phase = "cancelled"
        self.journal.record("qemu", "cancel", "the wait for the unplug timed out: migration cancelled")

    def why_not_fail(self) -> str | None:
        return None if self.phase in ("active", "stopcopy") else f"QEMU: nothing to fail (phase {self.phase})"

    def fail(self) -> None:
        refuse(self.why_not_fail())
        self.phase = "failed"
        self.source.migrator.abort()

    def why_not_replug(self) -> str | None:
        if not self.config.replug_on_failure:
            return "QEMU: it does not plug the VF back after a failure"
        if self.phase not in ("cancelled", "failed"):
            return f"QEMU: the migration has not failed (phase {self.phase})"
        return self.slot.why_not_replug()

    def replug(self) -> None:
        refuse(self.why_not_replug())
        self.slot.replug()

    def why_not_ram_round(self) -> str | None:
        if self.phase != "active":
            return f"QEMU: no RAM rounds in phase {self.phase}"
        return self.source.migrator.why_not_precopy_round()

    def ram_round(self) -> None:
        refuse(self.why_not_ram_round())
        self.source.migrator.precopy_round()

    def why_not_stop_and_copy(self) -> str | None:
        return None if self.phase == "active" else f"QEMU: not copying RAM (phase {self.phase})"

    def stop_and_copy(self) -> None:
        refuse(self.why_not_stop_and_copy())
        self.phase = "stopcopy"
        self.source.migrator.stop_vcpu()
        self.source.migrator.stop_and_copy()

    def why_not_switchover(self) -> str | None:
        return None if self.phase == "stopcopy" else f"QEMU: no final copy yet (phase {self.phase})"

    def switchover(self) -> None:
        refuse(self.why_not_switchover())
        self.source.migrator.switchover()
        self.phase = "switched"
        self.at_switchover = tuple(page_differences(self.source))
        self.dest_rx_at_switchover = self.source.destination.page(0)
        self.switch.learn("destination", "virtio", "QEMU's self-announce after the switchover")

    def why_not_plug_dest(self) -> str | None:
        if self.dest_vf.state != "absent":
            return "QEMU: the destination VF is already plugged"
        if not self.virtio.standby_negotiated:
            return "QEMU: STANDBY was not negotiated; the primary stays hidden"
        allowed = ("switched",) if self.config.plug_dest_after_switch else ("active", "stopcopy", "switched")
        return None if self.phase in allowed else f"QEMU: the destination VF waits (phase {self.phase})"

    def plug_dest(self) -> None:
        refuse(self.why_not_plug_dest())
        self.dest_vf.plug(f"migration phase {self.phase}")

    # ------------------------------------------------------------ the network

    def why_not_packet(self, path: str) -> str | None:
        if self.phase == "idle":
            return "wire: packets are offered once the migration starts"
        if len(self.deliveries) >= self.config.pkts:
            return f"wire: all {self.config.pkts} packets were offered"
        taker = self.taker()
        if taker != path:
            goes = "nowhere the guest takes it" if taker == "lost" else f"the {taker}"
            return f"switch: this packet goes to {goes}, not the {path}"
        if taker == "primary" and not self.switched_over:
            return self.source.vf.why_not_receive()
        return None

    def packet(self, path: str) -> Packet:
        refuse(self.why_not_packet(path))
        host = self.switch.fdb
        if path == "lost":
            packet = self.source.wire.next_packet()
            why = self.why_lost()
            self.journal.record("wire", "packet_lost", f"packet {packet.seq} lost: {why}", seq=packet.seq)
            self.deliveries.append(Delivery(packet.seq, "lost", host, why))
        elif path == "standby":
            packet = self.source.wire.next_packet()
            memory = self.source.destination if self.switched_over else self.source.memory
            self.virtio.receive(packet, memory, host)
            self.deliveries.append(Delivery(packet.seq, "standby", host))
        elif self.switched_over:
            packet = self.source.wire.next_packet()
            self.dest_vf.receive(packet, self.source.destination)
            self.deliveries.append(Delivery(packet.seq, "destination VF", host))
        else:
            slot = self.source.packet_arrives()  # the VF takes it and DMAs it into guest RAM
            packet = self.source.vf.accepted[-1].packet
            self.source.land(slot, DATA)
            self.source.vf.write_back(slot)
            self.source.land(slot, WRITEBACK)
            where = self.source.layout.locate(self.source.vf.accepted[-1].buffer)
            assert where is not None
            self.deliveries.append(Delivery(packet.seq, "source VF", host, slot=slot, page=where[0],
                                            offset=where[1]))
        return packet

    def why_not_announce(self) -> str | None:
        if self.switch.fdb == self.guest_host:
            return f"switch: it already sends the MAC to the {self.guest_host}"
        taker = self.taker_here()
        if taker is None:
            return "guest: no active slave on the VF's segment to announce through"
        return None

    def taker_here(self) -> str | None:
        """The device the guest's active slave sends through, if the VF segment's switch hears it."""
        if self.master.active == "primary" and self.primary_up():
            return "vf"
        if self.master.active == "standby" and self.switch.standby_on_segment:
            return "virtio"
        return None

    def announce(self) -> None:
        refuse(self.why_not_announce())
        device = self.taker_here()
        assert device is not None
        self.switch.learn(self.guest_host, device, "the guest's gratuitous ARP")

    # ------------------------------------------------------------ damage

    def rx_synced(self) -> bool:
        """The destination's copy of the VF's RX buffer page equals the source's (at the switchover,
        once the VM runs at the destination)."""
        if self.switched_over:
            return not any(d.page == 0 for d in self.at_switchover)
        return self.source.destination.page(0) == self.source.memory.ram.page(0)

    def assess(self) -> Damage:
        return Damage(self.switched_over, self.at_switchover,
                      tuple(self._fate(d) for d in self.deliveries), ())

    def _fate(self, d: Delivery) -> PacketFate:
        if d.path == "lost":
            return PacketFate(d.seq, -1, -1, 0, "lost", d.why)
        if d.path != "source VF":
            return PacketFate(d.seq, -1, -1, 0, "delivered", f"through the {d.path} at the {d.host}")
        frame = Packet(d.seq).frame()
        where = f"{self.source.layout.role(d.page)} +{d.offset:#05x}"
        if not self.switched_over:
            return PacketFate(d.seq, d.slot, d.page, d.offset, "delivered",
                              f"DMAed by the source VF into {where}; the VM runs on at the source")
        seen = self.dest_rx_at_switchover[d.offset:d.offset + FRAME_LEN] if d.page == 0 else b""
        if seen == frame:
            return PacketFate(d.seq, d.slot, d.page, d.offset, "delivered",
                              f"DMAed by the source VF into {where} before the page's last copy")
        return PacketFate(d.seq, d.slot, d.page, d.offset, "lost",
                          f"DMAed by the source VF into {where} after the page's last copy (unlogged); "
                          "the destination resumed with stale bytes there", frame[:16], seen[:16])


def _op(name: str, actor: str, why_not: str, run: str) -> OperationKind:
    def check(m: FailoverMachine) -> str | None:
        return getattr(m, why_not)()

    def call(m: FailoverMachine) -> Any:
        return getattr(m, run)()
    return OperationKind(name, actor, check, call)


def _packet_paths(m: FailoverMachine) -> list[tuple[Any, ...]]:
    return [(p,) for p in PATHS]


def _why_not_packet(m: FailoverMachine, path: str) -> str | None:
    return m.why_not_packet(path)


def _packet(m: FailoverMachine, path: str) -> Packet:
    return m.packet(path)

KINDS: tuple[OperationKind, ...] = (
    _op("guest.negotiate_standby", "guest", "why_not_negotiate", "negotiate"),
    _op("guest.eject_vf", "guest", "why_not_eject", "eject"),
    _op("guest.bind_source_vf", "guest", "why_not_bind_source", "bind_source"),
    _op("guest.bind_dest_vf", "guest", "why_not_bind_dest", "bind_dest"),
    _op("guest.failover_switch", "guest", "why_not_failover_switch", "failover_switch"),
    _op("qemu.start", "qemu", "why_not_start", "start"),
    _op("qemu.refuse", "qemu", "why_not_refuse", "refuse_migration"),
    _op("qemu.unplug_done", "qemu", "why_not_unplug_done", "unplug_done"),
    _op("qemu.cancel", "qemu", "why_not_cancel", "cancel"),
    _op("qemu.fail", "qemu", "why_not_fail", "fail"),
    _op("qemu.replug", "qemu", "why_not_replug", "replug"),
    _op("qemu.ram_round", "qemu", "why_not_ram_round", "ram_round"),
    _op("qemu.stop_and_copy", "qemu", "why_not_stop_and_copy", "stop_and_copy"),
    _op("qemu.switchover", "qemu", "why_not_switchover", "switchover"),
    _op("qemu.plug_dest_vf", "qemu", "why_not_plug_dest", "plug_dest"),
    OperationKind("wire.packet", "network", _why_not_packet, _packet, _packet_paths,
                  lambda args: f"to the {args[0]}"),
    _op("switch.announce", "network", "why_not_announce", "announce"),
)
