"""Symmetry reduction: explore one canonical state per orbit of interchangeable index elements.

An index set declared ``symmetric=True`` (say, the resource managers) says that permuting its
elements maps behaviours to behaviours. That is checked, not trusted: for generators of the
permutation group (a swap of the first two elements and a rotation of all), the initial
states, every action (guard, updates, owner, fairness), the final-state predicate and every
property must map onto themselves; otherwise the reduction is refused with the reason.

State may also refer to elements (a `Ref` variable: the page a slot's buffer is in). A
permutation then renames those values too, and the invariance check renames the constants a
reference is compared with or assigned (``buf[i] == p`` becomes ``buf[i] == π(p)``). A
reference may only be compared, assigned or chosen by ``ite``; ordering or arithmetic on it
is refused, since it would tell elements apart.

A state's canonical form sorts, for each symmetric index set, the elements by their
"column": the values of the arrays over the set at that element, then which references
point at it. Two elements with equal columns are untouched by swapping them (no reference
can point at both), so sorting gives one representative per orbit of the full permutation
group. This needs the references to live outside the arrays over their own set (refused
otherwise). Counterexamples found on canonical states are mapped back to a concrete trace
by following, from the concrete state, an enabled action whose successor has the next
canonical state as its canonical form.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from migcheck.models.errors import MigcheckError
from migcheck.models.expr import Const, Node, Op, Slot
from migcheck.models.ir import ActionIR, System
from migcheck.models.operators import ASSOCIATIVE, COMMUTATIVE

from .codegen import Packing


class SymmetryRefused(MigcheckError):
    """The model is not invariant under the permutations a symmetric index set asks for."""


# Chains of an associative operator (the table's ``associative`` and ``unit``) are read as one:
# ``count(...)`` builds such chains, and a permutation reorders their leaves, not their
# nesting; an element the action fixes folds to a 0 in them.


class _Normal:
    """A form in which chains of an associative operator are flattened into one operator
    (without its identity element), and commutative operators list their operands in a fixed
    order. Each normal subterm is numbered once (structurally equal ones alike) and operands
    are ordered by number, so equal terms get equal forms from the same `_Normal`, in time
    linear in their size (ordering by ``repr`` cost a term's size at each level: vfio-v2 at
    devs=3, pages=4 took 1.4 s to check)."""

    def __init__(self) -> None:
        self.numbers: dict[tuple, int] = {}
        self.operands: dict[int, tuple[tuple[Node, int], ...]] = {}  # an operator's number -> its operands

    def __call__(self, node: Node) -> Node:
        return self._of(node)[0]

    def _number(self, key: tuple) -> int:
        return self.numbers.setdefault(key, len(self.numbers))

    def _of(self, node: Node) -> tuple[Node, int]:
        if not isinstance(node, Op):
            return node, self._number(("leaf", node))
        parts = [self._of(a) for a in node.args]
        if node.op in ASSOCIATIVE:
            identity = ASSOCIATIVE[node.op]
            parts = [leaf for a, n in parts
                     for leaf in (self.operands[n] if isinstance(a, Op) and a.op == node.op else ((a, n),))
                     if identity is None or leaf[0] != Const(identity)]
            if len(parts) < 2:
                return parts[0] if parts else self._of(Const(identity))
        if node.op in COMMUTATIVE:
            parts.sort(key=lambda part: part[1])
        number = self._number((node.op, tuple(n for _, n in parts)))
        self.operands[number] = tuple(parts)
        return Op(node.op, tuple(a for a, _ in parts)), number


class Renaming:
    """A permutation of one symmetric set, applied to IR: array slots move, and the values of
    references (and the constants they meet) are renamed."""

    def __init__(self, group: Group, perm: tuple[int, ...]):
        self.slot_map = group.slot_map(perm)
        self.value_map = dict(enumerate(perm))
        self.refs = frozenset(group.refs)

    def is_ref(self, node: Node) -> bool:
        if isinstance(node, Slot):
            return node.index in self.refs
        return isinstance(node, Op) and node.op == "ite" and any(self.is_ref(a) for a in node.args[1:])

    def __call__(self, node: Node, as_ref: bool = False) -> Node:
        if isinstance(node, Slot):
            return Slot(self.slot_map.get(node.index, node.index))
        if isinstance(node, Const):
            return Const(self.value_map.get(node.value, node.value)) if as_ref else node
        if node.op == "ite":
            cond, *branches = node.args
            as_ref = as_ref or self.is_ref(node)
            return Op("ite", (self(cond), *(self(b, as_ref) for b in branches)))
        if node.op in ("eq", "ne"):
            as_ref = any(self.is_ref(a) for a in node.args)
            return Op(node.op, tuple(self(a, as_ref) for a in node.args))
        if any(self.is_ref(a) for a in node.args):
            raise SymmetryRefused(f"'{node.op}' applied to a reference to a symmetric element; "
                                  "references may only be compared for equality or assigned")
        return Op(node.op, tuple(self(a) for a in node.args))

    def state(self, state: tuple[int, ...]) -> tuple[int, ...]:
        out = list(state)
        for s, t in self.slot_map.items():
            out[t] = state[s]
        for r in self.refs:
            out[r] = self.value_map.get(state[r], state[r])
        return tuple(out)


@dataclass(frozen=True)
class Group:
    """One symmetric index set: its name, size, the base slot of each array over it, and the
    slots holding references to its elements."""

    index: str
    size: int
    bases: tuple[int, ...]
    refs: tuple[int, ...] = ()

    def slot_map(self, perm: tuple[int, ...]) -> dict[int, int]:
        return {b + j: b + perm[j] for b in self.bases for j in range(self.size)}

    def generators(self) -> list[tuple[int, ...]]:
        n = self.size
        swap = (1, 0, *range(2, n))
        rotate = (*range(1, n), 0)
        return [swap, rotate] if n > 2 else [swap]


class Symmetry:
    """The checked symmetry of a system, and its canonical-form function."""

    def __init__(self, system: System, groups: list[Group]):
        self.system = system
        self.groups = groups
        self.packing = Packing.of(system.layout)
        self._canonical: Callable[[int], int] | None = None
        # action instance -> a representative of its orbit: canonical states enable only some
        # instances of an orbit (say, those on the page sorted first), yet each fires somewhere.
        self.action_orbit: tuple[int, ...] = ()

    @classmethod
    def of(cls, system: System, properties: list[str] | None = None) -> Symmetry:
        """Check the symmetric index sets of ``system`` for the properties named (default: all);
        raise `SymmetryRefused` with the reason. A set with one element gives no reduction."""
        groups = []
        for index, arrays in system.symmetric:
            bases = tuple(system.layout.var(a).base for a in arrays)
            size = dict(system.params)[index]
            refs = tuple(k for k, info in enumerate(system.layout.slots)
                         if info.domain.kind == "ref" and info.domain.of == index)
            inside = {info.var for k, info in enumerate(system.layout.slots) if k in refs} & set(arrays)
            if inside:
                raise SymmetryRefused(f"{system.model}: '{sorted(inside)[0]}' is an array over {index} "
                                      f"holding references to {index}; symmetry reduction does not "
                                      "support that")
            if size > 1:
                groups.append(Group(index, size, bases, refs))
        if not system.symmetric:
            raise SymmetryRefused(f"{system.model}: no index set is declared symmetric=True")
        checked = [p for p in system.properties if properties is None or p.name in properties]
        live = [p.name for p in checked if p.kind in ("eventually", "leads_to")]
        if live:
            raise SymmetryRefused(f"{system.model}: symmetry reduction is for safety properties; check "
                                  f"{', '.join(live)} without --symmetry (or choose safety properties "
                                  "with --property)")
        orbit = list(range(len(system.actions)))  # union-find over action instances

        def root(k: int) -> int:
            while orbit[k] != k:
                orbit[k] = orbit[orbit[k]]
                k = orbit[k]
            return k

        for group in groups:
            for perm in group.generators():
                for k, target in _check_invariant(system, group, perm, checked).items():
                    orbit[root(k)] = root(target)
        sym = cls(system, groups)
        sym.action_orbit = tuple(root(k) for k in range(len(system.actions)))
        return sym

    def canonical(self, state: tuple[int, ...]) -> tuple[int, ...]:
        return self.packing.unpack(self.canonical_packed(self.packing.pack(state)))

    @property
    def canonical_packed(self) -> Callable[[int], int]:
        """The canonical form of a packed state (a function generated for this system)."""
        if self._canonical is None:
            self._canonical = _compile_canonical(self.groups, self.packing)
        return self._canonical


def _compile_canonical(groups: list[Group], packing: Packing) -> Callable[[int], int]:
    """Generate the canonical-form function on packed states.

    Each element's column becomes one integer key, its fields concatenated from the first
    array's (high bits) to the last reference's "points here" bit (low bits), so integer order
    is the columns' lexicographic order. Most states are already sorted: they return at once.
    """
    off, wid = packing.offsets, packing.widths

    def field(slot: int) -> str:
        return f"((x >> {off[slot]}) & {(1 << wid[slot]) - 1})"

    lines = ["def canonical(x):"]
    for n, g in enumerate(groups):
        for k, r in enumerate(g.refs):
            lines.append(f"    r{n}_{k} = {field(r)}")
        keys = []
        for j in range(g.size):
            parts, shift = [], 0
            for k in reversed(range(len(g.refs))):
                parts.append(f"((r{n}_{k} == {j}) << {shift})")
                shift += 1
            for b in reversed(g.bases):
                parts.append(f"({field(b + j)} << {shift})")
                shift += wid[b + j]
            keys.append(" | ".join(parts) or "0")
            lines.append(f"    k{n}_{j} = {keys[-1]}")
        sorted_test = " <= ".join(f"k{n}_{j}" for j in range(g.size))
        key_tuple = ", ".join(f"k{n}_{j}" for j in range(g.size))
        lines.append(f"    if not ({sorted_test}):")
        order = f"sorted(range({g.size}), key=({key_tuple},).__getitem__)"
        lines.append(f"        x = _permute(x, {order}, GROUP{n})")
    lines.append("    return x")
    env: dict[str, Any] = {"_permute": _permute}
    for n, g in enumerate(groups):
        fields = [(tuple((off[b + j], wid[b + j]) for j in range(g.size))) for b in g.bases]
        refs = tuple((off[r], wid[r]) for r in g.refs)
        env[f"GROUP{n}"] = (fields, refs, g.size)
    exec("\n".join(lines), env)  # generated from the layout only: no model text is executed
    return env["canonical"]


def _permute(x: int, order: list[int], group: tuple) -> int:
    """``x`` with element ``order[k]`` of the group moved to position k, references renamed."""
    fields, refs, size = group
    y = x
    for places in fields:
        for k, j in enumerate(order):
            if k != j:
                o_from, w = places[j]
                o_to = places[k][0]
                y = (y & ~(((1 << w) - 1) << o_to)) | (((x >> o_from) & ((1 << w) - 1)) << o_to)
    rank = [0] * size
    for k, j in enumerate(order):
        rank[j] = k
    for o, w in refs:
        v = (x >> o) & ((1 << w) - 1)
        if v < size:
            y = (y & ~(((1 << w) - 1) << o)) | (rank[v] << o)
    return y


def _check_invariant(system: System, group: Group, perm: tuple[int, ...], checked: list) -> dict[int, int]:
    """The image of each action instance under ``perm``, once everything is checked invariant."""
    what = f"permuting {group.index} by {list(perm)}"
    rename = Renaming(group, perm)
    try:
        return _check_images(system, rename, what, checked)
    except SymmetryRefused as exc:
        if str(exc).startswith(system.model):
            raise
        raise SymmetryRefused(f"{system.model}: {exc}") from None


def _check_images(system: System, rename: Renaming, what: str, checked: list) -> dict[int, int]:
    slot_map = rename.slot_map
    _normal = _Normal()  # one numbering for every term compared here

    def image(node: Node) -> Node:
        return _normal(rename(node))

    def key(act: ActionIR, guard: Node, updates: dict[int, Node]) -> tuple:
        return (act.name, act.owner, act.fairness, _normal(guard),
                tuple(sorted((s, _normal(n)) for s, n in updates.items())))

    by_key = {key(a, a.guard, dict(a.updates)): k for k, a in enumerate(system.actions)}
    images: dict[int, int] = {}
    for k, act in enumerate(system.actions):
        mapped = {slot_map.get(s, s): rename(n, s in rename.refs) for s, n in act.updates}
        target = by_key.get(key(act, rename(act.guard), mapped))
        if target is None:
            raise SymmetryRefused(f"{system.model}: {what} maps action {act.label} to no action of "
                                  "the model; the index set is not symmetric")
        images[k] = target
    for init in system.initial:
        if rename.state(init) not in system.initial:
            raise SymmetryRefused(f"{system.model}: {what} changes the initial state")
    if system.final is not None and image(system.final) != _normal(system.final):
        raise SymmetryRefused(f"{system.model}: {what} changes the final-state predicate")
    for p in checked:
        if p.kind == "action":
            for k, pred in enumerate(p.per_action):
                if image(pred) != _normal(p.per_action[images[k]]):
                    raise SymmetryRefused(f"{system.model}: property '{p.name}' is not invariant "
                                          f"under {what} (on action {system.actions[k].label})")
        elif image(p.pred) != _normal(p.pred):
            raise SymmetryRefused(f"{system.model}: property '{p.name}' is not invariant under {what}; "
                                  "it names particular elements")
    return images


def native_canonical(groups: list[Group], packing: Packing) -> str:
    """The C source of ``canon(x)``: the same canonical form as `_compile_canonical`, for the
    native backend (``checker/native``). Element keys are built the same way; ties keep their
    order (a stable insertion sort, as Python's ``sorted``)."""
    off, wid = packing.offsets, packing.widths
    lines = ["static inline st_t canon(st_t x) {"]
    for g in groups:
        key_bits = len(g.refs) + sum(wid[b] for b in g.bases)
        if key_bits > 64:
            raise SymmetryRefused(f"{g.index}: an element's key needs {key_bits} bits; the native "
                                  "canonical form holds 64 (use --backend python)")
        lines.append("    {")
        for k, r in enumerate(g.refs):
            lines.append(f"        const uint64_t r{k} = (uint64_t)((x >> {off[r]}) & {(1 << wid[r]) - 1}u);")
        keys = []
        for j in range(g.size):
            parts, shift = [], 0
            for k in reversed(range(len(g.refs))):
                parts.append(f"((uint64_t)(r{k} == {j}) << {shift})")
                shift += 1
            for b in reversed(g.bases):
                parts.append(f"((uint64_t)((x >> {off[b + j]}) & {(1 << wid[b + j]) - 1}u) << {shift})")
                shift += wid[b + j]
            keys.append(" | ".join(parts) or "0")
        lines.append(f"        uint64_t key[{g.size}] = {{{', '.join(keys)}}};")
        lines.append(f"        if ({' || '.join(f'key[{j}] > key[{j + 1}]' for j in range(g.size - 1))}) {{")
        lines.append(f"            int order[{g.size}], rank[{g.size}];")
        lines.append(f"            for (int j = 0; j < {g.size}; j++) order[j] = j;")
        lines.append(f"            for (int j = 1; j < {g.size}; j++) {{")
        lines.append("                int e = order[j], m = j;")
        lines.append("                while (m > 0 && key[order[m - 1]] > key[e]) "
                     "{ order[m] = order[m - 1]; m--; }")
        lines.append("                order[m] = e;")
        lines.append("            }")
        lines.append("            st_t y = x;")
        for b in g.bases:
            offsets = ", ".join(str(off[b + j]) for j in range(g.size))
            mask = (1 << wid[b]) - 1
            lines.append(f"            {{ static const int at[{g.size}] = {{{offsets}}};")
            lines.append(f"              for (int k = 0; k < {g.size}; k++) if (order[k] != k) y = "
                         f"(y & ~((st_t){mask}u << at[k])) | (((x >> at[order[k]]) & {mask}u) << at[k]); }}")
        lines.append(f"            for (int k = 0; k < {g.size}; k++) rank[order[k]] = k;")
        for k, r in enumerate(g.refs):
            mask = (1 << wid[r]) - 1
            lines.append(f"            if (r{k} < {g.size}) y = (y & ~((st_t){mask}u << {off[r]})) | "
                         f"((st_t)rank[r{k}] << {off[r]});")
        lines.append("            x = y;")
        lines.append("        }")
        lines.append("    }")
    lines.append("    return x;")
    lines.append("}")
    return "\n".join(lines) + "\n"
