"""The packets the wire delivers to the VF: Ethernet frames that carry a sequence number and
a checksum, so that whoever reads one can tell it intact, stale, duplicated or corrupted.

Frame: destination MAC (the VF's), source MAC, EtherType 0x88B5 (local experimental), then
``MIGC``, the sequence number (4 bytes, big endian), a fixed filler, and the CRC-32 of
everything before it. Two frames differ only in the sequence number and the CRC, so their
CRCs differ too (CRC-32 detects every error burst of 32 bits or less).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

VF_MAC = bytes.fromhex("020000000001")
PEER_MAC = bytes.fromhex("0200000000fe")
ETHERTYPE = 0x88B5
MAGIC = b"MIGC"
FRAME_LEN = 96
_HEADER = VF_MAC + PEER_MAC + struct.pack(">H", ETHERTYPE)
_FILLER = bytes((i * 7 + 3) & 0xFF for i in range(FRAME_LEN - len(_HEADER) - len(MAGIC) - 4 - 4))


@dataclass(frozen=True)
class Packet:
    """One frame on the wire, known by its sequence number."""

    seq: int

    def frame(self) -> bytes:
        body = _HEADER + MAGIC + struct.pack(">I", self.seq) + _FILLER
        return body + struct.pack(">I", zlib.crc32(body))

    @property
    def checksum(self) -> int:
        return struct.unpack(">I", self.frame()[-4:])[0]


def jumbo_payload(seq: int, length: int) -> bytes:
    """The rest of a jumbo frame after its first ``FRAME_LEN`` bytes: a pattern of its own."""
    return bytes((seq * 31 + k * 13) & 0xFF for k in range(length))


def parse(frame: bytes) -> int | None:
    """The sequence number of an intact frame; None for anything else."""
    if len(frame) != FRAME_LEN or not frame.startswith(_HEADER + MAGIC):
        return None
    body, crc = frame[:-4], struct.unpack(">I", frame[-4:])[0]
    if zlib.crc32(body) != crc:
        return None
    return struct.unpack(">I", frame[len(_HEADER) + len(MAGIC):len(_HEADER) + len(MAGIC) + 4])[0]


class Wire:
    """The network in front of the VF: each packet gets the next sequence number, from 1."""

    def __init__(self) -> None:
        self.sent: list[Packet] = []

    def next_packet(self) -> Packet:
        packet = Packet(len(self.sent) + 1)
        self.sent.append(packet)
        return packet
