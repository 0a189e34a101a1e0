"""The ixgbevf advanced RX descriptor (16 bytes, little endian), in its two formats.

Read format, written by the driver: ``pkt_addr`` (8 bytes, the buffer's DMA address) then
``hdr_addr`` (8 bytes). The driver clears the status dword (the low half of ``hdr_addr``)
before it hands the descriptor to the VF. ixgbevf runs its rings in one-buffer mode, so the
VF ignores the header address; the emulated driver stores a refill count in its high half,
so that every refill really changes the ring page (the model says it does; see the notes).

Write-back format, written by the VF over the same 16 bytes once the packet's data is in
the buffer: ``pkt_info``/``hdr_info`` (4 bytes), the RSS hash (4), ``status_error`` (4: DD
is bit 0, EOP bit 1), ``length`` (2), ``vlan`` (2).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

DESCRIPTOR_SIZE = 16
STATUS_DD = 0x1  # descriptor done
STATUS_EOP = 0x2  # end of packet

_READ = struct.Struct("<QII")  # pkt_addr, hdr_addr low (status), hdr_addr high
_WRITEBACK = struct.Struct("<HHIIHH")  # pkt_info, hdr_info, rss, status_error, length, vlan


def read_format(pkt_addr: int, refill_count: int) -> bytes:
    """The descriptor a refill writes: the buffer's address, status cleared."""
    return _READ.pack(pkt_addr, 0, refill_count & 0xFFFFFFFF)


def tx_writeback_format(sent: int) -> bytes:
    """A TX descriptor as the VF writes it back: DD set in its status (the count of frames sent
    rides in the address field, so that each write-back changes the page)."""
    return _READ.pack(sent, STATUS_DD, 0)


def tx_read_format(queued: int) -> bytes:
    """A TX descriptor as the driver writes it: status clear (the buffer address is the
    count of frames queued: TX data is only read by the VF, so its bytes are left out)."""
    return _READ.pack(queued, 0, 0)


def writeback_format(length: int, rss: int) -> bytes:
    """The descriptor the VF writes back: DD and EOP set, the packet's length and hash."""
    return _WRITEBACK.pack(0, 0, rss & 0xFFFFFFFF, STATUS_DD | STATUS_EOP, length, 0)


@dataclass(frozen=True)
class RxDescriptor:
    """Both readings of 16 descriptor bytes; which one is meant depends on ``dd``."""

    raw: bytes

    @property
    def pkt_addr(self) -> int:
        return _READ.unpack(self.raw)[0]

    @property
    def status(self) -> int:
        return _WRITEBACK.unpack(self.raw)[3]

    @property
    def dd(self) -> bool:
        return bool(self.status & STATUS_DD)

    @property
    def length(self) -> int:
        return _WRITEBACK.unpack(self.raw)[4]

    @property
    def rss(self) -> int:
        return _WRITEBACK.unpack(self.raw)[2]
