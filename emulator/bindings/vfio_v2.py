"""The vfio-v2 model on the VFIO migration emulator (`emulator.vfio`): the variant's flags
as its configuration, the abstraction, each model action as an emulator operation, and each
property as a concrete observation.

The abstraction reads every model variable off concrete state:

- ``phase``, ``attempt``, ``round``, ``tracking``, ``final_synced``, ``skipped``: QEMU's
  source side; ``ioctl``: the device whose SET_STATE the VFIO core is carrying out.
- ``vstate[d]``: the device's migration state; ``dma[d]``, ``p2p[d]``: a write it posted
  is in flight; ``stream_ok[d]``: the data stream QEMU holds was not ended by a reset;
  ``dev_synced[d]``: what QEMU will rebuild at the destination (its stream's base with the
  STOP_COPY delta, or the PRE_COPY data taken as final) equals the device's state now.
- ``mapped[p]``: the IOMMU maps the page; ``synced[p]``: the destination's bytes equal the
  source's; ``ram_dirty[p]``: QEMU's bitmap or KVM's log has the page; ``dirty[p]``: the
  IOMMU's D bit (or a device's DMA log bit); ``iotlb[p]``: the IOTLB caches D set.
- ``dest[d]``, ``ram_loaded``: QEMU's destination side.

A device's write to RAM takes its page from the step that lands it (the IOMMU translates
as the write lands); a P2P write, its target device.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from migcheck.models.library import vfio_fsm as fsm
from migcheck.models.model import Model

from ..damage import Damage, page_differences
from ..errors import StepRefused
from ..schedule import Arguments, OperationKind, operations
from ..vfio.machine import VfioConfig, VfioMachine
from ..vfio.qemu import QemuConfig
from . import ActionBinding, Binding

# ---------------------------------------------------------------- the variant's emulator


def machine_config(cls: type[Model], params: Mapping[str, int]) -> VfioConfig:
    f: Any = cls
    devs = params["devs"]
    blocked = (f.postcopy and f.blocks_postcopy) or (not f.p2p_supported and devs > 1
                                                     and f.blocks_without_p2p)
    qemu = QemuConfig(rounds=params["rounds"], tracker=f.tracker, iotlb_flush=f.iotlb_flush,
                      harvest_before_unmap=f.harvest_before_unmap, sync_after_stop=f.sync_after_stop,
                      p2p=f.p2p_supported, pre_copy=f.precopy_supported, read_stop_copy=f.read_stop_copy,
                      blocked=blocked, postcopy=f.postcopy, detects_reset=f.detects_reset,
                      redirty_on_abort=f.redirty_on_abort, track_before_copy=f.track_before_copy)
    return VfioConfig(devs=devs, pages=params["pages"], qemu=qemu, driver_table=tuple(f.driver_table))


# ---------------------------------------------------------------- the abstraction


def dev_synced(m: VfioMachine, d: int) -> bool:
    image = m.qemu.image[d]
    return image is not None and image == bytes(m.devices[d].internal)


def tracker_bit(m: VfioMachine, p: int) -> bool:
    tracker = m.qemu.config.tracker
    if tracker == "iommu":
        return m.iommu.d_bit[p]
    if tracker == "device":
        return any(dev.log[p] for dev in m.devices)
    return False


def model_state(m: VfioMachine) -> dict[str, Any]:
    q, pages, devs = m.qemu, range(m.config.pages), range(m.config.devs)
    return {
        "phase": q.phase,
        "attempt": q.attempt,
        "round": q.rounds_done,
        "tracking": q.tracking,
        "final_synced": q.final_synced,
        "ioctl": m.core.pending[0] if m.core.pending is not None else None,
        "vstate": [m.devices[d].state for d in devs],
        "dma": [m.devices[d].posted_dma is not None for d in devs],
        "p2p": [m.devices[d].posted_p2p is not None for d in devs],
        "dev_synced": [dev_synced(m, d) for d in devs],
        "stream_ok": [q.stream_ok(d) for d in devs],
        "mapped": [m.iommu.mapped[p] for p in pages],
        "synced": [m.destination.page(p) == m.memory.ram.page(p) for p in pages],
        "ram_dirty": [q.bitmap[p] or m.memory.dirty_log.is_dirty(p) for p in pages],
        "dirty": [tracker_bit(m, p) for p in pages],
        "iotlb": [m.iommu.iotlb_d[p] if q.config.tracker == "iommu" else False for p in pages],
        "skipped": q.skipped,
        "dest": list(q.dest_state),
        "ram_loaded": q.ram_loaded,
    }


# ---------------------------------------------------------------- operations


def _index(params: Mapping[str, int], name: str, count: int, what: str) -> int:
    value = params.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < count:
        raise StepRefused(f"{name}={value!r}: the emulator has no {what} {value!r} (it has {count})")
    return value


def _dev(key: str = "d") -> Callable[[VfioMachine, Mapping[str, int]], Arguments]:
    return lambda m, p: (_index(p, key, m.config.devs, "device"),)


def _page(m: VfioMachine, p: Mapping[str, int]) -> Arguments:
    return (_index(p, "p", m.config.pages, "page"),)


def _dev_page(m: VfioMachine, p: Mapping[str, int]) -> Arguments:
    return _dev()(m, p) + _page(m, p)


def _dev_peer(m: VfioMachine, p: Mapping[str, int]) -> Arguments:
    return _dev()(m, p) + _dev("e")(m, p)


def _op(name: str, actor: str, part: str, method: str,
        instances: Callable[[VfioMachine], list[Arguments]] = lambda m: [()]) -> OperationKind:
    def target(m: VfioMachine) -> Any:
        return getattr(m, part) if part else m

    return OperationKind(name, actor, lambda m, *a: getattr(target(m), f"why_not_{method}")(*a),
                         lambda m, *a: getattr(target(m), method)(*a), instances)


def _devs(m: VfioMachine) -> list[Arguments]:
    return [(d,) for d in range(m.config.devs)]


def _pages(m: VfioMachine) -> list[Arguments]:
    return [(p,) for p in range(m.config.pages)]


def _dev_pages(m: VfioMachine) -> list[Arguments]:
    return [(d, p) for d in range(m.config.devs) for p in range(m.config.pages)]


def _dev_peers(m: VfioMachine) -> list[Arguments]:
    return [(d, e) for d in range(m.config.devs) for e in range(m.config.devs) if d != e]


_QEMU = ("start", "enable_tracking", "first_copy", "precopy_round", "pause", "stop_devices", "final_sync",
         "save_devices", "resume_devices", "failed", "retry", "cancel", "dest_resuming", "dest_load_ram",
         "switchover")
_QEMU_DEV = ("set_state", "detect_reset", "recover", "dest_load_device", "dest_run")
KINDS: tuple[OperationKind, ...] = (
    *(_op(f"qemu.{n}", "migrator", "qemu", n) for n in _QEMU),
    *(_op(f"qemu.{n}", "migrator", "qemu", n, _devs) for n in _QEMU_DEV),
    *(_op(f"qemu.{n}", "migrator", "qemu", n, _pages) for n in ("unmap", "remap")),
    OperationKind("vfio.arc", "vfio", lambda m, d: m.core.why_not_arc(d), lambda m, d: m.core.arc(d), _devs),
    _op("vfio.arc_fails", "vfio", "", "arc_fails", _devs),
    _op("device.reset", "device", "", "reset", _devs),
    _op("device.issue_dma", "device", "", "issue_dma", _devs),
    _op("device.land_dma", "device", "", "land_dma", _dev_pages),
    _op("device.issue_p2p", "device", "", "issue_p2p", _devs),
    _op("device.land_p2p", "device", "", "land_p2p", _dev_peers),
    _op("cpu.write", "cpu", "", "cpu_write", _pages),
)

ACTIONS: dict[str, ActionBinding] = {
    **{n: ActionBinding(f"qemu.{n}") for n in _QEMU},
    **{n: ActionBinding(f"qemu.{n}", _dev()) for n in _QEMU_DEV},
    "unmap": ActionBinding("qemu.unmap", _page),
    "remap": ActionBinding("qemu.remap", _page),
    "arc": ActionBinding("vfio.arc", _dev()),
    "arc_fails": ActionBinding("vfio.arc_fails", _dev()),
    "reset": ActionBinding("device.reset", _dev()),
    "dma_issue": ActionBinding("device.issue_dma", _dev()),
    "dma_land": ActionBinding("device.land_dma", _dev_page),
    "p2p_issue": ActionBinding("device.issue_p2p", _dev()),
    "p2p_land": ActionBinding("device.land_p2p", _dev_peer),
    "cpu_write": ActionBinding("cpu.write", _page),
}


# ---------------------------------------------------------------- what each property forbids, concretely


def assess(m: VfioMachine) -> Damage:
    pages = tuple(page_differences(m)) if m.switched_over else ()
    return Damage(m.switched_over, pages, (), ())


def _hex(data: bytes) -> str:
    return data[:16].hex(" ")


def device_differences(m: VfioMachine) -> list[str]:
    """After the switchover: each device whose state at the destination differs from its
    final state at the source, with the bytes."""
    out = []
    for d, dev in enumerate(m.devices):
        there = m.qemu.dest_device[d]
        here = bytes(dev.internal)
        if there is None or there == here:
            continue
        at = next(k for k in range(len(here)) if here[k] != there[k])
        at -= at % 16
        out.append(f"device {d}'s state differs at the destination from its final state at the "
                   f"source: at +{at:#04x} source {_hex(here[at:])} / destination {_hex(there[at:])}")
    return out


def _completeness(m: VfioMachine, damage: Damage) -> list[str]:
    if not m.switched_over:
        return []
    lines = [f"after the switchover {d.role} differs: {d.differing} bytes (source "
             f"{d.source.hex(' ')} / destination {d.destination.hex(' ')} at +{d.excerpt_at:#05x})"
             for d in damage.pages]
    return lines + device_differences(m)


def _no_dma_when_stopped(m: VfioMachine, damage: Damage) -> list[str]:
    seen = [e.text for e in m.journal.of_kind("dma_issue", "p2p_issue")
            if e.before.decode() in fsm.STOPPED]
    syncs = m.journal.of_kind("final_sync")
    if syncs:
        seen += [f"{e.text} ({syncs[0].text})" for e in m.journal.since(syncs[0].index)
                 if e.kind == "data_land"]
    return seen


def _p2p_quiescence(m: VfioMachine, damage: Damage) -> list[str]:
    out = []
    for d, dev in enumerate(m.devices):
        if dev.state not in fsm.STOPPED:
            continue
        for e, peer in enumerate(m.devices):
            if e != d and (peer.state in fsm.P2P_SENDS or peer.posted_p2p is not None):
                why = "has a P2P write posted" if peer.posted_p2p is not None else f"is in {peer.state}"
                out.append(f"device {d} is in {dev.state} while device {e} {why} and can still "
                           f"write into it")
    out += [e.text for e in m.journal.of_kind("p2p_land") if "(in STOP" in e.text]
    return out


def _arc_legality(m: VfioMachine, damage: Damage) -> list[str]:
    return [e.text for e in m.journal.of_kind("arc") if "never takes" in e.text]


def _dirty_report_complete(m: VfioMachine, damage: Damage) -> list[str]:
    q = m.qemu
    if not q.tracking or q.final_synced:
        return []
    out = []
    for p in range(m.config.pages):
        changed = m.destination.page(p) != m.memory.ram.page(p)
        reported = q.bitmap[p] or m.memory.dirty_log.is_dirty(p) or tracker_bit(m, p) or (
            q.config.tracker == "type1" and m.iommu.mapped[p])
        if changed and not reported:
            cached = " (the IOTLB still caches its translation with D set)" if m.iommu.iotlb_d[p] else ""
            writes = [e.text for e in m.journal.of_kind("data_land", "cpu_write") if e.page == p]
            last = f"; last write: {writes[-1]}" if writes else ""
            out.append(f"page {p} differs from the destination's copy, but neither QEMU's bitmap, "
                       f"KVM's log nor the tracker reports it{cached}{last}")
    return out


def _dest_order(m: VfioMachine, damage: Damage) -> list[str]:
    return [e.text for e in m.journal.of_kind("dest_run") if e.before != b"ram"]


def _migration_ends(m: VfioMachine, damage: Damage) -> list[str]:
    phase = m.qemu.phase
    return [] if phase in ("switched", "failed", "blocked") else [
        f"the migration never ends: QEMU stays in phase {phase}"]


def _devices_run_again(m: VfioMachine, damage: Damage) -> list[str]:
    if m.qemu.phase not in ("failing_p2p", "failing"):
        return []
    return [f"after the failure device {d} stays in {dev.state}" for d, dev in enumerate(m.devices)
            if dev.state != "RUNNING"]


def _deadlock(m: VfioMachine, damage: Damage) -> list[str]:
    return [] if operations(m, KINDS) else ["no operation of the emulated system can take place"]


OBSERVERS = {
    "completeness": _completeness,
    "no-dma-when-stopped": _no_dma_when_stopped,
    "dest-order": _dest_order,
    "p2p-quiescence": _p2p_quiescence,
    "arc-legality": _arc_legality,
    "dirty-report-complete": _dirty_report_complete,
    "migration-ends": _migration_ends,
    "devices-run-again": _devices_run_again,
    "deadlock": _deadlock,
}

BINDING: Binding[VfioConfig, VfioMachine] = Binding(
    model="vfio-v2",
    configure=machine_config,
    boot=VfioMachine,
    abstract=model_state,
    operations=KINDS,
    actions=ACTIONS,
    observers=OBSERVERS,
    assess=assess,
    events=lambda m: [e.text for e in m.journal.events],
)
