"""The guest-assisted model on the ixgbevf-like emulator: the variant's flags as the
emulator's configuration, the abstraction, each model action as an emulator operation, and
each property as a concrete observation.

The abstraction reads every model variable off concrete state:

- ``phase``, ``round``: the migrator's phase and pre-copy rounds done; ``drv``, ``hstep``:
  the driver's state and event-handler steps done; ``opt_in_record``: the channel's opt-in
  record; ``bme``: bit 2 of the Command register of the VF the VM has (the destination's
  after the switchover); ``dest_device``: the destination's VF runs (its BME is set).
- ``slot[i]``: free unless the driver has descriptor i published; then wb_inflight or
  data_inflight while the VF's write for it is posted, data_landed while the VF holds a
  packet whose data landed and whose write-back is not issued, done when DD is set in the
  source's ring page, ready otherwise.
- ``mapped[p]``: the IOMMU maps buffer allocation p; ``dirty[p]``, ``ring_dirty``,
  ``tx_ring_dirty``: the dirty log's bits (of the allocation's first page); ``synced[p]``,
  ``ring_synced``, ``tx_ring_synced``: the destination's bytes equal the source's;
  ``tail_dirty[p]``, ``tail_synced[p]``: the same for all of the allocation's other pages
  (span 2 or more); ``ring_copied_quiet``, ``tx_ring_copied_quiet``: the ring page's last
  copy was made with the VF quiet.
- ``tx``: the VF's TX descriptor: free, posted (TDT moved) or wb_inflight (DD posted).
- ``buf[i]``: the buffer page the driver holds for slot i: put there by a refill, or moved
  there by the reuse of a cleaned buffer's page (to next_to_alloc); None before its first
  refill, after the clean that unmapped it and after its page moved on (a ring reset keeps it).
- ``next_to_use``, ``next_to_clean``, ``next_to_alloc``: the driver's ring indexes;
  ``rx_head``: the VF's RDH (all modulo the ring size).
- ``touch[i]``: none unless a plain touch begun by cleaning slot i is half done; then read
  while the bytes it read are still there, raced once a write changed them; ``lost``: a
  plain touch wrote stale bytes over changed ones (a ``stale_write`` in the journal).

A step's slot ``i`` and page ``p`` are checked against the emulator: the driver puts a
fresh buffer in page ``p``, and the VF, the DMA engine and the driver's clean must find
slot ``i``'s buffer in page ``p``, or the step is refused there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from migcheck.models.model import Model

from ..damage import EXCERPT, Damage, assess
from ..dma import DATA, TX_SLOT, TX_WRITEBACK, WRITEBACK
from ..driver import DriverConfig
from ..errors import StepRefused
from ..iommu import IOMMU_SETTINGS
from ..machine import Machine, MachineConfig
from ..migrator import MigratorConfig
from ..schedule import KINDS, Arguments, operations
from . import ActionBinding, Binding, Setting

# ---------------------------------------------------------------- the variant's emulator


def machine_config(cls: type[Model], params: Mapping[str, int]) -> MachineConfig:
    """The emulator's configuration for a guest-assisted variant: its flags and parameters."""
    flags: Any = cls
    driver = DriverConfig(marks_dma_pages=flags.guest_assist, handler_steps=tuple(flags.handler_steps),
                          mark_rings=flags.mark_rings, unmap_marks=flags.unmap_marks,
                          plain_touch=flags.plain_touch, resets_on_abort=flags.resets_on_abort,
                          map_marks=flags.map_marks, mark_every_page=flags.mark_every_page,
                          bitmap=flags.bitmap)
    migrator = MigratorConfig(rounds=params["rounds"], check_opt_in=flags.check_opt_in,
                              opt_in_needs_early=flags.opt_in_needs_early, ack_timeout=flags.ack_timeout,
                              harvest_after_event=flags.harvest_after_event, bitmap=flags.bitmap,
                              proceed_on_bme_clear=flags.proceed_on_bme_clear,
                              dest_starts_early=flags.dest_starts_early)
    return MachineConfig(slots=params["slots"], buffer_pages=params["pages"], span=params["span"],
                         max_posted=params["inflight"], driver=driver, migrator=migrator)


IOMMU = Setting("iommu", IOMMU_SETTINGS,
                "what the VF can reach: the whole guest RAM (2015: no vIOMMU for an assigned "
                "device; the model's assumption) or only the pages the driver mapped (a vIOMMU: "
                "a write anywhere else faults and is dropped)")


def with_settings(config: MachineConfig, chosen: Mapping[str, str]) -> MachineConfig:
    return replace(config, iommu=chosen["iommu"])


# ---------------------------------------------------------------- the abstraction

_SLOT_OF_PROGRESS = {"data_posted": "data_inflight", "data_landed": "data_landed",
                     "writeback_posted": "wb_inflight"}


def model_state(m: Machine) -> dict[str, Any]:
    """``m`` as the guest-assisted model's state, shaped as ``system.layout.render`` shapes it."""
    layout = m.layout
    buffers = range(layout.buffer_pages)
    ring, tx_ring = layout.ring_page, layout.tx_ring_page
    log = m.memory.dirty_log
    rebuilt = m.driver.rebuilt_at_destination  # the driver drives the destination's VF now
    vf = m.driver.vf if rebuilt else m.vf
    bme = m.migrator.dest_vf.config.bus_master if m.migrator.dest_vf is not None and \
        m.switched_over else m.vf.config.bus_master

    def tail(test: Callable[[int], bool]) -> list[bool]:
        if layout.span == 1:
            return [False] * layout.buffer_pages
        return [all(test(q) for q in layout.pages_of(p)[1:]) for p in buffers]

    return {
        "phase": m.migrator.phase,
        "round": m.migrator.rounds_done,
        "opt_in_record": m.channel.opt_in,
        "drv": m.driver.state,
        "hstep": m.driver.handler_done,
        "bme": bme,
        "slot": [slot_state(m, i) for i in range(layout.slots)],
        "next_to_use": m.driver.next_to_use % layout.slots,
        "next_to_clean": m.driver.next_to_clean % layout.slots,
        "next_to_alloc": m.driver.next_to_alloc,
        "rx_head": vf.head % layout.slots,
        "buf": list(m.driver.buffer_page),
        "mapped": [m.iommu.is_mapped(layout.first_page(p)) for p in buffers],
        "tx": vf.tx_state(),
        "dirty": [log.is_dirty(layout.first_page(p)) for p in buffers],
        "synced": [synced(m, layout.first_page(p)) for p in buffers],
        "tail_dirty": tail(log.is_dirty),
        "tail_synced": tail(lambda q: synced(m, q)),
        "ring_dirty": log.is_dirty(ring),
        "ring_synced": synced(m, ring),
        "ring_copied_quiet": m.migrator.copied_quiet[ring],
        "tx_ring_dirty": log.is_dirty(tx_ring),
        "tx_ring_synced": synced(m, tx_ring),
        "tx_ring_copied_quiet": m.migrator.copied_quiet[tx_ring],
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


# ---------------------------------------------------------------- a step's slot and page


def _index(params: Mapping[str, int], name: str, count: int, what: str) -> int:
    """The step's parameter ``name``: an index below ``count`` into the emulator's ``what``."""
    value = params.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise StepRefused(f"the step gives no {what} '{name}' (an integer), but {value!r}")
    if not 0 <= value < count:
        raise StepRefused(f"{name}={value}: the emulator has no {what} {value} (it has {count}: "
                          f"0..{count - 1})")
    return value


def _slot(m: Machine, params: Mapping[str, int]) -> int:
    return _index(params, "i", m.layout.slots, "RX descriptor")


def _page(m: Machine, params: Mapping[str, int]) -> int:
    return _index(params, "p", m.layout.buffer_pages, "RX buffer page")


def _page_of_address(m: Machine, address: int) -> int | None:
    where = m.layout.locate(address)
    return where[0] if where is not None else None


def _in_page(m: Machine, address: int, page: int) -> str | None:
    """Where ``address`` is, when it is not in buffer page ``page`` (None when it is)."""
    target = _page_of_address(m, address)
    if target == page:
        return None
    return f"{'no guest page' if target is None else f'page {target}'}, not page {page}"


def _buffer_in(m: Machine, slot: int, page: int) -> None:
    """The driver's buffer for ``slot`` must be in ``page``, as the step says."""
    held = m.driver.buffer_page[slot]
    if held != page:
        now = "has no buffer" if held is None else f"has its buffer in page {held}"
        raise StepRefused(f"driver: descriptor {slot} {now}, not in page {page}")


# ---------------------------------------------------------------- model actions as operations


def _refill(m: Machine, p: Mapping[str, int]) -> Arguments:
    slot, page = _slot(m, p), _page(m, p)
    nxt = m.driver.next_refill_slot()
    if nxt != slot:
        raise StepRefused(f"driver: refills in ring order: next_to_use is descriptor {nxt}")
    return (page,)


def _clean(unmap: bool) -> Callable[[Machine, Mapping[str, int]], Arguments]:
    def clean(m: Machine, p: Mapping[str, int]) -> Arguments:
        slot, page = _slot(m, p), _page(m, p)
        nxt = m.driver.next_clean_slot()
        if nxt != slot:
            raise StepRefused(f"driver: cleans in ring order: next_to_clean is descriptor {nxt}")
        _buffer_in(m, slot, page)
        return (unmap,)
    return clean


def _touch_write_back(m: Machine, p: Mapping[str, int]) -> Arguments:
    slot, page = _slot(m, p), _page(m, p)
    t = m.driver.touch
    if t is not None and t.slot != slot:
        raise StepRefused(f"driver: the half-done touch belongs to the clean of descriptor {t.slot}")
    if t is not None and t.page != page:
        raise StepRefused(f"driver: the half-done touch is of page {t.page}, not page {page}")
    return ()


def _rx_data(m: Machine, p: Mapping[str, int]) -> Arguments:
    slot, page = _slot(m, p), _page(m, p)
    nxt = m.vf.next_descriptor()
    if nxt is not None and nxt != slot:
        raise StepRefused(f"VF: takes descriptors in ring order: the next one (RDH) is {nxt}")
    if nxt is not None:
        address = m.driver.descriptor(nxt).pkt_addr  # what the VF will read from the ring
        elsewhere = _in_page(m, address, page)
        if elsewhere:
            raise StepRefused(f"VF: descriptor {slot}'s buffer address {address:#x} is in {elsewhere}")
    return ()


def _rx_writeback(m: Machine, p: Mapping[str, int]) -> Arguments:
    return (_slot(m, p),)


def _land_data(m: Machine, p: Mapping[str, int]) -> Arguments:
    slot, page = _slot(m, p), _page(m, p)
    index = m.vf.dma.find(slot, DATA)
    if index is not None:
        address = m.vf.dma.posted[index].iova
        elsewhere = _in_page(m, address, page)
        if elsewhere:
            raise StepRefused(f"DMA engine: the posted data write for descriptor {slot} goes to "
                              f"{address:#x}, in {elsewhere}")
    return (DATA, slot)


def _land_writeback(m: Machine, p: Mapping[str, int]) -> Arguments:
    return (WRITEBACK, _slot(m, p))


def _land_tx_writeback(m: Machine, p: Mapping[str, int]) -> Arguments:
    return (TX_WRITEBACK, TX_SLOT)


ACTIONS: dict[str, ActionBinding] = {
    # guest driver
    "opt_in_marking": ActionBinding("driver.opt_in"),
    "opt_in_late": ActionBinding("driver.opt_in_late"),
    "probe": ActionBinding("driver.probe"),
    "rebind": ActionBinding("guest.rebind"),
    "xmit": ActionBinding("driver.xmit"),
    "refill": ActionBinding("driver.refill", _refill),
    "clean_unmap": ActionBinding("driver.clean", _clean(unmap=True)),
    "clean_recycle": ActionBinding("driver.clean", _clean(unmap=False)),
    "touch_write_back": ActionBinding("driver.touch_write_back", _touch_write_back),
    "handle_event": ActionBinding("driver.handle_event"),
    "clear_bme": ActionBinding("driver.clear_bus_master"),
    "drain": ActionBinding("driver.drain"),
    "mark": ActionBinding("driver.mark"),
    "release": ActionBinding("driver.release"),
    "acknowledge": ActionBinding("driver.acknowledge"),
    "error_detected": ActionBinding("driver.error_detected"),
    "slot_reset": ActionBinding("driver.slot_reset"),
    "resume_without_reset": ActionBinding("driver.resume_without_reset"),
    # VF and its DMA engine
    "rx_data": ActionBinding("wire.packet", _rx_data),
    "land_data": ActionBinding("dma.land", _land_data),
    "rx_writeback": ActionBinding("vf.write_back", _rx_writeback),
    "land_writeback": ActionBinding("dma.land", _land_writeback),
    "tx_writeback": ActionBinding("vf.transmit"),
    "land_tx_writeback": ActionBinding("dma.land", _land_tx_writeback),
    # the migrator
    "start_migration": ActionBinding("migrator.start"),
    "block_migration": ActionBinding("migrator.block"),
    "precopy_round": ActionBinding("migrator.precopy_round"),
    "notify_guest": ActionBinding("migrator.notify"),
    "stop_vcpu": ActionBinding("migrator.stop_vcpu"),
    "drain_device": ActionBinding("migrator.drain_device"),
    "timeout": ActionBinding("migrator.timeout"),
    "stop_and_copy": ActionBinding("migrator.stop_and_copy"),
    "switchover": ActionBinding("migrator.switchover"),
    "abort": ActionBinding("migrator.abort"),
    "start_dest_device": ActionBinding("migrator.start_destination_device"),
}


# ---------------------------------------------------------------- what each property forbids, concretely


def _completeness(m: Machine, damage: Damage) -> list[str]:
    if not damage.pages:
        return []
    names = ", ".join(f"{d.role} ({d.differing} bytes)" for d in damage.pages)
    return [f"after the switchover {len(damage.pages)} page(s) differ between source and "
            f"destination: {names}"]


def _marking_preserves_data(m: Machine, damage: Damage) -> list[str]:
    return [f"a plain touch wrote stale bytes over a landed DMA write: {w.role} +{w.offset:#05x}, "
            f"{w.length} bytes" for w in damage.stale_writes]


def _quiescence(m: Machine, damage: Damage) -> list[str]:
    seen = []
    issues = ("data_issue", "writeback_issue", "tx_writeback_issue")
    lands = ("data_land", "writeback_land", "tx_writeback_land")
    for e in m.journal.events:
        if e.kind in issues and not e.context.bus_master:
            seen.append(f"{e.text}, with bus mastering off")
        elif e.kind in issues + lands and e.context.migration in ("stopped", "copied"):
            seen.append(f"{e.text}, while the vCPU was stopped for the final copy "
                        f"(migration phase {e.context.migration})")
    return seen


def _rings_last(m: Machine, damage: Damage) -> list[str]:
    seen = []
    for ring in (m.layout.ring_page, m.layout.tx_ring_page):
        if not m.switched_over or m.migrator.copied_quiet[ring]:
            continue
        last = [e for e in m.journal.events if e.kind == "copy" and e.page == ring][-1]
        seen.append(f"the {m.layout.role(ring)}'s last copy before the switchover was made with the "
                    f"VF not quiet: {last.text}")
    return seen


def _opt_in(m: Machine, damage: Damage) -> list[str]:
    how = {"none": "with no opt-in: it never opted in to dirty marking",
           "after_bme": "on an opt-in the driver made after it had enabled bus mastering",
           "inherited": "on an opt-in left by the driver bound before; the bound driver does not mark"}
    started = m.migrator.started_with_opt_in
    if started is None or started == "before_bme":
        return []
    return [f"the migration started {how[started]} ({_driver_history(m)})"]


def _driver_history(m: Machine) -> str:
    kinds = ("opt_in", "probe", "rebind")
    return "; ".join(e.text for e in m.journal.events if e.kind in kinds)


def _recovery(m: Machine, damage: Damage) -> list[str]:
    rx = ("refill", "clean", "touch_read", "touch_write", "stale_write")
    return [f"{e.text}, while bus mastering was off (the VF cannot serve the ring)"
            for e in m.journal.events if e.kind in rx and not e.context.bus_master]


def _dma_into_held_pages(m: Machine, damage: Damage) -> list[str]:
    return [f"{w.cause}; {w.role} +{w.offset:#05x}: held {w.held[:EXCERPT].hex(' ')}, the VF wrote "
            f"{w.written[:EXCERPT].hex(' ')} ({w.freed})" for w in damage.freed_writes]


def _dest_order(m: Machine, damage: Damage) -> list[str]:
    return [f"{e.text} before the switchover" for e in m.journal.events
            if e.kind == "dest_device" and e.context.migration != "switched"]


ENDED = ("switched", "aborted", "blocked")


def _migration_ends(m: Machine, damage: Damage) -> list[str]:
    phase = m.migrator.phase
    if phase in ENDED:
        return []
    closed = [why for why in (m.migrator.why_not_stop_vcpu(), m.migrator.why_not_timeout()) if why]
    return [f"the migration never ends: each lap of the loop comes back to the migrator in phase "
            f"{phase}" + "".join(f"; {why}" for why in closed)]


def _event_answered(m: Machine, damage: Damage) -> list[str]:
    no_timeout = m.migrator.why_not_timeout()
    if m.migrator.phase != "notified" or m.channel.acked or no_timeout is None:
        return []  # answered, or the migrator may still stop waiting
    return [f"the migration event is never answered: each lap of the loop comes back to the driver "
            f"in state {m.driver.state} with the event unacknowledged; {no_timeout}"]


def _network_recovers(m: Machine, damage: Damage) -> list[str]:
    phase = m.migrator.phase
    if phase not in ENDED:
        return []
    works = m.migrator.destination_device and m.driver.state == "up" if phase == "switched" else (
        m.driver.state in ("up", "foreign", "handling", "acked") and m.vf.config.bus_master)
    if works:
        return []
    vf = m.driver.vf
    return [f"the migration ended (phase {phase}) but the guest's network stays dead: driver "
            f"{m.driver.state}, the {'destination' if phase == 'switched' else 'source'} VF's Command "
            f"register {vf.config.command:#06x}" + ("" if phase == "switched" else
                                                     f"; a packet now: {vf.why_not_receive() or 'accepted'}")]


def _deadlock(m: Machine, damage: Damage) -> list[str]:
    return [] if operations(m) else ["no operation of the emulated system can take place"]


OBSERVERS = {
    "completeness": _completeness,
    "marking-preserves-data": _marking_preserves_data,
    "quiescence": _quiescence,
    "rings-last": _rings_last,
    "opt-in": _opt_in,
    "recovery": _recovery,
    "dma-into-held-pages": _dma_into_held_pages,
    "dest-order": _dest_order,
    "migration-ends": _migration_ends,
    "event-answered": _event_answered,
    "network-recovers": _network_recovers,
    "deadlock": _deadlock,
}


BINDING: Binding[MachineConfig, Machine] = Binding(
    model="guest-assisted",
    configure=machine_config,
    boot=Machine,
    abstract=model_state,
    operations=KINDS,
    actions=ACTIONS,
    observers=OBSERVERS,
    assess=assess,
    events=lambda m: [e.text for e in m.journal.events],
    settings=(IOMMU,),
    apply=with_settings,
)
