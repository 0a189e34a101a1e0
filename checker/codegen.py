"""Compile a traced `System` into one Python function that runs breadth-first search.

States are packed into Python ints (one bit field per slot), so the visited set holds small
ints, an action's successor is a mask-and-or on the packed state, and only the slots an
expression reads are unpacked. The generated loop inlines every guard, update and property
check; it returns to the driver on any event (violation, witness, limit), and the driver
resumes it after recompiling without the properties already decided.
"""

from __future__ import annotations

from dataclasses import dataclass

from migcheck.models.expr import Const, Node, Op, Slot, slots_read
from migcheck.models.ir import Layout, System

_INFIX = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "add": "+", "sub": "-", "mul": "*"}


@dataclass(frozen=True)
class Packing:
    """Bit offsets and widths of each slot inside a packed state."""

    offsets: tuple[int, ...]
    widths: tuple[int, ...]
    lows: tuple[int, ...]

    @classmethod
    def of(cls, layout: Layout) -> Packing:
        offsets, widths, lows, at = [], [], [], 0
        for s in layout.slots:
            w = (s.domain.hi - s.domain.lo).bit_length()
            offsets.append(at)
            widths.append(w)
            lows.append(s.domain.lo)
            at += w
        return cls(tuple(offsets), tuple(widths), tuple(lows))

    @property
    def bits(self) -> int:
        return self.offsets[-1] + self.widths[-1] if self.offsets else 0

    def pack(self, state: tuple[int, ...]) -> int:
        x = 0
        for v, o, lo in zip(state, self.offsets, self.lows, strict=True):
            x |= (v - lo) << o
        return x

    def unpack(self, x: int) -> tuple[int, ...]:
        return tuple(((x >> o) & ((1 << w) - 1)) + lo
                     for o, w, lo in zip(self.offsets, self.widths, self.lows, strict=True))


def py(node: Node) -> str:
    """A Python expression over the unpacked locals ``v<slot>``."""
    if isinstance(node, Const):
        return str(node.value)
    if isinstance(node, Slot):
        return f"v{node.index}"
    assert isinstance(node, Op)
    a = [py(x) for x in node.args]
    if node.op == "not":
        return f"(not {a[0]})"
    if node.op in ("and", "or"):
        return "(" + f" {node.op} ".join(a) + ")"
    if node.op == "ite":
        return f"({a[1]} if {a[0]} else {a[2]})"
    return f"({a[0]} {_INFIX[node.op]} {a[1]})"


@dataclass(frozen=True)
class Active:
    """Which checks the generated loop performs; decided properties are dropped."""

    invariants: tuple[int, ...]  # property indexes
    witnesses: tuple[int, ...]
    action_props: tuple[int, ...]
    deadlock: bool
    edges: bool  # record every transition (for the networkx graph)
    symmetry: bool = False  # store each successor's canonical form (see symmetry.py)


def generate(system: System, packing: Packing, active: Active) -> str:
    """The source of ``search(states, parents, via, seen, i, tick, edges, fired, canon)``."""
    props = system.properties
    used: set[int] = set()
    for k in active.invariants + active.witnesses:
        used |= slots_read(props[k].pred)
    for a_i, act in enumerate(system.actions):
        used |= slots_read(act.guard)
        for _, n in act.updates:
            used |= slots_read(n)
        for k in active.action_props:
            used |= slots_read(props[k].per_action[a_i])
    if active.deadlock and system.final is not None:
        used |= slots_read(system.final)

    out = ["def search(states, parents, via, seen, i, tick, edges, fired, canon):",
           "    push_state = states.append",
           "    push_parent = parents.append",
           "    push_via = via.append"]
    if active.edges:
        out.append("    push_edge = edges.append")
    else:
        out.append("    mark_seen = seen.add")
    out += ["    t = 0",
            "    while i < len(states):",
            "        x = states[i]",
            "        t0 = t"]
    for s in sorted(used):
        o, w, lo = packing.offsets[s], packing.widths[s], packing.lows[s]
        field = f"((x >> {o}) & {(1 << w) - 1})" if w else "0"
        out.append(f"        v{s} = {field}" + (f" + {lo}" if lo else ""))
    for k in active.invariants:
        out.append(f"        if not {py(props[k].pred)}: return ('invariant', {k}, i, t0)")
    for k in active.witnesses:
        out.append(f"        if {py(props[k].pred)}: return ('witness', {k}, i, t0)")
    if active.deadlock:
        out.append("        enabled = False")
    for a_i, act in enumerate(system.actions):
        out.append(f"        # {act.owner}: {act.label}")
        out.append(f"        if {py(act.guard)}:")
        body = "            "
        out.append(body + "t += 1")
        out.append(body + f"fired[{a_i}] = 1")
        if active.deadlock:
            out.append(body + "enabled = True")
        updates = dict(act.updates)
        for s in act.checks:
            d = system.layout.slots[s].domain
            out.append(body + f"n{s} = {py(updates[s])}")
            out.append(body + f"if not {d.lo} <= n{s} <= {d.hi}: return ('domain', {a_i}, i, t0, {s}, n{s})")
        for k in active.action_props:
            pred = props[k].per_action[a_i]
            if not (isinstance(pred, Const) and pred.value):
                out.append(body + f"if not {py(pred)}: return ('action', {k}, i, t0, {a_i})")
        out.append(body + "y = " + _successor(act.updates, act.checks, packing))
        if active.symmetry:
            out.append(body + "y = canon(y)")
        if active.edges:
            out += [body + "j = seen.get(y)",
                    body + "if j is None:",
                    body + "    j = len(states)",
                    body + "    seen[y] = j",
                    body + "    push_state(y)",
                    body + "    push_parent(i)",
                    body + f"    push_via({a_i})",
                    body + f"push_edge((i, {a_i}, j))"]
        else:
            out += [body + "if y not in seen:",
                    body + "    mark_seen(y)",
                    body + "    push_state(y)",
                    body + "    push_parent(i)",
                    body + f"    push_via({a_i})"]
    if active.deadlock:
        final = f" and not {py(system.final)}" if system.final is not None else ""
        out.append(f"        if not enabled{final}: return ('deadlock', -1, i, t0)")
    out += ["        i += 1",
            "        if not i & 1023 and tick(i): return ('limit', -1, i, t)",
            "    return ('done', -1, i, t)"]
    return "\n".join(out) + "\n"


def _successor(updates: tuple[tuple[int, Node], ...], checked: tuple[int, ...], packing: Packing) -> str:
    if not updates:
        return "x"
    clear = 0
    const = 0
    parts = []
    for s, node in updates:
        o, w, lo = packing.offsets[s], packing.widths[s], packing.lows[s]
        clear |= ((1 << w) - 1) << o
        if isinstance(node, Const):
            const |= (node.value - lo) << o
            continue
        value = f"n{s}" if s in checked else py(node)
        value = f"({value} - {lo})" if lo else value
        parts.append(f"({value} << {o})" if o else f"({value})")
    if const:
        parts.insert(0, str(const))
    mask = (1 << packing.bits) - 1 & ~clear
    return f"(x & {mask})" + "".join(f" | {p}" for p in parts)


def compile_predicate(node: Node, n_slots: int):
    """A Python function of an unpacked state tuple that evaluates ``node``."""
    names = ", ".join(f"v{i}" for i in range(n_slots))
    source = f"def predicate(state):\n    {names}, = state\n    return bool({py(node)})\n"
    namespace: dict = {}
    exec(compile(source, "<migcheck predicate>", "exec"), namespace)
    return namespace["predicate"]


def compile_search(system: System, packing: Packing, active: Active):
    """Compile the generated source; returns the ``search`` function."""
    source = generate(system, packing, active)
    namespace: dict = {}
    exec(compile(source, f"<migcheck {system.model}/{system.variant}>", "exec"), namespace)
    return namespace["search"]
