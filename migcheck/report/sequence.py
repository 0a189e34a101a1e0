"""A counterexample as a message sequence chart: who did what, and whom it concerned.

Each action owner of the model (guest driver, VF device, hypervisor, environment, or a
model's own actors) is a lifeline. Each step of the trace is one message from the actor
that took it, labelled with the action and the variables it changed. The message goes to
every other actor the step touches: one whose enabled actions it changed (the acknowledgement
lets the hypervisor stop the vCPU), and one that alone, of the other actors, watches a
variable the step changed in its guards (clearing BME touches the device, whose DMA requires
it, even when the device has nothing to do just then). A variable every actor watches (the
migration phase) makes no arrow by itself. A step that touches no other actor is a box on
its own lifeline. The chart is data here; `sequence_svg` and `sequence_mermaid` draw it.
"""

from __future__ import annotations

from dataclasses import dataclass

from migcheck.checker import interpret
from migcheck.checker.trace import Trace
from migcheck.models.expr import slots_read
from migcheck.models.ir import System

# Known owners, in the order their lifelines are drawn, with the names people use.
ACTOR_TITLES = {"driver": "guest driver", "device": "VF device", "hypervisor": "hypervisor",
                "environment": "environment"}


@dataclass(frozen=True)
class Change:
    variable: str
    before: str
    after: str

    @property
    def text(self) -> str:
        return f"{self.variable} = {self.after}"


@dataclass(frozen=True)
class Message:
    """One step: ``state`` is its number as the numbered steps print it (State 2 is the first)."""

    state: int
    actor: str
    targets: tuple[str, ...]  # other lifelines concerned; empty: a box on the actor's lifeline
    label: str
    changes: tuple[Change, ...]
    in_loop: bool = False
    last: bool = False


@dataclass(frozen=True)
class Chart:
    model: str
    variant: str
    property: str
    lifelines: tuple[str, ...]
    messages: tuple[Message, ...]
    loop: int | None = None  # the state number a lasso returns to
    stutters: bool = False  # a lasso whose last state repeats forever

    def title(self, actor: str) -> str:
        return ACTOR_TITLES.get(actor, actor)

    @property
    def ending(self) -> str:
        """What the chart's last line says about the property."""
        last = self.messages[-1].state if self.messages else 1
        if self.loop is not None and self.stutters:
            return f"{self.property} violated: state {last} repeats forever"
        if self.loop is not None:
            return f"{self.property} violated: back to state {self.loop}, forever"
        return f"{self.property} violated in state {last}"

    def to_json(self) -> dict[str, object]:
        return {"lifelines": [{"actor": a, "title": self.title(a)} for a in self.lifelines],
                "loop": self.loop,
                "messages": [{"state": m.state, "actor": m.actor, "targets": list(m.targets),
                              "action": m.label, "in_loop": m.in_loop,
                              "changes": [{"variable": c.variable, "before": c.before, "after": c.after}
                                          for c in m.changes]} for m in self.messages]}


def lifelines(system: System) -> tuple[str, ...]:
    """The system's action owners: the known ones in their usual order, then the others."""
    known = [a for a in ACTOR_TITLES if a in system.owners]
    return tuple(known + [a for a in system.owners if a not in ACTOR_TITLES])


def chart(trace: Trace, system: System) -> Chart:
    """The message sequence chart of ``trace``. Cost: steps × action instances guard evaluations."""
    layout = system.layout
    owners = lifelines(system)
    messages = []
    prev = trace.steps[0].state
    watches = _guard_reads_by_owner(system)
    before_enabled = _enabled_by_owner(system, prev)
    last_index = len(trace.steps) - 1
    for n, step in enumerate(trace.steps[1:], start=1):
        after_enabled = _enabled_by_owner(system, step.state)
        actor = step.owner or "?"
        others = [o for o in owners if o != actor]
        touched = {o for o in others if before_enabled.get(o) != after_enabled.get(o)}
        for i in (i for i in range(len(step.state)) if step.state[i] != prev[i]):
            watchers = [o for o in others if i in watches.get(o, ())]
            if len(watchers) == 1:
                touched.add(watchers[0])
        targets = tuple(o for o in others if o in touched)
        changes = tuple(
            Change(layout.slots[i].name, _show(layout.slots[i].domain.render(prev[i])),
                   _show(layout.slots[i].domain.render(step.state[i])))
            for i in range(len(step.state)) if step.state[i] != prev[i])
        in_loop = trace.loop is not None and n > trace.loop
        last = n == last_index and trace.loop is None  # a lasso's violation is its loop, not a step
        messages.append(Message(n + 1, actor, targets, step.label, changes, in_loop, last))
        prev, before_enabled = step.state, after_enabled
    loop = None if trace.loop is None else trace.loop + 1
    return Chart(system.model, system.variant, trace.property, owners, tuple(messages), loop,
                 trace.loop is not None and trace.loop == last_index)


def _enabled_by_owner(system: System, state: tuple[int, ...]) -> dict[str, frozenset[int]]:
    out: dict[str, set[int]] = {o: set() for o in system.owners}
    for a_i, act in enumerate(system.actions):
        if interpret.enabled(system, a_i, state):
            out.setdefault(act.owner, set()).add(a_i)
    return {o: frozenset(s) for o, s in out.items()}


def _guard_reads_by_owner(system: System) -> dict[str, set[int]]:
    """Per owner, the state slots its actions' guards read: what the owner watches."""
    out: dict[str, set[int]] = {o: set() for o in system.owners}
    for act in system.actions:
        out.setdefault(act.owner, set()).update(slots_read(act.guard))
    return out


def _show(value: object) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)
