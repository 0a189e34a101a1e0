"""Failover migration of a passed-through VF: hot-unplug it, migrate over virtio, replug.

The alternative raised in the 2015 thread, and what NIC users run: the guest pairs the VF
(primary) with a virtio-net device (standby, feature ``VIRTIO_NET_F_STANDBY``) under one MAC
in a ``net_failover`` master; QEMU (``failover=on``) asks the guest to eject the VF before it
copies any RAM and waits in the migration state ``wait-unplug``; RAM is copied with no device
DMA left; on the destination a VF is hot-plugged once the VM runs there. Sources: QEMU
``docs/system/virtio-net-failover.rst`` (the ``wait-unplug`` state, the destination plug once
the feature was negotiated) and ``migration/migration.c`` (``qemu_savevm_wait_unplug``: the
wait ends on the unplug or a cancel; after a cancel the primary is plugged back); Linux
``Documentation/networking/net_failover.rst`` and ``drivers/net/net_failover.c``.

Abstractions (each exact for what the properties ask):
- One guest, one MAC, two hosts. ``fdb`` is the host the switch on the VF's L2 segment sends
  the MAC to; it learns from announces. The guest runs at the source until the switchover and
  at the destination after it. The stop-and-copy downtime is not counted as loss: every live
  migration has it, and failover does not change it; a frame that reaches the source before
  the switchover counts as delivered.
- A frame reaches the guest when the switch sends it to the guest's host and the guest's
  active slave there takes it: the primary if a VF is bound there, the standby if the
  virtio backend is on the VF's segment. While a primary is registered, net_failover passes
  up no frame from the standby (``net_failover_handle_frame``), so only the active slave
  counts. Each offered packet is delivered (through the primary or the standby) or lost in
  one step.
- The guest's eject removes the VF driver, whose netdev unregister drops the primary in
  net_failover in the same notifier: the active slave falls to the standby (or to nothing
  without a failover master) in the eject's step. A bound VF becoming primary is a step of
  its own (the failover driver's switch).
- Only the RX buffer page the VF writes is tracked (``rx_synced``): its DMA is invisible to
  the dirty log, so only the first full copy ever copies it; virtio's writes are logged by
  the backend and re-copied, so they never leave a page stale.
"""

from __future__ import annotations

from migcheck.models import Bool, Enum, Int, Model, Param, action, final, implies, ite, require, variant
from migcheck.models.expr import lift
from migcheck.properties import eventually, invariant, leads_to, reachable
from migcheck.properties.migration import Migration

PHASES = ("idle", "wait_unplug", "active", "stopcopy", "switched", "cancelled", "failed", "blocked")
COPYING = ("active", "stopcopy", "switched")  # RAM is being (or has been) copied to the destination
ENDED = ("switched", "cancelled", "failed", "blocked")
VF_DRIVEN = ("bound", "unplug_requested")  # the guest's VF driver runs it: it can DMA
RAM_ROUNDS = 1  # pre-copy rounds after the first full copy


def label(var, value: str):
    """``value`` as a constant of ``var``'s Enum (``ite`` needs a typed branch to tell enums apart)."""
    return lift(value, var.typ)


class Failover(Model):
    """Failover migration: the guest ejects its VF on request, QEMU waits in wait-unplug, copies
    RAM over the virtio standby, switches over and plugs a VF at the destination."""

    name = "failover"
    variant_name = "standby"

    pkts = Param(default=2, allowed=range(1, 33), doc="packets offered during the migration")
    loss_bound = Param(default=1, allowed=range(0, 33), doc="packets that may be lost")

    # A guest may never negotiate STANDBY (an older kernel) and may never eject its VF (hung,
    # busy, or refusing): no fairness for either. A migration may fail, or not. Everything
    # else QEMU, the guest and the network promise to do once it stays possible.
    fairness = {"guest": "weak", "hypervisor": "weak", "network": "weak",
                "negotiate_standby": "none", "eject_vf": "none", "migration_fails": "none",
                "rx_primary": "none", "rx_standby": "none", "rx_lost": "none"}

    # What the variants change.
    waits_for_unplug = True  # RAM copying starts only once the guest has ejected the VF
    unplug_timeout = True  # the wait for the unplug ends on a timeout or a cancel too
    replug_on_failure = True  # after a cancel or a failure QEMU plugs the source VF back
    plug_dest_after_switch = True  # the destination VF is plugged only after the switchover
    checks_standby = True  # QEMU unplugs the VF only if the guest negotiated STANDBY
    same_l2 = True  # the virtio backend is on the VF's L2 segment

    # QEMU (the migration controller)
    phase = Enum(*PHASES, init="idle")
    round = Int(0, RAM_ROUNDS, init=0, doc="pre-copy rounds done")
    # The guest
    standby = Bool(init=False, doc="VIRTIO_NET_F_STANDBY negotiated: a net_failover master exists")
    src_vf = Enum("bound", "unplug_requested", "absent", "plugged", init="bound",
                  doc="the source VF (plugged: back in the guest, its driver not bound yet)")
    dst_vf = Enum("absent", "plugged", "bound", init="absent", doc="the destination VF")
    slave = Enum("primary", "standby", "none", init="primary",
                 doc="the guest's active slave (primary: its VF; none: no datapath)")
    # Guest memory at the destination
    rx_synced = Bool(init=False, doc="the destination's copy of the VF's RX buffer page equals "
                     "the source's (after the switchover: as it was at the switchover)")
    # The network
    fdb = Enum("source", "destination", init="source",
               doc="the host the VF segment's switch sends the MAC to")
    delivered = Int(0, "pkts", init=0, doc="ghost: packets the guest received")
    lost = Int(0, "pkts", init=0, doc="ghost: packets lost")
    via_standby = Bool(init=False, doc="ghost: a packet reached the guest through the standby")

    # ------------------------------------------------------------ derived conditions

    def at_destination(s):
        return s.phase == "switched"

    def guest_host(s):
        return ite(Failover.at_destination(s), label(s.fdb, "destination"), "source")

    def primary_up(s):
        """A VF is bound where the guest runs."""
        return ite(Failover.at_destination(s), s.dst_vf == "bound", s.src_vf.isin(*VF_DRIVEN))

    def primary_takes(s):
        """The guest's active slave is a VF bound where it runs."""
        return (s.slave == "primary") & Failover.primary_up(s)

    def standby_takes(s):
        """The guest's active slave is the standby, and its backend is on the VF's segment."""
        return (s.slave == "standby") & s.same_l2

    def switch_sends_here(s):
        """The switch sends the MAC to the host the guest runs on."""
        return s.fdb == Failover.guest_host(s)

    def offer(s):
        """The network offers the next of its ``pkts`` packets."""
        require((s.phase != "idle") & (s.delivered + s.lost < s.pkts))

    def full_copy(s):
        """RAM copying begins: every page, the VF's RX page included, goes to the destination."""
        s.phase = "active"
        s.rx_synced = True

    # ------------------------------------------------------------ the guest

    @action(owner="guest")
    def negotiate_standby(s):
        """virtio-net feature negotiation at probe: STANDBY accepted, net_failover pairs the
        virtio device (standby) with the VF of the same MAC (primary)."""
        require((s.phase == "idle") & ~s.standby)
        s.standby = True

    @action(owner="guest")
    def eject_vf(s):
        """The guest handles the hot-unplug request: the VF driver is removed (no more DMA) and
        net_failover, in the same unregister notifier, drops the primary."""
        require((s.src_vf == "unplug_requested") & ~Failover.at_destination(s))
        s.src_vf = "absent"
        s.slave = ite(s.slave == "primary", ite(s.standby, label(s.slave, "standby"), "none"), s.slave)

    @action(owner="guest")
    def bind_source_vf(s):
        """The VF driver binds the source VF plugged back after a cancel or a failure."""
        require((s.src_vf == "plugged") & ~Failover.at_destination(s))
        s.src_vf = "bound"

    @action(owner="guest")
    def bind_dest_vf(s):
        """The VF driver binds the VF plugged at the destination."""
        require((s.dst_vf == "plugged") & Failover.at_destination(s))
        s.dst_vf = "bound"

    @action(owner="guest")
    def failover_switch(s):
        """net_failover changes its active slave: to a bound VF of the same MAC when one
        appears, to the standby (or nothing) when the primary has gone."""
        target = ite(Failover.primary_up(s), "primary", ite(s.standby, label(s.slave, "standby"), "none"))
        require(s.slave != target)
        s.slave = target

    # ------------------------------------------------------------ QEMU

    @action(owner="hypervisor")
    def start_migration(s):
        """Migration starts: the failover primary is present, so QEMU requests its unplug and
        enters wait-unplug (or, without waiting, starts copying at once)."""
        require((s.phase == "idle") & (s.standby if s.checks_standby else True))
        s.src_vf = "unplug_requested"
        if s.waits_for_unplug:
            s.phase = "wait_unplug"
        else:
            Failover.full_copy(s)

    @action(owner="hypervisor")
    def refuse_migration(s):
        """The guest runs a VF with no standby to fall back to: unplugging it would cut the
        guest off, and the VF cannot be migrated, so the migration is blocked."""
        require(s.checks_standby & (s.phase == "idle") & ~s.standby)
        s.phase = "blocked"

    @action(owner="hypervisor")
    def unplug_done(s):
        """The guest ejected the VF: wait-unplug ends, the first full copy of RAM begins."""
        require((s.phase == "wait_unplug") & (s.src_vf == "absent"))
        Failover.full_copy(s)

    @action(owner="hypervisor")
    def cancel_wait(s):
        """The wait for the unplug ends without it: a management timeout cancels the migration."""
        require(s.unplug_timeout & (s.phase == "wait_unplug") & (s.src_vf != "absent"))
        s.phase = "cancelled"

    @action(owner="hypervisor")
    def migration_fails(s):
        """The migration fails before the switchover (stream error): the VM stays at the source."""
        require(s.phase.isin("active", "stopcopy"))
        s.phase = "failed"

    @action(owner="hypervisor")
    def replug_source_vf(s):
        """After a cancel or a failure, once the VF is fully ejected, QEMU plugs it back."""
        require(s.replug_on_failure & s.phase.isin("cancelled", "failed") & (s.src_vf == "absent"))
        s.src_vf = "plugged"

    @action(owner="hypervisor")
    def ram_round(s):
        """A pre-copy round: pages the dirty log saw change since the last round are copied."""
        require((s.phase == "active") & (s.round < RAM_ROUNDS))
        s.round = s.round + 1

    @action(owner="hypervisor")
    def stop_and_copy(s):
        """The VM is paused and the pages still logged dirty are copied."""
        require(s.phase == "active")
        s.phase = "stopcopy"

    @action(owner="hypervisor")
    def switchover(s):
        """The VM resumes at the destination; QEMU's self-announce goes out through the virtio
        NIC and teaches the switch the destination, if it reaches the VF's segment."""
        require(s.phase == "stopcopy")
        s.phase = "switched"
        if s.same_l2:
            s.fdb = "destination"

    @action(owner="hypervisor")
    def plug_dest_vf(s):
        """QEMU at the destination hot-plugs the failover primary, since STANDBY was negotiated."""
        when = s.phase == "switched" if s.plug_dest_after_switch else s.phase.isin(*COPYING)
        require((s.dst_vf == "absent") & s.standby & when)
        s.dst_vf = "plugged"

    # ------------------------------------------------------------ the network

    # A packet for the MAC arrives at the switch during the migration: delivered if the guest's
    # active slave takes it where the switch sends it, lost otherwise.

    @action(owner="network")
    def rx_primary(s):
        """A packet reaches the guest through its VF, which DMAs it into the RX page: at the
        source the page now differs from the destination's copy, and the dirty log never sees
        it (at the destination the VM already runs on its own RAM)."""
        Failover.offer(s)
        require(Failover.switch_sends_here(s) & Failover.primary_takes(s))
        s.delivered = s.delivered + 1
        s.rx_synced = s.rx_synced & Failover.at_destination(s)

    @action(owner="network")
    def rx_standby(s):
        """A packet reaches the guest through the virtio standby (the backend logs its writes)."""
        Failover.offer(s)
        require(Failover.switch_sends_here(s) & Failover.standby_takes(s))
        s.delivered = s.delivered + 1
        s.via_standby = True

    @action(owner="network")
    def rx_lost(s):
        """A packet is lost: the switch sends it where no active slave of the guest takes it."""
        Failover.offer(s)
        require(~(Failover.switch_sends_here(s) & (Failover.primary_takes(s) | Failover.standby_takes(s))))
        s.lost = s.lost + 1

    @action(owner="network")
    def announce(s):
        """The guest announces itself (a gratuitous ARP after a slave switch) through an active
        slave on the VF's segment: the switch learns the guest's host."""
        require(~Failover.switch_sends_here(s) & (Failover.primary_takes(s) | Failover.standby_takes(s)))
        s.fdb = Failover.guest_host(s)

    @final
    def ended(s):
        return s.phase.isin(*ENDED)

    # ------------------------------------------------------------ safety properties

    @invariant(witness="switchover-happens")
    def vf_gone_before_copy(s):
        """RAM is copied only once the source VF is gone and can DMA no more."""
        return implies(s.phase.isin(*COPYING), ~s.src_vf.isin(*VF_DRIVEN))

    @invariant(witness="dest-vf-in-use")
    def no_duplicate_mac(s):
        """Never two live datapaths for the MAC on two hosts: while the VM runs at the source,
        no VF carries the MAC at the destination."""
        live_at_source = ~Failover.at_destination(s)
        live_at_destination = Failover.at_destination(s) | (s.dst_vf != "absent")
        return ~(live_at_source & live_at_destination)

    @invariant(witness="traffic-over-standby")
    def loss_bounded(s):
        """At most loss_bound packets are lost."""
        return s.lost <= s.loss_bound

    # completeness, quiescence and the destination's order, from the migration property library
    migration = Migration(
        switched=lambda s: Failover.at_destination(s),
        synced=lambda s: [s.rx_synced],
        issues_dma=lambda act: act.name == "rx_primary",  # the VF DMAs the packet into guest RAM
        # at the source, RAM copying counts on the VF being gone
        stopped=lambda s, act: s.phase.isin("active", "stopcopy"),
        # the destination VF needs the VM running there, and a failover master to take it
        dest_runs=lambda s: [(s.dst_vf != "absent", Failover.at_destination(s) & s.standby)],
    )
    completeness = migration.completeness(witness="switchover-happens")
    quiescence = migration.quiescence(
        witness="switchover-happens",
        doc="No DMA of the source VF lands in guest RAM while RAM is being copied.")
    dest_vf_after_switch = migration.dest_order(
        name="dest-vf-after-switch", witness="dest-vf-in-use",
        doc="The destination VF appears only after the switchover, and only with STANDBY negotiated.")

    # ------------------------------------------------------------ liveness

    @eventually
    def migration_ends(s):
        """The migration ends: switched over, cancelled, failed or blocked."""
        return s.phase.isin(*ENDED)

    @leads_to
    def wait_unplug_ends(s):
        """The wait for the unplug ends."""
        return s.phase == "wait_unplug", s.phase != "wait_unplug"

    @leads_to
    def failback(s):
        """After the migration ends, traffic goes through a primary again: a VF bound where the
        guest runs is its active slave, and the switch sends the MAC there."""
        back = Failover.primary_takes(s) & Failover.switch_sends_here(s)
        return s.phase.isin(*ENDED), back

    # ------------------------------------------------------------ witnesses (not vacuous)

    switchover_happens = migration.switchover(
        doc="The VM resumes at the destination (vf-gone-before-copy, completeness, quiescence).")

    @reachable
    def dest_vf_in_use(s):
        """A VF bound at the destination is the guest's primary (no-duplicate-mac,
        dest-vf-after-switch)."""
        return Failover.at_destination(s) & (s.dst_vf == "bound") & (s.slave == "primary")

    @reachable
    def traffic_over_standby(s):
        """A packet reached the guest through the standby (loss-bounded)."""
        return s.via_standby


# ---------------------------------------------------------------- ways of getting it wrong


@variant(Failover, expect={"vf-gone-before-copy": "violated", "completeness": "violated",
                           "quiescence": "violated", "loss-bounded": "violated"})
class NoWaitUnplug(Failover):
    """QEMU requests the unplug and starts copying RAM at once, as before ``wait-unplug`` was
    added (QEMU commit "migration: add new migration state wait-unplug", 2019).

    Expected: vf-gone-before-copy (RAM is copied while the VF is still bound); quiescence and
    completeness (a packet the VF DMAs into its RX page after the full copy lands during the
    copy and is never copied again); and
    loss-bounded (a guest that has not ejected the VF by the switchover resumes at the
    destination with a primary that is not there, and loses packets until its failover
    driver notices)."""

    waits_for_unplug = False


@variant(Failover, expect={"migration-ends": "violated", "wait-unplug-ends": "violated"})
class NoUnplugTimeout(Failover):
    """The wait for the unplug ends only on the unplug: QEMU's loop in qemu_savevm_wait_unplug
    has no timeout of its own, so a guest that never ejects stalls the migration unless
    management cancels it.

    Expected: migration-ends and wait-unplug-ends violated (a fair lasso: the guest, which
    owes nothing, never ejects; the network runs out of packets); safety holds."""

    unplug_timeout = False


@variant(Failover, expect={"failback": "violated"})
class NoReplugOnFailure(Failover):
    """After a cancel or a failure the source VF is not plugged back (QEMU's virtio-net replugs
    the primary when a migration fails, failover_replug_primary).

    Expected: failback violated (the guest stays on the standby for good); safety holds: the
    standby on the VF's segment still carries the traffic."""

    replug_on_failure = False


@variant(Failover, expect={"no-duplicate-mac": "violated", "dest-vf-after-switch": "violated"})
class PlugDestEarly(Failover):
    """The destination VF is plugged while RAM is still copied, before the switchover (QEMU
    plugs the primary only once the VM runs at the destination and STANDBY was negotiated).

    Expected: no-duplicate-mac and dest-vf-after-switch violated (the MAC lives on a VF at the
    destination while the VM runs at the source)."""

    plug_dest_after_switch = False


@variant(Failover, expect={"loss-bounded": "violated", "failback": "violated"})
class UnplugWithoutStandby(Failover):
    """QEMU unplugs the VF without checking that the guest negotiated STANDBY (QEMU keeps the
    primary hidden until the feature is negotiated, net_failover.rst: the hypervisor must
    offer STANDBY and give both devices one MAC).

    Expected: loss-bounded violated (without a failover master the eject leaves the guest no
    datapath, and every packet is lost); failback violated too (without STANDBY no VF is
    plugged at the destination, so after a switchover no primary ever returns)."""

    checks_standby = False


@variant(Failover, expect={"loss-bounded": "violated", "traffic-over-standby": "violated"})
class StandbyOtherL2(Failover):
    """The virtio backend is on another L2 segment than the VF (net_failover.rst's migration
    example puts the VM's tap on a bridge with a VF of the same PF, and moves the MAC's FDB
    entries to it, so that traffic keeps reaching the guest after the unplug).

    Expected: loss-bounded violated (from the eject until a destination VF announces itself,
    the switch sends the MAC to a host where nothing takes it); traffic-over-standby is never
    witnessed; failback holds (the destination VF's announce repairs the switch)."""

    same_l2 = False
