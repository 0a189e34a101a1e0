"""The guest's network stack, as far as received packets go.

A packet the driver copies out (RX clean that recycles the buffer) is read at once. A
packet handed up with its page (RX clean that unmaps the buffer: the skb holds the page) is
read later: before the driver reuses that buffer, or at the end of the run, from the memory
the VM then runs in (the destination's after a switchover). Either way the stack keeps what
it read: the sequence number of an intact frame, or nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from .memory import Memory
from .packets import parse


@dataclass(frozen=True)
class HeldBuffer:
    """A packet handed up together with its page, not read yet."""

    slot: int
    page: int
    offset: int
    length: int
    announced: int  # the descriptor's RSS field: the hash of the frame the VF says it wrote


@dataclass(frozen=True)
class Reception:
    """What the stack read for one packet handed up by the driver."""

    slot: int
    page: int
    offset: int
    data: bytes
    announced: int
    seq: int | None  # None: not an intact frame
    where: str  # "source" or "destination": the memory it was read from
    handed_up_with_page: bool


class GuestStack:
    def __init__(self) -> None:
        self.received: list[Reception] = []
        self.held: list[HeldBuffer] = []

    def read_now(self, memory: Memory, buffer: HeldBuffer, where: str = "source") -> Reception:
        return self._read(memory, buffer, where, False)

    def hold(self, buffer: HeldBuffer) -> None:
        self.held.append(buffer)

    def release(self, memory: Memory, page: int, offset: int, size: int, where: str = "source") -> None:
        """Read every held packet whose buffer overlaps ``[offset, offset + size)`` of ``page``."""
        keep = []
        for h in self.held:
            if h.page == page and h.offset < offset + size and offset < h.offset + h.length:
                self._read(memory, h, where, True)
            else:
                keep.append(h)
        self.held = keep

    def release_all(self, memory: Memory, where: str) -> None:
        for h in self.held:
            self._read(memory, h, where, True)
        self.held = []

    def _read(self, memory: Memory, h: HeldBuffer, where: str, with_page: bool) -> Reception:
        data = memory.read(h.page, h.offset, h.length)
        got = Reception(h.slot, h.page, h.offset, data, h.announced, parse(data), where, with_page)
        self.received.append(got)
        return got
