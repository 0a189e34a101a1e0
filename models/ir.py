"""The intermediate representation every backend reads: a flattened state layout, traced
action instances (guard + assignments) and traced properties, with a stable hash.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .domains import Domain
from .expr import Const, Node, Op, Slot
from .operators import OPERATORS


@dataclass(frozen=True)
class SlotInfo:
    """One flattened state slot: a scalar variable, or one element of an array."""

    name: str  # "bme" or "src[1]"
    var: str  # "bme" or "src"
    element: int | None
    domain: Domain


@dataclass(frozen=True)
class VarInfo:
    name: str
    base: int  # first slot
    length: int | None  # None for a scalar
    index_label: str | None
    domain: Domain
    doc: str = ""

    def slots(self) -> range:
        return range(self.base, self.base + (self.length or 1))


@dataclass(frozen=True)
class Layout:
    """The state schema after parameters are resolved; a state is a tuple of slot values."""

    slots: tuple[SlotInfo, ...]
    vars: tuple[VarInfo, ...]

    def var(self, name: str) -> VarInfo | None:
        for v in self.vars:
            if v.name == name:
                return v
        return None

    def render(self, state: tuple[int, ...]) -> dict[str, Any]:
        """A state as a person (and JSON) reads it: arrays as lists, enums as labels."""
        out: dict[str, Any] = {}
        for v in self.vars:
            vals = [v.domain.render(state[i]) for i in v.slots()]
            out[v.name] = vals if v.length is not None else vals[0]
        return out

    def parse(self, shown: dict[str, Any]) -> tuple[int, ...]:
        """The inverse of :meth:`render`; raises ValueError naming the bad variable."""
        state: list[int] = []
        if set(shown) != {v.name for v in self.vars}:
            missing = {v.name for v in self.vars} ^ set(shown)
            raise ValueError(f"state variables differ from the model's: {', '.join(sorted(missing))}")
        for v in self.vars:
            vals = shown[v.name]
            if v.length is None:
                vals = [vals]
            elif not isinstance(vals, list) or len(vals) != v.length:
                raise ValueError(f"'{v.name}' must be a list of {v.length} values")
            for val in vals:
                try:
                    state.append(v.domain.parse(val))
                except ValueError as exc:
                    raise ValueError(f"'{v.name}': {exc}") from None
        return tuple(state)


@dataclass(frozen=True)
class ActionIR:
    """One traced action instance: enabled when ``guard`` holds, then ``updates`` apply at once.

    ``checks`` lists the updates whose value may fall outside the slot's domain at run time.
    """

    name: str
    params: tuple[tuple[str, int], ...]
    owner: str
    guard: Node
    updates: tuple[tuple[int, Node], ...]
    checks: tuple[int, ...] = ()
    fairness: str = ""  # "weak", "strong" or "" (not fairly scheduled)

    @property
    def label(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.params)
        return f"{self.name}({args})" if args else self.name


@dataclass(frozen=True)
class PropertyIR:
    """A traced property. ``kind`` is invariant, action, reachable, eventually or leads_to.

    State properties have ``pred``; action properties have one predicate per action
    instance in ``per_action`` (after-values already substituted by the action's updates).
    Liveness properties have a ``goal``: ``eventually`` from the initial states, ``leads_to``
    from every state satisfying ``pred``.
    """

    name: str
    kind: str
    doc: str
    pred: Node | None = None
    per_action: tuple[Node, ...] = ()
    goal: Node | None = None
    witness: str = ""  # a reachable property that shows this safety property is not vacuous
    # A violation means guest data is lost (what `check`'s first screen calls "loses data").
    # What a verdict means to a reader, not what is checked: outside the IR hash.
    loses_data: bool = field(default=False, repr=False, compare=False)


@dataclass(frozen=True)
class Instance:
    """The one record of what a result is about: a model's variant at its parameters and the hash
    of its IR. A trace and a certificate carry it, and are refused by a model whose IR differs."""

    model: str
    variant: str
    params: tuple[tuple[str, int], ...]
    ir_hash: str

    def matches(self, system: System) -> bool:
        return self.ir_hash == system.ir_hash


@dataclass(frozen=True)
class System:
    """A model instance: one variant at one set of parameter values, fully traced."""

    model: str
    variant: str
    params: tuple[tuple[str, int], ...]
    layout: Layout
    initial: tuple[tuple[int, ...], ...]
    actions: tuple[ActionIR, ...]
    properties: tuple[PropertyIR, ...]
    final: Node | None  # states where having no successor is not a deadlock
    check_deadlock: bool
    expect: tuple[tuple[str, str], ...] = ()
    owners: tuple[str, ...] = field(default=())
    action_docs: tuple[tuple[str, str], ...] = field(default=())  # not part of the IR hash
    symmetric: tuple[tuple[str, tuple[str, ...]], ...] = ()  # index declared symmetric, its arrays
    doc: str = ""  # the variant's description, its docstring's first paragraph (not part of the IR hash)
    # Actions whose guard folds to false for every parameter value: traced to nothing, so no
    # engine sees them; coverage reports them as never enabled (not part of the IR hash).
    dead_actions: tuple[str, ...] = ()

    def action_doc(self, name: str) -> str:
        return dict(self.action_docs).get(name, "")

    @cached_property
    def instance(self) -> Instance:
        return Instance(self.model, self.variant, self.params, self.ir_hash)

    @cached_property  # a System never changes; every trace and certificate asks for it
    def ir_hash(self) -> str:
        text = repr((self.model, self.variant, self.params, self.layout, self.initial,
                     self.actions, self.properties, self.final, self.check_deadlock))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def property(self, name: str) -> PropertyIR | None:
        for p in self.properties:
            if p.name == name:
                return p
        return None

    def expected(self, prop: str) -> str:
        return dict(self.expect).get(prop, "holds")


def show(node: Node, layout: Layout) -> str:
    """A readable rendering of a node, for messages and exports."""
    if isinstance(node, Const):
        return ("TRUE" if node.value else "FALSE") if node.is_bool else str(node.value)
    if isinstance(node, Slot):
        return layout.slots[node.index].name
    return OPERATORS[node.op].show([show(a, layout) for a in node.args])


def interval(node: Node, layout: Layout) -> tuple[int, int]:
    """A sound over-approximation of the values a node can take, for domain checks."""
    if isinstance(node, Const):
        return node.value, node.value
    if isinstance(node, Slot):
        d = layout.slots[node.index].domain
        return d.lo, d.hi
    assert isinstance(node, Op)
    return OPERATORS[node.op].interval([interval(a, layout) for a in node.args])
