"""Symmetry reduction: explore one canonical state per orbit of interchangeable index elements.

An index set declared ``symmetric=True`` (say, the resource managers) says that permuting its
elements maps behaviours to behaviours. That is checked, not trusted: for generators of the
permutation group (a swap of the first two elements and a rotation of all), the initial
states, every action (guard, updates, owner, fairness), the final-state predicate and every
property must map onto themselves; otherwise the reduction is refused with the reason.

A state's canonical form sorts, for each symmetric index set, the tuples of its arrays'
elements ("columns"); that is a canonical representative under the full permutation group
of the set, since nothing else in the state refers to its elements. Counterexamples found on
canonical states are mapped back to a concrete trace by following, from the concrete state,
an enabled action whose successor has the next canonical state as its canonical form.
"""

from __future__ import annotations

from dataclasses import dataclass

from migcheck.models.errors import MigcheckError
from migcheck.models.expr import Const, Node, Op, Slot
from migcheck.models.ir import ActionIR, System

from .codegen import Packing

_COMMUTATIVE = {"and", "or", "eq", "ne", "add", "mul"}


class SymmetryRefused(MigcheckError):
    """The model is not invariant under the permutations a symmetric index set asks for."""


def _normal(node: Node) -> Node:
    """A form in which commutative operators list their operands in a fixed order."""
    if not isinstance(node, Op):
        return node
    args = tuple(_normal(a) for a in node.args)
    if node.op in _COMMUTATIVE:
        args = tuple(sorted(args, key=repr))
    return Op(node.op, args)


def _rename(node: Node, slot_map: dict[int, int]) -> Node:
    if isinstance(node, Slot):
        return Slot(slot_map.get(node.index, node.index))
    if isinstance(node, Const):
        return node
    return Op(node.op, tuple(_rename(a, slot_map) for a in node.args))


@dataclass(frozen=True)
class Group:
    """One symmetric index set: its name, size, and the base slot of each array over it."""

    index: str
    size: int
    bases: tuple[int, ...]

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

    @classmethod
    def of(cls, system: System) -> Symmetry:
        """Check the symmetric index sets of ``system``; raise `SymmetryRefused` with the reason."""
        groups = []
        for index, arrays in system.symmetric:
            bases = tuple(system.layout.var(a).base for a in arrays)
            size = dict(system.params)[index]
            if size > 1:
                groups.append(Group(index, size, bases))
        if not groups:
            raise SymmetryRefused(f"{system.model}: no index set is declared symmetric=True "
                                  "(or every symmetric set has one element)")
        for kind in (p.kind for p in system.properties):
            if kind in ("eventually", "leads_to"):
                raise SymmetryRefused(f"{system.model}: symmetry reduction is for safety properties; "
                                      "check liveness without --symmetry")
        for group in groups:
            for perm in group.generators():
                _check_invariant(system, group, perm)
        return cls(system, groups)

    def canonical(self, state: tuple[int, ...]) -> tuple[int, ...]:
        out = list(state)
        for g in self.groups:
            columns = sorted(tuple(state[b + j] for b in g.bases) for j in range(g.size))
            for j, column in enumerate(columns):
                for b, value in zip(g.bases, column, strict=True):
                    out[b + j] = value
        return tuple(out)

    def canonical_packed(self, x: int) -> int:
        return self.packing.pack(self.canonical(self.packing.unpack(x)))


def _check_invariant(system: System, group: Group, perm: tuple[int, ...]) -> None:
    slot_map = group.slot_map(perm)
    what = f"permuting {group.index} by {list(perm)}"

    def image(node: Node) -> Node:
        return _normal(_rename(node, slot_map))

    def key(act: ActionIR, guard: Node, updates: dict[int, Node]) -> tuple:
        return (act.name, act.owner, act.fairness, _normal(guard),
                tuple(sorted(((s, _normal(n)) for s, n in updates.items()), key=repr)))

    by_key = {key(a, a.guard, dict(a.updates)): k for k, a in enumerate(system.actions)}
    images: dict[int, int] = {}
    for k, act in enumerate(system.actions):
        mapped = {slot_map.get(s, s): _rename(n, slot_map) for s, n in act.updates}
        target = by_key.get(key(act, _rename(act.guard, slot_map), mapped))
        if target is None:
            raise SymmetryRefused(f"{system.model}: {what} maps action {act.label} to no action of "
                                  "the model; the index set is not symmetric")
        images[k] = target
    for init in system.initial:
        permuted = list(init)
        for s, t in slot_map.items():
            permuted[t] = init[s]
        if tuple(permuted) not in system.initial:
            raise SymmetryRefused(f"{system.model}: {what} changes the initial state")
    if system.final is not None and image(system.final) != _normal(system.final):
        raise SymmetryRefused(f"{system.model}: {what} changes the final-state predicate")
    for p in system.properties:
        if p.kind == "action":
            for k, pred in enumerate(p.per_action):
                if image(pred) != _normal(p.per_action[images[k]]):
                    raise SymmetryRefused(f"{system.model}: property '{p.name}' is not invariant "
                                          f"under {what} (on action {system.actions[k].label})")
        elif image(p.pred) != _normal(p.pred):
            raise SymmetryRefused(f"{system.model}: property '{p.name}' is not invariant under {what}; "
                                  "it names particular elements")
