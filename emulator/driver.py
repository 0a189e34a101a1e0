"""The guest's VF driver (ixgbevf-like), with the thread's migration support.

RX refill: put the slot's buffer in a page (any buffer page for a fresh buffer, its own page
for a recycled one), dma_map the page, write the descriptor (buffer address, status
cleared), advance next_to_use, write RDT. RX clean: poll DD at next_to_clean, hand the
packet up, then unmap the buffer's page (the slot has no buffer until its next refill) or
recycle the buffer (it keeps its page). Dirty marking ("touch") is a store that
changes no data: atomic (``cmpxchg(p, x, x)``), or, when ``plain_touch``, a plain read and a
later write of the value read, two separate steps, so a DMA write that lands in between is
really overwritten. The migration-event handler runs its steps (clear BME, drain, mark,
acknowledge) in the configured order. After an aborted migration the driver either recovers
(function-level reset, bus master on, ring rebuilt) or carries on as if nothing happened.
"""

from __future__ import annotations

from dataclasses import dataclass

from .channel import MigrationChannel
from .descriptors import DESCRIPTOR_SIZE, RxDescriptor, read_format
from .errors import refuse
from .iommu import Iommu
from .journal import Journal
from .layout import PAGE_SIZE, GuestLayout
from .memory import GuestMemory
from .stack import GuestStack, HeldBuffer
from .vcpu import Vcpu
from .vf import VirtualFunction

HANDLER_STEPS = ("clear_bme", "drain", "mark", "ack")
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

    def __post_init__(self) -> None:
        unknown = [s for s in self.handler_steps if s not in HANDLER_STEPS]
        if unknown or len(set(self.handler_steps)) != len(self.handler_steps):
            raise ValueError(f"handler steps {self.handler_steps!r}: each of {HANDLER_STEPS} at most once")
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
        self.state = "down"  # down, up, handling, acked, recovering
        self.handler_done = 0  # event-handler steps done
        self.next_to_use = 0
        self.next_to_clean = 0
        self.published = [False] * layout.slots  # handed to the VF by RDT, not cleaned yet
        # the buffer page holding each slot's buffer; None before its first refill and after an unmap
        self.buffer_page: list[int | None] = [None] * layout.slots
        self.touch: Touch | None = None
        self.refills = 0

    # ------------------------------------------------------------ bring-up

    def why_not_opt_in(self) -> str | None:
        if not self.config.marks_dma_pages:
            return "driver: this driver does not mark DMA pages, so it cannot opt in"
        if self.state != "down":
            return "driver: opt-in is a module option: it is set before the driver binds the VF"
        if self.channel.opted_in:
            return "driver: already opted in"
        return self.vcpu.why_not_run()

    def opt_in(self) -> None:
        refuse(self.why_not_opt_in())
        self.channel.opted_in = True
        self.journal.record("driver", "opt_in", "driver tells the hypervisor it marks DMA pages")

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

    # ------------------------------------------------------------ RX refill and clean

    def _running(self) -> str | None:
        if self.state != "up":
            return f"driver: the RX path runs only when the driver is up (state {self.state})"
        return self.vcpu.why_not_run()

    def next_refill_slot(self) -> int:
        return self.next_to_use % self.layout.slots

    def next_clean_slot(self) -> int:
        return self.next_to_clean % self.layout.slots

    def refill_pages(self) -> list[int]:
        """The pages the next refill may put its buffer in: the recycled buffer's own page, or
        any buffer page for a fresh buffer."""
        kept = self.buffer_page[self.next_refill_slot()]
        return [kept] if kept is not None else list(range(self.layout.buffer_pages))

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
                return (f"driver: descriptor {slot}'s buffer was recycled and stays in page {kept}; "
                        f"it cannot move to page {page} (only an unmapped slot takes a page afresh)")
        return self._running()

    def refill(self, page: int | None = None) -> int:
        """Refill the descriptor at next_to_use, its buffer in buffer page ``page``, and write
        RDT; returns its slot. A recycled buffer stays in its page; a fresh one goes in
        ``page`` (when None, the allocator's default: page ``slot % buffer_pages``)."""
        refuse(self.why_not_refill(page))
        slot = self.next_refill_slot()
        if page is None:
            kept = self.buffer_page[slot]
            page = kept if kept is not None else slot % self.layout.buffer_pages
        offset = self.layout.buffer_offset(slot)
        self.stack.release(self.memory.ram, page, offset, self.layout.buffer_size)
        if not self.iommu.is_mapped(page):
            self.iommu.map(page)  # dma_map
        self.buffer_page[slot] = page
        self.refills += 1
        address = self.layout.address(page, offset)
        self.memory.cpu_write(self.layout.ring_page, slot * DESCRIPTOR_SIZE,
                              read_format(address, self.refills))
        self.published[slot] = True
        self.next_to_use += 1
        self.journal.record("driver", "refill", f"refill descriptor {slot}: buffer {address:#x} "
                            f"(page {page} +{offset:#05x}), status cleared", slot=slot,
                            page=self.layout.ring_page, offset=slot * DESCRIPTOR_SIZE,
                            length=DESCRIPTOR_SIZE)
        self.vf.write_rdt(self.next_to_use)
        return slot

    def buffer_of(self, slot: int) -> tuple[int, int]:
        """The (page, offset) of descriptor ``slot``'s buffer; the slot must have one."""
        page = self.buffer_page[slot]
        if page is None:
            raise ValueError(f"descriptor {slot} has no buffer (never refilled, or unmapped since)")
        return page, self.layout.buffer_offset(slot)

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
            page = self.buffer_of(slot)[0]
            others = [j for j in self.slots_in_page(page) if j != slot and self.published[j]]
            if others:
                return (f"driver: page {page} also holds the buffer of descriptor {others[0]}, "
                        "so it cannot be unmapped")
        return None

    def slots_in_page(self, page: int) -> list[int]:
        """The slots whose buffers are in ``page`` now (recycled ones included)."""
        return [j for j, p in enumerate(self.buffer_page) if p == page]

    def clean(self, unmap: bool) -> int:
        """Clean the descriptor at next_to_clean: hand its packet up, then unmap its page or
        recycle the buffer. With a plain touch, recycling stops after the touch's read."""
        refuse(self.why_not_clean(unmap))
        slot = self.next_clean_slot()
        desc = self.descriptor(slot)
        page, offset = self.buffer_of(slot)
        length = min(desc.length, self.layout.buffer_size)
        buffer = HeldBuffer(slot, page, offset, length, desc.rss)
        marks = self.config.marks_dma_pages
        if unmap:
            self.stack.hold(buffer)
            if marks and self.config.unmap_marks:
                self.memory.cpu_touch(page, offset)  # the dummy write before dma_unmap
            self.iommu.unmap(page)
            self.buffer_page[slot] = None  # the next refill takes a page afresh
            self.journal.record("driver", "clean", f"clean descriptor {slot}: packet handed up with its "
                                f"page; page {page} unmapped" + (" after a dummy write" if marks and
                                                                 self.config.unmap_marks else ""),
                                slot=slot, page=page, offset=offset, length=length)
            self._free(slot)
            return slot
        self.stack.read_now(self.memory.ram, buffer)
        if marks and self.config.plain_touch:
            span_offset, span = (0, PAGE_SIZE) if self.config.touch_span == "page" else (0, 8)
            self.touch = Touch(slot, page, span_offset, self.memory.cpu_read(page, span_offset, span))
            self.journal.record("driver", "touch_read", f"clean descriptor {slot}: packet copied out; "
                                f"plain touch reads page {page} +{span_offset:#05x} ({span} bytes)",
                                slot=slot, page=page, offset=span_offset, length=span)
            return slot
        if marks:
            self.memory.cpu_touch(page, offset)  # dma_sync_for_cpu's atomic no-op
        self.journal.record("driver", "clean", f"clean descriptor {slot}: packet copied out, buffer "
                            "recycled" + (f" (page {page} marked by an atomic touch)" if marks else ""),
                            slot=slot, page=page, offset=offset, length=length)
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
        self._free(t.slot)
        return t.slot

    def _free(self, slot: int) -> None:
        self.published[slot] = False
        self.next_to_clean += 1

    # ------------------------------------------------------------ the migration event

    def why_not_handle_event(self) -> str | None:
        if not (self.config.marks_dma_pages and self.channel.opted_in):
            return "driver: it did not opt in, so it gets no migration event"
        if not self.channel.event:
            return "driver: no migration event is raised"
        if self.touch is not None:
            return "driver: the RX poll is in the middle of a plain touch"
        return self._running()

    def handle_event(self) -> None:
        refuse(self.why_not_handle_event())
        self.state = "handling"
        self.handler_done = 0
        self.journal.record("driver", "handle_event", "driver takes the migration event (RX paused)")

    def next_handler_step(self) -> str | None:
        if self.state != "handling" or self.handler_done >= len(self.config.handler_steps):
            return None
        return self.config.handler_steps[self.handler_done]

    def why_not_handler_step(self, step: str) -> str | None:
        if self.state != "handling" or not self.channel.event:
            return "driver: no migration event is being handled"
        if self.next_handler_step() != step:
            return f"driver: the handler's next step is {self.next_handler_step()}, not {step}"
        if step == "drain" and not self.vf.quiet():
            return (f"driver: drain waits: {len(self.vf.dma.posted)} posted writes in flight"
                    + (", BME set" if self.vf.config.bus_master else ""))
        return self.vcpu.why_not_run()

    def clear_bus_master(self) -> None:
        refuse(self.why_not_handler_step("clear_bme"))
        self.vf.config.clear_bus_master()
        self._step_done("clear BME: Command register := "
                        f"{self.vf.config.command:#06x}; the VF issues no new DMA")

    def drain(self) -> None:
        refuse(self.why_not_handler_step("drain"))
        self._step_done("drain: no posted write pending (Transactions Pending clear)")

    def mark(self) -> None:
        refuse(self.why_not_handler_step("mark"))
        marked = [p for p in range(self.layout.buffer_pages) if self.iommu.is_mapped(p)]
        for page in marked:
            self.memory.cpu_touch(page)
        if self.config.mark_rings:
            self.memory.cpu_touch(self.layout.ring_page)
        names = [f"page {p}" for p in marked] + (["the ring page"] if self.config.mark_rings else [])
        self._step_done("mark: atomic touch of " + (", ".join(names) if names else "nothing"))

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
        if not self.config.resets_on_abort:
            return "driver: this driver has no error recovery"
        return self._after_abort()

    def _after_abort(self) -> str | None:
        if not self.channel.aborted:
            return "driver: no migration was aborted"
        if self.state not in ("handling", "acked"):
            return f"driver: not quiesced for a migration (state {self.state})"
        return self.vcpu.why_not_run()

    def error_detected(self) -> None:
        refuse(self.why_not_error_detected())
        self.state = "recovering"
        self.journal.record("driver", "error_detected", "driver finds its VF disabled: error recovery")

    def why_not_slot_reset(self) -> str | None:
        if self.state != "recovering":
            return f"driver: not recovering (state {self.state})"
        if self.vf.transactions_pending():
            return f"driver: reset waits: {len(self.vf.dma.posted)} posted writes in flight"
        return self.vcpu.why_not_run()

    def slot_reset(self) -> None:
        """Reset the function, set bus master, rebuild the ring (buffers stay mapped)."""
        refuse(self.why_not_slot_reset())
        self.vf.function_level_reset()
        self.next_to_use = self.next_to_clean = 0
        self.published = [False] * self.layout.slots
        self.touch = None
        self._configure_ring()
        self.vf.config.set_bus_master()
        self.state = "up"
        self.handler_done = 0
        self.journal.record("driver", "slot_reset", "driver recovered: ring rebuilt, BME set")

    def why_not_resume_without_reset(self) -> str | None:
        if self.config.resets_on_abort:
            return "driver: this driver recovers with a reset"
        return self._after_abort()

    def resume_without_reset(self) -> None:
        refuse(self.why_not_resume_without_reset())
        self.state = "up"
        self.handler_done = 0
        self.journal.record("driver", "resume", "driver carries on without recovery "
                            f"(BME {'set' if self.vf.config.bus_master else 'clear'})")
