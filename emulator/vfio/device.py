"""A passed-through device with VFIO migration: its migration state, its internal state as
real bytes, its posted writes (one to guest RAM, one peer-to-peer into another device's
BAR), its migration data stream and its DMA log.

- The internal state is ``STATE_SIZE`` bytes: an epoch (bumped by every reset), a count of
  the work done, and what peers wrote into it. Work (each DMA it issues) and a landed P2P
  write change it.
- Entering a saving state (PRE_COPY, or STOP_COPY from a non-saving state) opens a data
  stream: a new generation, whose base image is the state at that moment. The STOP_COPY
  arc snapshots the state; the STOP_COPY data is the snapshot as a delta (XOR) against the
  stream's base, so it rebuilds the device only on top of that same base.
- A reset (FLR, or an asynchronous reset) puts the device in RUNNING with a fresh state and
  ends its stream (the transfer is terminated).
- DMA logging (VFIO_DEVICE_FEATURE_DMA_LOGGING_*): a bit per page the device wrote, read and
  cleared by REPORT.
"""

from __future__ import annotations

from dataclasses import dataclass

STATE_SIZE = 32


@dataclass(frozen=True)
class Stream:
    generation: int
    base: bytes  # the device's state when the stream was opened


def xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


class VfioDevice:
    def __init__(self, index: int, pages: int):
        self.index = index
        self.state = "RUNNING"  # the VFIO migration state (uAPI names)
        self.internal = bytearray(STATE_SIZE)
        self.internal[0] = 0xD0 + index  # a boot-time identity, so no two states coincide
        self.epoch = 0
        self.work = 0
        self.posted_dma: bytes | None = None
        self.posted_p2p: bytes | None = None
        self.stream: Stream | None = None
        self.snapshot: bytes | None = None  # the STOP_COPY data's state
        self.ended_by_reset: set[int] = set()  # stream generations a reset terminated
        self.log = [False] * pages
        self.logging = False

    # ------------------------------------------------------------ work and posted writes

    def issue_dma(self) -> bytes:
        """Do a unit of work and post a DMA write of its result; returns the payload."""
        self.work += 1
        self.internal[4:8] = self.work.to_bytes(4, "little")
        stamp = self.work.to_bytes(4, "little")
        self.posted_dma = bytes([0x40 + self.index, self.epoch & 0xFF]) + stamp * 15 + b"\x00\x00"
        return self.posted_dma

    def issue_p2p(self) -> bytes:
        self.posted_p2p = bytes([0x80 + self.index]) + (self.work + 1).to_bytes(3, "little")
        return self.posted_p2p

    def receive_p2p(self, data: bytes) -> None:
        """A peer's write lands in this device's BAR: its internal state changes."""
        at = 8 + (data[0] & 0x3) * 4
        self.internal[at:at + 4] = xor(bytes(self.internal[at:at + 4]), data)

    def record_write(self, page: int) -> None:
        if self.logging:
            self.log[page] = True

    # ------------------------------------------------------------ DMA logging

    def start_logging(self) -> None:
        self.log = [False] * len(self.log)
        self.logging = True

    def report(self) -> list[bool]:
        """DMA_LOGGING_REPORT: the bits, read and cleared."""
        bits, self.log = self.log, [False] * len(self.log)
        return bits

    # ------------------------------------------------------------ migration state

    def open_stream(self, generation: int) -> Stream:
        self.stream = Stream(generation, bytes(self.internal))
        return self.stream

    def take_snapshot(self) -> None:
        self.snapshot = bytes(self.internal)

    def stop_copy_data(self) -> bytes | None:
        """The STOP_COPY data: the snapshot as a delta against the stream's base."""
        if self.snapshot is None or self.stream is None:
            return None
        return xor(self.snapshot, self.stream.base)

    def reset(self) -> None:
        """The device is reset: RUNNING, a fresh state, the data transfer terminated."""
        if self.stream is not None:
            self.ended_by_reset.add(self.stream.generation)
        self.state = "RUNNING"
        self.epoch += 1
        self.internal = bytearray(STATE_SIZE)
        self.internal[0] = 0xD0 + self.index
        self.internal[1:4] = self.epoch.to_bytes(3, "little")
        self.stream = None
        self.snapshot = None  # writes already posted stay in the fabric and land later
