"""PCIe hot-plug of the failover primaries: the source VF's slot, and the VF the destination
plugs in.

The source VF (the emulator's `VirtualFunction`) is ejected on request: the guest's VF
driver is removed, which disables the function (bus mastering off: it issues no DMA), and
the slot powers down. After a cancelled or failed migration QEMU plugs it back and the
driver binds it again (its ring, kept by the emulator, is served once bus mastering is on).
The destination VF writes the frames it receives into the destination's RAM.
"""

from __future__ import annotations

from .errors import refuse
from .journal import Journal
from .layout import PAGE_SIZE, GuestLayout
from .memory import Memory
from .packets import FRAME_LEN, Packet
from .vf import VirtualFunction

SOURCE_STATES = ("bound", "unplug_requested", "absent", "plugged")
DEST_STATES = ("absent", "plugged", "bound")


class SourceVfSlot:
    def __init__(self, vf: VirtualFunction, journal: Journal):
        self.vf = vf
        self.journal = journal
        self.state = "bound"

    def can_dma(self) -> bool:
        """The guest's VF driver still runs the function."""
        return self.state in ("bound", "unplug_requested") and self.vf.config.bus_master

    def request_unplug(self) -> None:
        self.state = "unplug_requested"
        self.journal.record("qemu", "unplug_request", "QEMU requests the hot-unplug of the source VF "
                            "(PCIe attention)")

    def why_not_eject(self) -> str | None:
        return None if self.state == "unplug_requested" else f"guest: no unplug request ({self.state})"

    def eject(self) -> None:
        refuse(self.why_not_eject())
        self.vf.config.clear_bus_master()
        self.state = "absent"
        self.journal.record("guest", "eject", "the guest removes the VF driver (bus mastering off) and "
                            "ejects the source VF")

    def why_not_replug(self) -> str | None:
        return None if self.state == "absent" else f"QEMU: the source VF is not ejected ({self.state})"

    def replug(self) -> None:
        refuse(self.why_not_replug())
        self.state = "plugged"
        self.journal.record("qemu", "replug", "QEMU plugs the source VF back into the guest")

    def why_not_bind(self) -> str | None:
        return None if self.state == "plugged" else f"guest: no source VF waits for its driver ({self.state})"

    def bind(self) -> None:
        refuse(self.why_not_bind())
        self.vf.config.set_bus_master()
        self.state = "bound"
        self.journal.record("guest", "bind", "the VF driver binds the source VF again: bus mastering on")


class DestinationVf:
    def __init__(self, layout: GuestLayout, journal: Journal):
        self.layout = layout
        self.journal = journal
        self.state = "absent"

    def plug(self, when: str) -> None:
        self.state = "plugged"
        self.journal.record("qemu", "dest_plug", f"the destination VF is plugged ({when}); the MAC now "
                            "lives on a VF at the destination")

    def why_not_bind(self) -> str | None:
        if self.state != "plugged":
            return f"guest: no destination VF waits for its driver ({self.state})"
        return None

    def bind(self) -> None:
        refuse(self.why_not_bind())
        self.state = "bound"
        self.journal.record("guest", "dest_bind", "the VF driver binds the destination VF")

    def receive(self, packet: Packet, destination: Memory) -> None:
        """The destination VF DMAs the frame into a buffer in the destination's RAM."""
        page = 0  # the destination VF's own RX buffers, one frame each
        offset = ((packet.seq - 1) % (PAGE_SIZE // FRAME_LEN)) * FRAME_LEN
        destination.write(page, offset, packet.frame())
        self.journal.record("dest_vf", "dest_vf_rx", f"packet {packet.seq} through the destination VF: "
                            f"written to the destination's {self.layout.role(page)} +{offset:#05x}",
                            page=page, offset=offset, length=FRAME_LEN, seq=packet.seq)
