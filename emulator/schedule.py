"""The emulated system's operations, as one table: the wire, the DMA engine, the VF, the
guest's driver and CPU, and the migrator.

Each `OperationKind` is one emulator call with the check that says why it cannot happen
now. Everything that drives the emulator reads this table: `operations` lists the
instances enabled now (for schedulers that drive it at random, the tests, or explore it),
and a model's binding (`migcheck.emulator.bindings`) names the kind each model action
performs, so an emulator call is written here once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import refuse
from .machine import Machine

Arguments = tuple[Any, ...]


@dataclass(frozen=True)
class OperationKind:
    """One emulator call. ``why_not(m, *args)`` says why it cannot happen now (None: it
    can); ``run(m, *args)`` makes it; ``instances(m)`` lists the argument tuples a scheduler
    may choose from now; ``shown(args)`` renders them in a label. ``m`` is the machine of the
    table the kind is in (`KINDS` here: `Machine`; other emulators keep their own tables)."""

    name: str  # "part.call", e.g. "driver.refill"
    actor: str  # device, driver, environment or migrator
    why_not: Callable[..., str | None]
    run: Callable[..., object]
    instances: Callable[[Any], Iterable[Arguments]] = lambda m: [()]
    shown: Callable[[Arguments], str] = lambda args: ", ".join(map(str, args))

    def label(self, args: Arguments) -> str:
        return f"{self.name}({self.shown(args)})" if args else self.name

    def perform(self, m: Any, args: Arguments) -> object:
        """Make the call; `StepRefused` (naming the part and the reason) if it cannot happen now."""
        refuse(self.why_not(m, *args))
        return self.run(m, *args)


@dataclass(frozen=True)
class Operation:
    """An operation instance enabled now."""

    label: str
    actor: str
    run: Callable[[], object]
    kind: OperationKind
    args: Arguments


def _method(part: str, name: str) -> Callable[..., Any]:
    """``m.<part>.<name>`` (``part`` empty: a method of the machine itself)."""
    def call(m: Machine, *args: Any) -> Any:
        return getattr(getattr(m, part) if part else m, name)(*args)
    return call


def _call(name: str, actor: str, part: str, method: str, why_not: str, *why_args: Any) -> OperationKind:
    """A call without arguments whose check is ``m.<part>.<why_not>(*why_args)``."""
    check = _method(part, why_not)
    return OperationKind(name, actor, lambda m: check(m, *why_args), _method(part, method))


def _posted(m: Machine) -> list[Arguments]:
    return [(w.purpose, w.slot) for w in m.vf.dma.posted]


def _slots(m: Machine) -> list[Arguments]:
    return [(slot,) for slot in range(m.layout.slots)]


def _refill_pages(m: Machine) -> list[Arguments]:
    # a fresh buffer may go in any page, so buffers come to share one
    return [(page,) for page in m.driver.refill_pages()]


KINDS: tuple[OperationKind, ...] = (
    OperationKind("wire.packet", "device", lambda m: m.vf.why_not_receive(), lambda m: m.packet_arrives()),
    OperationKind("dma.land", "device", lambda m, purpose, slot: m.why_not_land(slot, purpose),
                  lambda m, purpose, slot: m.land(slot, purpose), _posted),
    OperationKind("vf.write_back", "device", lambda m, slot: m.vf.why_not_write_back(slot),
                  lambda m, slot: m.vf.write_back(slot), _slots),
    _call("vf.transmit", "device", "vf", "transmit", "why_not_transmit"),
    _call("driver.opt_in", "driver", "driver", "opt_in", "why_not_opt_in"),
    _call("driver.opt_in_late", "driver", "driver", "opt_in_late", "why_not_opt_in", True),
    _call("guest.rebind", "environment", "", "rebind", "why_not_rebind"),
    _call("driver.xmit", "driver", "driver", "xmit", "why_not_xmit"),
    _call("driver.probe", "driver", "driver", "probe", "why_not_probe"),
    OperationKind("driver.refill", "driver", lambda m, page: m.driver.why_not_refill(page),
                  lambda m, page: m.driver.refill(page), _refill_pages, lambda args: f"page {args[0]}"),
    OperationKind("driver.clean", "driver", lambda m, unmap: m.driver.why_not_clean(unmap),
                  lambda m, unmap: m.driver.clean(unmap), lambda m: [(True,), (False,)],
                  lambda args: "unmap" if args[0] else "recycle"),
    _call("driver.touch_write_back", "driver", "driver", "touch_write_back", "why_not_touch_write_back"),
    _call("driver.handle_event", "driver", "driver", "handle_event", "why_not_handle_event"),
    _call("driver.clear_bus_master", "driver", "driver", "clear_bus_master", "why_not_handler_step",
          "clear_bme"),
    _call("driver.drain", "driver", "driver", "drain", "why_not_handler_step", "drain"),
    _call("driver.mark", "driver", "driver", "mark", "why_not_handler_step", "mark"),
    _call("driver.release", "driver", "driver", "release", "why_not_handler_step", "release"),
    _call("driver.acknowledge", "driver", "driver", "acknowledge", "why_not_handler_step", "ack"),
    _call("driver.error_detected", "driver", "driver", "error_detected", "why_not_error_detected"),
    _call("driver.slot_reset", "driver", "driver", "slot_reset", "why_not_slot_reset"),
    _call("driver.resume_without_reset", "driver", "driver", "resume_without_reset",
          "why_not_resume_without_reset"),
    _call("migrator.start", "migrator", "migrator", "start", "why_not_start"),
    _call("migrator.block", "migrator", "migrator", "block", "why_not_block"),
    _call("migrator.precopy_round", "migrator", "migrator", "precopy_round", "why_not_precopy_round"),
    _call("migrator.notify", "migrator", "migrator", "notify", "why_not_notify"),
    _call("migrator.stop_vcpu", "migrator", "migrator", "stop_vcpu", "why_not_stop_vcpu"),
    _call("migrator.drain_device", "migrator", "migrator", "drain_device", "why_not_drain_device"),
    _call("migrator.timeout", "migrator", "migrator", "timeout", "why_not_timeout"),
    _call("migrator.stop_and_copy", "migrator", "migrator", "stop_and_copy", "why_not_stop_and_copy"),
    _call("migrator.switchover", "migrator", "", "switchover", "why_not_switchover"),
    _call("migrator.abort", "migrator", "migrator", "abort", "why_not_abort"),
    _call("migrator.start_destination_device", "migrator", "migrator", "start_destination_device",
          "why_not_start_destination_device"),
)

def kind(name: str, kinds: Sequence[OperationKind] = KINDS) -> OperationKind:
    """The operation kind called ``name``; KeyError when there is none."""
    for k in kinds:
        if k.name == name:
            return k
    raise KeyError(name)


def operations(m: Any, kinds: Sequence[OperationKind] = KINDS) -> list[Operation]:
    """The operation instances enabled now, in a fixed order."""
    ops = []
    for k in kinds:
        for args in list(k.instances(m)):
            if k.why_not(m, *args) is None:
                ops.append(Operation(k.label(args), k.actor, lambda k=k, args=args: k.run(m, *args), k, args))
    return ops
