"""The IOMMU between the VF and guest RAM, in one of two settings (``IOMMU_SETTINGS``):

- ``whole-ram`` (the default): a 2015 guest has no vIOMMU for an assigned device, so VFIO
  maps the whole guest RAM for it and the VF can write any guest page. The guest driver's
  ``dma_map``/``dma_unmap`` are then its own bookkeeping of the pages it holds for DMA;
  nothing checks a device write against them.
- ``mapped``: a guest with a vIOMMU: only the pages the driver mapped are reachable, and a
  device write that reaches any other page faults and is dropped.

Either way the IOMMU knows which pages the driver holds (``is_mapped``), so a write into a
page it has unmapped (freed) can be named. IOVAs equal guest-physical addresses (an
identity domain), so a descriptor's buffer address reads as a guest address.
"""

from __future__ import annotations

from .layout import PAGE_SIZE, GuestLayout

WHOLE_RAM, MAPPED = "whole-ram", "mapped"
IOMMU_SETTINGS = (WHOLE_RAM, MAPPED)  # the first is the default: the guests the thread is about


class Iommu:
    def __init__(self, layout: GuestLayout, setting: str = WHOLE_RAM):
        if setting not in IOMMU_SETTINGS:
            raise ValueError(f"IOMMU setting {setting!r}: one of {', '.join(IOMMU_SETTINGS)}")
        self.layout = layout
        self.setting = setting
        self._mapped = [False] * layout.pages

    def map(self, page: int) -> int:
        """Map ``page`` for device access; return its IOVA."""
        self._mapped[page] = True
        return self.layout.address(page)

    def unmap(self, page: int) -> None:
        self._mapped[page] = False

    def is_mapped(self, page: int) -> bool:
        """Whether the driver holds ``page`` for DMA (has it mapped)."""
        return self._mapped[page]

    def translate(self, iova: int, length: int) -> tuple[int, int] | None:
        """The (page, offset) where a device access of ``length`` bytes at ``iova`` starts, or
        None (a fault) when the range leaves guest RAM or, in the ``mapped`` setting, reaches
        a page the driver has not mapped. A range may cross into the next pages (a jumbo
        buffer)."""
        where = self.layout.locate(iova)
        if where is None:
            return None
        page, offset = where
        last = page + (offset + max(length, 1) - 1) // PAGE_SIZE
        if last >= self.layout.pages:
            return None
        if self.setting == MAPPED and not all(self._mapped[p] for p in range(page, last + 1)):
            return None
        return page, offset
