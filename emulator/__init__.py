"""A concrete, byte-level emulator of a VM with a passed-through SR-IOV VF being live-migrated.

Guest RAM is real 4 KiB pages with a KVM-style dirty log that sees CPU writes only; the VF
has a PCI Command register (BME), an ixgbevf-layout RX descriptor ring with head and tail
registers, and a DMA engine whose posted writes land when the caller says; the guest runs
an ixgbevf-like driver with the thread's dirty-marking support; the migrator copies pages
to a real destination memory. The emulator's parts know nothing of any model: a model's
binding in `bindings` reads the emulator as that model's state and performs its actions
(see `schedule` for the operations), and `migcheck.replay` drives it with a trace.

>>> m = Machine()
>>> m.driver.probe(); m.driver.refill()
0
>>> m.packet_arrives(), len(m.vf.dma.posted)
(0, 1)
"""

from __future__ import annotations

from .driver import HANDLER_STEPS, DriverConfig, GuestDriver
from .errors import StepRefused
from .machine import Machine, MachineConfig
from .migrator import MigratorConfig

__all__ = ["HANDLER_STEPS", "DriverConfig", "GuestDriver", "Machine", "MachineConfig",
           "MigratorConfig", "StepRefused"]
