"""The Ethernet switch on the VF's L2 segment, as far as one MAC goes: the host its
forwarding database sends the MAC to, learnt from the frames (announces) the guest sends.

A frame from a device on another segment never reaches this switch, so it teaches it nothing.
"""

from __future__ import annotations

from .journal import Journal

HOSTS = ("source", "destination")


class L2Switch:
    def __init__(self, journal: Journal, same_segment_as_standby: bool):
        self.journal = journal
        self.fdb = "source"  # the guest boots at the source; its VF's frames taught the switch
        self.standby_on_segment = same_segment_as_standby

    def hears(self, device: str) -> bool:
        """Whether a frame the guest sends through ``device`` ("vf" or "virtio") reaches this switch."""
        return device == "vf" or self.standby_on_segment

    def learn(self, host: str, device: str, why: str) -> None:
        """A frame from the guest's MAC arrived through ``device`` at ``host``: update the FDB."""
        assert host in HOSTS
        if not self.hears(device):
            self.journal.record("switch", "announce_unheard", f"{why} through the {device} at the {host}: "
                                "sent on another L2 segment, the VF segment's switch does not hear it")
            return
        self.fdb = host
        self.journal.record("switch", "announce", f"{why} through the {device} at the {host}: the "
                            f"switch now sends the MAC to the {host}")
