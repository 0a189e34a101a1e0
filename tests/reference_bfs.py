"""An independent reference for the differential test: a plain breadth-first search over a
random model's description (`random_models.Spec`), with a meaning given here in plain Python.

Nothing of migcheck is imported: not the tracer, not the IR, not an engine. A state is a tuple
of values in the order of the description's variables (arrays flattened, enums as labels).
An action's updates apply in order, each reading the values assigned before it, as a traced
action body reads. The figures are those migcheck reports: distinct states, the depth of the
deepest state, and for every property the length of a shortest counterexample or witness.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from random_models import Act, Expr, Spec


@dataclass(frozen=True)
class Reference:
    states: int
    depth: int
    orbits: int  # states up to permutations of the index set (when it is symmetric)
    violated: dict[str, int | None]  # invariant -> length of a shortest violation, None: holds
    witnessed: dict[str, int | None]  # reachable -> length of a shortest witness, None: never
    deadlock: int | None  # length of a shortest path to a state with no successor


class _Semantics:
    def __init__(self, spec: Spec):
        self.spec = spec
        self.slots: dict[tuple[str, int | None], int] = {}
        for v in spec.vars:
            for k in (range(spec.size) if v.array else (None,)):
                self.slots[(v.name, k)] = len(self.slots)

    def initial(self) -> tuple[Any, ...]:
        return tuple(v.init for v in self.spec.vars for _ in (range(self.spec.size) if v.array else (0,)))

    def value(self, e: Expr, st: list[Any], p: int | None) -> Any:
        op = e[0]
        if op == "const":
            return e[1]
        if op == "var":
            return st[self.slots[(e[1], None)]]
        if op == "elem":
            return st[self.slots[(e[1], p)]]
        if op == "at":
            return st[self.slots[(e[1], e[2])]]
        if op == "is":
            return st[self.slots[(e[1], None)]] == e[2]
        if op in ("count", "all", "any"):
            items = [bool(st[self.slots[(e[1], k)]]) for k in range(self.spec.size)]
            return {"count": sum, "all": all, "any": any}[op](items)
        if op == "clamp":
            return min(max(self.value(e[1], st, p), e[2]), e[3])
        if op == "not":
            return not self.value(e[1], st, p)
        if op == "and":
            return bool(self.value(e[1], st, p)) and bool(self.value(e[2], st, p))
        if op == "or":
            return bool(self.value(e[1], st, p)) or bool(self.value(e[2], st, p))
        if op == "ite":
            return self.value(e[2], st, p) if self.value(e[1], st, p) else self.value(e[3], st, p)
        a, b = self.value(e[1], st, p), self.value(e[2], st, p)
        return {"eq": a == b, "ne": a != b, "lt": a < b, "le": a <= b,
                "add": a + b, "sub": a - b}[op]

    def fire(self, act: Act, state: tuple[Any, ...], p: int | None) -> tuple[Any, ...] | None:
        st = list(state)
        if not self.value(act.guard, st, p):
            return None
        for target, at, expr in act.updates:
            new = self.value(expr, st, p)
            var = self.spec.var(target)
            new = bool(new) if var.kind == "bool" else new
            st[self.slots[(target, None if at is False else p if at is True else at)]] = new
        return tuple(st)

    def successors(self, state: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        out = []
        for act in self.spec.actions:
            for p in (range(self.spec.size) if act.indexed else (None,)):
                nxt = self.fire(act, state, p)
                if nxt is not None:
                    out.append(nxt)
        return out

    def holds(self, e: Expr, state: tuple[Any, ...]) -> bool:
        return bool(self.value(e, list(state), None))

    def canonical(self, state: tuple[Any, ...]) -> tuple[Any, ...]:
        """The least image of ``state`` under every permutation of the index set."""
        arrays = [v.name for v in self.spec.vars if v.array]
        best = None
        for perm in itertools.permutations(range(self.spec.size)):
            image = list(state)
            for name in arrays:
                for k in range(self.spec.size):
                    image[self.slots[(name, perm[k])]] = state[self.slots[(name, k)]]
            key = tuple(map(repr, image))
            best = key if best is None or key < best else best
        return best


def reference(spec: Spec) -> Reference:
    """Breadth-first search of ``spec``'s whole state space; linear in states × actions."""
    sem = _Semantics(spec)
    start = sem.initial()
    depth_of = {start: 0}
    frontier = [start]
    violated: dict[str, int | None] = {name: None for name, _, _ in spec.invariants}
    witnessed: dict[str, int | None] = {name: None for name, _ in spec.reachables}
    deadlock = None
    while frontier:
        following = []
        for state in frontier:
            d = depth_of[state]
            for name, pred, _ in spec.invariants:
                if violated[name] is None and not sem.holds(pred, state):
                    violated[name] = d
            for name, pred in spec.reachables:
                if witnessed[name] is None and sem.holds(pred, state):
                    witnessed[name] = d
            successors = sem.successors(state)
            if not successors and deadlock is None:
                deadlock = d
            for nxt in successors:
                if nxt not in depth_of:
                    depth_of[nxt] = d + 1
                    following.append(nxt)
        frontier = following
    orbits = len({sem.canonical(s) for s in depth_of}) if spec.symmetric else len(depth_of)
    return Reference(len(depth_of), max(depth_of.values()), orbits, violated, witnessed, deadlock)
