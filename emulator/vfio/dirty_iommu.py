"""An IOMMU that tracks device writes in its page table: a D (dirty) bit per page, set when
a device write is translated, and an IOTLB that caches translations.

As on AMD and Intel IOMMUs with iommufd dirty tracking: once the IOTLB caches a page's
translation with D set, later writes through it do not walk the page table, so they do not
set D again. Reading and clearing the D bits must therefore flush the IOTLB
(`iommu_read_and_clear_dirty` does, unless IOMMU_DIRTY_NO_CLEAR); turning tracking on
clears the D bits first (`iopt_set_dirty_tracking`). An unmap flushes the page's entry.
"""

from __future__ import annotations


class DirtyTrackingIommu:
    def __init__(self, pages: int):
        self.mapped = [True] * pages
        self.d_bit = [False] * pages
        self.iotlb_d = [False] * pages  # the IOTLB holds the translation with D already set
        self.tracking = False

    def set_dirty_tracking(self) -> None:
        """Clear every D bit (and the IOTLB), then track."""
        self.d_bit = [False] * len(self.d_bit)
        self.iotlb_d = [False] * len(self.iotlb_d)
        self.tracking = True

    def translate_write(self, page: int) -> bool:
        """A device write to ``page``: False (a fault) when it is not mapped; sets D unless the
        IOTLB already caches the translation with D set."""
        if not self.mapped[page]:
            return False
        if self.tracking:
            if not self.iotlb_d[page]:
                self.d_bit[page] = True
            self.iotlb_d[page] = True
        return True

    def read_and_clear(self, flush: bool) -> list[bool]:
        """The D bits, cleared; with ``flush`` the IOTLB is invalidated too."""
        bits, self.d_bit = self.d_bit, [False] * len(self.d_bit)
        if flush:
            self.iotlb_d = [False] * len(self.iotlb_d)
        return bits

    def read_page(self, page: int) -> bool:
        return self.d_bit[page]

    def unmap(self, page: int) -> None:
        self.mapped[page] = False
        self.d_bit[page] = False
        self.iotlb_d[page] = False

    def map(self, page: int) -> None:
        self.mapped[page] = True
