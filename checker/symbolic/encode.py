"""The IR as z3 terms: per-step state variables, initial states, slot domains and a
transition relation built once over template variables and unrolled through a cache.

Booleans are z3 ``Bool`` constants; bounded integers and enums are z3 ``Int`` constants
whose range is asserted by :attr:`Encoding.domain`, so every model of a formula that
includes the domains of its steps is a real state sequence. Variables at step ``k`` are
named ``bme@3`` / ``src[1]@3`` and ``act@3`` (the action instance fired from step 3), so a z3
model reads as a trace without translation.

Out-of-domain updates: the transition relation treats an action instance whose checked
update (``ActionIR.checks``) would leave the slot's domain as *not enabled* (the post-state
must lie in the domains). This never hides an error, because every engine also looks for
such a step (:attr:`Encoding.domain_escape`, :attr:`Encoding.domain_safe`) and reports the
verdict ``error`` with the explicit engine's reason when one is reachable.
"""

from __future__ import annotations

from typing import Any

import z3
from z3.z3 import _to_expr_ref  # wraps a raw z3 term, as z3.substitute does

from migcheck.models.expr import Const, Node, Op, Slot
from migcheck.models.ir import ActionIR, Layout, System
from migcheck.models.operators import OPERATORS, z3_bool, z3_conj, z3_disj, z3_int

State = tuple[z3.ExprRef, ...]


def state_vars(layout: Layout, suffix: str, ctx: z3.Context) -> State:
    """One z3 constant per slot, named ``<slot name><suffix>``: ``src[1]@3`` for suffix ``@3``."""
    return tuple(z3.Bool(s.name + suffix, ctx) if s.domain.kind == "bool" else z3.Int(s.name + suffix, ctx)
                 for s in layout.slots)


def conj(items: list[z3.BoolRef] | tuple[z3.BoolRef, ...], ctx: z3.Context) -> z3.BoolRef:
    """The conjunction of ``items``; true when there are none."""
    return z3_conj(z3, items, ctx)


def disj(items: list[z3.BoolRef] | tuple[z3.BoolRef, ...], ctx: z3.Context) -> z3.BoolRef:
    """The disjunction of ``items``; false when there are none."""
    return z3_disj(z3, items, ctx)


def as_bool(e: z3.ExprRef) -> z3.BoolRef:
    """A z3 term as a boolean: integers are true when non-zero (the IR's 0/1 booleans)."""
    return z3_bool(z3, e)


def as_int(e: z3.ExprRef) -> z3.ArithRef:
    """A z3 term as an integer: booleans are 0/1."""
    return z3_int(z3, e)


def translate(node: Node, state: State, memo: dict[int, tuple[Node, z3.ExprRef]] | None = None
              ) -> z3.ExprRef:
    """The z3 term of an IR node over ``state`` (one z3 constant per slot).

    Booleans and integers are told apart by the node (constants, slot domains, operators)
    and coerced where the IR mixes them (a folded ``ite`` loses its boolean flag). Shared
    sub-nodes are translated once through ``memo``, keyed by identity. Linear in the node.
    """
    memo = {} if memo is None else memo
    hit = memo.get(id(node))
    if hit is not None and hit[0] is node:
        return hit[1]
    if isinstance(node, Const):
        ctx = state[0].ctx
        out: Any = z3.BoolVal(bool(node.value), ctx) if node.is_bool else z3.IntVal(node.value, ctx)
    elif isinstance(node, Slot):
        out = state[node.index]
    else:
        assert isinstance(node, Op), node
        out = OPERATORS[node.op].z3(z3, [translate(a, state, memo) for a in node.args])
    memo[id(node)] = (node, out)
    return out


def _nonlinear(node: Node) -> bool:
    """Whether ``node`` multiplies two non-constant terms."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Op):
            if n.op == "mul" and not any(isinstance(a, Const) for a in n.args):
                return True
            stack.extend(n.args)
    return False


class Encoding:
    """The z3 reading of one `System`, over template variables.

    ``cur`` are the current-state constants (named by slot: ``bme``), ``nxt`` the next-state
    constants (``bme'``) and ``act`` the action selector. Every formula here is built once
    over them; :class:`Unroller` renames them to step ``k``:

    - ``init``: the initial states; ``domain``: every slot within its domain;
    - ``trans``: the transition relation the engines unroll, ``trans_by_action`` the same
      relation written action by action (the certificate checker reads that one);
    - ``guards[a]``, ``escapes[a]``: action ``a`` is enabled; a checked update of ``a``
      leaves its domain; ``domain_escape``: the action ``act`` selects is enabled and
      escapes; ``domain_safe``: no enabled action escapes (a state predicate).

    >>> from migcheck.models import build
    >>> from migcheck.models.library import bundled
    >>> enc = Encoding(build(bundled("peterson")))
    >>> [str(v) for v in enc.cur]
    ['flag[0]', 'flag[1]', 'turn', 'pc[0]', 'pc[1]']
    """

    def __init__(self, system: System, ctx: z3.Context | None = None):
        self.system = system
        self.layout = system.layout
        self.ctx = ctx or z3.Context()  # a context of its own: same input, same z3 answers
        self.cur = state_vars(self.layout, "", self.ctx)
        self.nxt = state_vars(self.layout, "'", self.ctx)
        self.act = z3.Int("act", self.ctx)
        self._memo: dict[int, tuple[Node, z3.ExprRef]] = {}
        self.init = self._initial()
        self.domain = self._domain(self.cur)
        self.guards = tuple(self.pred(a.guard) for a in system.actions)
        self.escapes = tuple(self._escape(a) for a in system.actions)
        self.trans = self._transition()
        self.trans_by_action = self._transition_by_action()
        self.domain_escape = self.disj([z3.And(self.act == a_i, self.guards[a_i], esc)
                                        for a_i, esc in enumerate(self.escapes) if not z3.is_false(esc)])
        self.domain_safe = self.conj([z3.Implies(self.guards[a_i], z3.Not(esc))
                                      for a_i, esc in enumerate(self.escapes) if not z3.is_false(esc)])

    def solver(self, *extra: Node) -> z3.Solver:
        """A fresh solver for this system's formulas (and ``extra`` IR predicates), configured
        for their `logic`."""
        logic = self.logic(*extra)
        return z3.SolverFor(logic, ctx=self.ctx) if logic else z3.Solver(ctx=self.ctx)

    def logic(self, *extra: Node) -> str | None:
        """The SMT-LIB logic of this system's formulas (and ``extra`` IR predicates), or None
        for z3's general configuration.

        Linear integer arithmetic gets z3's QF_LIA configuration, which solves deep
        unrollings several times faster than the default; a product of two state terms
        needs the general solver. Certificate files name the same logic (`certificate`).
        """
        return None if any(_nonlinear(n) for n in (*self._nodes(), *extra)) else "QF_LIA"

    def _nodes(self) -> list[Node]:
        s = self.system
        nodes: list[Node] = [a.guard for a in s.actions] + [n for a in s.actions for _, n in a.updates]
        for p in s.properties:
            nodes += [n for n in (p.pred, p.goal, *p.per_action) if n is not None]
        return nodes

    @property
    def has_checks(self) -> bool:
        """Whether some action may compute a value outside its slot's domain."""
        return any(a.checks for a in self.system.actions)

    def pred(self, node: Node) -> z3.BoolRef:
        """An IR state predicate over the current state."""
        return as_bool(translate(node, self.cur, self._memo))

    def value(self, node: Node) -> z3.ExprRef:
        """An IR term over the current state."""
        return translate(node, self.cur, self._memo)

    def in_domain(self, slot: int, e: z3.ExprRef) -> z3.BoolRef:
        d = self.layout.slots[slot].domain
        if d.kind == "bool":
            return z3.BoolVal(True, self.ctx)
        e = as_int(e)
        return z3.And(d.lo <= e, e <= d.hi)

    def _domain(self, state: State) -> z3.BoolRef:
        return self.conj([self.in_domain(i, v) for i, v in enumerate(state)])

    def _initial(self) -> z3.BoolRef:
        def equal(state: tuple[int, ...]) -> z3.BoolRef:
            return self.conj([v == (bool(x) if z3.is_bool(v) else x)
                         for v, x in zip(self.cur, state, strict=True)])

        return self.disj([equal(s) for s in self.system.initial])

    def _escape(self, act: ActionIR) -> z3.BoolRef:
        """The action's checked updates leave their domains (before its guard is considered)."""
        updates = dict(act.updates)
        return self.disj([z3.Not(self.in_domain(s, self.value(updates[s]))) for s in act.checks])

    def _transition(self) -> z3.BoolRef:
        """``T(cur, act, nxt)`` slot by slot: each ``v'`` is the update of the action ``act``
        selects if that action assigns ``v``, else ``v`` (the derived frame condition).

        Equivalent to :meth:`_transition_by_action`, and about ten times faster to solve
        in deep unrollings, because a slot's next value is one term rather than one
        equality per action.
        """
        acts = self.system.actions
        if not acts:
            return z3.BoolVal(False, self.ctx)
        parts = [0 <= self.act, self.act < len(acts)]
        parts += [z3.Implies(self.act == a_i, g) for a_i, g in enumerate(self.guards)
                  if not z3.is_true(g)]
        updates = [dict(a.updates) for a in acts]
        for s, (pre, post) in enumerate(zip(self.cur, self.nxt, strict=True)):
            value = pre
            for a_i in range(len(acts) - 1, -1, -1):
                node = updates[a_i].get(s)
                if node is not None:
                    value = z3.If(self.act == a_i, self._typed(post, node), value)
            parts.append(post == value)
        return self.conj(parts)

    def _transition_by_action(self) -> z3.BoolRef:
        """``T(cur, act, nxt)`` action by action: ``act = a`` implies a's guard, ``v' = update``
        for each slot ``a`` assigns and ``v' = v`` for every other slot."""
        acts = self.system.actions
        if not acts:
            return z3.BoolVal(False, self.ctx)
        cases = []
        for a_i, act in enumerate(acts):
            updates = dict(act.updates)
            post = [nxt == (self._typed(nxt, updates[s]) if s in updates else pre)
                    for s, (pre, nxt) in enumerate(zip(self.cur, self.nxt, strict=True))]
            cases.append(z3.Implies(self.act == a_i, self.conj([self.guards[a_i], *post])))
        return self.conj([0 <= self.act, self.act < len(acts), *cases])

    def _typed(self, post: z3.ExprRef, node: Node) -> z3.ExprRef:
        new = self.value(node)
        return as_bool(new) if z3.is_bool(post) else as_int(new)

    def distinct(self, a: State, b: State) -> z3.BoolRef:
        """The two states differ in some slot (for simple-path constraints)."""
        return self.disj([x != y for x, y in zip(a, b, strict=True)])

    def conj(self, items: list[z3.BoolRef] | tuple[z3.BoolRef, ...]) -> z3.BoolRef:
        """:func:`conj` in this encoding's context."""
        return conj(items, self.ctx)

    def disj(self, items: list[z3.BoolRef] | tuple[z3.BoolRef, ...]) -> z3.BoolRef:
        """:func:`disj` in this encoding's context."""
        return disj(items, self.ctx)

    def blocking_clause(self, cube: list[tuple[z3.ExprRef, int, bool]]) -> z3.BoolRef:
        """``~cube``: each literal is (a state constant, a value, whether it equals or differs)."""
        lits = []
        for x, value, positive in cube:
            atom = (x if value else z3.Not(x)) if z3.is_bool(x) else x == value
            lits.append(atom if positive else z3.Not(atom))
        return z3.Not(self.conj(lits))

    def literal(self, name: str) -> z3.BoolRef:
        """A fresh boolean constant: a selector literal for one query."""
        return z3.Bool(name, self.ctx)


class Unroller:
    """Step-``k`` copies of the encoding's formulas, with a cache of variables and formulas.

    ``at(f, k)`` renames ``cur`` to step ``k``, ``nxt`` to step ``k + 1`` and ``act`` to ``act@k``.
    """

    def __init__(self, enc: Encoding):
        self.enc = enc
        self._states: list[State] = []
        self._acts: list[z3.ArithRef] = []
        self._cache: dict[tuple[int, int], tuple[z3.ExprRef, z3.ExprRef]] = {}
        self._renamings: list[tuple[int, Any, Any]] = []

    def state(self, k: int) -> State:
        while len(self._states) <= k:
            self._states.append(state_vars(self.enc.layout, f"@{len(self._states)}", self.enc.ctx))
        return self._states[k]

    def act(self, k: int) -> z3.ArithRef:
        while len(self._acts) <= k:
            self._acts.append(z3.Int(f"act@{len(self._acts)}", self.enc.ctx))
        return self._acts[k]

    def at(self, formula: z3.ExprRef, k: int) -> z3.ExprRef:
        key = (formula.get_id(), k)
        hit = self._cache.get(key)
        if hit is not None:
            return hit[1]
        n, old, new = self._renaming(k)
        out = _to_expr_ref(z3.Z3_substitute(self.enc.ctx.ref(), formula.as_ast(), n, old, new), self.enc.ctx)
        self._cache[key] = (formula, out)  # the template is kept alive so its id stays unique
        return out

    def _renaming(self, k: int) -> tuple[int, Any, Any]:
        """Step ``k``'s renaming as z3's arrays, made once: ``z3.substitute`` would rebuild them
        and compare every pair's sorts on each call (most of a blocking proof's time at 16
        pages); the sorts agree by construction."""
        while len(self._renamings) <= k:
            j, enc = len(self._renamings), self.enc
            pairs = [*zip(enc.cur, self.state(j), strict=True), *zip(enc.nxt, self.state(j + 1), strict=True),
                     (enc.act, self.act(j))]
            old = (z3.Ast * len(pairs))(*(a.as_ast() for a, _ in pairs))
            new = (z3.Ast * len(pairs))(*(b.as_ast() for _, b in pairs))
            self._renamings.append((len(pairs), old, new))  # the states keep the terms alive
        return self._renamings[k]

    def simple_path(self, k: int) -> z3.BoolRef:
        """Step ``k`` differs from every earlier step."""
        return self.enc.conj([self.enc.distinct(self.state(j), self.state(k)) for j in range(k)])
