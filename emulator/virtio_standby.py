"""The virtio-net standby: the paravirtual NIC that pairs with the VF under one MAC.

Its one feature that matters here is ``VIRTIO_NET_F_STANDBY``: once the guest's driver has
negotiated it, net_failover builds a failover master over the two. Its backend (vhost) writes
received frames into the guest's RX buffers and logs those writes in the dirty log, so the
migrator copies them again: the standby's path never leaves a page stale. The emulator puts
its RX buffers in the guest's ordinary page, after the CPU's counter.
"""

from __future__ import annotations

from .journal import Journal
from .layout import PAGE_SIZE, GuestLayout
from .memory import GuestMemory, Memory
from .packets import FRAME_LEN, Packet

RX_AREA = 0x200  # the virtio RX buffers' offset in the ordinary page (the CPU counter is below)


class VirtioStandby:
    def __init__(self, layout: GuestLayout, journal: Journal):
        self.layout = layout
        self.journal = journal
        self.standby_negotiated = False

    def why_not_negotiate(self) -> str | None:
        return "virtio-net: STANDBY is already negotiated" if self.standby_negotiated else None

    def negotiate(self) -> None:
        self.standby_negotiated = True
        self.journal.record("virtio", "negotiate", "virtio-net: the guest accepts VIRTIO_NET_F_STANDBY; "
                            "net_failover pairs it (standby) with the VF of the same MAC (primary)")

    def buffer_offset(self, packet: Packet) -> int:
        slots = (PAGE_SIZE - RX_AREA) // FRAME_LEN
        return RX_AREA + ((packet.seq - 1) % slots) * FRAME_LEN

    def receive(self, packet: Packet, memory: GuestMemory | Memory, where: str) -> None:
        """The backend writes the frame into the guest's RAM where it runs (logged at the source)."""
        page, offset = self.layout.cpu_page, self.buffer_offset(packet)
        if isinstance(memory, GuestMemory):
            memory.cpu_write(page, offset, packet.frame())  # vhost's dirty logging
        else:
            memory.write(page, offset, packet.frame())
        self.journal.record("virtio", "virtio_rx", f"packet {packet.seq} through the virtio standby at "
                            f"the {where}: written to {self.layout.role(page)} +{offset:#05x}"
                            + (" (logged)" if where == "source" else ""),
                            page=page, offset=offset, length=FRAME_LEN, seq=packet.seq)
