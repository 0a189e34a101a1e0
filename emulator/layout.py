"""Where things live in the emulated guest's RAM: the RX buffer pages, the page holding the
RX descriptor ring, and one ordinary page the guest CPU writes; and where RX slot i's
buffer is.

Slot ``i``'s buffer is in buffer page ``i % buffer_pages``. When several slots share a page
they take equal, non-overlapping parts of it: two slots share a page as ixgbevf's half-page
(2048-byte) buffers do, at offsets 0 and 2048.
"""

from __future__ import annotations

from dataclasses import dataclass

PAGE_SIZE = 4096
RX_BUFFER_SIZE = 2048  # ixgbevf's RX buffer: half a page
GUEST_RAM_BASE = 0x10_0000  # guest-physical address of page 0; the IOMMU maps IOVA = GPA


@dataclass(frozen=True)
class GuestLayout:
    """The guest's pages: ``buffer_pages`` RX buffer pages, then the ring page, then the CPU page."""

    slots: int
    buffer_pages: int

    def __post_init__(self) -> None:
        if self.slots < 1 or self.buffer_pages < 1:
            raise ValueError("a guest needs at least one RX slot and one RX buffer page")

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
        """Bytes per RX buffer: half a page, smaller when more than two slots share a page."""
        per_page = -(-self.slots // self.buffer_pages)
        parts = 2
        while parts < per_page:
            parts *= 2
        return min(RX_BUFFER_SIZE, PAGE_SIZE // parts)

    def buffer(self, slot: int) -> tuple[int, int]:
        """The (page, offset) of RX slot ``slot``'s buffer."""
        return slot % self.buffer_pages, (slot // self.buffer_pages) * self.buffer_size

    def slots_in_page(self, page: int) -> list[int]:
        return [i for i in range(self.slots) if self.buffer(i)[0] == page]

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
