"""Guest RAM as real bytes: the source's pages with a KVM-style dirty log, and a plain page
store for the destination that only the migrator writes.

The dirty log sees CPU writes (``cpu_write``, ``cpu_touch``), as write protection or PML on
the EPT does; a device's DMA (``dma_write``) goes through the IOMMU and is never logged.
"""

from __future__ import annotations

from .layout import PAGE_SIZE

BOOT_FILL = 0xA5  # what the source's RAM holds before anything writes it
EMPTY_FILL = 0x00  # what the destination holds before the first copy


class Memory:
    """``pages`` pages of ``PAGE_SIZE`` bytes each."""

    def __init__(self, pages: int, fill: int):
        self._pages = [bytearray([fill]) * PAGE_SIZE for _ in range(pages)]

    def __len__(self) -> int:
        return len(self._pages)

    def read(self, page: int, offset: int, length: int) -> bytes:
        _check(offset, length)
        return bytes(self._pages[page][offset:offset + length])

    def write(self, page: int, offset: int, data: bytes) -> None:
        _check(offset, len(data))
        self._pages[page][offset:offset + len(data)] = data

    def page(self, page: int) -> bytes:
        return bytes(self._pages[page])

    def load_page(self, page: int, data: bytes) -> None:
        if len(data) != PAGE_SIZE:
            raise ValueError(f"a page is {PAGE_SIZE} bytes, not {len(data)}")
        self._pages[page][:] = data


class DirtyLog:
    """One bit per page, set by CPU writes; the migrator harvests it (read and clear)."""

    def __init__(self, pages: int):
        self._bits = [False] * pages

    def mark(self, page: int) -> None:
        self._bits[page] = True

    def is_dirty(self, page: int) -> bool:
        return self._bits[page]

    def harvest(self) -> list[int]:
        """The pages written since the last harvest; their bits are cleared."""
        dirty = [p for p, bit in enumerate(self._bits) if bit]
        self._bits = [False] * len(self._bits)
        return dirty


class GuestMemory:
    """The source's RAM as the guest CPU and the devices see it."""

    def __init__(self, pages: int):
        self.ram = Memory(pages, BOOT_FILL)
        self.dirty_log = DirtyLog(pages)

    def cpu_read(self, page: int, offset: int, length: int) -> bytes:
        return self.ram.read(page, offset, length)

    def cpu_write(self, page: int, offset: int, data: bytes) -> None:
        """A CPU store: the page changes and the dirty log records it."""
        self.ram.write(page, offset, data)
        self.dirty_log.mark(page)

    def cpu_touch(self, page: int, offset: int = 0, width: int = 8) -> None:
        """An atomic no-op store (``cmpxchg(p, x, x)``): no data changes, the log records it."""
        self.cpu_write(page, offset, self.ram.read(page, offset, width))

    def dma_write(self, page: int, offset: int, data: bytes) -> list[tuple[int, int, int, bytes]]:
        """A device write through the IOMMU: the pages change, the dirty log does not see it.
        A write may run on into the next pages; returns the (page, offset, length, bytes
        replaced) pieces."""
        pieces = []
        while data:
            chunk = data[:PAGE_SIZE - offset]
            replaced = self.ram.read(page, offset, len(chunk))
            self.ram.write(page, offset, chunk)
            pieces.append((page, offset, len(chunk), replaced))
            data, page, offset = data[len(chunk):], page + 1, 0
        return pieces


def _check(offset: int, length: int) -> None:
    if offset < 0 or length < 0 or offset + length > PAGE_SIZE:
        raise ValueError(f"bytes {offset}..{offset + length} are outside a {PAGE_SIZE}-byte page")
