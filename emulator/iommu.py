"""The IOMMU between the VF and guest RAM: the guest driver maps pages for DMA (``dma_map``)
and unmaps them; a device write to an address that is not mapped faults and is dropped.

IOVAs equal guest-physical addresses (an identity domain), so a descriptor's buffer address
reads as a guest address.
"""

from __future__ import annotations

from .layout import PAGE_SIZE, GuestLayout


class Iommu:
    def __init__(self, layout: GuestLayout):
        self.layout = layout
        self._mapped = [False] * layout.pages

    def map(self, page: int) -> int:
        """Map ``page`` for device access; return its IOVA."""
        self._mapped[page] = True
        return self.layout.address(page)

    def unmap(self, page: int) -> None:
        self._mapped[page] = False

    def is_mapped(self, page: int) -> bool:
        return self._mapped[page]

    def translate(self, iova: int, length: int) -> tuple[int, int] | None:
        """The (page, offset) where a device access of ``length`` bytes at ``iova`` starts, or
        None (a fault) when the range leaves guest RAM or reaches a page that is not mapped.
        A range may cross into the next pages (a jumbo buffer) when they are mapped too."""
        where = self.layout.locate(iova)
        if where is None:
            return None
        page, offset = where
        last = page + (offset + max(length, 1) - 1) // PAGE_SIZE
        if last >= self.layout.pages or not all(self._mapped[p] for p in range(page, last + 1)):
            return None
        return page, offset
