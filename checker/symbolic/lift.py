"""A traced model lifted to every size of its ``any`` index sets: the first-order system that
the quantified proofs (`anysize`) reason about.

Each index set given as ``any`` becomes an uninterpreted z3 sort; an array over it becomes a
function of that sort (``mapped: page -> Bool``); a reference to it becomes a constant of the
sort with a null flag (``buf[0]``, ``buf[0].none``); an action parameter over it becomes a
constant of the sort, one per step. Everything else keeps the encoding of `encode`.

The first-order system is read off the model traced at small sizes, using the symmetry of
the set (checked by `checker/symmetry.py` first). At size ``n`` (two more elements than any
action names at once), an action instance whose parameters name pages ``P`` treats every
other page alike, so:

- a conjunction (disjunction) whose terms each mention one page outside ``P``, one term per
  such page and the same term up to renaming, is ``forall x not in P`` (``exists``) of it;
- the update of an array at the pages outside ``P`` is one term of ``x``; at ``p in P`` its own;
- the instance with the parameters numbered in order of first use (``p = 0``, then ``q = 0``
  or ``q = 1``) stands for every instance with the same pattern of equal parameters.

Anything else that mentions a page outside ``P`` (a count or sum over the pages, a condition
on two pages at once, a reference stored in an array over its own set) is refused with a
message naming the action or property and the construct. The model is lifted at sizes ``n``
and ``n + 1`` and the two first-order systems must be identical: a model whose Python code
uses the number of pages (a bound ``Int(0, "pages")``, ``len(s.pages)``) reads differently at
the two sizes and is refused. What is assumed beyond that: the model's Python code does not
branch on the size of the set in ways these two sizes cannot show (see the README).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import z3

from migcheck.models.domains import Domain
from migcheck.models.errors import MigcheckError
from migcheck.models.expr import Const, Node, Op, Slot
from migcheck.models.ir import PropertyIR, System
from migcheck.models.operators import OPERATORS

from ..symmetry import Symmetry, SymmetryRefused
from .encode import as_bool, as_int, conj, disj
from .goals import _allows_all

Element = tuple[str, int]  # (any set, element number at the tracing size)
Instance = Callable[[dict[str, int]], System]  # the model traced with the any sets at these sizes


class LiftRefused(MigcheckError):
    """The model cannot be stated for every size of an ``any`` set; the message says why."""


@dataclass
class StepState:
    """The z3 symbols of one step (or of the template, suffix ``""``)."""

    suffix: str
    scalars: dict[str, z3.ExprRef]
    refs: dict[str, tuple[z3.ExprRef, z3.BoolRef | None]]  # element, null flag (None: never null)
    arrays: dict[str, z3.FuncDeclRef]
    act: z3.ArithRef


@dataclass(frozen=True)
class LiftedAction:
    """One action instance standing for every renaming of its parameters over the any sets."""

    index: int  # the canonical instance in the tracing system
    label: str  # the instance's label without its any-set parameters: ``refill(i=0)``
    key: tuple  # the same at every tracing size: name, other parameters, pattern of equal ones
    params: tuple[tuple[str, str, int], ...]  # (argument, set, element) for each distinct element


class Signature:
    """The sorts and state symbols of the first-order system (the same at every tracing size)."""

    def __init__(self, system: System, sets: tuple[str, ...], ctx: z3.Context):
        self.ctx, self.sets = ctx, sets
        self.sorts = {k: z3.DeclareSort(k, ctx) for k in sets}
        arrays_of = dict(system.symmetric)
        missing = [k for k in sets if k not in arrays_of]
        if missing:
            raise LiftRefused(f"{system.model}: '{missing[0]}=any' needs the index set to be declared "
                              "symmetric=True (its elements interchangeable)")
        self.arrays: dict[str, tuple[str, Domain]] = {}
        self.scalars: dict[str, Domain] = {}
        self.refs: dict[str, tuple[str, bool]] = {}
        cells = {v.name: k for k in sets for v in system.layout.vars if v.name in arrays_of[k]}
        for v in system.layout.vars:
            if v.name in cells:
                d = v.domain
                if d.kind == "ref" and d.of in sets:
                    raise LiftRefused(f"{system.model}: '{v.name}' is an array over {cells[v.name]} holding "
                                      f"references to {d.of}: a function from one quantified sort into "
                                      "another leaves the decidable fragment")
                self.arrays[v.name] = (cells[v.name], d)
        for s in system.layout.slots:
            if s.var in cells:
                continue
            if s.domain.kind == "ref" and s.domain.of in sets:
                self.refs[s.name] = (s.domain.of, s.domain.none)
            else:
                self.scalars[s.name] = s.domain
        self._states: dict[str, StepState] = {}

    def state(self, suffix: str) -> StepState:
        """The symbols of the step named by ``suffix`` (``""``: the template; ``"@0"``, ``"@1"``)."""
        hit = self._states.get(suffix)
        if hit is None:
            ctx = self.ctx
            scalars = {n: z3.Bool(n + suffix, ctx) if d.kind == "bool" else z3.Int(n + suffix, ctx)
                       for n, d in self.scalars.items()}
            refs = {n: (z3.Const(n + suffix, self.sorts[k]),
                        z3.Bool(f"{n}.none{suffix}", ctx) if none else None)
                    for n, (k, none) in self.refs.items()}
            arrays = {n: z3.Function(n + suffix, self.sorts[k],
                                     z3.BoolSort(ctx) if d.kind == "bool" else z3.IntSort(ctx))
                      for n, (k, d) in self.arrays.items()}
            hit = StepState(suffix, scalars, refs, arrays, z3.Int("act" + suffix, ctx))
            self._states[suffix] = hit
        return hit

    def at(self, formula: z3.ExprRef, suffix: str) -> z3.ExprRef:
        """A template formula (suffix ``""``) over the step named by ``suffix``."""
        src, dst = self.state(""), self.state(suffix)
        pairs = [(src.scalars[n], dst.scalars[n]) for n in src.scalars]
        for n, (e, null) in src.refs.items():
            pairs.append((e, dst.refs[n][0]))
            if null is not None:
                pairs.append((null, dst.refs[n][1]))
        out = z3.substitute(formula, *pairs) if pairs else formula
        funs = [(f, dst.arrays[n](z3.Var(0, f.domain(0)))) for n, f in src.arrays.items()]
        return z3.substitute_funs(out, *funs) if funs else out

    def domain(self, st: StepState) -> z3.BoolRef:
        """Every scalar and array element within its domain."""
        parts = [z3.And(d.lo <= st.scalars[n], st.scalars[n] <= d.hi)
                 for n, d in self.scalars.items() if d.kind != "bool"]
        for n, (k, d) in self.arrays.items():
            if d.kind != "bool":
                x = z3.Const(f"{k}!d", self.sorts[k])
                parts.append(z3.ForAll([x], z3.And(d.lo <= st.arrays[n](x), st.arrays[n](x) <= d.hi)))
        return conj(parts, self.ctx)


@dataclass
class _Scope:
    """What a term is lifted under: the step's symbols, the elements named (action parameters,
    quantified variables) and where it comes from, for messages."""

    st: StepState
    env: dict[Element, z3.ExprRef]
    where: str
    memo: dict[int, tuple[Node, z3.ExprRef]] = field(default_factory=dict)

    def bind(self, key: Element, var: z3.ExprRef) -> _Scope:
        return _Scope(self.st, {**self.env, key: var}, self.where)


class Lifter:
    """Reads one traced system (the any sets at small sizes) as first-order formulas."""

    def __init__(self, sig: Signature, system: System, arg_sets: dict[str, tuple[str, ...]]):
        self.sig, self.system = sig, system
        self.sizes = {k: dict(system.params)[k] for k in sig.sets}
        # slot index -> ("scalar", name) | ("cell", array, set, element) | ("ref", name, set, null value)
        self.kind: dict[int, tuple] = {}
        for i, s in enumerate(system.layout.slots):
            if s.var in sig.arrays:
                self.kind[i] = ("cell", s.var, sig.arrays[s.var][0], s.element)
            elif s.name in sig.refs:
                none = s.domain.hi if s.domain.none else None
                self.kind[i] = ("ref", s.name, s.domain.of, none)
            else:
                self.kind[i] = ("scalar", s.name)
        self._mentions: dict[tuple[int, str | None], tuple[Node, frozenset[Element]]] = {}
        self.actions = _canonical(system, arg_sets, self.sizes)

    # ------------------------------------------------------------ which elements a node names

    def ref_set(self, node: Node) -> str | None:
        if isinstance(node, Slot):
            k = self.kind[node.index]
            return k[2] if k[0] == "ref" else None
        if isinstance(node, Op) and node.op == "ite":
            return self.ref_set(node.args[1]) or self.ref_set(node.args[2])
        return None

    def mentions(self, node: Node, ref: str | None = None) -> frozenset[Element]:
        """The elements a node names: array cells it reads, constants a reference meets."""
        key = (id(node), ref)
        hit = self._mentions.get(key)
        if hit is not None and hit[0] is node:
            return hit[1]
        out: frozenset[Element] = frozenset()
        if isinstance(node, Slot):
            k = self.kind[node.index]
            if k[0] == "cell":
                out = frozenset({(k[2], k[3])})
        elif isinstance(node, Const):
            if ref is not None and node.value < self.sizes[ref]:
                out = frozenset({(ref, node.value)})
        elif node.op in ("eq", "ne"):
            r = self.ref_set(node.args[0]) or self.ref_set(node.args[1])
            out = frozenset().union(*(self.mentions(a, r) for a in node.args))
        elif node.op == "ite":
            r = ref or self.ref_set(node)
            c, a, b = node.args
            out = self.mentions(c) | self.mentions(a, r) | self.mentions(b, r)
        else:
            out = frozenset().union(*(self.mentions(a) for a in node.args))
        self._mentions[key] = (node, out)
        return out

    # ------------------------------------------------------------ terms

    def pred(self, node: Node, scope: _Scope) -> z3.BoolRef:
        return as_bool(self.term(node, scope))

    def term(self, node: Node, scope: _Scope) -> z3.ExprRef:
        hit = scope.memo.get(id(node))
        if hit is not None and hit[0] is node:
            return hit[1]
        out = self._term(node, scope)
        scope.memo[id(node)] = (node, out)
        return out

    def _term(self, node: Node, scope: _Scope) -> z3.ExprRef:
        ctx = self.sig.ctx
        if isinstance(node, Const):
            return z3.BoolVal(bool(node.value), ctx) if node.is_bool else z3.IntVal(node.value, ctx)
        if isinstance(node, Slot):
            k = self.kind[node.index]
            if k[0] == "scalar":
                return scope.st.scalars[k[1]]
            if k[0] == "ref":
                raise LiftRefused(f"{scope.where}: the reference '{k[1]}' is used as a number; references "
                                  "to an 'any' set may only be compared or assigned")
            if (k[2], k[3]) not in scope.env:
                raise LiftRefused(f"{scope.where}: reads {k[1]}[{k[3]}] outside a conjunction or "
                                  f"disjunction over every {k[2]} (a count or sum over the {k[2]}s has "
                                  "no first-order form for every size)")
            return scope.st.arrays[k[1]](scope.env[k[2], k[3]])
        if node.op in ("and", "or"):
            return self._over_elements(node, scope)
        if node.op in ("eq", "ne"):
            r = self.ref_set(node.args[0]) or self.ref_set(node.args[1])
            if r is not None:
                same = self._ref_equal(self.ref(node.args[0], scope, r), self.ref(node.args[1], scope, r))
                return same if node.op == "eq" else z3.Not(same)
        if node.op == "ite" and self.ref_set(node) is not None:
            raise LiftRefused(f"{scope.where}: a reference chosen by ite() is used as a number")
        return OPERATORS[node.op].z3(z3, [self.term(a, scope) for a in node.args])

    def _over_elements(self, node: Op, scope: _Scope) -> z3.BoolRef:
        """``and``/``or`` with its terms over the unnamed elements folded into quantifiers."""
        ctx = self.sig.ctx
        direct: list[z3.BoolRef] = []
        groups: dict[tuple[str, int], tuple[z3.BoolRef, z3.ExprRef, set[int]]] = {}
        several: list[Node] = []
        for a in node.args:
            free = self.mentions(a) - scope.env.keys()
            if not free:
                direct.append(as_bool(self.term(a, scope)))
            elif len(free) > 1:
                several.append(a)
            else:
                ((k, j),) = free
                var = self._var(k, scope)
                body = as_bool(self.term(a, scope.bind((k, j), var)))
                groups.setdefault((k, body.get_id()), (body, var, set()))[2].add(j)
        for a in self._pivoted(several, scope, groups):  # a nested and/or over the unnamed elements
            direct.append(as_bool(self.term(a, scope)))
        for (k, _), (body, var, js) in groups.items():
            unnamed = {j for j in range(self.sizes[k]) if (k, j) not in scope.env}
            if js != unnamed:
                raise LiftRefused(f"{scope.where}: a conjunction or disjunction treats the {k}s unevenly "
                                  f"(a term for {k} {sorted(js)} of {sorted(unnamed)}); it is not a "
                                  f"statement about every {k}")
            named = [e for (k2, _), e in scope.env.items() if k2 == k]
            apart = conj([var != e for e in named], ctx)
            if node.op == "and":
                direct.append(z3.ForAll([var], z3.Implies(apart, body) if named else body))
            else:
                direct.append(z3.Exists([var], conj([apart, body], ctx)))
        return conj(direct, ctx) if node.op == "and" else disj(direct, ctx)

    def _var(self, k: str, scope: _Scope) -> z3.ExprRef:
        return z3.Const(f"{k}!{len(scope.env)}", self.sig.sorts[k])

    def _pivoted(self, terms: list[Node], scope: _Scope,
                 groups: dict[tuple[str, int], tuple[z3.BoolRef, z3.ExprRef, set[int]]]) -> list[Node]:
        """Terms that each mention several unnamed elements but are one term about each element
        of a set (``implies(stopped(d), all_(... for e != d))`` for every ``d``): grouped into
        ``groups`` by the element they are about. Returns the terms left over."""
        left = list(terms)
        for k in self.sizes:
            unnamed = {j for j in range(self.sizes[k]) if (k, j) not in scope.env}
            if len(left) < len(unnamed):
                continue
            var = self._var(k, scope)
            readings: dict[int, list[tuple[int, int, z3.BoolRef]]] = {}  # body id -> (term, element, body)
            for t, a in enumerate(left):
                for kk, j in sorted(self.mentions(a) - scope.env.keys()):
                    if kk != k:
                        continue
                    try:
                        body = as_bool(self.term(a, scope.bind((k, j), var)))
                    except LiftRefused:
                        continue
                    readings.setdefault(body.get_id(), []).append((t, j, body))
            for cases in readings.values():
                chosen: dict[int, int] = {}  # element -> term
                for t, j, _ in cases:
                    if j not in chosen and t not in chosen.values():
                        chosen[j] = t
                if set(chosen) == unnamed:
                    body = cases[0][2]
                    groups[k, body.get_id()] = (body, var, set(unnamed))
                    left = [a for t, a in enumerate(left) if t not in chosen.values()]
                    break
        return left

    def ref(self, node: Node, scope: _Scope, of: str) -> tuple[z3.ExprRef | None, z3.BoolRef]:
        """A reference as (element or None for null, whether it is null)."""
        ctx = self.sig.ctx
        if isinstance(node, Slot):
            k = self.kind[node.index]
            if k[0] != "ref":
                raise LiftRefused(f"{scope.where}: compares a reference with a number")
            elem, null = scope.st.refs[k[1]]
            return elem, null if null is not None else z3.BoolVal(False, ctx)
        if isinstance(node, Const):
            if node.value >= self.sizes[of]:
                return None, z3.BoolVal(True, ctx)
            if (of, node.value) not in scope.env:
                raise LiftRefused(f"{scope.where}: names {of} {node.value}, which no parameter stands for")
            return scope.env[of, node.value], z3.BoolVal(False, ctx)
        if node.op == "ite":
            c = self.pred(node.args[0], scope)
            (ea, na), (eb, nb) = (self.ref(a, scope, of) for a in node.args[1:])
            elem = eb if ea is None else ea if eb is None else z3.If(c, ea, eb)
            return elem, z3.simplify(z3.If(c, na, nb))
        raise LiftRefused(f"{scope.where}: '{node.op}' applied to a reference")

    def _ref_equal(self, a: tuple[z3.ExprRef | None, z3.BoolRef], b: tuple[z3.ExprRef | None, z3.BoolRef]
                   ) -> z3.BoolRef:
        (ea, na), (eb, nb) = a, b
        if ea is None:
            return nb
        if eb is None:
            return na
        both = z3.And(z3.Not(na), z3.Not(nb), ea == eb)
        return z3.simplify(z3.Or(z3.And(na, nb), both))


    # ------------------------------------------------------------ actions

    def guard(self, la: LiftedAction, st: StepState, env: dict[Element, z3.ExprRef]) -> z3.BoolRef:
        """The action's guard; parameters over the same set that the instance numbers apart are
        distinct elements."""
        act = self.system.actions[la.index]
        by_set = [[e for (k2, _), e in env.items() if k2 == k] for k in self.sizes]
        apart = [z3.Distinct(*es) for es in by_set if len(es) > 1]
        return conj([*apart, self.pred(act.guard, _Scope(st, env, f"action {act.label}"))], self.sig.ctx)

    def updates(self, la: LiftedAction, st: StepState, env: dict[Element, z3.ExprRef]) -> Updates:
        """What the action assigns: scalars, references, and each array at its named elements
        and (as a term of one quantified variable) at every other element."""
        act = self.system.actions[la.index]
        scope = _Scope(st, env, f"action {act.label}")
        new = dict(act.updates)
        out = Updates({}, {}, {})
        by_array: dict[str, list[int]] = {}
        for i, node in new.items():
            k = self.kind[i]
            if k[0] == "scalar":
                value = self.term(node, scope)
                out.scalars[k[1]] = as_bool(value) if self.sig.scalars[k[1]].kind == "bool" else as_int(value)
            elif k[0] == "ref":
                out.refs[k[1]] = self.ref(node, scope, k[2])
            else:
                by_array.setdefault(k[1], [])
        for i, k in self.kind.items():
            if k[0] == "cell" and k[1] in by_array:
                by_array[k[1]].append(i)
        for name, cells in by_array.items():
            out.arrays[name] = self._array_update(name, cells, new, scope)
        return out

    def _array_update(self, name: str, cells: list[int], new: dict[int, Node], scope: _Scope
                      ) -> tuple[dict[Element, z3.ExprRef], z3.ExprRef | None, z3.ExprRef]:
        k, d = self.sig.arrays[name]
        x = z3.Const(f"{k}!u", self.sig.sorts[k])
        typed = as_bool if d.kind == "bool" else as_int
        named: dict[Element, z3.ExprRef] = {}
        generic: z3.ExprRef | None = None
        for i in cells:
            key = (k, self.kind[i][3])
            node = new.get(i, Slot(i))
            if key in scope.env:
                named[key] = typed(self.term(node, scope))
                continue
            body = typed(self.term(node, scope.bind(key, x)))
            if generic is not None and not generic.eq(body):
                raise LiftRefused(f"{scope.where}: updates '{name}' differently at two {k}s it does not "
                                  "name; not an update of every element alike")
            generic = body
        return named, generic, x

    def escape(self, la: LiftedAction, st: StepState, env: dict[Element, z3.ExprRef]) -> z3.BoolRef:
        """Some checked update of the action leaves its slot's domain."""
        act = self.system.actions[la.index]
        if not act.checks:
            return z3.BoolVal(False, self.sig.ctx)
        up = self.updates(la, st, env)
        outside = []
        for i in act.checks:
            k = self.kind[i]
            if k[0] == "scalar":
                outside.append(z3.Not(_within(self.sig.scalars[k[1]], up.scalars[k[1]])))
            elif k[0] == "cell":
                named, generic, x = up.arrays[k[1]]
                d = self.sig.arrays[k[1]][1]
                if (k[2], k[3]) in env:
                    outside.append(z3.Not(_within(d, named[k[2], k[3]])))
                elif generic is not None:  # at an element the action does not name
                    apart = [x != e for (k2, _), e in env.items() if k2 == k[2]]
                    outside.append(z3.Exists([x], conj([*apart, z3.Not(_within(d, generic))], self.sig.ctx)))
        return disj(outside, self.sig.ctx)

    def safe_state(self, prop: PropertyIR, st: StepState) -> z3.BoolRef:
        """`goals.safe_state` for every size: action properties quantify over the parameters."""
        where = f"property {prop.name}"
        if prop.kind == "invariant":
            return self.pred(prop.pred, _Scope(st, {}, where))
        if prop.kind == "reachable":
            return z3.Not(self.pred(prop.pred, _Scope(st, {}, where)))
        parts = []
        for la in self.actions:
            node = prop.per_action[la.index]
            if _allows_all(node):
                continue
            env = _param_consts(self.sig, la, "")
            scope = _Scope(st, env, f"{where} on action {self.system.actions[la.index].label}")
            holds = z3.Implies(self.guard(la, st, env), self.pred(node, scope))
            parts.append(_forall(list(env.values()), holds))
        return conj(parts, self.sig.ctx)

    def domain_safe(self, st: StepState) -> z3.BoolRef:
        """No enabled action leaves a domain (`Encoding.domain_safe`), for every parameter."""
        parts = []
        for la in self.actions:
            if not self.system.actions[la.index].checks:
                continue
            env = _param_consts(self.sig, la, "")
            parts.append(_forall(list(env.values()),
                                 z3.Implies(self.guard(la, st, env), z3.Not(self.escape(la, st, env)))))
        return conj(parts, self.sig.ctx)

    def init(self, st: StepState) -> z3.BoolRef:
        """The initial state: every element of an array alike, every reference null."""
        (state,) = self.system.initial if len(self.system.initial) == 1 else (None,)
        if state is None:
            raise LiftRefused(f"{self.system.model}: several initial states are not supported with 'any'")
        ctx = self.sig.ctx
        parts: list[z3.BoolRef] = []
        first: dict[str, int] = {}
        for i, k in self.kind.items():
            v = state[i]
            if k[0] == "scalar":
                sym = st.scalars[k[1]]
                parts.append(sym == (bool(v) if z3.is_bool(sym) else v))
            elif k[0] == "ref":
                if v != k[3]:
                    raise LiftRefused(f"{self.system.model}: '{k[1]}' starts at a particular {k[2]}; "
                                      "with 'any' it must start as None")
                parts.append(st.refs[k[1]][1])
            elif first.setdefault(k[1], v) != v:
                raise LiftRefused(f"{self.system.model}: '{k[1]}' starts with different values at different "
                                  f"{k[2]}s")
        for name, v in first.items():
            k, d = self.sig.arrays[name]
            x = z3.Const(f"{k}!i", self.sig.sorts[k])
            f = st.arrays[name]
            parts.append(z3.ForAll([x], f(x) == (bool(v) if d.kind == "bool" else v)))
        return conj(parts, ctx)


@dataclass
class Updates:
    """An action's assignments in first-order form (see `Lifter.updates`)."""

    scalars: dict[str, z3.ExprRef]
    refs: dict[str, tuple[z3.ExprRef | None, z3.BoolRef]]
    arrays: dict[str, tuple[dict[Element, z3.ExprRef], z3.ExprRef | None, z3.ExprRef]]


def _within(d: Domain, value: z3.ExprRef) -> z3.BoolRef:
    return z3.BoolVal(True, value.ctx) if d.kind == "bool" else z3.And(d.lo <= value, value <= d.hi)


def _forall(consts: list[z3.ExprRef], body: z3.BoolRef) -> z3.BoolRef:
    return z3.ForAll(consts, body) if consts else body


def _param_consts(sig: Signature, la: LiftedAction, suffix: str) -> dict[Element, z3.ExprRef]:
    """The constants standing for the action's parameters over the any sets. One action fires
    per step, so every action shares them (``pages.0@0``): fewer constants of a sort, a smaller
    universe in z3's models."""
    return {(k, v): z3.Const(f"{k}.{v}{suffix}", sig.sorts[k]) for _, k, v in la.params}


def _canonical(system: System, arg_sets: dict[str, tuple[str, ...]], sizes: dict[str, int]
               ) -> list[LiftedAction]:
    """The action instances whose any-set parameters are numbered in order of first use: each
    stands for every instance with the same pattern of equal parameters."""
    out = []
    for a_i, act in enumerate(system.actions):
        sets = arg_sets[act.name]
        used: dict[str, list[int]] = {}
        canonical = True
        params: list[tuple[str, str, int]] = []
        for (arg, value), k in zip(act.params, sets, strict=True):
            if k not in sizes:
                continue
            seen = used.setdefault(k, [])
            if value not in seen:
                canonical = canonical and value == len(seen)
                seen.append(value)
                params.append((arg, k, value))
        if not canonical:
            continue
        plain = tuple((arg, v) for (arg, v), k in zip(act.params, sets, strict=True) if k not in sizes)
        pattern = tuple((arg, v) for (arg, v), k in zip(act.params, sets, strict=True) if k in sizes)
        label = act.name + (f"({', '.join(f'{a}={v}' for a, v in plain)})" if plain else "")
        out.append(LiftedAction(a_i, label, (act.name, plain, pattern), tuple(params)))
    return out


def tracing_sizes(arg_sets: dict[str, tuple[str, ...]], sets: tuple[str, ...]) -> dict[str, int]:
    """Two more elements of each any set than any action names at once: a term over one unnamed
    element is then told apart from a conjunction over all of them."""
    return {k: 2 + max((sum(1 for s in v if s == k) for v in arg_sets.values()), default=0) for k in sets}


class FirstOrder:
    """The first-order system of a model whose ``sets`` are ``any``: lifted at the tracing sizes
    and checked to read the same one element larger (see the module docstring).

    ``instance`` traces the model with the any sets at the sizes given (the other parameters
    fixed); ``arg_sets`` names, per action, the index set of each of its parameters.
    Raises `LiftRefused` naming the construct that has no first-order form.
    """

    def __init__(self, instance: Instance, sets: tuple[str, ...], arg_sets: dict[str, tuple[str, ...]],
                 properties: list[str] | None = None, ctx: z3.Context | None = None):
        self.instance, self.sets = instance, sets
        sizes = tracing_sizes(arg_sets, sets)
        small, large = instance(sizes), instance({k: n + 1 for k, n in sizes.items()})
        if properties is None:
            properties = [p.name for p in small.properties if p.kind in ("invariant", "action", "reachable")]
        self.system = small
        self.sig = Signature(small, sets, ctx or z3.Context())
        self.lifter = Lifter(self.sig, small, arg_sets)
        self.actions = self.lifter.actions
        self._same(self.lifter, Lifter(self.sig, large, arg_sets), properties)
        for system in (small, large):  # the lifting reads one instance for its whole orbit
            try:
                Symmetry.of(system, properties)
            except SymmetryRefused as exc:
                raise LiftRefused(f"'any' needs interchangeable elements: {exc}") from None

    def _same(self, a: Lifter, b: Lifter, properties: list[str] | None) -> None:
        """Refuse unless ``a`` and ``b`` (the model at two sizes) give the same formulas."""
        st = self.sig.state("")
        sizes = " and ".join(f"{k}={a.sizes[k]} and {b.sizes[k]}" for k in self.sets)

        def differ(what: str) -> LiftRefused:
            return LiftRefused(f"{self.system.model}: {what} reads differently at {sizes}: the model "
                               "depends on the number of elements (a bound or a Python value computed "
                               "from it), so no statement for every size follows")

        if [la.key for la in a.actions] != [la.key for la in b.actions]:
            raise differ("the set of actions")
        if not a.init(st).eq(b.init(st)):
            raise differ("the initial state")
        for la, lb in zip(a.actions, b.actions, strict=True):
            env = _param_consts(self.sig, la, "")
            ua, ub = a.updates(la, st, env), b.updates(lb, st, env)
            same = (a.guard(la, st, env).eq(b.guard(lb, st, env)) and _same_updates(ua, ub)
                    and a.escape(la, st, env).eq(b.escape(lb, st, env)))
            if not same:
                raise differ(f"action {la.label}")
        for p in a.system.properties:
            if p.name in properties:
                if not a.safe_state(p, st).eq(b.safe_state(b.system.property(p.name), st)):
                    raise differ(f"property {p.name}")

    # ------------------------------------------------------------ formulas

    def init(self, st: StepState) -> z3.BoolRef:
        return self.lifter.init(st)

    def domain(self, st: StepState) -> z3.BoolRef:
        return self.sig.domain(st)

    def claim(self, prop: PropertyIR, st: StepState) -> z3.BoolRef:
        """`goals.claim` for every size: the safe-state predicate and no step out of a domain."""
        return conj([self.lifter.safe_state(prop, st), self.lifter.domain_safe(st)], self.sig.ctx)

    def trans(self, st0: StepState, st1: StepState) -> z3.BoolRef:
        """``T(st0, act, params, st1)`` slot by slot, as `Encoding.trans`; an array's next value
        is one quantified equation: ``forall x. f'(x) = (the update of the action act selects)``."""
        sig, lf, ctx = self.sig, self.lifter, self.sig.ctx
        act = st0.act
        parts = [0 <= act, act < len(self.actions)]
        envs = [_param_consts(sig, la, st0.suffix) for la in self.actions]
        ups = [lf.updates(la, st0, env) for la, env in zip(self.actions, envs, strict=True)]
        for a_i, (la, env) in enumerate(zip(self.actions, envs, strict=True)):
            parts.append(z3.Implies(act == a_i, lf.guard(la, st0, env)))
        order = range(len(self.actions) - 1, -1, -1)
        for n in sig.scalars:
            value = st0.scalars[n]
            for a_i in order:
                if n in ups[a_i].scalars:
                    value = z3.If(act == a_i, ups[a_i].scalars[n], value)
            parts.append(st1.scalars[n] == value)
        for n, (elem, null) in st0.refs.items():
            e_value, n_value = elem, null
            for a_i in order:
                if n in ups[a_i].refs:
                    e, nl = ups[a_i].refs[n]
                    if e is not None:
                        e_value = z3.If(act == a_i, e, e_value)
                    if null is not None:
                        n_value = z3.If(act == a_i, nl, n_value)
            parts.append(st1.refs[n][0] == e_value)
            if null is not None:
                parts.append(st1.refs[n][1] == n_value)
        for n, f0 in st0.arrays.items():
            k = sig.arrays[n][0]
            x = z3.Const(f"{k}!t", sig.sorts[k])
            value = f0(x)
            for a_i in order:
                if n not in ups[a_i].arrays:
                    continue
                named, generic, xa = ups[a_i].arrays[n]
                body = f0(x) if generic is None else z3.substitute(generic, (xa, x))
                for key, v in named.items():
                    body = z3.If(x == envs[a_i][key], v, body)
                value = z3.If(act == a_i, body, value)
            parts.append(z3.ForAll([x], st1.arrays[n](x) == value))
        return conj(parts, ctx)

    # ------------------------------------------------------------ models as concrete states

    def concrete(self, model: z3.ModelRef, st: StepState) -> tuple[System, tuple[int, ...]]:
        """The state a z3 model gives to step ``st``, in the model traced at the size of the
        model's universe of each set (element ``j`` is the ``j``-th element of the universe)."""
        universe = {}
        for k, sort in self.sig.sorts.items():
            u = model.get_universe(sort)
            universe[k] = list(u) if u is not None and len(u) else [
                model.eval(z3.Const(f"{k}!any", sort), model_completion=True)]
        system = self.instance({k: len(u) for k, u in universe.items()})
        values = []
        for s in system.layout.slots:
            if s.var in st.arrays:
                x = model.eval(st.arrays[s.var](universe[self.sig.arrays[s.var][0]][s.element]),
                               model_completion=True)
            elif s.name in st.refs:
                elem, null = st.refs[s.name]
                if null is not None and z3.is_true(model.eval(null, model_completion=True)):
                    values.append(s.domain.hi)
                    continue
                e = model.eval(elem, model_completion=True)
                values.append(next(j for j, u in enumerate(universe[s.domain.of]) if u.eq(e)))
                continue
            else:
                x = model.eval(st.scalars[s.name], model_completion=True)
            values.append(int(z3.is_true(x)) if z3.is_bool(x) else x.as_long())
        return system, tuple(values)


def _same_updates(a: Updates, b: Updates) -> bool:
    def same(x: object, y: object) -> bool:
        if isinstance(x, z3.ExprRef) and isinstance(y, z3.ExprRef):
            return x.eq(y)
        if isinstance(x, (tuple, list)) and isinstance(y, (tuple, list)):
            return len(x) == len(y) and all(same(p, q) for p, q in zip(x, y, strict=True))
        if isinstance(x, dict) and isinstance(y, dict):
            return x.keys() == y.keys() and all(same(x[k], y[k]) for k in x)
        return x is None and y is None

    return same(a.scalars, b.scalars) and same(a.refs, b.refs) and same(a.arrays, b.arrays)
