"""The guest's VF driver (ixgbevf-like), with the thread's migration support.

RX refill: put the slot's buffer in a page (any buffer page for a fresh buffer, in a part
of it no other buffer uses; the page waiting there for a recycled one), dma_map the page,
write the descriptor (buffer address, status cleared), advance next_to_use, write RDT. RX
clean: poll DD at next_to_clean, hand the packet up with its half page (the skb holds it,
as ``ixgbevf_build_skb`` does; the stack reads it later), then unmap the buffer's page (the
slot has no buffer until its next refill) or reuse it as ``ixgbevf_reuse_rx_page`` does:
flip the offset to the page's other half (``page_offset ^= truesize``) unless another
descriptor's buffer is there, and move the page to the descriptor at next_to_alloc, which
advances by one; that descriptor's next refill uses the page. A refill that allocates a
fresh page moves next_to_alloc to next_to_use (``ixgbevf_alloc_rx_buffers``). The ring has
no spare descriptor (ixgbevf keeps one unused), so next_to_alloc may be the cleaned
descriptor itself, when every free one already holds a waiting page; after a ring reset,
which keeps each buffer where it was, it may hold a page still, and the page then stays
with the cleaned descriptor. Dirty marking ("touch") is a store that
changes no data: atomic (``cmpxchg(p, x, x)``), or, when ``plain_touch``, a plain read and a
later write of the value read, two separate steps, so a DMA write that lands in between is
really overwritten. The migration-event handler runs its steps (clear BME, drain, mark,
acknowledge, and in the suspend path's teardown ``release``: dma_unmap every RX buffer
page, with the dummy write, and free it) in the configured order; the RX path keeps running
while the handler has not cleared BME (Lan's driver) or freed its buffers, and with
``map_marks`` a buffer mapped then is marked. Freeing the buffers leaves the descriptors the
VF holds as they are: they still carry the freed pages' addresses. The drain
disables the RX queue and reads a device register: the read's completion cannot pass the
VF's earlier posted writes, so once it returns nothing is in flight. After an aborted
migration, and on the destination (a fresh VF), the driver either recovers (function-level
reset, bus master on, rings rebuilt) or carries on as if nothing happened.

With the mapped-page ``bitmap`` the driver keeps a bit per mapped page for the hypervisor
(the IOMMU's mappings, read as such); it does not mark at dma_sync and gets no event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .channel import MigrationChannel
from .descriptors import DESCRIPTOR_SIZE, RxDescriptor, read_format, tx_read_format
from .errors import refuse
from .iommu import Iommu
from .journal import Journal
from .layout import PAGE_SIZE, GuestLayout
from .memory import GuestMemory
from .packets import FRAME_LEN
from .stack import GuestStack, HeldBuffer
from .vcpu import Vcpu
from .vf import VirtualFunction

HANDLER_STEPS = ("clear_bme", "drain", "mark", "ack")  # the base order
RELEASE = "release"  # the teardown's step: free the RX buffers
KNOWN_STEPS = (*HANDLER_STEPS, RELEASE)
TOUCH_SPANS = ("page", "word")


@dataclass(frozen=True)
class DriverConfig:
    """The driver's design choices (the ones the thread argues about)."""

    marks_dma_pages: bool = True  # opts in, marks its DMA pages and answers the migration event
    handler_steps: tuple[str, ...] = HANDLER_STEPS  # the event handler's order
    mark_rings: bool = True  # the handler marks the descriptor ring page too
    unmap_marks: bool = True  # dma_unmap marks its page by a dummy write
    plain_touch: bool = False  # dma_sync's mark is a plain read, then a write of the value read
    resets_on_abort: bool = True  # after an abort: error recovery (FLR) before using the VF
    touch_span: str = "page"  # what a plain touch reads and rewrites: the whole page, or one word
    map_marks: bool = True  # a dma_map made while the event is handled marks its page
    mark_every_page: bool = True  # a mark touches every 4 KiB page of a buffer, not the first only
    bitmap: bool = False  # the mapped-page bitmap: no event, no marking at dma_sync

    def __post_init__(self) -> None:
        unknown = [s for s in self.handler_steps if s not in KNOWN_STEPS]
        if unknown or len(set(self.handler_steps)) != len(self.handler_steps):
            raise ValueError(f"handler steps {self.handler_steps!r}: each of {KNOWN_STEPS} at most once")
        if self.touch_span not in TOUCH_SPANS:
            raise ValueError(f"touch_span {self.touch_span!r}: one of {TOUCH_SPANS}")


@dataclass(frozen=True)
class Touch:
    """A plain touch half done: the bytes it read, and where."""

    slot: int
    page: int
    offset: int
    data: bytes


class GuestDriver:
    def __init__(self, config: DriverConfig, layout: GuestLayout, memory: GuestMemory, iommu: Iommu,
                 vf: VirtualFunction, channel: MigrationChannel, vcpu: Vcpu, stack: GuestStack,
                 journal: Journal):
        self.config = config
        self.layout = layout
        self.memory = memory
        self.iommu = iommu
        self.vf = vf
        self.channel = channel
        self.vcpu = vcpu
        self.stack = stack
        self.journal = journal
        self.state = "down"  # down, up, handling, acked, recovering, foreign (another driver)
        self.handler_done = 0  # event-handler steps done
        self.next_to_use = 0
        self.next_to_clean = 0
        self.next_to_alloc = 0  # a descriptor (0..slots-1): where the next recycled page goes
        self.published = [False] * layout.slots  # handed to the VF by RDT, not cleaned yet
        # the buffer page holding each slot's buffer; None before its first refill and after an unmap
        self.buffer_page: list[int | None] = [None] * layout.slots
        self.buffer_offset: list[int] = [layout.buffer_offset(i) for i in range(layout.slots)]
        self.touch: Touch | None = None
        self.released = False  # the event handler freed the RX buffers; NAPI is off
        self.refills = 0
        self.tx_queued = 0
        # the migrator's phase, and whether the VM runs on the destination: set by the machine
        self.migration_phase: Callable[[], str] = lambda: "idle"
        self.rebuilt_at_destination = False

    # ------------------------------------------------------------ bring-up

    def why_not_opt_in(self, late: bool = False) -> str | None:
        if not self.config.marks_dma_pages:
            return "driver: this driver does not mark DMA pages, so it cannot opt in"
        if self.state != ("up" if late else "down"):
            return ("driver: a late opt-in comes once the driver is up" if late else
                    "driver: opt-in is a module option: it is set before the driver binds the VF")
        if self.channel.opted_in:
            return "driver: already opted in"
        if self.migration_phase() != "idle":
            return "driver: opt-in comes before any migration"
        return self.vcpu.why_not_run()

    def opt_in(self) -> None:
        refuse(self.why_not_opt_in())
        self.channel.opt_in = "before_bme"
        self.journal.record("driver", "opt_in", "driver tells the hypervisor it marks DMA pages")

    def opt_in_late(self) -> None:
        refuse(self.why_not_opt_in(late=True))
        self.channel.opt_in = "after_bme"
        self.journal.record("driver", "opt_in", "driver tells the hypervisor it marks DMA pages, "
                            f"with bus mastering already on (Command {self.vf.config.command:#06x})")

    def why_not_probe(self) -> str | None:
        if self.state != "down":
            return f"driver: already bound (state {self.state})"
        return self.vcpu.why_not_run()

    def probe(self) -> None:
        """Bind the VF: allocate the ring (coherent), program it, set bus master."""
        refuse(self.why_not_probe())
        self._configure_ring()
        self.vf.config.set_bus_master()
        self.state = "up"
        self.journal.record("driver", "probe", "driver binds the VF: RX ring programmed, BME set")

    def _configure_ring(self) -> None:
        iova = self.iommu.map(self.layout.ring_page)
        self.vf.configure_rx_ring(iova, self.layout.slots)
        self.vf.configure_tx_ring(self.iommu.map(self.layout.tx_ring_page))

    # ------------------------------------------------------------ RX refill and clean

    def _running(self) -> str | None:
        if self.state in ("handling", "acked"):
            if not self.vf.config.bus_master:
                return "driver: the RX path stops once the event handler has cleared BME"
            if self.released:
                return "driver: the RX path stopped when the event handler freed the RX buffers"
        elif self.state != "up":
            return f"driver: the RX path runs only when the driver is up (state {self.state})"
        return self.vcpu.why_not_run()

    def _mark(self, allocation: int, offset: int = 0) -> None:
        """A dirty-marking atomic touch of a buffer's pages (or, without ``mark_every_page``,
        of its first page only: the reserved space for the dummy write)."""
        pages = self.layout.pages_of(allocation)
        for page in pages if self.config.mark_every_page else pages[:1]:
            self.memory.cpu_touch(page, offset if page == pages[0] else 0)

    def next_refill_slot(self) -> int:
        return self.next_to_use % self.layout.slots

    def next_clean_slot(self) -> int:
        return self.next_to_clean % self.layout.slots

    def refill_pages(self) -> list[int]:
        """The pages the next refill may put its buffer in: the recycled buffer's own page, or
        any buffer page for a fresh buffer."""
        slot = self.next_refill_slot()
        kept = self.buffer_page[slot]
        if kept is not None:
            return [kept]
        return [p for p in range(self.layout.buffer_pages) if self._free_for(slot, p)]

    def _free_for(self, slot: int, page: int) -> bool:
        """Whether a fresh buffer of ``slot`` may go in allocation ``page``: any page when
        buffers are half pages; only one no other buffer holds when a buffer spans its pages."""
        return self.layout.span == 1 or all(p != page for j, p in enumerate(self.buffer_page) if j != slot)

    def why_not_refill(self, page: int | None = None) -> str | None:
        slot = self.next_refill_slot()
        if self.published[slot]:
            return f"driver: descriptor {slot} (next_to_use) still belongs to the VF or awaits clean"
        if page is not None:
            if not self.layout.is_buffer_page(page):
                return (f"driver: there is no RX buffer page {page} (the guest has "
                        f"{self.layout.buffer_pages}: 0..{self.layout.buffer_pages - 1})")
            kept = self.buffer_page[slot]
            if kept is not None and kept != page:
                return (f"driver: descriptor {slot} holds recycled page {kept}, which its refill "
                        f"reuses; it cannot take page {page} (only a descriptor without a page "
                        "takes one afresh)")
            if kept is None and not self._free_for(slot, page):
                return f"driver: page {page} holds another jumbo buffer, which spans all of it"
        return self._running()

    def refill(self, page: int | None = None) -> int:
        """Refill the descriptor at next_to_use, its buffer in buffer page ``page``, and write
        RDT; returns its slot. A recycled buffer stays in its page; a fresh one goes in
        ``page`` (when None, the allocator's default: page ``slot % buffer_pages``)."""
        refuse(self.why_not_refill(page))
        slot = self.next_refill_slot()
        kept = self.buffer_page[slot]
        if page is None:
            page = kept if kept is not None else slot % self.layout.buffer_pages
        if kept is None:  # a fresh page: no recycled page waits any more
            self.buffer_offset[slot] = self._free_part(slot, page)
            self.next_to_alloc = (slot + 1) % self.layout.slots
        offset = self.buffer_offset[slot]
        first = self.layout.first_page(page)
        self.stack.release(self.memory.ram, first, offset, min(self.layout.buffer_size, PAGE_SIZE))
        for p in self.layout.pages_of(page):
            self.iommu.map(p)  # dma_map
        if self.state == "handling" and self._marks() and self.config.map_marks:
            self._mark(page, offset)  # Lan: a dma_map after the event marks its page too
        self.buffer_page[slot] = page
        self.refills += 1
        address = self.layout.address(first, offset)
        self.memory.cpu_write(self.layout.ring_page, slot * DESCRIPTOR_SIZE,
                              read_format(address, self.refills))
        self.published[slot] = True
        self.next_to_use += 1
        self.journal.record("driver", "refill", f"refill descriptor {slot}: buffer {address:#x} "
                            f"(page {page} +{offset:#05x}), status cleared, refill count "
                            f"{self.refills} in bytes 12-15 (artificial)", slot=slot,
                            page=self.layout.ring_page, offset=slot * DESCRIPTOR_SIZE,
                            length=DESCRIPTOR_SIZE)
        self.vf.write_rdt(self.next_to_use)
        return slot

    def buffer_of(self, slot: int) -> tuple[int, int]:
        """The (page, offset) of descriptor ``slot``'s buffer; the slot must have one."""
        page = self.buffer_page[slot]
        if page is None:
            raise ValueError(f"descriptor {slot} has no buffer (never refilled, or unmapped since)")
        return self.layout.first_page(page), self.buffer_offset[slot]

    def _holder(self, slot: int, page: int, offset: int) -> int | None:
        """Another descriptor whose buffer is at ``offset`` in allocation ``page``, if any."""
        return next((j for j in range(self.layout.slots) if j != slot and self.buffer_page[j] == page
                     and self.buffer_offset[j] == offset), None)

    def _free_part(self, slot: int, page: int) -> int:
        """Where a fresh buffer of ``slot`` goes in allocation ``page``: the slot's own part,
        or the first part no other buffer uses (a page has a part for every slot)."""
        size = self.layout.buffer_size
        parts = [self.layout.buffer_offset(slot)] + list(range(0, PAGE_SIZE if size < PAGE_SIZE else 1, size))
        return next(o for o in parts if self._holder(slot, page, o) is None)

    def _reuse(self, slot: int) -> str:
        """ixgbevf_reuse_rx_page: flip to the page's other half and move the page to the
        descriptor at next_to_alloc, which advances; returns what was done, in words."""
        page, offset = self.buffer_page[slot], self.buffer_offset[slot]
        assert page is not None
        flipped = offset ^ self.layout.buffer_size if self.layout.span == 1 else offset
        holder = self._holder(slot, page, flipped)
        to = self.next_to_alloc
        moves = to == slot or (not self.published[to] and self.buffer_page[to] is None)
        target = to if moves else slot
        self.buffer_page[slot] = None
        self.buffer_page[target], self.buffer_offset[target] = page, offset if holder is not None else flipped
        if moves:
            self.next_to_alloc = (to + 1) % self.layout.slots
        if holder is not None:  # only where the emulator lets two descriptors share a page
            half = f"its other part +{flipped:#05x} is descriptor {holder}'s, so it stays at +{offset:#05x}"
        elif flipped == offset:
            half = "a jumbo buffer spans it all"
        else:
            half = f"offset flipped +{offset:#05x} -> +{flipped:#05x}"
        where = (f"moved to descriptor {to} (next_to_alloc)" if moves else f"kept by descriptor {slot} "
                 f"(next_to_alloc, descriptor {to}, holds a page since the ring reset)")
        return f"page {page} reused ({half}), {where}"

    def descriptor(self, slot: int) -> RxDescriptor:
        return RxDescriptor(self.memory.cpu_read(self.layout.ring_page, slot * DESCRIPTOR_SIZE,
                                                 DESCRIPTOR_SIZE))

    def why_not_clean(self, unmap: bool) -> str | None:
        why = self._running()
        if why:
            return why
        if self.touch is not None:
            return f"driver: the plain touch of page {self.touch.page} is half done"
        slot = self.next_clean_slot()
        if not self.published[slot]:
            return f"driver: descriptor {slot} (next_to_clean) holds no buffer"
        if not self.descriptor(slot).dd:
            return f"driver: descriptor {slot} (next_to_clean): DD not set"
        if unmap:
            page = self.buffer_page[slot]
            assert page is not None
            others = [j for j in self.slots_in_page(page) if j != slot and self.published[j]]
            if others:
                return (f"driver: page {page} also holds the buffer of descriptor {others[0]}, "
                        "so it cannot be unmapped")
        return None

    def slots_in_page(self, page: int) -> list[int]:
        """The slots whose buffers are in allocation ``page`` now (recycled ones included)."""
        return [j for j, p in enumerate(self.buffer_page) if p == page]

    def clean(self, unmap: bool) -> int:
        """Clean the descriptor at next_to_clean: hand its packet up, then unmap its page or
        recycle the buffer. With a plain touch, recycling stops after the touch's read."""
        refuse(self.why_not_clean(unmap))
        slot = self.next_clean_slot()
        desc = self.descriptor(slot)
        allocation = self.buffer_page[slot]
        assert allocation is not None
        page, offset = self.buffer_of(slot)
        length = min(desc.length, FRAME_LEN)  # the frame; a jumbo frame's payload is not read
        buffer = HeldBuffer(slot, page, offset, length, desc.rss)
        marks = self._marks()
        if unmap:
            self.stack.hold(buffer)
            if marks and self.config.unmap_marks:
                self._mark(allocation, offset)  # the dummy write before dma_unmap
            for p in self.layout.pages_of(allocation):
                self.iommu.unmap(p)
            self.buffer_page[slot] = None  # the next refill takes a page afresh
            self.journal.record("driver", "clean", f"clean descriptor {slot}: packet handed up with its "
                                f"page; page {page} unmapped" + (" after a dummy write" if marks and
                                                                 self.config.unmap_marks else ""),
                                slot=slot, page=page, offset=offset, length=length)
            self._free(slot)
            return slot
        self.stack.hold(buffer)  # build_skb: the skb's data is this half of the page
        if marks and self.config.plain_touch:
            span_offset, span = (0, PAGE_SIZE) if self.config.touch_span == "page" else (0, 8)
            self.touch = Touch(slot, page, span_offset, self.memory.cpu_read(page, span_offset, span))
            self.journal.record("driver", "touch_read", f"clean descriptor {slot}: packet handed up in "
                                f"its half page; plain touch reads page {page} +{span_offset:#05x} "
                                f"({span} bytes)", slot=slot, page=page, offset=span_offset, length=span)
            return slot
        marks = marks and not self.config.bitmap  # with the bitmap, the page's bit stays set
        if marks:
            self._mark(allocation, offset)  # dma_sync_for_cpu's atomic no-op
        reused = self._reuse(slot)
        self.journal.record("driver", "clean", f"clean descriptor {slot}: packet handed up in its half "
                            "page" + (f", page {page} marked by an atomic touch" if marks else "")
                            + f"; {reused}", slot=slot, page=page, offset=offset, length=length)
        self._free(slot)
        return slot

    def why_not_touch_write_back(self) -> str | None:
        if self.touch is None:
            return "driver: no plain touch is half done"
        return self._running()

    def touch_write_back(self) -> int:
        """The write half of a plain touch: store the bytes read. If a DMA write landed in
        between, its bytes are replaced by stale ones (recorded as a ``stale_write``)."""
        refuse(self.why_not_touch_write_back())
        assert self.touch is not None
        t = self.touch
        now = self.memory.cpu_read(t.page, t.offset, len(t.data))
        self.memory.cpu_write(t.page, t.offset, t.data)
        differ = [k for k in range(len(t.data)) if now[k] != t.data[k]]
        if differ:
            lo, hi = differ[0], differ[-1] + 1
            self.journal.record("driver", "stale_write", f"plain touch writes back page {t.page}: "
                                f"{len(differ)} bytes a DMA write had changed are replaced by the "
                                "stale ones read before it", page=t.page, offset=t.offset + lo,
                                length=hi - lo, slot=t.slot, before=now[lo:hi], after=t.data[lo:hi])
        else:
            self.journal.record("driver", "touch_write", f"plain touch writes back page {t.page} "
                                "(no change)", page=t.page, slot=t.slot)
        self.touch = None
        self.journal.record("driver", "reuse", self._reuse(t.slot), slot=t.slot)
        self._free(t.slot)
        return t.slot

    def _free(self, slot: int) -> None:
        self.published[slot] = False
        self.next_to_clean += 1

    def _marks(self) -> bool:
        return self.config.marks_dma_pages

    # ------------------------------------------------------------ TX

    def why_not_xmit(self) -> str | None:
        if self.vf.tx_state() != "free":
            return f"driver: the TX descriptor is not free ({self.vf.tx_state()})"
        return self._running()

    def xmit(self) -> None:
        """Queue a frame: write the TX descriptor (a CPU write to the TX ring page), bump TDT."""
        refuse(self.why_not_xmit())
        self.tx_queued += 1
        self.memory.cpu_write(self.layout.tx_ring_page, 0, tx_read_format(self.tx_queued))
        self.journal.record("driver", "xmit", f"xmit frame {self.tx_queued}: TX descriptor written (the "
                            "frame count in bytes 0-7: artificial)",
                            page=self.layout.tx_ring_page, offset=0, length=DESCRIPTOR_SIZE)
        self.vf.write_tdt()

    # ------------------------------------------------------------ the migration event

    def why_not_handle_event(self) -> str | None:
        if not (self._marks() and self.channel.opted_in) or self.config.bitmap:
            return "driver: it did not opt in, so it gets no migration event"
        if not self.channel.event:
            return "driver: no migration event is raised"
        if self.state != "up":
            return f"driver: not up (state {self.state})"
        return self.vcpu.why_not_run()

    def handle_event(self) -> None:
        refuse(self.why_not_handle_event())
        self.state = "handling"
        self.handler_done = 0
        self.journal.record("driver", "handle_event", "driver takes the migration event")

    def next_handler_step(self) -> str | None:
        if self.state != "handling" or self.handler_done >= len(self.config.handler_steps):
            return None
        return self.config.handler_steps[self.handler_done]

    def why_not_handler_step(self, step: str) -> str | None:
        if self.state != "handling" or not self.channel.event:
            return "driver: no migration event is being handled"
        if self.next_handler_step() != step:
            return f"driver: the handler's next step is {self.next_handler_step()}, not {step}"
        if self.touch is not None:
            return "driver: the handler waits for the RX poll's half-done plain touch (napi_disable)"
        if step == "drain" and not self.vf.quiet():
            return (f"driver: drain waits: the register read after the queue disable completes only "
                    f"behind the {len(self.vf.dma.posted)} posted write(s) in flight"
                    + (", and BME is set" if self.vf.config.bus_master else ""))
        return self.vcpu.why_not_run()

    def clear_bus_master(self) -> None:
        refuse(self.why_not_handler_step("clear_bme"))
        self.vf.config.clear_bus_master()
        self._step_done("clear BME: Command register := "
                        f"{self.vf.config.command:#06x}; the VF issues no new DMA")

    def drain(self) -> None:
        refuse(self.why_not_handler_step("drain"))
        self._step_done("drain: RX queue disabled (RXDCTL.ENABLE clear), then a register read; its "
                        "completion follows every posted write, so none is in flight")

    def held_pages(self) -> list[int]:
        """The RX buffer pages the driver holds for DMA (has mapped)."""
        return [p for p in range(self.layout.buffer_pages) if self.iommu.is_mapped(self.layout.first_page(p))]

    def mark(self) -> None:
        refuse(self.why_not_handler_step("mark"))
        marked = self.held_pages()
        for page in marked:
            self._mark(page)
        if self.config.mark_rings:
            self.memory.cpu_touch(self.layout.ring_page)
            self.memory.cpu_touch(self.layout.tx_ring_page)
        names = [f"page {p}" for p in marked] + (["both ring pages"] if self.config.mark_rings else [])
        self._step_done("mark: atomic touch of " + (", ".join(names) if names else "nothing"))

    def release(self) -> None:
        """Teardown: dma_unmap every RX buffer page the driver holds (after the dummy write
        that marks it) and free it; NAPI stops. The ring and the VF's registers are left as
        they are, so a descriptor the VF holds still points into a freed page."""
        refuse(self.why_not_handler_step(RELEASE))
        dummy = self._marks() and self.config.unmap_marks
        freed = self.held_pages()
        for allocation in freed:
            if dummy:
                self._mark(allocation)
            for p in self.layout.pages_of(allocation):
                self.iommu.unmap(p)
            held = [j for j in self.slots_in_page(allocation) if self.published[j]]
            self.journal.record("driver", "release", f"free RX buffer page {allocation}: dma_unmap"
                                + (" after a dummy write" if dummy else "") + ", page freed"
                                + (f"; descriptor(s) {', '.join(map(str, held))} still point into it"
                                   if held else ""), page=self.layout.first_page(allocation))
        self.released = True
        self._step_done("release: RX buffers freed (" + (", ".join(f"page {p}" for p in freed) or "none held")
                        + "); NAPI off")

    def acknowledge(self) -> None:
        refuse(self.why_not_handler_step("ack"))
        self.channel.acked = True
        self.state = "acked"
        self._step_done("acknowledge the migration event")

    def _step_done(self, text: str) -> None:
        self.handler_done += 1
        self.journal.record("driver", "handler", text)

    # ------------------------------------------------------------ after an abort

    def why_not_error_detected(self) -> str | None:
        if not (self.config.resets_on_abort and self._marks()):
            return "driver: this driver has no error recovery"
        return self._after_abort()

    def _after_abort(self) -> str | None:
        """None when the driver finds its VF disabled (after an abort that followed the event)
        or reset (a fresh VF on the destination), once a half-done RX poll has finished."""
        if self.touch is not None:
            return "driver: recovery waits for the RX poll's half-done plain touch"
        if self.on_destination():
            if self.state in ("handling", "acked") or (self.state == "up" and not self.vf.config.bus_master
                                                         and not self.rebuilt_at_destination):
                return None  # the destination's vCPU runs
            return f"driver: nothing to recover on the destination (state {self.state})"
        if not self.channel.aborted or self.migration_phase() != "aborted":
            return "driver: no migration was aborted"
        if self.state not in ("handling", "acked"):
            return f"driver: not quiesced for a migration (state {self.state})"
        return self.vcpu.why_not_run()

    def on_destination(self) -> bool:
        return self.migration_phase() == "switched"

    def error_detected(self) -> None:
        refuse(self.why_not_error_detected())
        self.state = "recovering"
        found = "reset (a fresh VF on the destination)" if self.on_destination() else "disabled"
        self.journal.record("driver", "error_detected", f"driver finds its VF {found}: error recovery")

    def why_not_slot_reset(self) -> str | None:
        if self.state != "recovering":
            return f"driver: not recovering (state {self.state})"
        if self.on_destination():
            return None
        if self.vf.transactions_pending():
            return f"driver: reset waits: {len(self.vf.dma.posted)} posted writes in flight"
        return self.vcpu.why_not_run()

    def slot_reset(self) -> None:
        """Reset the function, set bus master, rebuild the ring (buffers stay mapped)."""
        refuse(self.why_not_slot_reset())
        self.vf.function_level_reset()
        self.next_to_use = self.next_to_clean = self.next_to_alloc = 0
        self.published = [False] * self.layout.slots
        self.touch = None
        self.released = False
        self._configure_ring()
        self.vf.config.set_bus_master()
        self.state = "up"
        self.handler_done = 0
        self.rebuilt_at_destination = self.on_destination()
        where = " on the destination's VF" if self.rebuilt_at_destination else ""
        self.journal.record("driver", "slot_reset", f"driver recovered{where}: rings rebuilt, BME set")

    def why_not_resume_without_reset(self) -> str | None:
        if self.config.resets_on_abort:
            return "driver: this driver recovers with a reset"
        if self.state == "up":
            return "driver: already up"
        return self._after_abort()

    def resume_without_reset(self) -> None:
        refuse(self.why_not_resume_without_reset())
        self.state = "up"
        self.handler_done = 0
        self.journal.record("driver", "resume", "driver carries on without recovery "
                            f"(BME {'set' if self.vf.config.bus_master else 'clear'})")
