"""Where things live in the emulated guest's RAM: the RX buffer pages, the page holding the
RX descriptor ring, and one ordinary page the guest CPU writes; and where in its page RX
slot i's buffer is.

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
    """The guest's pages: ``buffer_pages`` RX buffer pages, then the ring page, then the CPU page."""

    slots: int
    buffer_pages: int

    def __post_init__(self) -> None:
        if self.slots < 1 or self.buffer_pages < 1:
            raise ValueError("a guest needs at least one RX slot and one RX buffer page")
        if self.slots > PAGE_SIZE // MIN_BUFFER_SIZE:
            raise ValueError(f"{self.slots} RX slots: at most {PAGE_SIZE // MIN_BUFFER_SIZE}, so that "
                             f"every slot's buffer ({MIN_BUFFER_SIZE} bytes or more) fits in one page")

    @property
    def ring_page(self) -> int:
        return self.buffer_pages

    @property
    def cpu_page(self) -> int:
        return self.buffer_pages + 1

    @property
    def pages(self) -> int:
        return self.buffer_pages + 2

    @property
    def buffer_size(self) -> int:
        """Bytes per RX buffer: half a page, a smaller power-of-two part with more than two slots.

        >>> GuestLayout(2, 1).buffer_size, GuestLayout(3, 2).buffer_size, GuestLayout(8, 1).buffer_size
        (2048, 1024, 512)
        """
        parts = 2
        while parts < self.slots:
            parts *= 2
        return min(RX_BUFFER_SIZE, PAGE_SIZE // parts)

    def buffer_offset(self, slot: int) -> int:
        """The offset of RX slot ``slot``'s buffer within whatever buffer page holds it."""
        return slot * self.buffer_size

    def is_buffer_page(self, page: int) -> bool:
        return 0 <= page < self.buffer_pages

    def address(self, page: int, offset: int = 0) -> int:
        """The guest-physical address of ``offset`` in ``page``."""
        return GUEST_RAM_BASE + page * PAGE_SIZE + offset

    def locate(self, address: int) -> tuple[int, int] | None:
        """The (page, offset) of a guest-physical address, or None outside guest RAM."""
        rel = address - GUEST_RAM_BASE
        if rel < 0 or rel >= self.pages * PAGE_SIZE:
            return None
        return rel // PAGE_SIZE, rel % PAGE_SIZE

    def role(self, page: int) -> str:
        """What a page holds, in words."""
        if page < self.buffer_pages:
            return f"RX buffer page {page}"
        if page == self.ring_page:
            return "RX descriptor ring page"
        return "CPU page"
