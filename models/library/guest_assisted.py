"""Guest-driver-assisted dirty tracking for a passed-through SR-IOV VF (the 2015 thread).

The VF writes guest memory by DMA, which KVM's dirty log never sees. The guest driver makes
DMA pages visible to the log by marking them (a write that changes no data) and clears the
VF's Bus Master Enable bit so the device stops before the final copy. Each proposal of the
thread, and each way of getting it wrong, is a variant of this one model.

Abstractions (each exact for what the properties ask):
- A page's content is not stored; ``synced[p]`` says whether the destination's copy equals
  the source. A DMA or CPU write that changes data clears it; copying the page sets it.
- A refill puts slot ``i``'s buffer in any page (``buf[i]``), as a page allocator would; a
  recycled buffer keeps its page, and an unmapped slot takes a page afresh. Several buffers
  may share a page, as ixgbevf's half-page buffers do. Nothing tells pages apart, so the
  pages are a symmetric index set (``--symmetry`` explores one state per permutation orbit).
- The ring is used in order: the driver refills at next_to_use and cleans at next_to_clean,
  the VF fills at its head. ``slots`` counts the descriptors that can hold a buffer at once
  (a real ixgbe ring keeps one more descriptor unused, to tell full from empty).
- A plain touch marks the whole page of the buffer being recycled, so any DMA write that
  lands in that page between its read and its write-back is overwritten.
- Every descriptor lives in one ring page (coherent memory, written by CPU and device).
- A posted write is issued, then lands later; the device issues a descriptor write-back
  only after the slot's data has landed (PCIe posted writes land in order).
- A packet arrival is the device's choice to fill a published slot.
"""

from __future__ import annotations

from migcheck.models import (
    Array,
    Bool,
    Enum,
    Index,
    Int,
    Model,
    Param,
    Ref,
    action,
    all_,
    any_,
    final,
    implies,
    ite,
    require,
    variant,
)
from migcheck.properties import action_property, eventually, invariant, leads_to, reachable

SLOT_STATES = ("free", "ready", "data_inflight", "data_landed", "wb_inflight", "done")
INFLIGHT = ("data_inflight", "wb_inflight")
PHASES = ("idle", "precopy", "notified", "stopped", "copied", "switched", "aborted", "blocked")
VCPU_RUNS = ("idle", "precopy", "notified", "aborted", "blocked")
HANDLER_STEPS = ("clear_bme", "drain", "mark", "ack")


class GuestAssisted(Model):
    """Guest-driver-assisted dirty tracking for a passed-through VF: clear BME, drain, mark, copy.

    The base variant is the order the thread converged on ("disable first"): on the
    migration event the driver clears Bus Master Enable, drains posted writes, marks every
    mapped buffer page and the ring page dirty, and acknowledges; only then does the
    hypervisor stop the vCPU and make the final copy.
    """

    name = "guest-assisted"
    variant_name = "disable-first"

    slots = Index("slot", default=2, allowed=range(1, 9), doc="RX descriptor ring slots")
    pages = Index("page", default=1, allowed=range(1, 33), symmetric=True,
                  doc="RX buffer pages (a refill may put its buffer in any of them)")
    rounds = Param(default=1, allowed=range(5), doc="pre-copy rounds after the first full copy")
    inflight = Param(default=1, allowed=range(1, 5), doc="posted DMA writes in flight at once")

    # Liveness is judged with the driver, the device and the hypervisor weakly fair, except
    # for what nobody can promise: that a driver opts in, that a hung or busy guest ever
    # handles the event, that an operator aborts. The environment's CPU writes are optional.
    fairness = {"driver": "weak", "device": "weak", "hypervisor": "weak",
                "opt_in_marking": "none", "handle_event": "none", "abort": "none"}

    # What the variants change.
    guest_assist = True  # the driver opts in, marks DMA pages and answers the migration event
    check_opt_in = True  # the hypervisor blocks migration unless the driver opted in before BME
    handler_steps = HANDLER_STEPS  # the event handler's order
    mark_rings = True  # the handler marks the descriptor ring page too
    unmap_marks = True  # dma_unmap marks its page dirty by writing to it
    plain_touch = False  # dma_sync's mark is a plain read-then-write instead of an atomic no-op
    resets_on_abort = True  # after an abort the driver resets the VF before using it
    ack_timeout = True  # the hypervisor stops waiting for the acknowledgement

    # Hypervisor (migration controller)
    phase = Enum(*PHASES, init="idle")
    round = Int(0, "rounds", init=0, doc="pre-copy rounds done")
    # Guest VF driver
    drv = Enum("down", "up", "handling", "acked", "recovering", init="down")
    hstep = Int(0, len(HANDLER_STEPS), init=0, doc="event-handler steps done")
    opted_in = Bool(init=False, doc="the driver told the hypervisor it marks DMA pages")
    # VF device
    bme = Bool(init=False, doc="PCI Command register bit 2 (0x4)")
    slot = Array(slots, Enum(*SLOT_STATES), init="free")
    next_to_use = Int(0, lambda p: p["slots"] - 1, init=0, doc="the driver's next descriptor to refill")
    next_to_clean = Int(0, lambda p: p["slots"] - 1, init=0, doc="the driver's next descriptor to clean")
    rx_head = Int(0, lambda p: p["slots"] - 1, init=0, doc="RDH: the VF's next descriptor to fill")
    buf = Array(slots, Ref(pages), init=None, doc="the page holding the slot's buffer (None: no "
                "buffer since the last unmap)")
    mapped = Array(pages, Bool, init=False)
    # Guest memory, the dirty log and the destination (buffer pages, ring page, a CPU page)
    dirty = Array(pages, Bool, init=False, doc="KVM dirty log: CPU writes only")
    synced = Array(pages, Bool, init=False, doc="the destination holds the source's content")
    ring_dirty = Bool(init=False)
    ring_synced = Bool(init=False)
    ring_copied_quiet = Bool(init=False, doc="ghost: the ring page's last copy was made with the "
                             "device stopped and drained")
    cpu_dirty = Bool(init=False)
    cpu_synced = Bool(init=False)
    # Dirty marking by touch, and what a plain touch can destroy
    touch = Array(slots, Enum("none", "read", "raced"), init="none",
                  doc="plain touch of this slot's page: read, not yet written back (raced: a DMA "
                      "write landed in the page since)")
    lost = Bool(init=False, doc="ghost: a touch wrote back stale data over a landed DMA write")
    dest_device = Bool(init=False, doc="the VF runs on the destination")

    # ------------------------------------------------------------ derived conditions

    def vcpu_runs(s):
        return s.phase.isin(*VCPU_RUNS)

    def sharers(s, i, p):
        """Whether each other slot's buffer is in page p (slot i's page)."""
        return [(j, s.buf[j] == p) for j in s.slots if j != i]

    def after(s, i):
        return (i + 1) % len(s.slot)

    def quiet(s):
        """The device issues nothing and has nothing in flight."""
        return ~s.bme & ~any_(s.slot[i].isin(*INFLIGHT) for i in s.slots)

    def in_flight(s):
        return sum(ite(s.slot[i].isin(*INFLIGHT), 1, 0) for i in s.slots)

    def copy_logged(s, everything=False):
        """Copy every logged page (or every page) to the destination and clear its log bit."""
        for p in s.pages:
            s.synced[p] = True if everything else s.synced[p] | s.dirty[p]
            s.dirty[p] = False
        s.ring_copied_quiet = ite(s.ring_dirty | everything, GuestAssisted.quiet(s),
                                  s.ring_copied_quiet)
        s.ring_synced = True if everything else s.ring_synced | s.ring_dirty
        s.ring_dirty = False
        s.cpu_synced = True if everything else s.cpu_synced | s.cpu_dirty
        s.cpu_dirty = False

    def handler_at(s, step):
        """The event handler is running and ``step`` is its next step in this variant's order."""
        if not s.guest_assist or step not in s.handler_steps:
            return False
        return ((s.drv == "handling") & (s.phase == "notified")
                & (s.hstep == s.handler_steps.index(step)))

    # ------------------------------------------------------------ guest driver

    @action(owner="driver")
    def opt_in_marking(s):
        """Module option set: the driver tells the hypervisor it supports dirty marking."""
        require(s.guest_assist & (s.drv == "down") & ~s.opted_in)
        s.opted_in = True

    @action(owner="driver")
    def probe(s):
        """The driver binds the VF and sets bus master (BME)."""
        require(s.drv == "down")
        s.drv = "up"
        s.bme = True

    @action(owner="driver")
    def refill(s, i: slots, p: pages):
        """RX refill: dma_map the buffer (page p), write the descriptor, clear its status, write RDT."""
        require((s.drv == "up") & GuestAssisted.vcpu_runs(s) & (s.next_to_use == i)
                & (s.slot[i] == "free") & (s.buf[i].is_none() | (s.buf[i] == p)))
        s.next_to_use = GuestAssisted.after(s, i)
        s.buf[i] = p
        s.mapped[p] = True
        s.ring_dirty = True  # the descriptor write is a CPU write: the log sees it
        s.ring_synced = False
        s.slot[i] = "ready"

    @action(owner="driver")
    def clean_unmap(s, i: slots, p: pages):
        """RX clean: DD is set; hand the packet up and dma_unmap the buffer's page p (once no
        other buffer in it is in use)."""
        require((s.drv == "up") & GuestAssisted.vcpu_runs(s) & (s.next_to_clean == i)
                & (s.slot[i] == "done") & (s.buf[i] == p) & (s.touch[i] == "none")
                & all_(implies(shared, s.slot[j] == "free") for j, shared in GuestAssisted.sharers(s, i, p)))
        s.next_to_clean = GuestAssisted.after(s, i)
        s.slot[i] = "free"
        s.buf[i] = None
        s.mapped[p] = False
        if s.guest_assist and s.unmap_marks:
            s.dirty[p] = True  # the thread's dummy write on unmap

    @action(owner="driver")
    def clean_recycle(s, i: slots, p: pages):
        """RX clean keeping page p mapped for the slot's next buffer: dma_sync_for_cpu (marks by
        atomic touch), read the packet, dma_sync_for_device. With a plain touch this is only
        the read half."""
        require((s.drv == "up") & GuestAssisted.vcpu_runs(s) & (s.next_to_clean == i)
                & (s.slot[i] == "done") & (s.buf[i] == p) & (s.touch[i] == "none"))
        if s.guest_assist and s.plain_touch:
            s.touch[i] = "read"  # *p read; written back by touch_write_back
            return
        s.next_to_clean = GuestAssisted.after(s, i)
        s.slot[i] = "free"
        if s.guest_assist:
            s.dirty[p] = True  # cmpxchg(p, x, x): a write the log sees, no data changed

    @action(owner="driver")
    def touch_write_back(s, i: slots, p: pages):
        """The write half of a plain touch: *p = (the value read). Stale if a DMA landed since."""
        require(s.plain_touch & (s.drv == "up") & GuestAssisted.vcpu_runs(s) & (s.slot[i] == "done")
                & (s.buf[i] == p) & (s.touch[i] != "none"))
        raced = s.touch[i] == "raced"
        s.lost = s.lost | raced
        s.synced[p] = s.synced[p] & ~raced  # stale bytes replace the landed ones
        s.dirty[p] = True
        s.touch[i] = "none"
        s.next_to_clean = GuestAssisted.after(s, i)
        s.slot[i] = "free"

    @action(owner="driver")
    def handle_event(s):
        """The migration event reaches the driver (between RX polls: no touch is half done)."""
        require(s.guest_assist & s.opted_in & (s.drv == "up") & (s.phase == "notified")
                & all_(s.touch[i] == "none" for i in s.slots))
        s.drv = "handling"
        s.hstep = 0

    @action(owner="driver")
    def clear_bme(s):
        """Handler: clear Bus Master Enable; the VF issues no new DMA."""
        require(GuestAssisted.handler_at(s, "clear_bme"))
        s.bme = False
        s.hstep = s.hstep + 1

    @action(owner="driver")
    def drain(s):
        """Handler: wait until no posted write is pending."""
        require(GuestAssisted.handler_at(s, "drain") & GuestAssisted.quiet(s))
        s.hstep = s.hstep + 1

    @action(owner="driver")
    def mark(s):
        """Handler: mark every mapped buffer page (and the ring page) dirty by touching it."""
        require(GuestAssisted.handler_at(s, "mark"))
        for p in s.pages:
            s.dirty[p] = s.dirty[p] | s.mapped[p]
        if s.mark_rings:
            s.ring_dirty = True
        s.hstep = s.hstep + 1

    @action(owner="driver")
    def acknowledge(s):
        """Handler: tell the hypervisor the device is quiet and its pages are marked."""
        require(GuestAssisted.handler_at(s, "ack"))
        s.drv = "acked"
        s.hstep = s.hstep + 1

    @action(owner="driver")
    def error_detected(s):
        """After an abort: the driver finds its VF disabled and starts error recovery."""
        require(s.guest_assist & s.resets_on_abort & (s.phase == "aborted")
                & s.drv.isin("handling", "acked"))
        s.drv = "recovering"

    @action(owner="driver")
    def slot_reset(s):
        """Recovery: reset the function (rings invalidated), set bus master, resume the rings."""
        require(s.guest_assist & s.resets_on_abort & (s.drv == "recovering")
                & ~any_(s.slot[i].isin(*INFLIGHT) for i in s.slots))
        for i in s.slots:
            s.slot[i] = "free"
        s.next_to_use = 0
        s.next_to_clean = 0
        s.rx_head = 0
        s.bme = True
        s.drv = "up"
        s.hstep = 0

    @action(owner="driver")
    def resume_without_reset(s):
        """A driver without recovery carries on after an abort as if nothing happened."""
        require((not s.resets_on_abort) & (s.phase == "aborted") & s.drv.isin("handling", "acked"))
        s.drv = "up"
        s.hstep = 0

    # ------------------------------------------------------------ VF device

    @action(owner="device")
    def rx_data(s, i: slots, p: pages):
        """A packet arrives; the VF issues the posted DMA write of its data to slot i's buffer."""
        require(s.bme & (s.phase != "switched") & (s.rx_head == i) & (s.slot[i] == "ready")
                & (s.buf[i] == p) & s.mapped[p] & (GuestAssisted.in_flight(s) < s.inflight))
        s.rx_head = GuestAssisted.after(s, i)
        s.slot[i] = "data_inflight"

    @action(owner="device")
    def land_data(s, i: slots, p: pages):
        """The data write lands in the buffer page p; the dirty log does not see it."""
        require((s.phase != "switched") & (s.slot[i] == "data_inflight") & (s.buf[i] == p))
        s.synced[p] = False
        for j, shared in GuestAssisted.sharers(s, i, p):  # a plain touch of p now writes back stale bytes
            s.touch[j] = ite(shared & (s.touch[j] == "read"), "raced", s.touch[j])
        s.slot[i] = "data_landed"

    @action(owner="device")
    def rx_writeback(s, i: slots):
        """The VF issues the descriptor write-back (DD bit, length) to the ring page."""
        require(s.bme & (s.phase != "switched") & (s.slot[i] == "data_landed")
                & (GuestAssisted.in_flight(s) < s.inflight))
        s.slot[i] = "wb_inflight"

    @action(owner="device")
    def land_writeback(s, i: slots):
        """The write-back lands in the ring page; the driver can now see DD."""
        require((s.phase != "switched") & (s.slot[i] == "wb_inflight"))
        s.ring_synced = False
        s.slot[i] = "done"

    # ------------------------------------------------------------ environment

    @action(owner="environment")
    def cpu_write(s):
        """The guest CPU writes an ordinary page; the dirty log sees it."""
        require(GuestAssisted.vcpu_runs(s))
        s.cpu_dirty = True
        s.cpu_synced = False

    # ------------------------------------------------------------ hypervisor

    @action(owner="hypervisor")
    def start_migration(s):
        """Dirty logging on and the first full copy of guest RAM."""
        gate = s.opted_in if s.check_opt_in else True
        require((s.phase == "idle") & (s.drv != "down") & gate)
        s.phase = "precopy"
        GuestAssisted.copy_logged(s, everything=True)

    @action(owner="hypervisor")
    def block_migration(s):
        """The driver did not opt in before bus mastering: migration is refused."""
        require(s.check_opt_in & (s.phase == "idle") & (s.drv != "down") & ~s.opted_in)
        s.phase = "blocked"

    @action(owner="hypervisor")
    def precopy_round(s):
        """Copy the pages logged since the last round, clearing their log bits."""
        require(s.phase.isin("precopy", "notified") & (s.round < s.rounds))
        s.round = s.round + 1
        GuestAssisted.copy_logged(s)

    @action(owner="hypervisor")
    def notify_guest(s):
        """The migration event: ask the driver to quiesce its VF and mark its DMA pages."""
        require(s.guest_assist & s.opted_in & (s.phase == "precopy"))
        s.phase = "notified"

    @action(owner="hypervisor")
    def stop_vcpu(s):
        """Stop the vCPU: after the acknowledgement, or at once when the guest does not assist."""
        unassisted = ~s.opted_in if s.guest_assist else True
        require(((s.phase == "notified") & (s.drv == "acked"))
                | ((s.phase == "precopy") & unassisted))
        s.phase = "stopped"

    @action(owner="hypervisor")
    def timeout(s):
        """The acknowledgement did not come in time: abort, the VM stays on the source."""
        require(s.guest_assist & s.ack_timeout & (s.phase == "notified") & (s.drv != "acked"))
        s.phase = "aborted"

    @action(owner="hypervisor")
    def stop_and_copy(s):
        """The final copy of every page still logged."""
        require(s.phase == "stopped")
        s.phase = "copied"
        GuestAssisted.copy_logged(s)

    @action(owner="hypervisor")
    def switchover(s):
        """The VM resumes on the destination."""
        require(s.phase == "copied")
        s.phase = "switched"

    @action(owner="hypervisor")
    def abort(s):
        """Abort before switchover: the VM resumes on the source."""
        require(s.phase.isin("precopy", "notified", "stopped", "copied"))
        s.phase = "aborted"

    @action(owner="hypervisor")
    def start_dest_device(s):
        """On the destination, start the VF once guest RAM is loaded."""
        require((s.phase == "switched") & ~s.dest_device)
        s.dest_device = True

    @final
    def migrated(s):
        return (s.phase == "switched") & s.dest_device

    # ------------------------------------------------------------ safety properties

    @invariant(witness="switchover-happens", loses_data=True)
    def completeness(s):
        """P1: when the VM resumes on the destination, every page equals the source's."""
        return implies(s.phase == "switched",
                       all_(s.synced[p] for p in s.pages) & s.ring_synced & s.cpu_synced)

    @action_property(witness="dma-in-flight-after-event")
    def quiescence(before, act, after):
        """P2: no DMA is issued while BME is clear, and none lands once the vCPU is stopped."""
        if act.owner != "device":
            return True
        if act.name in ("rx_data", "rx_writeback"):
            return before.bme & ~before.phase.isin("stopped", "copied")
        return ~before.phase.isin("stopped", "copied")

    @invariant(witness="switchover-happens", loses_data=True)
    def rings_last(s):
        """P3: the ring page's final copy is made after the device stopped and drained."""
        return implies(s.phase == "switched", s.ring_copied_quiet)

    @invariant(witness="migration-starts")
    def opt_in(s):
        """P4: migration starts only if the driver opted in before it enabled bus mastering."""
        return implies(~s.phase.isin("idle", "blocked"), s.opted_in)

    @action_property(witness="abort-after-event")
    def recovery(before, act, after):
        """P5: after an abort the driver uses the VF only once restored; DMA lands only in
        mapped pages."""
        if act.name in ("refill", "clean_unmap", "clean_recycle", "touch_write_back"):
            return before.bme
        if act.name == "land_data":
            return before.mapped[act.params["p"]]
        return True

    @invariant(witness="touch-beside-dma", loses_data=True)
    def marking_preserves_data(s):
        """P6: a dirty-marking touch never overwrites a DMA write that landed during it."""
        return ~s.lost

    @invariant(witness="switchover-happens", loses_data=True)
    def dest_order(s):
        """P7: the VF runs on the destination only after guest RAM is loaded there."""
        return implies(s.dest_device, s.phase == "switched")

    # ------------------------------------------------------------ liveness

    @eventually
    def migration_ends(s):
        """L1: the migration ends: switched over, aborted, or refused."""
        return s.phase.isin("switched", "aborted", "blocked")

    @leads_to
    def network_recovers(s):
        """L2: once the migration has ended, the guest's network works again (the VF runs at
        the destination, or the driver is up with bus mastering on at the source)."""
        ended = s.phase.isin("switched", "aborted", "blocked")
        works = ite(s.phase == "switched", s.dest_device, (s.drv == "up") & s.bme)
        return ended, works

    @leads_to
    def event_answered(s):
        """L3: the migration event is acknowledged, or the wait for it times out."""
        return s.phase == "notified", (s.drv == "acked") | (s.phase == "aborted")

    # ------------------------------------------------------------ witnesses (not vacuous)

    @reachable
    def switchover_happens(s):
        """The VM resumes on the destination (completeness, rings-last, dest-order)."""
        return (s.phase == "switched") & s.dest_device

    @reachable
    def dma_in_flight_after_event(s):
        """A DMA write is in flight after the migration event (quiescence, completeness)."""
        return s.phase.isin("notified") & ~GuestAssisted.quiet(s) & s.drv.isin("handling")

    @reachable
    def abort_after_event(s):
        """An abort after the driver started handling the event (recovery)."""
        return (s.phase == "aborted") & s.drv.isin("handling", "acked")

    @reachable
    def touch_beside_dma(s):
        """A page's buffer is being cleaned while a DMA write to its other half is in flight
        (marking-preserves-data)."""
        return any_((s.slot[i] == "done") & (s.slot[j] == "data_inflight") & (s.buf[i] == s.buf[j])
                    for i in s.slots for j in s.slots if i != j)

    @reachable
    def migration_starts(s):
        """A migration starts (opt-in)."""
        return ~s.phase.isin("idle", "blocked")


# ---------------------------------------------------------------- the thread's proposals

_NO_ASSIST_VIOLATES = {"completeness": "violated", "quiescence": "violated", "rings-last": "violated",
                       "opt-in": "violated", "dma-in-flight-after-event": "violated",
                       "abort-after-event": "violated",
                       "recovery": "vacuous"}  # no event, so no recovery path to check


@variant(GuestAssisted, expect=_NO_ASSIST_VIOLATES)
class PassthroughOnly(GuestAssisted):
    """No guest help: plain KVM dirty log; the VF keeps DMA-ing through the final copy."""

    guest_assist = False
    check_opt_in = False


@variant(GuestAssisted, expect={"completeness": "violated", "rings-last": "violated"})
class ThreadOrder(GuestAssisted):
    """As proposed in the thread: mark DMA memory dirty, then clear BME (and drain), then copy.

    Even with the drain, a write that lands between the mark and the clear is lost when a
    pre-copy round copies the page in between."""

    handler_steps = ("mark", "clear_bme", "drain", "ack")


# ---------------------------------------------------------------- mutations of disable-first


@variant(GuestAssisted, expect={"completeness": "violated", "quiescence": "violated",
                                "rings-last": "violated"})
class NoDrain(GuestAssisted):
    """Clear BME and mark, but do not wait for posted writes already issued."""

    handler_steps = ("clear_bme", "mark", "ack")


@variant(GuestAssisted, expect={"completeness": "violated", "rings-last": "violated"})
class RingsUnmarked(GuestAssisted):
    """The handler marks buffer pages but not the descriptor ring page."""

    mark_rings = False


@variant(GuestAssisted, expect={"marking-preserves-data": "violated"})
class PlainTouch(GuestAssisted):
    """dma_sync marks with *p = *p (read, then write) instead of an atomic no-op."""

    plain_touch = True


@variant(GuestAssisted, expect={"completeness": "violated"})
class UnmapUnmarked(GuestAssisted):
    """dma_unmap forgets the dummy write."""

    unmap_marks = False


@variant(GuestAssisted, expect={"opt-in": "violated", "completeness": "violated",
                                "quiescence": "violated", "rings-last": "violated"})
class NoOptIn(GuestAssisted):
    """The hypervisor migrates without checking that the driver opted in."""

    check_opt_in = False


@variant(GuestAssisted, expect={"recovery": "violated", "network-recovers": "violated"})
class NoRecovery(GuestAssisted):
    """After an abort the driver uses its VF without error recovery (BME stays clear)."""

    resets_on_abort = False


@variant(GuestAssisted, expect={"migration-ends": "violated", "event-answered": "violated"})
class NoAckTimeout(GuestAssisted):
    """The hypervisor waits for the acknowledgement forever: a guest that never answers
    stalls the migration (a liveness bug; safety holds)."""

    ack_timeout = False
