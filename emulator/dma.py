"""The VF's DMA engine: memory writes are PCIe posted writes. ``post`` queues one; it lands
later, when the caller says so (``land``), in whatever order the caller chooses. A landing
write goes through the IOMMU into guest RAM and is never seen by the dirty log.

The engine has ``max_posted`` credits: no new write is issued while that many are in flight.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import StepRefused
from .iommu import Iommu
from .journal import Journal
from .memory import GuestMemory

DATA, WRITEBACK, TX_WRITEBACK = "data", "writeback", "tx_writeback"
TX_SLOT = 0  # the TX ring's one descriptor


@dataclass(frozen=True)
class PostedWrite:
    """A write issued and not yet landed: packet data into a buffer, or a descriptor write-back."""

    iova: int
    data: bytes
    purpose: str  # DATA, WRITEBACK or TX_WRITEBACK
    slot: int
    seq: int  # the packet it belongs to


class DmaEngine:
    def __init__(self, iommu: Iommu, memory: GuestMemory, journal: Journal, max_posted: int):
        if max_posted < 1:
            raise ValueError("a DMA engine needs at least one posted-write credit")
        self.iommu = iommu
        self.memory = memory
        self.journal = journal
        self.max_posted = max_posted
        self.posted: list[PostedWrite] = []
        self.halted = False  # the source machine is gone: nothing lands any more

    def has_credit(self) -> bool:
        return len(self.posted) < self.max_posted

    def pending(self, slot: int, purpose: str) -> bool:
        return any(w.slot == slot and w.purpose == purpose for w in self.posted)

    def post(self, write: PostedWrite) -> None:
        if not self.has_credit():
            raise StepRefused(f"DMA engine: no credit: {len(self.posted)} posted writes in flight "
                              f"(at most {self.max_posted})")
        self.posted.append(write)

    def find(self, slot: int, purpose: str) -> int | None:
        """The index in ``posted`` of the write for ``slot`` with ``purpose``."""
        for k, w in enumerate(self.posted):
            if w.slot == slot and w.purpose == purpose:
                return k
        return None

    def land(self, index: int) -> PostedWrite:
        """Land the posted write at ``index`` (0 is the oldest)."""
        if self.halted:
            raise StepRefused("DMA engine: the source machine is stopped; posted writes no longer land")
        if not 0 <= index < len(self.posted):
            raise StepRefused(f"DMA engine: no posted write #{index} ({len(self.posted)} in flight)")
        write = self.posted.pop(index)
        where = self.iommu.translate(write.iova, len(write.data))
        what = {DATA: f"packet {write.seq} data", WRITEBACK: f"descriptor {write.slot} write-back",
                TX_WRITEBACK: "TX descriptor write-back"}[write.purpose]
        if where is None:
            self.journal.record("vf", "dma_fault", f"IOMMU fault: {what} to IOVA {write.iova:#x} "
                                "is not mapped; the write is dropped", slot=write.slot, seq=write.seq)
            return write
        kind = {DATA: "data_land", WRITEBACK: "writeback_land",
                TX_WRITEBACK: "tx_writeback_land"}[write.purpose]
        done = 0
        for page, offset, length, replaced in self.memory.dma_write(*where, write.data):
            wrote = write.data[done:done + length]
            self.journal.record("vf", kind, f"{what} lands at IOVA {write.iova + done:#x} "
                                f"(page {page} +{offset:#05x}, {length} bytes; not logged)",
                                page=page, offset=offset, length=length, slot=write.slot,
                                seq=write.seq, before=replaced, after=wrote)
            if not self.iommu.is_mapped(page):  # reachable only because the whole RAM is mapped
                self.journal.record("vf", "freed_write", f"{what} overwrote {length} bytes of page "
                                    f"{page} +{offset:#05x}, a page the driver does not hold (it "
                                    "unmapped and freed it): whatever the guest keeps there now is "
                                    "corrupted", page=page, offset=offset, length=length,
                                    slot=write.slot, seq=write.seq, before=replaced, after=wrote)
            done += length
        return write

    def halt(self) -> None:
        self.halted = True
