"""A concrete emulator of VFIO migration v2: devices with the VFIO migration state machine
and their data streams, an IOMMU with page-table dirty bits and an IOTLB, device DMA
logging, peer-to-peer writes between devices, and QEMU on the source and the destination.

It reuses the guest-assisted emulator's guest RAM (real 4 KiB pages with KVM's dirty log of
CPU writes) and its journal. Like the rest of `emulator`, it knows nothing of any model: the
`vfio-v2` binding reads it as that model's state.

>>> m = VfioMachine(VfioConfig(devs=2, pages=2))
>>> m.qemu.start(); m.qemu.enable_tracking(); m.qemu.set_state(0); m.core.arc(0)
>>> m.devices[0].state
'PRE_COPY'
"""

from __future__ import annotations

from .machine import VfioConfig, VfioMachine

__all__ = ["VfioConfig", "VfioMachine"]
