"""One frontier's expansion, for the cluster search (`cluster.py`): a generated function, built
from the same compiled pieces as the sequential engine (`codegen.py`'s ``py`` and
``_successor``), expands a list of packed states in order: it unpacks bit fields, evaluates
guards, updates and the open properties, and returns the successors as packed ints with their
parent's position and the action, plus the first state of the list that decides each open
property. A guard, an update or a property means the same here as in the sequential search.

A partition drops a successor it has produced (or expanded) before: its owner has already seen
it at the same or an earlier position, so dropping it changes no number and saves sending it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from migcheck.models.expr import Const, slots_read
from migcheck.models.ir import System

from .codegen import Packing, _successor, py
from .symmetry import Symmetry

_FORGET = 4_000_000  # a partition forgets the successors it produced beyond this many (memory)


@dataclass(frozen=True)
class Checks:
    """The checks a partition runs on its frontier; decided properties are dropped between levels."""

    invariants: tuple[int, ...]
    witnesses: tuple[int, ...]
    action_props: tuple[int, ...]
    deadlock: bool
    canonical: bool = False  # send each successor's canonical form (symmetry.py)


def generate_expand(system: System, packing: Packing, checks: Checks) -> str:
    """The source of ``expand(chunk, produced, fired, canon)``, run on one partition's frontier.

    It returns ``(succ, owner, acts, spent, hits, dead, domain)``: the successors in the
    sequential engine's order (by parent, then by action), each successor's parent as a
    position in the chunk and its action index, the transitions of each parent, the first
    ``(property, position, action)`` deciding each open property (``-1`` when none), the first
    deadlocked position (``-1``), and the first update outside its domain as
    ``(position, action, slot, value)`` (then the chunk ends there, as the sequential search does).
    """
    props = system.properties
    used: set[int] = set()
    for k in checks.invariants + checks.witnesses:
        used |= slots_read(props[k].pred)
    for a_i, act in enumerate(system.actions):
        used |= slots_read(act.guard)
        for _, n in act.updates:
            used |= slots_read(n)
        for k in checks.action_props:
            used |= slots_read(props[k].per_action[a_i])
    if checks.deadlock and system.final is not None:
        used |= slots_read(system.final)

    out = ["def expand(chunk, produced, fired, canon):",
           "    succ = []",
           "    owner = []",
           "    acts = []",
           "    spent = []",
           "    push_succ = succ.append",
           "    push_owner = owner.append",
           "    push_act = acts.append",
           "    push_spent = spent.append",
           "    mark = produced.add",
           "    dead = -1",
           "    domain = None"]
    for k in checks.invariants + checks.witnesses + checks.action_props:
        out.append(f"    h{k} = -1")
        out.append(f"    g{k} = -1")
    out += ["    pos = -1",
            "    for x in chunk:",
            "        pos += 1",
            "        t = 0",
            "        mark(x)"]
    for s in sorted(used):
        o, w, lo = packing.offsets[s], packing.widths[s], packing.lows[s]
        field = f"((x >> {o}) & {(1 << w) - 1})" if w else "0"
        out.append(f"        v{s} = {field}" + (f" + {lo}" if lo else ""))
    for k in checks.invariants:
        out.append(f"        if h{k} < 0 and not {py(props[k].pred)}: h{k} = pos")
    for k in checks.witnesses:
        out.append(f"        if h{k} < 0 and {py(props[k].pred)}: h{k} = pos")
    if checks.deadlock:
        out.append("        enabled = False")
    body = "            "
    for a_i, act in enumerate(system.actions):
        out.append(f"        # {act.owner}: {act.label}")
        out.append(f"        if {py(act.guard)}:")
        out.append(body + "t += 1")
        out.append(body + f"fired[{a_i}] = 1")
        if checks.deadlock:
            out.append(body + "enabled = True")
        updates = dict(act.updates)
        for s in act.checks:
            d = system.layout.slots[s].domain
            out.append(body + f"n{s} = {py(updates[s])}")
            out += [body + f"if not {d.lo} <= n{s} <= {d.hi}:",
                    body + f"    domain = (pos, {a_i}, {s}, n{s})",
                    body + "    break"]
        for k in checks.action_props:
            pred = props[k].per_action[a_i]
            if not (isinstance(pred, Const) and pred.value):
                out.append(body + f"if h{k} < 0 and not {py(pred)}: h{k}, g{k} = pos, {a_i}")
        out.append(body + "y = " + _successor(act.updates, act.checks, packing))
        if checks.canonical:
            out.append(body + "y = canon(y)")
        out += [body + "if y not in produced:",
                body + "    mark(y)",
                body + "    push_succ(y)",
                body + "    push_owner(pos)",
                body + f"    push_act({a_i})"]
    if checks.deadlock:
        final = f" and not {py(system.final)}" if system.final is not None else ""
        out.append(f"        if dead < 0 and not enabled{final}: dead = pos")
    out.append("        push_spent(t)")
    hits = ", ".join(f"({k}, h{k}, g{k})" for k in checks.invariants + checks.witnesses + checks.action_props)
    out.append(f"    return succ, owner, acts, spent, ({hits}{',' if hits else ''}), dead, domain")
    return "\n".join(out) + "\n"


class Expander:
    """A partition's expansion: the model, its compiled ``expand`` functions (one per set of open
    checks) and the successors it has produced."""

    def __init__(self, system: System, symmetry: Symmetry | None):
        self.system = system
        self.packing = Packing.of(system.layout)
        self.canon = symmetry.canonical_packed if symmetry is not None and symmetry.groups else None
        self.compiled: dict[Checks, Any] = {}
        self.produced: set[int] = set()

    def __call__(self, checks: Checks, chunk: list[int], fired: bytearray) -> tuple:
        """``expand``'s answer for ``chunk``; ``fired`` collects the action instances enabled."""
        expand = self.compiled.get(checks)
        if expand is None:
            source = generate_expand(self.system, self.packing, checks)
            namespace: dict = {}
            exec(compile(source, f"<migcheck expand {self.system.model}/{self.system.variant}>", "exec"),
                 namespace)
            expand = self.compiled[checks] = namespace["expand"]
        if len(self.produced) > _FORGET:
            self.produced.clear()  # always sound: forgetting only means sending a duplicate
        return expand(chunk, self.produced, fired, self.canon)
