"""Every operation the emulated system could take next, for schedulers that drive it at
random (the tests) or explore it: the wire, the DMA engine, the VF, the guest's driver and
CPU, and the migrator. Each is named after the emulator call it makes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .machine import Machine


@dataclass(frozen=True)
class Operation:
    label: str
    actor: str  # device, driver, cpu or migrator
    run: Callable[[], object]


_ACTORS = {"wire": "device", "dma": "device", "vf": "device", "driver": "driver", "cpu": "cpu",
           "migrator": "migrator"}


def operations(m: Machine) -> list[Operation]:
    """The operations enabled now, in a fixed order."""
    ops: list[Operation] = []

    def add(label: str, why_not: str | None, run: Callable[[], object]) -> None:
        if why_not is None:
            ops.append(Operation(label, _ACTORS[label.split(".")[0]], run))

    d, g, vf = m.driver, m.migrator, m.vf
    add("wire.packet", vf.why_not_receive(), m.packet_arrives)
    for w in list(vf.dma.posted):
        add(f"dma.land({w.purpose}, {w.slot})", m.why_not_land(w.slot, w.purpose),
            lambda w=w: m.land(w.slot, w.purpose))
    for slot in range(m.layout.slots):
        add(f"vf.write_back({slot})", vf.why_not_write_back(slot), lambda slot=slot: vf.write_back(slot))
    add("driver.opt_in", d.why_not_opt_in(), d.opt_in)
    add("driver.probe", d.why_not_probe(), d.probe)
    for page in d.refill_pages():  # a fresh buffer may go in any page, so buffers come to share
        add(f"driver.refill(page {page})", d.why_not_refill(page), lambda page=page: d.refill(page))
    add("driver.clean(unmap)", d.why_not_clean(True), lambda: d.clean(True))
    add("driver.clean(recycle)", d.why_not_clean(False), lambda: d.clean(False))
    add("driver.touch_write_back", d.why_not_touch_write_back(), d.touch_write_back)
    add("driver.handle_event", d.why_not_handle_event(), d.handle_event)
    add("driver.clear_bus_master", d.why_not_handler_step("clear_bme"), d.clear_bus_master)
    add("driver.drain", d.why_not_handler_step("drain"), d.drain)
    add("driver.mark", d.why_not_handler_step("mark"), d.mark)
    add("driver.acknowledge", d.why_not_handler_step("ack"), d.acknowledge)
    add("driver.error_detected", d.why_not_error_detected(), d.error_detected)
    add("driver.slot_reset", d.why_not_slot_reset(), d.slot_reset)
    add("driver.resume_without_reset", d.why_not_resume_without_reset(), d.resume_without_reset)
    add("cpu.store", m.vcpu.why_not_run(), m.vcpu.store)
    add("migrator.start", g.why_not_start(), g.start)
    add("migrator.block", g.why_not_block(), g.block)
    add("migrator.precopy_round", g.why_not_precopy_round(), g.precopy_round)
    add("migrator.notify", g.why_not_notify(), g.notify)
    add("migrator.stop_vcpu", g.why_not_stop_vcpu(), g.stop_vcpu)
    add("migrator.timeout", g.why_not_timeout(), g.timeout)
    add("migrator.stop_and_copy", g.why_not_stop_and_copy(), g.stop_and_copy)
    add("migrator.switchover", g.why_not_switchover(), g.switchover)
    add("migrator.abort", g.why_not_abort(), g.abort)
    add("migrator.start_destination_device", g.why_not_start_destination_device(),
        g.start_destination_device)
    return ops
