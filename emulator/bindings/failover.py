"""The failover model on the emulator: the source VF, its RX ring, guest RAM with its dirty log
and the migrator are guest-assisted's; the virtio standby, the hot-plug slots, net_failover
and the switch are failover's own parts (`emulator.failover_machine`).

The abstraction reads every model variable off concrete state:

- ``phase``: QEMU's failover phase; ``round``: the migrator's pre-copy rounds done.
- ``standby``: virtio-net negotiated STANDBY; ``slave``: net_failover's active slave.
- ``src_vf``: the source VF's hot-plug slot; ``dst_vf``: the destination VF.
- ``rx_synced``: the destination's copy of the VF's RX buffer page has the source's bytes
  (after the switchover: as compared when the VM resumed at the destination).
- ``fdb``: the host the switch sends the MAC to.
- ``delivered``, ``lost``: packets taken by the guest, and lost, so far; ``via_standby``:
  a packet went through the virtio standby.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from migcheck.models.model import Model

from ..damage import Damage
from ..failover_machine import ENDED, KINDS, FailoverConfig, FailoverMachine
from ..schedule import Arguments, operations
from . import ActionBinding, Binding


def machine_config(cls: type[Model], params: Mapping[str, int]) -> FailoverConfig:
    """The emulator's configuration for a failover variant: its flags, and ``pkts``."""
    flags: Any = cls
    return FailoverConfig(pkts=params["pkts"], loss_bound=params["loss_bound"],
                          waits_for_unplug=flags.waits_for_unplug,
                          unplug_timeout=flags.unplug_timeout, replug_on_failure=flags.replug_on_failure,
                          plug_dest_after_switch=flags.plug_dest_after_switch,
                          checks_standby=flags.checks_standby, same_l2=flags.same_l2)


def model_state(m: FailoverMachine) -> dict[str, Any]:
    """``m`` as the failover model's state, shaped as ``system.layout.render`` shapes it."""
    fates = [d.path for d in m.deliveries]
    return {
        "phase": m.phase,
        "round": m.source.migrator.rounds_done,
        "standby": m.virtio.standby_negotiated,
        "src_vf": m.slot.state,
        "dst_vf": m.dest_vf.state,
        "slave": m.master.active,
        "rx_synced": m.rx_synced(),
        "fdb": m.switch.fdb,
        "delivered": sum(p != "lost" for p in fates),
        "lost": fates.count("lost"),
        "via_standby": "standby" in fates,
    }


def _path(path: str):
    def arguments(m: FailoverMachine, params: Mapping[str, int]) -> Arguments:
        return (path,)
    return arguments


ACTIONS: dict[str, ActionBinding] = {
    "negotiate_standby": ActionBinding("guest.negotiate_standby"),
    "eject_vf": ActionBinding("guest.eject_vf"),
    "bind_source_vf": ActionBinding("guest.bind_source_vf"),
    "bind_dest_vf": ActionBinding("guest.bind_dest_vf"),
    "failover_switch": ActionBinding("guest.failover_switch"),
    "start_migration": ActionBinding("qemu.start"),
    "refuse_migration": ActionBinding("qemu.refuse"),
    "unplug_done": ActionBinding("qemu.unplug_done"),
    "cancel_wait": ActionBinding("qemu.cancel"),
    "migration_fails": ActionBinding("qemu.fail"),
    "replug_source_vf": ActionBinding("qemu.replug"),
    "ram_round": ActionBinding("qemu.ram_round"),
    "stop_and_copy": ActionBinding("qemu.stop_and_copy"),
    "switchover": ActionBinding("qemu.switchover"),
    "plug_dest_vf": ActionBinding("qemu.plug_dest_vf"),
    "rx_primary": ActionBinding("wire.packet", _path("primary")),
    "rx_standby": ActionBinding("wire.packet", _path("standby")),
    "rx_lost": ActionBinding("wire.packet", _path("lost")),
    "announce": ActionBinding("switch.announce"),
}


# ---------------------------------------------------------------- what each property forbids, concretely

COPYING = ("active", "stopcopy")


def _vf_gone_before_copy(m: FailoverMachine, damage: Damage) -> list[str]:
    return [f"{e.text}, while the source VF could still DMA (bus mastering on, migration phase "
            f"{e.context.migration})" for e in m.journal.of_kind("copy") if e.context.bus_master]


def _completeness(m: FailoverMachine, damage: Damage) -> list[str]:
    return [f"after the switchover {d.role} differs between source and destination: {d.differing} "
            f"bytes, written after its last copy by: {'; '.join(d.causes) or 'nothing the journal saw'}"
            for d in damage.pages]


def _quiescence(m: FailoverMachine, damage: Damage) -> list[str]:
    return [f"{e.text}, while RAM was being copied (migration phase {e.context.migration})"
            for e in m.journal.of_kind("data_issue", "data_land") if e.context.migration in COPYING]


def _loss_bounded(m: FailoverMachine, damage: Damage) -> list[str]:
    lost = m.journal.of_kind("packet_lost")
    if len(lost) <= m.config.loss_bound:
        return []
    return [f"{len(lost)} packets lost (the bound is {m.config.loss_bound}):"] + [e.text for e in lost]


def _no_duplicate_mac(m: FailoverMachine, damage: Damage) -> list[str]:
    out = []
    for e in m.journal.of_kind("dest_plug"):
        if e.context.migration == "switched":
            continue
        switches = [s for s in m.journal.of_kind("failover_switch") if s.index < e.index]
        source = (f"event {switches[-1].index}: {switches[-1].text}" if switches
                  else "the VF the guest booted with")
        out.append(f"two live datapaths for one MAC on two hosts: at the source the guest's active slave "
                   f"({source}), and at the destination event {e.index}: {e.text}, while the VM "
                   f"still runs at the source (phase {e.context.migration})")
    return out


def _dest_vf_after_switch(m: FailoverMachine, damage: Damage) -> list[str]:
    early = [f"{e.text}, before the switchover" for e in m.journal.of_kind("dest_plug")
             if e.context.migration != "switched"]
    if m.dest_vf.state != "absent" and not m.virtio.standby_negotiated:
        early.append("the destination VF is plugged although the guest never negotiated STANDBY")
    return early


def _migration_ends(m: FailoverMachine, damage: Damage) -> list[str]:
    if m.phase in ENDED:
        return []
    return [f"the migration never ends: the loop comes back with QEMU in phase {m.phase} "
            f"(source VF {m.slot.state}; {m.why_not_cancel() or 'a cancel is possible'}) and the guest "
            "owes no eject"]


def _wait_unplug_ends(m: FailoverMachine, damage: Damage) -> list[str]:
    if m.phase != "wait_unplug":
        return []
    return [f"wait-unplug never ends: the source VF stays {m.slot.state}, and "
            f"{m.why_not_cancel() or 'QEMU may cancel'}"]


def _failback(m: FailoverMachine, damage: Damage) -> list[str]:
    if m.phase not in ENDED:
        return []
    if m.master.active == "primary" and m.primary_up() and m.switch.fdb == m.guest_host:
        return []
    vf = m.dest_vf.state if m.switched_over else m.slot.state
    return [f"the migration ended (phase {m.phase}) and traffic never returns to a VF: the guest's "
            f"active slave is {m.master.active}, the VF where it runs is {vf}"
            + (f" ({m.why_not_replug()})" if not m.switched_over and m.why_not_replug() else "")
            + (f" ({m.why_not_plug_dest()})" if m.switched_over and m.why_not_plug_dest() else "")]


def _deadlock(m: FailoverMachine, damage: Damage) -> list[str]:
    if m.phase in ENDED or operations(m, KINDS):  # type: ignore[arg-type]
        return []
    return ["no operation of the emulated system can take place"]


OBSERVERS = {
    "vf-gone-before-copy": _vf_gone_before_copy,
    "no-duplicate-mac": _no_duplicate_mac,
    "loss-bounded": _loss_bounded,
    "completeness": _completeness,
    "quiescence": _quiescence,
    "dest-vf-after-switch": _dest_vf_after_switch,
    "migration-ends": _migration_ends,
    "wait-unplug-ends": _wait_unplug_ends,
    "failback": _failback,
    "deadlock": _deadlock,
}


BINDING: Binding[FailoverConfig, FailoverMachine] = Binding(
    model="failover",
    configure=machine_config,
    boot=FailoverMachine,
    abstract=model_state,
    operations=KINDS,
    actions=ACTIONS,
    observers=OBSERVERS,
    assess=lambda m: m.assess(),
    events=lambda m: [e.text for e in m.journal.events],
)
