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
# The advanced TX descriptor: read format buffer_addr, cmd_type_len, olinfo_status; write-back
# format rsvd, nxtseq_seed, status (DD is its bit 0, at byte 12).
_TX = struct.Struct("<QII")

# Bytes the emulator invents, by ring: (start, end) in a descriptor, which format, and why.
# A difference there at the destination is the emulator's bookkeeping, not a real device's.
REFILL_COUNT = (12, 16)
FRAME_COUNT = (0, 8)
ARTIFICIAL = {
    "rx": (REFILL_COUNT, "read", "the emulator's refill count, an invented value (ixgbevf writes "
           "only pkt_addr, and clears the next descriptor's length)"),
    "tx": (FRAME_COUNT, "any", "a count of frames where the buffer address goes, an invented value "
           "(TX data is only read by the VF, so the emulator keeps no buffer)"),
}


def read_format(pkt_addr: int, refill_count: int) -> bytes:
    """The descriptor a refill writes: the buffer's address, status cleared, and the refill
    count in bytes 12-15 (`REFILL_COUNT`: artificial)."""
    return _READ.pack(pkt_addr, 0, refill_count & 0xFFFFFFFF)


def artificial(ring: str, raw: bytes) -> tuple[int, int, str] | None:
    """The invented bytes of one descriptor of ``ring`` ("rx" or "tx") as it is in memory
    (``raw``): (start, end, why), or None when it has none (an RX write-back)."""
    (start, end), form, why = ARTIFICIAL[ring]
    if form == "read" and RxDescriptor(raw).dd:
        return None
    return start, end, why


def tx_writeback_format(sent: int) -> bytes:
    """A TX descriptor as the VF writes it back: DD set in its status (the count of frames sent
    rides in the address field, `FRAME_COUNT`: artificial, so that each write-back changes the
    page)."""
    return _TX.pack(sent, 0, STATUS_DD)


def tx_read_format(queued: int) -> bytes:
    """A TX descriptor as the driver writes it: status clear (the buffer address is the
    count of frames queued, `FRAME_COUNT`: artificial; TX data is only read by the VF, so
    its bytes are left out)."""
    return _TX.pack(queued, 0, 0)


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
