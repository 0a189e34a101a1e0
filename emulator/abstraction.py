"""The abstraction function: an emulator state, read as a state of the guest-assisted model.

This is the one place that knows the model's variable names; the emulator itself does not.
Each variable is read off concrete state:

- ``phase``, ``round``: the migrator's phase and pre-copy rounds done; ``drv``, ``hstep``:
  the driver's state and event-handler steps done; ``opted_in``: the channel's opt-in;
  ``bme``: bit 2 of the VF's Command register; ``dest_device``: the destination's VF runs.
- ``slot[i]``: free unless the driver has descriptor i published; then wb_inflight or
  data_inflight while the VF's write for it is posted, data_landed while the VF holds a
  packet whose data landed and whose write-back is not issued, done when DD is set in the
  source's ring page, ready otherwise.
- ``mapped[p]``: the IOMMU maps buffer page p; ``dirty[p]``, ``ring_dirty``, ``cpu_dirty``:
  the dirty log's bits; ``synced[p]``, ``ring_synced``, ``cpu_synced``: the destination's
  bytes equal the source's; ``ring_copied_quiet``: the ring page's last copy was made with
  the VF quiet.
- ``buf[i]``: the buffer page the driver put slot i's buffer in at its last refill; None
  before its first refill and after the clean that unmapped it (a recycled buffer, and a
  ring reset, keep it).
- ``next_to_use``, ``next_to_clean``: the driver's ring indexes; ``rx_head``: the VF's RDH
  (all modulo the ring size).
- ``touch[i]``: none unless a plain touch begun by cleaning slot i is half done; then read
  while the bytes it read are still there, raced once a write changed them; ``lost``: a plain touch wrote
  stale bytes over changed ones (a ``stale_write`` in the journal).
"""

from __future__ import annotations

from typing import Any

from .machine import Machine

_SLOT_OF_PROGRESS = {"data_posted": "data_inflight", "data_landed": "data_landed",
                     "writeback_posted": "wb_inflight"}


def guest_assisted_state(m: Machine) -> dict[str, Any]:
    """``m`` as the guest-assisted model's state, shaped as ``system.layout.render`` shapes it."""
    layout = m.layout
    buffers = range(layout.buffer_pages)
    ring, cpu = layout.ring_page, layout.cpu_page
    log = m.memory.dirty_log
    return {
        "phase": m.migrator.phase,
        "round": m.migrator.rounds_done,
        "drv": m.driver.state,
        "hstep": m.driver.handler_done,
        "opted_in": m.channel.opted_in,
        "bme": m.vf.config.bus_master,
        "slot": [slot_state(m, i) for i in range(layout.slots)],
        "next_to_use": m.driver.next_to_use % layout.slots,
        "next_to_clean": m.driver.next_to_clean % layout.slots,
        "rx_head": m.vf.head % layout.slots,
        "buf": list(m.driver.buffer_page),
        "mapped": [m.iommu.is_mapped(p) for p in buffers],
        "dirty": [log.is_dirty(p) for p in buffers],
        "synced": [synced(m, p) for p in buffers],
        "ring_dirty": log.is_dirty(ring),
        "ring_synced": synced(m, ring),
        "ring_copied_quiet": m.migrator.copied_quiet[ring],
        "cpu_dirty": log.is_dirty(cpu),
        "cpu_synced": synced(m, cpu),
        "touch": [touch_state(m, i) for i in range(layout.slots)],
        "lost": bool(m.journal.of_kind("stale_write")),
        "dest_device": m.migrator.destination_device,
    }


def slot_state(m: Machine, slot: int) -> str:
    if not m.driver.published[slot]:
        return "free"
    progress = m.vf.progress(slot)
    if progress is not None:
        return _SLOT_OF_PROGRESS[progress]
    return "done" if m.driver.descriptor(slot).dd else "ready"


def synced(m: Machine, page: int) -> bool:
    return m.destination.page(page) == m.memory.ram.page(page)


def touch_state(m: Machine, slot: int) -> str:
    t = m.driver.touch
    if t is None or t.slot != slot:
        return "none"
    now = m.memory.ram.read(t.page, t.offset, len(t.data))
    return "read" if now == t.data else "raced"
