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
        """The (page, offset) a device access of ``length`` bytes at ``iova`` reaches, or None
        (a fault) when the range leaves guest RAM, crosses a page or the page is not mapped."""
        where = self.layout.locate(iova)
        if where is None:
            return None
        page, offset = where
        if offset + length > PAGE_SIZE or not self._mapped[page]:
            return None
        return page, offset
