"""The SR-IOV virtual function: an ixgbevf-style NIC function with an RX descriptor ring and
a TX ring of one descriptor.

Registers: the ring's base (RDBA) and length, its head (RDH, advanced by the VF) and tail
(RDT, written by the driver). The VF owns the descriptors from head up to tail. The emulator
keeps RDH and RDT as free-running counts (descriptor = count mod ring length), so a ring of
N descriptors can hold N buffers; ixgbe's registers hold the index only and its driver keeps
one descriptor unused to tell a full ring from an empty one.

Receiving a packet: read the descriptor at head, issue the posted write of the frame to its
buffer address, advance head. Once that write has landed the VF issues the descriptor
write-back (DD, length, RSS hash) to the same descriptor. No write is issued while bus
mastering is off. A function-level reset clears BME and invalidates the rings. With buffers
that span several pages the VF writes a jumbo frame: the frame, then payload up to the
buffer's end, so the write crosses into every page of the buffer.

Transmitting: the driver writes the TX descriptor and TDT; the VF fetches the descriptor and
the frame (DMA reads), sends it and posts the descriptor write-back (DD, in place) into the
TX ring page.
"""

from __future__ import annotations

from dataclasses import dataclass

from .descriptors import DESCRIPTOR_SIZE, RxDescriptor, tx_writeback_format, writeback_format
from .dma import DATA, TX_SLOT, TX_WRITEBACK, WRITEBACK, DmaEngine, PostedWrite
from .errors import refuse
from .iommu import Iommu
from .journal import Journal
from .layout import GuestLayout
from .memory import GuestMemory
from .packets import Packet, jumbo_payload
from .pci import ConfigSpace


@dataclass(frozen=True)
class RxInProgress:
    """A descriptor the VF has taken: its packet, and whether its write-back was issued."""

    packet: Packet
    length: int
    writeback_issued: bool = False


@dataclass(frozen=True)
class Accepted:
    """A packet the VF took from the wire: the descriptor it used and its buffer's address."""

    packet: Packet
    slot: int
    buffer: int


class VirtualFunction:
    def __init__(self, layout: GuestLayout, memory: GuestMemory, iommu: Iommu, journal: Journal,
                 max_posted: int):
        self.layout = layout
        self.memory = memory
        self.iommu = iommu
        self.journal = journal
        self.config = ConfigSpace()
        self.dma = DmaEngine(iommu, memory, journal, max_posted)
        self.ring_base: int | None = None  # RDBA
        self.ring_len = 0
        self.head = 0  # RDH
        self.tail = 0  # RDT
        self.in_progress: dict[int, RxInProgress] = {}
        self.accepted: list[Accepted] = []  # every packet taken from the wire, in order
        self.powered = True
        self.tx_base: int | None = None  # TDBA
        self.tx_pending = False  # TDT moved past a descriptor the VF has not sent yet
        self.tx_sent = 0

    # ------------------------------------------------------------ registers (MMIO)

    def configure_rx_ring(self, base_iova: int, count: int) -> None:
        self.ring_base, self.ring_len = base_iova, count
        self.head = self.tail = 0

    def configure_tx_ring(self, base_iova: int) -> None:
        self.tx_base = base_iova
        self.tx_pending = False

    def write_tdt(self) -> None:
        self.tx_pending = True
        self.journal.record("driver", "tdt_write", "TDT bumped: one frame to send "
                            f"(BME {'set' if self.config.bus_master else 'clear'})")

    def tx_state(self) -> str:
        """free, posted (TDT moved, not sent) or wb_inflight (its DD write-back posted)."""
        if self.dma.pending(TX_SLOT, TX_WRITEBACK):
            return "wb_inflight"
        return "posted" if self.tx_pending else "free"

    def why_not_transmit(self) -> str | None:
        if not self.tx_pending:
            return "VF: no TX descriptor published (TDH == TDT)"
        return self.why_not_issue()

    def transmit(self) -> None:
        """Send the published frame and post its descriptor write-back (DD) to the TX ring."""
        refuse(self.why_not_transmit())
        assert self.tx_base is not None
        self.tx_pending = False
        self.tx_sent += 1
        self.dma.post(PostedWrite(self.tx_base, tx_writeback_format(self.tx_sent), TX_WRITEBACK, TX_SLOT, 0))
        self.journal.record("vf", "tx_writeback_issue", f"frame {self.tx_sent} sent; TX descriptor "
                            "write-back (DD) posted", slot=TX_SLOT)

    def write_rdt(self, value: int) -> None:
        self.tail = value
        self.journal.record("driver", "rdt_write", f"RDT := {value % max(self.ring_len, 1)} "
                            f"(BME {'set' if self.config.bus_master else 'clear'})")

    # ------------------------------------------------------------ receive

    def next_descriptor(self) -> int | None:
        """The descriptor the VF uses for the next packet, if the driver published one."""
        if self.ring_base is None or self.tail == self.head:
            return None
        return self.head % self.ring_len

    def why_not_issue(self) -> str | None:
        if not self.powered:
            return "VF: the source machine is stopped"
        if not self.config.bus_master:
            return f"VF: cannot issue DMA: bus mastering is off (Command register {self.config.command:#06x})"
        if not self.dma.has_credit():
            return (f"VF: cannot issue DMA: {len(self.dma.posted)} posted writes in flight "
                    f"(at most {self.dma.max_posted})")
        return None

    def why_not_receive(self) -> str | None:
        if self.next_descriptor() is None:
            return "VF: no RX descriptor published (RDH == RDT)"
        return self.why_not_issue()

    def receive(self, packet: Packet) -> int:
        """A packet arrives: take the descriptor at head and post the frame's DMA write."""
        refuse(self.why_not_receive())
        slot = self.head % self.ring_len
        desc = self._descriptor(slot)
        frame = packet.frame()
        if self.layout.span > 1:  # a jumbo frame fills the buffer across its pages
            frame += jumbo_payload(packet.seq, self.layout.buffer_size - len(frame))
        self.dma.post(PostedWrite(desc.pkt_addr, frame, DATA, slot, packet.seq))
        self.in_progress[slot] = RxInProgress(packet, len(frame))
        self.head += 1
        self.accepted.append(Accepted(packet, slot, desc.pkt_addr))
        self.journal.record("vf", "data_issue", f"packet {packet.seq} into descriptor {slot}: posted write "
                            f"of {len(frame)} bytes to buffer {desc.pkt_addr:#x}", slot=slot, seq=packet.seq)
        return slot

    # ------------------------------------------------------------ write-back

    def progress(self, slot: int) -> str | None:
        """Where descriptor ``slot``'s packet is: data posted, data landed, write-back posted;
        None when the VF has nothing in progress there (not taken, or written back)."""
        rx = self.in_progress.get(slot)
        if rx is None:
            return None
        if self.dma.pending(slot, DATA):
            return "data_posted"
        if not rx.writeback_issued:
            return "data_landed"
        if self.dma.pending(slot, WRITEBACK):
            return "writeback_posted"
        return None

    def why_not_write_back(self, slot: int) -> str | None:
        if self.progress(slot) != "data_landed":
            return f"VF: descriptor {slot} has no packet whose data has landed and awaits write-back"
        return self.why_not_issue()

    def write_back(self, slot: int) -> None:
        """Post the write-back of descriptor ``slot``: DD, EOP, length, RSS hash, in place."""
        refuse(self.why_not_write_back(slot))
        rx = self.in_progress[slot]
        assert self.ring_base is not None
        iova = self.ring_base + slot * DESCRIPTOR_SIZE
        self.dma.post(PostedWrite(iova, writeback_format(rx.length, rx.packet.checksum), WRITEBACK,
                                  slot, rx.packet.seq))
        self.in_progress[slot] = RxInProgress(rx.packet, rx.length, writeback_issued=True)
        self.journal.record("vf", "writeback_issue", f"descriptor {slot} write-back (DD, length {rx.length}) "
                            f"posted for packet {rx.packet.seq}", slot=slot, seq=rx.packet.seq)

    # ------------------------------------------------------------ state

    def transactions_pending(self) -> bool:
        """The Device Status register's Transactions Pending bit."""
        return bool(self.dma.posted)

    def quiet(self) -> bool:
        """Bus mastering off and nothing in flight: the VF cannot change guest RAM."""
        return not self.config.bus_master and not self.dma.posted

    def function_level_reset(self) -> None:
        """FLR: BME cleared, the ring invalidated (registers and packets in progress forgotten)."""
        self.config.function_level_reset()
        self.ring_base, self.ring_len, self.head, self.tail = None, 0, 0, 0
        self.in_progress.clear()
        self.tx_base, self.tx_pending = None, False
        self.journal.record("driver", "flr", "function-level reset: BME clear, rings invalidated")

    def power_off(self) -> None:
        """The source machine stops for good (after switchover): nothing is issued or lands."""
        self.powered = False
        self.dma.halt()

    def _descriptor(self, slot: int) -> RxDescriptor:
        """Read a descriptor from the ring (a DMA read: nothing is written, nothing logged)."""
        assert self.ring_base is not None
        where = self.iommu.translate(self.ring_base + slot * DESCRIPTOR_SIZE, DESCRIPTOR_SIZE)
        if where is None:
            raise ValueError("the RX ring is not mapped for the VF")
        return RxDescriptor(self.memory.ram.read(where[0], where[1], DESCRIPTOR_SIZE))
