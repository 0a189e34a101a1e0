"""Guards as lists of conjuncts, and their partial evaluation where slot values are known.

The compiled search (codegen.py) tests shared conditions once and then looks only at what is
left of each guard. For that it needs guards in a form it can take apart: a conjunction of
`Test` (one slot's value lies in a set: ``phase in {precopy, notified}``, ``not bme``) and of
general expressions that read several slots. `restrict` simplifies such a list where the code
has already learned that some slots lie in smaller sets (inside a branch on ``phase``, say);
`substitute` folds an expression once some slots have a single possible value.

Complexity: a single-slot conjunct is evaluated once per value of its slot's domain (domains
of more than `MAX_DOMAIN` values are left as general expressions).
"""

from __future__ import annotations

from dataclasses import dataclass

from migcheck.models.expr import Const, Node, Op, Slot, mk
from migcheck.models.operators import OPERATORS, evaluate

Known = dict[int, frozenset[int]]  # slot -> the values it can have at this point of the code
MAX_DOMAIN = 256
_COMPARE = ("eq", "ne", "lt", "le")  # a slot against a constant: a set of values


@dataclass(frozen=True)
class Test:
    """The conjunct "slot ``slot`` has one of ``values``"."""

    slot: int
    values: frozenset[int]


Conjunct = Test | Node  # a Node conjunct reads two slots or more


def substitute(node: Node, env: dict[int, int]) -> Node:
    """``node`` with the slots of ``env`` replaced by their values, constants folded."""
    if isinstance(node, Slot):
        v = env.get(node.index)
        return node if v is None else Const(v)
    if isinstance(node, Const):
        return node
    return mk(node.op, *(substitute(a, env) for a in node.args))


def singletons(known: Known, slots) -> dict[int, int]:
    """The slots among ``slots`` whose value is known exactly."""
    out = {}
    for s in slots:
        values = known.get(s)
        if values is not None and len(values) == 1:
            (out[s],) = values
    return out


def allowed_values(node: Node, s: int, domain: frozenset[int]) -> frozenset[int]:
    """The values of slot ``s`` (in ``domain``) for which ``node``, which reads only ``s``, holds."""
    if isinstance(node, Op):
        op, args = node.op, node.args
        if op in _COMPARE:
            a, b = args
            holds = OPERATORS[op].evaluate
            if isinstance(a, Slot) and isinstance(b, Const):
                return frozenset(v for v in domain if holds(v, b.value))
            if isinstance(a, Const) and isinstance(b, Slot):
                return frozenset(v for v in domain if holds(a.value, v))
        elif op == "not":
            return domain - allowed_values(args[0], s, domain)
        elif op == "and":
            out = domain
            for a in args:
                out = out & allowed_values(a, s, domain)
            return out
        elif op == "or":
            out = frozenset()
            for a in args:
                out = out | allowed_values(a, s, domain)
            return out
    elif isinstance(node, Slot):
        return frozenset(v for v in domain if v)
    elif isinstance(node, Const):
        return domain if node.value else frozenset()
    return frozenset(v for v in domain if evaluate(node, {s: v}))


class Specialiser:
    """Guards of one system taken apart and simplified; remembers what it worked out per node.

    ``domains`` gives each slot's possible values (slots absent from it are never made tests).
    """

    def __init__(self, domains: Known):
        self.domains = domains
        self._reads: dict[int, tuple[Node, frozenset[int]]] = {}

    def reads(self, node: Node) -> frozenset[int]:
        """`slots_read`, remembered per node."""
        hit = self._reads.get(id(node))
        if hit is not None:
            return hit[1]
        if isinstance(node, Slot):
            found = frozenset((node.index,))
        elif isinstance(node, Op):
            found = frozenset().union(*(self.reads(a) for a in node.args))
        else:
            found = frozenset()
        self._reads[id(node)] = (node, found)
        return found

    def conjuncts(self, node: Node) -> list[Conjunct] | None:
        """``node`` as a conjunction, single-slot parts as `Test`; None when it is false.

        Negated disjunctions are split (De Morgan) so that more parts are single-slot tests.
        """
        domains = self.domains
        parts: list[Node] = []
        stack = [node]
        while stack:
            n = stack.pop()
            if isinstance(n, Op) and n.op == "and":
                stack.extend(reversed(n.args))
            elif isinstance(n, Op) and n.op == "not" and isinstance(n.args[0], Op) and n.args[0].op == "or":
                stack.extend(reversed([mk("not", a) for a in n.args[0].args]))
            else:
                parts.append(n)
        out: list[Conjunct] = []
        tests: dict[int, frozenset[int]] = {}
        for part in parts:
            if isinstance(part, Const):
                if not part.value:
                    return None
                continue
            read = self.reads(part)
            if len(read) == 1:
                (s,) = read
                if s in domains:
                    allowed = allowed_values(part, s, domains[s])
                    tests[s] = tests[s] & allowed if s in tests else allowed
                    continue
            out.append(part)
        for s, allowed in tests.items():
            if not allowed:
                return None
            if allowed != domains[s]:
                out.insert(0, Test(s, allowed))
        return out

    def restrict(self, conds, known: Known) -> list[Conjunct] | None:
        """``conds`` where each slot of ``known`` lies in its set: tests that always hold are
        dropped, general parts are folded where slots have one value; None when it cannot hold."""
        out: list[Conjunct] = []
        for c in conds:
            if isinstance(c, Test):
                here = known.get(c.slot)
                if here is None:
                    out.append(c)
                    continue
                allowed = c.values & here
                if not allowed:
                    return None
                if allowed != here:
                    out.append(Test(c.slot, allowed))
                continue
            read = self.reads(c)
            env = singletons(known, read) if not known.keys().isdisjoint(read) else None
            if not env:
                out.append(c)
                continue
            folded = self.conjuncts(substitute(c, env))
            if folded is None:
                return None
            for f in folded:
                if isinstance(f, Test) and f.slot in known:
                    allowed = f.values & known[f.slot]
                    if not allowed:
                        return None
                    if allowed != known[f.slot]:
                        out.append(Test(f.slot, allowed))
                else:
                    out.append(f)
        return out

    def values_of(self, node: Node, known: Known, limit: int = 64) -> set[int] | None:
        """Every value ``node`` can take when its slots range over ``known``; None if some slot
        is not in ``known`` or there are more than ``limit`` combinations."""
        read = sorted(self.reads(node))
        combos = 1
        for s in read:
            if s not in known:
                return None
            combos *= len(known[s])
            if combos > limit:
                return None
        envs: list[dict[int, int]] = [{}]
        for s in read:
            envs = [{**e, s: v} for e in envs for v in sorted(known[s])]
        return {evaluate(node, e) for e in envs}
