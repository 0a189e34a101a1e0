"""Guest-driver-assisted dirty tracking for a passed-through SR-IOV VF (the 2015 thread).

The VF writes guest memory by DMA, which KVM's dirty log never sees. The guest driver makes
DMA pages visible to the log by marking them (a write that changes no data) and clears the
VF's Bus Master Enable bit so the device stops before the final copy. Each proposal of the
thread, and each way of getting it wrong, is a variant of this one model; each variant's
``source`` names the mail, commit or document it comes from.

Abstractions (each exact for what the properties ask):
- A page's content is not stored; ``synced[p]`` says whether the destination's copy equals
  the source. A DMA or CPU write that changes data clears it; copying the page sets it.
- A refill puts slot ``i``'s buffer in any page (``buf[i]``), as a page allocator would; a
  slot without a page takes one afresh. A recycled buffer's page moves, as
  ``ixgbevf_reuse_rx_page`` moves it, to the descriptor at ``next_to_alloc``, which then
  advances by one; that descriptor's next refill takes the page. A refill that allocates a
  fresh page (no recycled page waits) moves ``next_to_alloc`` along with ``next_to_use``, as
  ``ixgbevf_alloc_rx_buffers`` does. ixgbevf keeps one descriptor unused, so its
  next_to_alloc is never the descriptor being cleaned; this ring has no such spare, and when
  every free descriptor already holds a waiting page, next_to_alloc is the cleaned descriptor
  and its page stays. A ring reset keeps each buffer where it was (ixgbevf frees them); when
  next_to_alloc then holds a page, a recycled page stays with its descriptor. Several
  buffers may share a page, as ixgbevf's half-page buffers do. Nothing tells pages apart, so the
  pages are a symmetric index set (``--symmetry`` explores one state per permutation orbit).
- A buffer spans ``span`` 4 KiB pages (a jumbo frame's buffer; ixgbevf's order-1 pages for
  large MTUs): page ``p`` is then an allocation of ``span`` pages holding one buffer, and
  ``dirty[p]`` and ``synced[p]`` are its first 4 KiB page, ``tail_dirty[p]`` and
  ``tail_synced[p]`` its other pages. A packet fills the whole buffer and a mark touches all
  of its pages or (``first-page-mark``) the first only, so the other pages always agree and
  one bit each describes them all, whatever ``span`` is.
- The RX ring is used in order: the driver refills at next_to_use and cleans at
  next_to_clean, the VF fills at its head. ``slots`` counts the descriptors that can hold a
  buffer at once (a real ixgbe ring keeps one more descriptor unused, to tell full from empty).
- The TX ring is one descriptor: the driver posts a frame (a CPU write to the TX ring page),
  the VF sends it and writes DD back into the descriptor (a DMA write to the TX ring page).
  The driver's TX clean only reads the ring, so it is not an action. TX data is read by
  the device, never written.
- A plain touch marks the whole page of the buffer being recycled, so any DMA write that
  lands in that page between its read and its write-back is overwritten.
- Each ring lives in one page (coherent memory, written by CPU and device).
- A posted write is issued, then lands later; the device issues a descriptor write-back
  only after the slot's data has landed (PCIe posted writes land in order). The drain is a
  queue disable followed by a read of a device register, whose completion cannot pass the
  device's earlier posted writes: it ends when nothing is in flight.
- A packet arrival is the device's choice to fill a published slot.
- The guest has no vIOMMU (2015: the assigned device sees the whole guest RAM mapped), so
  the VF writes wherever a published descriptor points. ``mapped[p]`` is the driver's own
  ``dma_map`` bookkeeping: the pages it holds for DMA. A driver that frees its buffers
  while the VF still holds their descriptors (``release``) lets a write land in a page it
  no longer holds (``dma-into-held-pages``).
- The destination's VF is a fresh function: after the switchover (guest RAM loaded there)
  the driver finds it reset and rebuilds its rings, the path an abort takes on the source.
  Only then does the destination's VF run. The model ends there.
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
from migcheck.properties.migration import Migration

SLOT_STATES = ("free", "ready", "data_inflight", "data_landed", "wb_inflight", "done")
INFLIGHT = ("data_inflight", "wb_inflight")
TX_STATES = ("free", "posted", "wb_inflight")
PHASES = ("idle", "precopy", "notified", "quiescing", "stopped", "copied", "switched", "aborted",
          "blocked")
VCPU_RUNS = ("idle", "precopy", "notified", "aborted", "blocked")
QUIET_RELIED_ON = ("stopped", "copied")  # the hypervisor copies as if the device were quiet
DMA_ISSUES = ("rx_data", "rx_writeback", "tx_writeback")  # the VF issues a posted write
HANDLER_STEPS = ("clear_bme", "drain", "mark", "ack")  # the base variant's order
TEARDOWN = "release"  # a handler step of the variants that free the RX buffers (suspend path)
OPT_IN = ("none", "before_bme", "after_bme", "inherited")


class GuestAssisted(Model):
    """Guest-driver-assisted dirty tracking for a passed-through VF: clear BME, drain, mark, copy.

    The base variant is the order the thread converged on ("disable first"): on the
    migration event the driver clears Bus Master Enable, drains posted writes, marks every
    mapped buffer page and both ring pages dirty, and acknowledges; only then does the
    hypervisor stop the vCPU and make the final copy.
    """

    name = "guest-assisted"
    variant_name = "disable-first"
    source = ("Duyck, 1 Dec 2015: clear the VF's bus master enable bit to halt DMA; Tsirkin, "
              "1 Dec 2015: coherent memory is migrated only after the device stopped modifying it")

    slots = Index("slot", default=2, allowed=range(1, 9), doc="RX descriptor ring slots")
    pages = Index("page", default=1, allowed=range(1, 33), symmetric=True,
                  doc="RX buffer pages (a refill may put its buffer in any of them)")
    rounds = Param(default=1, allowed=range(5), doc="pre-copy rounds after the first full copy")
    inflight = Param(default=1, allowed=range(1, 5), doc="posted DMA writes in flight at once")
    span = Param(default=1, allowed=range(1, 5), doc="4 KiB pages one RX buffer spans")

    # Liveness is judged with the driver, the device and the hypervisor weakly fair, except
    # for what nobody can promise: that a driver opts in, that a hung or busy guest ever
    # handles the event, that an operator aborts or rebinds, that the guest sends a frame.
    fairness = {"driver": "weak", "device": "weak", "hypervisor": "weak",
                "opt_in_marking": "none", "opt_in_late": "none", "handle_event": "none", "abort": "none",
                "rebind": "none", "xmit": "none"}

    # What the variants change.
    guest_assist = True  # the driver opts in, marks DMA pages and answers the migration event
    check_opt_in = True  # the hypervisor blocks migration unless the driver opted in before BME
    opt_in_needs_early = True  # ... and refuses an opt-in made after BME, or left by a rebind
    handler_steps = HANDLER_STEPS  # the event handler's order
    harvest_after_event = True  # pre-copy rounds go on while the driver handles the event
    mark_rings = True  # the handler marks the descriptor ring pages too
    unmap_marks = True  # dma_unmap marks its page dirty by writing to it
    map_marks = True  # a dma_map made while the event is handled marks its page dirty
    mark_every_page = True  # a mark touches every 4 KiB page of a buffer, not only the first
    plain_touch = False  # dma_sync's mark is a plain read-then-write instead of an atomic no-op
    resets_on_abort = True  # the driver detects a reset or disabled VF and rebuilds its rings
    ack_timeout = True  # the hypervisor stops waiting for the acknowledgement
    bitmap = False  # Tsirkin's mapped-page bitmap replaces the event: no marking by the handler
    proceed_on_bme_clear = False  # the hypervisor stops the vCPU once it sees BME cleared
    dest_starts_early = False  # the hypervisor starts the destination's VF before RAM is loaded

    # Hypervisor (migration controller)
    phase = Enum(*PHASES, init="idle")
    round = Int(0, "rounds", init=0, doc="pre-copy rounds done")
    opt_in_record = Enum(*OPT_IN, init="none",
                         doc="what the hypervisor knows of the driver's opt-in: made before bus "
                             "mastering, after it, or left by the driver bound before")
    # Guest VF driver
    drv = Enum("down", "up", "handling", "acked", "recovering", "foreign", init="down",
               doc="foreign: another driver, which neither marks nor answers the event, is bound")
    hstep = Int(0, len(HANDLER_STEPS) + 1, init=0, doc="event-handler steps done")
    # VF device
    bme = Bool(init=False, doc="PCI Command register bit 2 (0x4)")
    slot = Array(slots, Enum(*SLOT_STATES), init="free")
    next_to_use = Int(0, lambda p: p["slots"] - 1, init=0, doc="the driver's next descriptor to refill")
    next_to_clean = Int(0, lambda p: p["slots"] - 1, init=0, doc="the driver's next descriptor to clean")
    next_to_alloc = Int(0, lambda p: p["slots"] - 1, init=0,
                        doc="the driver's next descriptor to take a recycled page")
    rx_head = Int(0, lambda p: p["slots"] - 1, init=0, doc="RDH: the VF's next descriptor to fill")
    buf = Array(slots, Ref(pages), init=None, doc="the page holding the slot's buffer (None: no "
                "buffer: unmapped, or its page reused at next_to_alloc)")
    mapped = Array(pages, Bool, init=False, doc="mapped for DMA (the mapped-page bitmap's bit)")
    tx = Enum(*TX_STATES, init="free", doc="the TX descriptor")
    # Guest memory, the dirty log and the destination (buffer pages and ring pages; the rest of
    # guest RAM is written by the CPU only, so the log covers it, and it is left out)
    dirty = Array(pages, Bool, init=False, doc="KVM dirty log: CPU writes only")
    synced = Array(pages, Bool, init=False, doc="the destination holds the source's content")
    tail_dirty = Array(pages, Bool, init=False, doc="dirty, for the buffer's other 4 KiB pages")
    tail_synced = Array(pages, Bool, init=False, doc="synced, for the buffer's other 4 KiB pages")
    ring_dirty = Bool(init=False, doc="the RX ring page is logged")
    ring_synced = Bool(init=False)
    ring_copied_quiet = Bool(init=False, doc="ghost: the RX ring page's last copy was made with the "
                             "device stopped and drained")
    tx_ring_dirty = Bool(init=False, doc="the TX ring page is logged")
    tx_ring_synced = Bool(init=False)
    tx_ring_copied_quiet = Bool(init=False, doc="ghost: the TX ring page's last copy was made "
                                "with the device stopped and drained")
    # Dirty marking by touch, and what a plain touch can destroy
    touch = Array(slots, Enum("none", "read", "raced"), init="none",
                  doc="plain touch of this slot's page: read, not yet written back (raced: a DMA "
                      "write landed in the page since)")
    lost = Bool(init=False, doc="ghost: a touch wrote back stale data over a landed DMA write")
    dest_device = Bool(init=False, doc="the VF runs on the destination")

    # ------------------------------------------------------------ derived conditions

    def vcpu_runs(s):
        return s.phase.isin(*VCPU_RUNS)

    def rx_runs(s):
        """The driver's RX and TX paths run: the driver is up, or handling the event while
        bus mastering is still on (as in Lan's driver) and it has not freed its buffers."""
        handling = s.drv.isin("handling", "acked")
        runs = GuestAssisted.vcpu_runs(s) & ((s.drv == "up") | (handling & s.bme))
        if TEARDOWN in s.handler_steps:  # once the buffers are freed, NAPI is off
            runs = runs & ~(handling & (s.hstep > s.handler_steps.index(TEARDOWN)))
        return runs

    def sharers(s, i, p):
        """Whether each other slot's buffer is in page p (slot i's page)."""
        return [(j, s.buf[j] == p) for j in s.slots if j != i]

    def after(s, i):
        return (i + 1) % len(s.slot)

    def in_flight(s):
        return (sum(ite(s.slot[i].isin(*INFLIGHT), 1, 0) for i in s.slots)
                + ite(s.tx == "wb_inflight", 1, 0))

    def quiet(s):
        """The device issues nothing and has nothing in flight."""
        return (~s.bme & ~any_(s.slot[i].isin(*INFLIGHT) for i in s.slots)
                & (s.tx != "wb_inflight"))

    def opt_in_accepted(s):
        """The hypervisor's opt-in gate."""
        if s.opt_in_needs_early:
            return s.opt_in_record == "before_bme"
        return s.opt_in_record != "none"

    def mark_page(s, p, when=True):
        """A dirty-marking write to buffer page p (all its 4 KiB pages, or the first only)."""
        s.dirty[p] = s.dirty[p] | when
        if s.span > 1 and s.mark_every_page:
            s.tail_dirty[p] = s.tail_dirty[p] | when

    def copy_logged(s, everything=False, final=False):
        """Copy every logged page (or every page) to the destination and clear its log bit.
        With the mapped-page bitmap the final copy also copies every page whose bit is set,
        and the ring pages, whose bits dma_alloc_coherent keeps set."""
        final_bitmap = s.bitmap and final
        for p in s.pages:
            also = s.mapped[p] if final_bitmap else False
            s.synced[p] = True if everything else s.synced[p] | s.dirty[p] | also
            s.dirty[p] = False
            if s.span > 1:
                s.tail_synced[p] = True if everything else s.tail_synced[p] | s.tail_dirty[p] | also
                s.tail_dirty[p] = False
        quiet = GuestAssisted.quiet(s)
        for dirty, synced, copied_quiet in (("ring_dirty", "ring_synced", "ring_copied_quiet"),
                                            ("tx_ring_dirty", "tx_ring_synced", "tx_ring_copied_quiet")):
            copied = True if everything or final_bitmap else getattr(s, dirty)
            setattr(s, copied_quiet, ite(copied, quiet, getattr(s, copied_quiet)))
            setattr(s, synced, getattr(s, synced) | copied)
            setattr(s, dirty, False)

    def handler_at(s, step):
        """The event handler is running and ``step`` is its next step in this variant's order
        (it waits for a half-done RX poll to finish, as napi_disable would)."""
        if not s.guest_assist or s.bitmap or step not in s.handler_steps:
            return False
        return ((s.drv == "handling") & (s.phase == "notified")
                & (s.hstep == s.handler_steps.index(step))
                & all_(s.touch[i] == "none" for i in s.slots))

    def reuse_page(s, i, p):
        """ixgbevf_reuse_rx_page: cleaned descriptor i's page p moves to the descriptor at
        next_to_alloc, which advances by one. After a ring reset (which keeps each buffer
        where it was; ixgbevf frees them) next_to_alloc may hold a page still: then p stays
        with i and next_to_alloc stays too. The guard asks that the target be free as well,
        which it always is where it holds no page: saying so keeps PDR from having to learn
        it (disable-first's completeness at 3 pages: 12 s of CPU with it, no proof in 200 s
        without)."""
        to = s.next_to_alloc
        moves = (to == i) | any_((to == d) & (s.slot[d] == "free") & s.buf[d].is_none()
                                 for d in s.slots if d != i)
        for d in s.slots:  # (buf[i] is p: the clean requires it)
            s.buf[d] = (ite(~moves | (to == i), s.buf[i], None) if d == i
                        else ite(moves & (to == d), p, s.buf[d]))
        last = len(s.slot) - 1
        s.next_to_alloc = ite(moves, ite(to == last, 0, to + 1), to)

    def must_recover(s):
        """The driver finds its VF disabled or reset under it: after an abort that followed
        the event, or on the destination, whose VF is a fresh function (once a half-done RX
        poll has finished)."""
        return all_(s.touch[i] == "none" for i in s.slots) & (
            ((s.phase == "aborted") & s.drv.isin("handling", "acked"))
            | ((s.phase == "switched")
               & (s.drv.isin("handling", "acked") | ((s.drv == "up") & ~s.dest_device))))

    # ------------------------------------------------------------ guest driver

    @action(owner="driver")
    def opt_in_marking(s):
        """Module option set: the driver tells the hypervisor it supports dirty marking."""
        require(s.guest_assist & (s.phase == "idle") & (s.drv == "down") & (s.opt_in_record == "none"))
        s.opt_in_record = "before_bme"

    @action(owner="driver")
    def opt_in_late(s):
        """The driver opts in after it enabled bus mastering; the hypervisor sees BME set."""
        require(s.guest_assist & (s.phase == "idle") & (s.drv == "up") & (s.opt_in_record == "none"))
        s.opt_in_record = "after_bme"

    @action(owner="driver")
    def probe(s):
        """The driver binds the VF and sets bus master (BME)."""
        require(s.drv == "down")
        s.drv = "up"
        s.bme = True

    @action(owner="environment")
    def rebind(s):
        """The VF is rebound to a driver that does not mark (it sets bus master itself). The
        hypervisor drops the opt-in record with the old driver, unless it keeps it."""
        require(s.guest_assist & (s.phase == "idle") & (s.drv == "up") & (s.opt_in_record != "none"))
        s.drv = "foreign"
        s.opt_in_record = "none" if s.opt_in_needs_early else "inherited"

    @action(owner="driver")
    def refill(s, i: slots, p: pages):
        """RX refill: dma_map the buffer (page p), write the descriptor, clear its status, write RDT."""
        require(GuestAssisted.rx_runs(s) & (s.next_to_use == i)
                & (s.slot[i] == "free") & (s.buf[i].is_none() | (s.buf[i] == p)))
        if s.span > 1:  # a buffer that spans its allocation's pages shares them with no other
            require(all_(~(shared) for _, shared in GuestAssisted.sharers(s, i, p)))
        s.next_to_use = GuestAssisted.after(s, i)
        # a fresh page: no recycled page waits any more (ixgbevf_alloc_rx_buffers: nta = ntu)
        s.next_to_alloc = ite(s.buf[i].is_none(), GuestAssisted.after(s, i), s.next_to_alloc)
        s.buf[i] = p
        s.mapped[p] = True
        if s.guest_assist and s.map_marks and not s.bitmap:
            GuestAssisted.mark_page(s, p, s.drv == "handling")  # Lan: new mappings are marked
        s.ring_dirty = True  # the descriptor write is a CPU write: the log sees it
        s.ring_synced = False
        s.slot[i] = "ready"

    @action(owner="driver")
    def clean_unmap(s, i: slots, p: pages):
        """RX clean: DD is set; hand the packet up and dma_unmap the buffer's page p (once no
        other buffer in it is in use)."""
        require(GuestAssisted.rx_runs(s) & (s.next_to_clean == i)
                & (s.slot[i] == "done") & (s.buf[i] == p) & (s.touch[i] == "none")
                & all_(implies(shared, s.slot[j] == "free") for j, shared in GuestAssisted.sharers(s, i, p)))
        s.next_to_clean = GuestAssisted.after(s, i)
        s.slot[i] = "free"
        s.buf[i] = None
        s.mapped[p] = False
        if s.guest_assist and s.unmap_marks:
            GuestAssisted.mark_page(s, p)  # the thread's dummy write on unmap

    @action(owner="driver")
    def clean_recycle(s, i: slots, p: pages):
        """RX clean keeping page p mapped for a next buffer: dma_sync_for_cpu (marks by atomic
        touch, unless the bitmap keeps the page's bit set), hand the packet up, reuse the page
        at next_to_alloc (ixgbevf_reuse_rx_page) and dma_sync_for_device. With a plain touch
        this is only the read half."""
        require(GuestAssisted.rx_runs(s) & (s.next_to_clean == i)
                & (s.slot[i] == "done") & (s.buf[i] == p) & (s.touch[i] == "none"))
        if s.guest_assist and s.plain_touch:
            s.touch[i] = "read"  # *p read; written back by touch_write_back
            return
        s.next_to_clean = GuestAssisted.after(s, i)
        s.slot[i] = "free"
        GuestAssisted.reuse_page(s, i, p)
        if s.guest_assist and not s.bitmap:
            GuestAssisted.mark_page(s, p)  # cmpxchg(p, x, x): a write the log sees, no data changed

    @action(owner="driver")
    def touch_write_back(s, i: slots, p: pages):
        """The write half of a plain touch: *p = (the value read). Stale if a DMA landed since."""
        require(s.plain_touch & GuestAssisted.rx_runs(s) & (s.slot[i] == "done")
                & (s.buf[i] == p) & (s.touch[i] != "none"))
        raced = s.touch[i] == "raced"
        s.lost = s.lost | raced
        s.synced[p] = s.synced[p] & ~raced  # stale bytes replace the landed ones
        s.dirty[p] = True
        s.touch[i] = "none"
        s.next_to_clean = GuestAssisted.after(s, i)
        s.slot[i] = "free"
        GuestAssisted.reuse_page(s, i, p)

    @action(owner="driver")
    def xmit(s):
        """TX: write the frame's descriptor into the TX ring (a CPU write) and bump TDT."""
        require(GuestAssisted.rx_runs(s) & (s.tx == "free"))
        s.tx = "posted"
        s.tx_ring_dirty = True
        s.tx_ring_synced = False

    @action(owner="driver")
    def handle_event(s):
        """The migration event reaches the driver."""
        require(s.guest_assist & (not s.bitmap) & (s.opt_in_record != "none") & (s.drv == "up")
                & (s.phase == "notified"))
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
        """Handler: disable the queues and read a device register; the read's completion
        cannot pass the VF's earlier posted writes, so nothing is in flight after it."""
        require(GuestAssisted.handler_at(s, "drain") & GuestAssisted.quiet(s))
        s.hstep = s.hstep + 1

    @action(owner="driver")
    def mark(s):
        """Handler: mark every mapped buffer page (and the ring pages) dirty by touching it."""
        require(GuestAssisted.handler_at(s, "mark"))
        for p in s.pages:
            GuestAssisted.mark_page(s, p, s.mapped[p])
        if s.mark_rings:
            s.ring_dirty = True
            s.tx_ring_dirty = True
        s.hstep = s.hstep + 1

    @action(owner="driver")
    def release(s):
        """Handler (the suspend path's teardown): dma_unmap every RX buffer page (with the
        dummy write) and free it; NAPI stops. The descriptors the VF still holds keep the
        freed pages' addresses."""
        require(GuestAssisted.handler_at(s, TEARDOWN))
        for p in s.pages:
            if s.guest_assist and s.unmap_marks:
                GuestAssisted.mark_page(s, p, s.mapped[p])
            s.mapped[p] = False
        s.hstep = s.hstep + 1

    @action(owner="driver")
    def acknowledge(s):
        """Handler: tell the hypervisor the device is quiet and its pages are marked."""
        require(GuestAssisted.handler_at(s, "ack"))
        s.drv = "acked"
        s.hstep = s.hstep + 1

    @action(owner="driver")
    def error_detected(s):
        """The driver finds its VF disabled (after an abort) or reset (a fresh VF on the
        destination) and starts error recovery."""
        require(s.guest_assist & s.resets_on_abort & GuestAssisted.must_recover(s))
        s.drv = "recovering"

    @action(owner="driver")
    def slot_reset(s):
        """Recovery: reset the function (rings invalidated), set bus master, rebuild the rings.
        On the source it waits for posted writes to land; the destination's VF has none."""
        require(s.guest_assist & s.resets_on_abort & (s.drv == "recovering")
                & ((s.phase == "switched")
                   | (~any_(s.slot[i].isin(*INFLIGHT) for i in s.slots) & (s.tx != "wb_inflight"))))
        for i in s.slots:
            s.slot[i] = "free"
        s.next_to_use = 0
        s.next_to_clean = 0
        s.next_to_alloc = 0
        s.rx_head = 0
        s.tx = "free"
        s.bme = True
        s.drv = "up"
        s.hstep = 0
        s.dest_device = s.dest_device | (s.phase == "switched")

    @action(owner="driver")
    def resume_without_reset(s):
        """A driver without recovery carries on after an abort, or on the destination, as if
        nothing happened."""
        require((not s.resets_on_abort) & GuestAssisted.must_recover(s) & (s.drv != "up"))
        s.drv = "up"
        s.hstep = 0

    # ------------------------------------------------------------ VF device

    @action(owner="device")
    def rx_data(s, i: slots, p: pages):
        """A packet arrives; the VF issues the posted DMA write of its data to the buffer
        address in slot i's descriptor (page p). Nothing checks that the driver still holds
        p: without a vIOMMU the whole guest RAM is mapped for the VF."""
        require(s.bme & (s.phase != "switched") & (s.rx_head == i) & (s.slot[i] == "ready")
                & (s.buf[i] == p) & (GuestAssisted.in_flight(s) < s.inflight))
        if TEARDOWN not in s.handler_steps:
            # Only a teardown frees a buffer the VF holds; elsewhere a published buffer's page
            # is always mapped, and saying so keeps PDR's proofs small (mapped-bitmap's
            # completeness at 16 pages: seconds with it, over 8 minutes without).
            require(s.mapped[p])
        s.rx_head = GuestAssisted.after(s, i)
        s.slot[i] = "data_inflight"

    @action(owner="device")
    def land_data(s, i: slots, p: pages):
        """The data write lands in the buffer (page p and, for a large buffer, the pages after
        it); the dirty log does not see it."""
        require((s.phase != "switched") & (s.slot[i] == "data_inflight") & (s.buf[i] == p))
        s.synced[p] = False
        if s.span > 1:
            s.tail_synced[p] = False
        for j, shared in GuestAssisted.sharers(s, i, p):  # a plain touch of p now writes back stale bytes
            s.touch[j] = ite(shared & (s.touch[j] == "read"), "raced", s.touch[j])
        s.slot[i] = "data_landed"

    @action(owner="device")
    def rx_writeback(s, i: slots):
        """The VF issues the descriptor write-back (DD bit, length) to the RX ring page."""
        require(s.bme & (s.phase != "switched") & (s.slot[i] == "data_landed")
                & (GuestAssisted.in_flight(s) < s.inflight))
        s.slot[i] = "wb_inflight"

    @action(owner="device")
    def land_writeback(s, i: slots):
        """The write-back lands in the RX ring page; the driver can now see DD."""
        require((s.phase != "switched") & (s.slot[i] == "wb_inflight"))
        s.ring_synced = False
        s.slot[i] = "done"

    @action(owner="device")
    def tx_writeback(s):
        """The VF fetches the TX descriptor, sends the frame and issues the DD write-back."""
        require(s.bme & (s.phase != "switched") & (s.tx == "posted")
                & (GuestAssisted.in_flight(s) < s.inflight))
        s.tx = "wb_inflight"

    @action(owner="device")
    def land_tx_writeback(s):
        """The TX write-back lands in the TX ring page (DD set); the dirty log does not see it.
        The driver's TX clean only reads the ring, so the descriptor is free again."""
        require((s.phase != "switched") & (s.tx == "wb_inflight"))
        s.tx_ring_synced = False
        s.tx = "free"

    # ------------------------------------------------------------ hypervisor

    @action(owner="hypervisor")
    def start_migration(s):
        """Dirty logging on and the first full copy of guest RAM."""
        gate = GuestAssisted.opt_in_accepted(s) if s.check_opt_in else True
        require((s.phase == "idle") & (s.drv != "down") & gate)
        s.phase = "precopy"
        GuestAssisted.copy_logged(s, everything=True)

    @action(owner="hypervisor")
    def block_migration(s):
        """The driver did not opt in before bus mastering: migration is refused."""
        require(s.check_opt_in & (s.phase == "idle") & (s.drv != "down")
                & ~GuestAssisted.opt_in_accepted(s))
        s.phase = "blocked"

    @action(owner="hypervisor")
    def precopy_round(s):
        """Copy the pages logged since the last round, clearing their log bits."""
        phases = ("precopy", "notified") if s.harvest_after_event else ("precopy",)
        require(s.phase.isin(*phases) & (s.round < s.rounds))
        s.round = s.round + 1
        GuestAssisted.copy_logged(s)

    @action(owner="hypervisor")
    def notify_guest(s):
        """The migration event: ask the driver to quiesce its VF and mark its DMA pages."""
        require(s.guest_assist & (not s.bitmap) & (s.opt_in_record != "none") & (s.phase == "precopy"))
        s.phase = "notified"

    @action(owner="hypervisor")
    def stop_vcpu(s):
        """Stop the vCPU: after the acknowledgement (or, with ``proceed_on_bme_clear``, once
        the guest's write clearing BME traps), or at once when the guest does not assist.
        With the bitmap the hypervisor then clears BME itself and waits for the VF to drain."""
        if s.bitmap:
            require(s.phase == "precopy")
            s.phase = "quiescing"
            s.bme = False  # a config write by the hypervisor, under the guest's feet
            return
        unassisted = (s.opt_in_record == "none") if s.guest_assist else True
        answered = (s.drv == "acked") | ~s.bme if s.proceed_on_bme_clear else s.drv == "acked"
        require(((s.phase == "notified") & answered) | ((s.phase == "precopy") & unassisted))
        s.phase = "stopped"

    @action(owner="hypervisor")
    def drain_device(s):
        """Bitmap: the hypervisor's own drain (queue disable, then a flushing register read)."""
        require(s.bitmap & (s.phase == "quiescing") & GuestAssisted.quiet(s))
        s.phase = "stopped"

    @action(owner="hypervisor")
    def timeout(s):
        """The acknowledgement did not come in time: abort, the VM stays on the source."""
        require(s.guest_assist & (not s.bitmap) & s.ack_timeout & (s.phase == "notified")
                & (s.drv != "acked"))
        s.phase = "aborted"

    @action(owner="hypervisor")
    def stop_and_copy(s):
        """The final copy of every page still logged (with the bitmap: or mapped)."""
        require(s.phase == "stopped")
        s.phase = "copied"
        GuestAssisted.copy_logged(s, final=True)

    @action(owner="hypervisor")
    def start_dest_device(s):
        """Restore the VF's state on the destination and let it run, before guest RAM is loaded."""
        require(s.dest_starts_early & s.phase.isin("stopped", "copied") & ~s.dest_device)
        s.dest_device = True

    @action(owner="hypervisor")
    def switchover(s):
        """The destination has loaded guest RAM; the VM resumes there, with a fresh VF (BME
        clear, no rings) unless its VF was already started."""
        require(s.phase == "copied")
        s.phase = "switched"
        s.bme = s.dest_device

    @action(owner="hypervisor")
    def abort(s):
        """Abort before switchover: the VM resumes on the source (with the bitmap, the
        hypervisor sets BME again, which it had cleared)."""
        require(s.phase.isin("precopy", "notified", "quiescing", "stopped", "copied"))
        if s.bitmap:
            s.bme = s.bme | s.phase.isin("quiescing", "stopped", "copied")
        s.phase = "aborted"

    @final
    def ended(s):
        """The migration is over and the driver is not in the middle of anything: nothing
        more need happen (a driver whose network is dead there fails L2, not deadlock)."""
        return s.phase.isin("switched", "aborted", "blocked") & s.drv.isin("up", "foreign")

    # ------------------------------------------------------------ safety properties

    # P1, P2 and P7 come from the migration property library: this model declares its pages,
    # its DMA steps and its destination device, and the library states the properties.
    migration = Migration(
        switched=lambda s: s.phase == "switched",
        synced=lambda s: GuestAssisted.synced_items(s),
        # the VF issues a packet's data or a descriptor write-back only with BME set, and not
        # once the hypervisor relies on it being quiet; its other steps land posted writes
        issues_dma=lambda act: act.owner == "device" and act.name in DMA_ISSUES,
        stopped=lambda s, act: ~s.bme | s.phase.isin(*QUIET_RELIED_ON),
        lands=lambda act: act.owner == "device" and act.name not in DMA_ISSUES,
        relied_quiet=lambda s, act: s.phase.isin(*QUIET_RELIED_ON),
        dest_runs=lambda s: [(s.dest_device, s.phase == "switched")],
    )
    completeness = migration.completeness(
        witness="switchover-happens",
        doc="P1: when the VM resumes on the destination, every page equals the source's.")
    quiescence = migration.quiescence(
        witness="dma-in-flight-at-quiesce",
        doc="P2: no DMA is issued while BME is clear, and none lands once the hypervisor relies on "
            "the device being quiet (the vCPU stopped after the handshake, or the final copy).")

    def synced_items(s):
        """What the destination must hold: every RX buffer page (and, for buffers that span
        several 4 KiB pages, their other pages) and both descriptor ring pages."""
        tails = [all_(s.tail_synced[p] for p in s.pages)] if s.span > 1 else []
        return [all_(s.synced[p] for p in s.pages), *tails, s.ring_synced, s.tx_ring_synced]

    @invariant(witness="switchover-happens", loses_data=True)
    def rings_last(s):
        """P3: each ring page's final copy is made after the device stopped and drained."""
        return implies(s.phase == "switched", s.ring_copied_quiet & s.tx_ring_copied_quiet)

    @invariant(witness="migration-starts")
    def opt_in(s):
        """P4: migration starts only if the bound driver opted in before it enabled bus mastering."""
        return implies(~s.phase.isin("idle", "blocked"), s.opt_in_record == "before_bme")

    @action_property(witness="recovery-needed")
    def recovery(before, act, after):
        """P5: after an abort, and on the destination, the driver uses the VF only once
        restored."""
        if act.name in ("refill", "clean_unmap", "clean_recycle", "touch_write_back", "xmit"):
            return before.bme
        return True

    @action_property(witness="data-in-flight", loses_data=True)
    def dma_into_held_pages(before, act, after):
        """P5: the VF's packet data lands only in a page the driver holds (mapped for DMA); a
        write into a page it has freed corrupts whatever the guest keeps there now."""
        if act.name == "land_data":
            return before.mapped[act.params["p"]]
        return True

    @invariant(witness="touch-beside-dma", loses_data=True)
    def marking_preserves_data(s):
        """P6: a dirty-marking touch never overwrites a DMA write that landed during it."""
        return ~s.lost

    dest_order = migration.dest_order(
        witness="dest-device-runs",
        doc="P7: the VF runs on the destination only after guest RAM is loaded there.")

    # ------------------------------------------------------------ liveness

    @eventually
    def migration_ends(s):
        """L1: the migration ends: switched over, aborted, or refused."""
        return s.phase.isin("switched", "aborted", "blocked")

    @leads_to
    def network_recovers(s):
        """L2: once the migration has ended, the guest's network works again (the VF runs at
        the destination, or at the source bus mastering is on and a driver's RX path runs:
        up, or still handling the event before it cleared BME)."""
        ended = s.phase.isin("switched", "aborted", "blocked")
        works = ite(s.phase == "switched", s.dest_device & (s.drv == "up"),
                    s.drv.isin("up", "foreign", "handling", "acked") & s.bme)
        return ended, works

    @leads_to
    def event_answered(s):
        """L3: the wait for the migration event ends: acknowledged, timed out, or the
        hypervisor proceeds on seeing BME cleared."""
        return s.phase == "notified", (s.drv == "acked") | s.phase.isin("aborted", "stopped")

    # ------------------------------------------------------------ witnesses (not vacuous)

    @reachable
    def switchover_happens(s):
        """The VM resumes on the destination (completeness, rings-last)."""
        return s.phase == "switched"

    @reachable
    def dma_in_flight_at_quiesce(s):
        """A DMA write is in flight when the device is being quiesced: after the migration
        event, or while the hypervisor drains it (quiescence)."""
        return (((s.phase == "notified") & (s.drv == "handling")) | (s.phase == "quiescing")) \
            & ~GuestAssisted.quiet(s)

    @reachable
    def recovery_needed(s):
        """The driver finds its VF disabled or reset under it (recovery)."""
        return GuestAssisted.must_recover(s)

    @reachable
    def data_in_flight(s):
        """A packet's data write is posted, not landed yet (dma-into-held-pages)."""
        return any_(s.slot[i] == "data_inflight" for i in s.slots)

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

    @reachable
    def dest_device_runs(s):
        """The VF runs on the destination (dest-order)."""
        return s.dest_device


# ---------------------------------------------------------------- the thread's proposals
# Each variant's expected verdicts were worked out from the protocol before the checker ran;
# the reasoning is in its docstring.

_NO_ASSIST = {"completeness": "violated", "quiescence": "violated", "rings-last": "violated",
              "opt-in": "violated", "network-recovers": "violated",
              "dma-in-flight-at-quiesce": "violated", "dest-device-runs": "violated",
              "dest-order": "vacuous"}


@variant(GuestAssisted, expect=_NO_ASSIST)
class PassthroughOnly(GuestAssisted):
    """No guest help: plain KVM dirty log; the VF keeps DMA-ing through the final copy.

    Nothing is marked and BME is never cleared: DMA lands after the final copy (P1, P2, P3).
    The stock driver never opts in (P4) and never rebuilds its rings on the destination's
    fresh VF, so the network stays dead there (L2) and the destination's VF never runs."""

    source = "the RFC's cover letter (Lan, Nov 2015): KVM's dirty log sees CPU writes only"
    guest_assist = False
    check_opt_in = False


@variant(GuestAssisted, expect={"completeness": "violated", "rings-last": "violated"})
class ThreadOrder(GuestAssisted):
    """As proposed in the thread: mark DMA memory dirty, then clear BME (and drain), then copy.

    The loss needs a pre-copy round during the wait: a round copies the marked page (and
    clears its log bit), then a DMA write lands in it before BME is cleared, and the final
    copy no longer sees it. With ``--set rounds=0``, or no harvest after the event
    (``thread-order-frozen``), it holds."""

    source = ("Lan, 4 Dec 2015: \"Inject event to VF driver after memory iterate stage and before "
              "stop VCPU and then VF driver marks dirty all using DMA memory ... disable VF via "
              "clearing the bus master enable bit\"")
    handler_steps = ("mark", "clear_bme", "drain", "ack")


@variant(GuestAssisted)
class ThreadOrderFrozen(ThreadOrder):
    """Lan's order, read as "no more iterations after the event": no pre-copy round harvests
    the dirty log once the event is sent.

    Every page DMA writes after the last round is marked: mapped at the mark (the mark, and
    no harvest clears it), mapped later (a new mapping is marked) or unmapped (the dummy
    write); the final copy is made after the drain. Everything holds."""

    source = "Lan, 4 Dec 2015: the event comes \"after memory iterate stage and before stop VCPU\""
    harvest_after_event = False


@variant(GuestAssisted, expect={"completeness": "violated", "quiescence": "violated",
                                "rings-last": "violated"})
class ThreadOrderNoDrain(ThreadOrder):
    """Lan's order exactly as written: mark, clear BME, acknowledge; no drain.

    A write posted before BME is cleared lands after the acknowledgement, once the vCPU is
    stopped (P2) and after the final copy (P1, P3): no pre-copy round is needed, so it is
    violated with ``--set rounds=0`` too."""

    source = ("Lan, 4 Dec 2015, as written: mark, then \"disable VF via clearing the bus master "
              "enable bit\"; no drain of posted writes")
    handler_steps = ("mark", "clear_bme", "ack")


@variant(GuestAssisted, expect={"completeness": "violated"})
class NewMapUnmarked(ThreadOrderFrozen):
    """Lan's driver keeps receiving between the event and the vCPU stop, but a dma_map made
    after the mark does not mark its page.

    After the mark, the driver maps a buffer in a page that was not mapped at the mark (a
    fresh refill, or one after an unmap); the VF writes a packet into it before BME is
    cleared; nothing marks that page, so the final copy misses it (``thread-order-frozen``,
    which marks new mappings, holds)."""

    source = ("Lan, 4 Dec 2015: \"The new allocated pages also need to be marked dirty before "
              "stopping VCPU\"")
    map_marks = False


@variant(GuestAssisted, expect={"completeness": "violated", "marking-preserves-data": "vacuous",
                                "touch-beside-dma": "violated"})
class FirstPageMark(GuestAssisted):
    """A buffer spans two 4 KiB pages (``span`` = 2 by default here) and every mark writes
    only the buffer's first page (the reserved space for the dummy write).

    A large packet lands in both pages after their last pre-copy copy; the mark after the
    drain logs the first page only, and the second page reaches the destination stale. With
    every page of the buffer marked (disable-first with ``--set span=2``) it holds. No two
    jumbo buffers share a page, so a touch never races a DMA write (P6 is vacuous here)."""

    source = ("Lan, 4 Dec 2015: \"reserve space to do dummy write\"; Duyck: it fails for 9K "
              "buffers; ixgbevf's order-1 pages for large frames (ring_uses_large_buffer, "
              "ixgbevf_rx_pg_order)")
    span = Param(default=2, allowed=range(1, 5), doc="4 KiB pages one RX buffer spans")
    mark_every_page = False


@variant(GuestAssisted, expect={"completeness": "violated", "quiescence": "violated",
                                "rings-last": "violated"})
class BmeSignal(GuestAssisted):
    """The hypervisor proceeds when it sees the guest clear BME (the config write traps),
    instead of waiting for the acknowledgement.

    The vCPU stops right after the clear, before the handler drained or marked: a posted
    write lands with the vCPU stopped (P2) and after the final copy (P1, P3); pages written
    since the last round are never marked. It would hold only if a drain and the marks came
    before the clear is acted on."""

    source = ("Duyck, 1 Dec 2015: clearing the bus master enable bit \"should disable MSI-X "
              "interrupts and halt any DMA\"; the hypervisor traps the config write")
    proceed_on_bme_clear = True


# ---------------------------------------------------------------- the suspend path: buffers freed


_SUSPEND = ("Duyck, 1 Dec 2015: \"I was suggesting the suspend/resume to resolve this bit\" "
            "(ixgbevf's suspend path, ixgbevf_down: disable the RX queues, then "
            "ixgbevf_clean_all_rx_rings unmaps and frees the buffers)")


@variant(GuestAssisted)
class Teardown(GuestAssisted):
    """The handler tears the RX ring down as the suspend path does: clear BME, drain, then
    free the RX buffers (dma_unmap with the dummy write), mark, acknowledge; the driver
    rebuilds its rings on the destination, or on the source after an abort.

    Once drained the VF writes nothing, so no write reaches a freed page; the dummy write of
    each unmap logs every page it frees after its last DMA write, and the rings are marked
    after the drain. Everything holds."""

    source = _SUSPEND
    handler_steps = ("clear_bme", "drain", TEARDOWN, "mark", "ack")


@variant(GuestAssisted, expect={"dma-into-held-pages": "violated", "completeness": "violated"})
class FreeBeforeDisable(GuestAssisted):
    """The handler frees the RX buffers before it disables the queue (clears BME and
    drains): descriptors the VF holds still point into the freed pages.

    With BME still set the VF takes such a descriptor and its data lands in a page the
    driver no longer holds (P5: in a guest without a vIOMMU nothing stops it; it corrupts
    whatever the guest keeps there now). The free's dummy write logged the page before
    that write; a pre-copy round during the event copies the page and clears its bit; the
    mark after the drain skips it (no longer mapped), so the final copy misses it (P1).
    The drain still comes before the acknowledgement, so quiescence and rings-last hold."""

    source = _SUSPEND + "; here the buffers are freed first"
    handler_steps = (TEARDOWN, "clear_bme", "drain", "mark", "ack")


# ---------------------------------------------------------------- the mapped-page bitmap


@variant(GuestAssisted)
class MappedBitmap(GuestAssisted):
    """Tsirkin's first component: the guest keeps a bitmap with a bit set while a page is
    mapped for DMA; the hypervisor stops the vCPU, clears BME itself, waits until the VF is
    drained, and copies every page that is logged or has its bit set.

    No event and no marking by the handler: dma_map sets the bit, dma_unmap clears it and
    marks the page by writing (the thread's dummy write). The thread's open question, bits
    still set when the guest stops, is answered: those are exactly the pages copied last,
    after the device is quiet (the price is downtime). The guest finds BME cleared under it;
    on the destination it rebuilds its rings. Everything holds."""

    source = ("Tsirkin, 1 Dec 2015: \"expose some kind of bitmap from guest to host, set bit "
              "there while page is mapped. What happens if we stop the guest and some bits are "
              "still set?\"")
    bitmap = True


@variant(GuestAssisted, expect={"completeness": "violated"})
class BitmapUnmapUnmarked(MappedBitmap):
    """The bitmap's bit is cleared at dma_unmap with no dummy write: a page that DMA wrote
    after its last pre-copy copy, then unmapped, is neither logged nor in the bitmap at the
    final copy."""

    source = ("Tsirkin, 1 Dec 2015: \"dma_unmap_* needs to mark page as dirty\"; here only the "
              "bitmap's bit is cleared")
    unmap_marks = False


# ---------------------------------------------------------------- mutations of disable-first


@variant(GuestAssisted, expect={"completeness": "violated", "quiescence": "violated",
                                "rings-last": "violated"})
class NoDrain(GuestAssisted):
    """Clear BME and mark, but do not wait for posted writes already issued."""

    source = "PCIe ordering: clearing BME stops new requests; posted writes already issued still land"
    handler_steps = ("clear_bme", "mark", "ack")


@variant(GuestAssisted, expect={"completeness": "violated", "rings-last": "violated"})
class RingsUnmarked(GuestAssisted):
    """The handler marks buffer pages but not the descriptor ring pages."""

    source = ("Tsirkin, 1 Dec 2015: \"dma_alloc_coherent memory (e.g. device rings) must be "
              "migrated after device stopped modifying it\"")
    mark_rings = False


@variant(GuestAssisted, expect={"marking-preserves-data": "violated"})
class PlainTouch(GuestAssisted):
    """dma_sync marks with *p = *p (read, then write) instead of an atomic no-op."""

    source = ("Tsirkin, 1 Dec 2015: \"dma_sync_* needs to mark page as dirty ... we can not "
              "change the data. One solution is using atomics\" (cmpxchg(p, x, x))")
    plain_touch = True


@variant(GuestAssisted, expect={"completeness": "violated"})
class UnmapUnmarked(GuestAssisted):
    """dma_unmap forgets the dummy write."""

    source = "Tsirkin, 1 Dec 2015: \"dma_unmap_* needs to mark page as dirty\""
    unmap_marks = False


@variant(GuestAssisted, expect={"opt-in": "violated", "completeness": "violated",
                                "quiescence": "violated", "rings-last": "violated",
                                "network-recovers": "violated"})
class NoOptIn(GuestAssisted):
    """The hypervisor migrates without checking that the driver opted in.

    A driver that never opted in gets no event, so the VF runs through the final copy (P1,
    P2, P3). A driver rebound to one that does not mark is migrated too, and never rebuilds
    the destination's fresh VF (L2)."""

    source = ("Tsirkin, 2 Dec 2015: \"have driver tell hypervisor that it supports logging. If "
              "bus mastering is enabled before this, migration is blocked\"")
    check_opt_in = False


@variant(GuestAssisted, expect={"opt-in": "violated"})
class LateOptInAccepted(GuestAssisted):
    """The hypervisor accepts an opt-in made after bus mastering was enabled, and keeps the
    record when the VF is rebound to a driver that does not mark.

    Migration starts without an opt-in before bus mastering (P4). In this model nothing is
    lost by it: the late driver still marks every page it has mapped, and the rebound driver
    never answers the event, so the wait times out."""

    source = ("Tsirkin, 2 Dec 2015: \"If bus mastering is enabled before this, migration is "
              "blocked\"; \"detect that guest supports this ... and block migration if it doesn't\"")
    opt_in_needs_early = False


@variant(GuestAssisted, expect={"recovery": "violated", "network-recovers": "violated",
                                "dest-device-runs": "violated", "dest-order": "vacuous"})
class NoRecovery(GuestAssisted):
    """The driver has no reset recovery: after an abort it uses its VF with BME still clear,
    and on the destination it never rebuilds the fresh VF's rings (the network stays dead)."""

    source = ("Tsirkin, 1 Dec 2015: resume on source must \"follow the same path as on "
              "destination, preferably detecting device reset\"; Duyck: ixgbevf \"will not "
              "restore itself after a resume or slot_reset call\"")
    resets_on_abort = False


@variant(GuestAssisted, expect={"migration-ends": "violated", "event-answered": "violated"})
class NoAckTimeout(GuestAssisted):
    """The hypervisor waits for the acknowledgement forever: a guest that never answers
    stalls the migration (a liveness bug; safety holds)."""

    source = "DOMAIN.md: the wait for the guest's acknowledgement must time out (L1, L3)"
    ack_timeout = False


@variant(GuestAssisted, expect={"dest-order": "violated"})
class DestRunsEarly(GuestAssisted):
    """The hypervisor restores the VF on the destination and lets it run before guest RAM is
    loaded there (P7); nothing else changes."""

    source = ("QEMU's destination order (DOMAIN.md): load RAM and device state, device running, "
              "then vCPUs")
    dest_starts_early = True
