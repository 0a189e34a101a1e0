"""Where things live in the emulated guest's RAM: the RX buffer allocations, the page holding
the RX descriptor ring, the page holding the TX descriptor ring and one ordinary page the
guest CPU writes; and where in its allocation RX slot i's buffer is.

An RX buffer allocation ("buffer page" ``p``, as the model counts them) is ``span``
consecutive 4 KiB pages. With ``span`` 1 it is one page, and buffers share it as below. With
``span`` 2 or more it holds one jumbo buffer that covers all of its pages (a large frame's
buffer crosses 4 KiB boundaries), at offset 0.

Which buffer page holds slot ``i``'s buffer is the driver's choice at refill (a page
allocator's, in a real guest): any buffer page for a fresh buffer, the same page again for a
recycled one (see `emulator.driver`). Within whatever page it is in, slot ``i``'s buffer is
at offset ``i * buffer_size``, so buffers that share a page never overlap, whichever slots
share it. With up to two slots a buffer is half a page (2048 bytes), as ixgbevf's half-page
buffers are: two slots in one page sit at offsets 0 and 2048. With more slots a buffer is the
largest power-of-two fraction of the page that gives every slot its own part (1024 bytes for
3 or 4 slots, 512 for 5 to 8).
"""

from __future__ import annotations

from dataclasses import dataclass

PAGE_SIZE = 4096
RX_BUFFER_SIZE = 2048  # ixgbevf's RX buffer: half a page
MIN_BUFFER_SIZE = 128  # the smallest buffer the emulator uses: room for one frame (96 bytes)
GUEST_RAM_BASE = 0x10_0000  # guest-physical address of page 0; the IOMMU maps IOVA = GPA


@dataclass(frozen=True)
class GuestLayout:
    """The guest's pages: ``buffer_pages`` RX buffer allocations of ``span`` pages each, then
    the RX ring page, the TX ring page and the CPU page."""

    slots: int
    buffer_pages: int
    span: int = 1

    def __post_init__(self) -> None:
        if self.slots < 1 or self.buffer_pages < 1:
            raise ValueError("a guest needs at least one RX slot and one RX buffer page")
        if self.slots > PAGE_SIZE // MIN_BUFFER_SIZE:
            raise ValueError(f"{self.slots} RX slots: at most {PAGE_SIZE // MIN_BUFFER_SIZE}, so that "
                             f"every slot's buffer ({MIN_BUFFER_SIZE} bytes or more) fits in one page")

    @property
    def ring_page(self) -> int:
        return self.buffer_pages * self.span

    @property
    def tx_ring_page(self) -> int:
        return self.ring_page + 1

    @property
    def cpu_page(self) -> int:
        """An ordinary page only the guest's CPU (or a paravirtual backend) writes: logged."""
        return self.ring_page + 2

    @property
    def pages(self) -> int:
        return self.ring_page + 3

    def first_page(self, allocation: int) -> int:
        """The first 4 KiB page of RX buffer allocation ``allocation``."""
        return allocation * self.span

    def pages_of(self, allocation: int) -> range:
        """The 4 KiB pages of RX buffer allocation ``allocation``."""
        return range(allocation * self.span, (allocation + 1) * self.span)

    def allocation_of(self, page: int) -> int | None:
        """The RX buffer allocation a 4 KiB page belongs to (None: a ring page)."""
        return page // self.span if page < self.ring_page else None

    @property
    def buffer_size(self) -> int:
        """Bytes per RX buffer: half a page, a smaller power-of-two part with more than two slots.

        >>> GuestLayout(2, 1).buffer_size, GuestLayout(3, 2).buffer_size, GuestLayout(8, 1).buffer_size
        (2048, 1024, 512)
        """
        if self.span > 1:
            return self.span * PAGE_SIZE
        parts = 2
        while parts < self.slots:
            parts *= 2
        return min(RX_BUFFER_SIZE, PAGE_SIZE // parts)

    def buffer_offset(self, slot: int) -> int:
        """The offset of RX slot ``slot``'s buffer within whatever allocation holds it."""
        return 0 if self.span > 1 else slot * self.buffer_size

    def is_buffer_page(self, allocation: int) -> bool:
        return 0 <= allocation < self.buffer_pages

    def address(self, page: int, offset: int = 0) -> int:
        """The guest-physical address of ``offset`` in 4 KiB page ``page``."""
        return GUEST_RAM_BASE + page * PAGE_SIZE + offset

    def locate(self, address: int) -> tuple[int, int] | None:
        """The (page, offset) of a guest-physical address, or None outside guest RAM."""
        rel = address - GUEST_RAM_BASE
        if rel < 0 or rel >= self.pages * PAGE_SIZE:
            return None
        return rel // PAGE_SIZE, rel % PAGE_SIZE

    def descriptor_ring(self, page: int) -> str | None:
        """"rx" or "tx" for a descriptor ring page (see `descriptors.ARTIFICIAL`), else None."""
        return {self.ring_page: "rx", self.tx_ring_page: "tx"}.get(page)

    def role(self, page: int) -> str:
        """What a page holds, in words."""
        if page < self.ring_page:
            if self.span == 1:
                return f"RX buffer page {page}"
            return f"RX buffer page {page // self.span} (4 KiB page {page % self.span + 1} of {self.span})"
        if page == self.ring_page:
            return "RX descriptor ring page"
        if page == self.tx_ring_page:
            return "TX descriptor ring page"
        return "CPU page"
