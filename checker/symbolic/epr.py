"""Quantified formulas kept effectively propositional, and evaluated in a finite z3 model.

A verification condition of the proofs for every size is a conjunction whose satisfiability
z3 decides. It stays in the effectively propositional fragment (EPR: after Skolemising its
existentials, only universals remain, and no function maps a quantified sort into one) when
no existential quantifier lies in the scope of a universal one, reading each quantifier with
the polarity it has in the formula. Functions from a quantified sort into the integers keep
finitely many values (the domains bound them), so they are finitely many predicates in
disguise. Such a formula has a model iff it has one whose quantified sorts have at most as
many elements as it has constants of that sort (plus one), which is why z3's model-based
quantifier instantiation terminates on it with sat or unsat.
"""

from __future__ import annotations

import itertools

import z3


def alternation(formula: z3.ExprRef) -> str:
    """Why ``formula`` (asserted, so read positively) leaves EPR, or "" when it does not: an
    existential in the scope of a universal, after polarities are taken into account."""
    seen: set[tuple[int, int, bool]] = set()
    stack: list[tuple[z3.ExprRef, int, bool]] = [(formula, 1, False)]
    while stack:
        e, polarity, under_forall = stack.pop()
        key = (e.get_id(), polarity, under_forall)
        if key in seen:
            continue
        seen.add(key)
        if z3.is_quantifier(e):
            universal = e.is_forall() if polarity == 1 else e.is_exists() if polarity == -1 else None
            if under_forall and universal is not True:
                return f"an existential quantifier over {e.var_sort(0)} inside a universal one"
            if universal is None and _quantified(e.body()):
                return f"a quantifier over {e.var_sort(0)} read both ways holds another quantifier"
            stack.append((e.body(), polarity, under_forall or universal is not False))
            continue
        if not z3.is_app(e):
            continue
        if z3.is_not(e):
            stack.append((e.arg(0), -polarity, under_forall))
        elif z3.is_and(e) or z3.is_or(e):
            stack.extend((c, polarity, under_forall) for c in e.children())
        elif z3.is_implies(e):
            stack.append((e.arg(0), -polarity, under_forall))
            stack.append((e.arg(1), polarity, under_forall))
        else:  # equalities, if-then-else, function arguments: both ways
            stack.extend((c, 0, under_forall) for c in e.children())
    return ""


def _quantified(e: z3.ExprRef) -> bool:
    stack, seen = [e], set()
    while stack:
        x = stack.pop()
        if x.get_id() in seen:
            continue
        seen.add(x.get_id())
        if z3.is_quantifier(x):
            return True
        if z3.is_app(x):
            stack.extend(x.children())
    return False


def expand(formula: z3.ExprRef, model: z3.ModelRef) -> z3.ExprRef:
    """``formula`` with every quantifier replaced by the conjunction (disjunction) of its
    instances over ``model``'s universes: what ``model.eval`` can then decide."""
    memo: dict[int, z3.ExprRef] = {}

    def walk(e: z3.ExprRef) -> z3.ExprRef:
        hit = memo.get(e.get_id())
        if hit is not None:
            return hit
        if z3.is_quantifier(e):
            n = e.num_vars()
            universes = [_universe(model, e.var_sort(i)) for i in range(n)]
            body = e.body()
            combos = itertools.product(*universes)
            cases = [walk(z3.substitute_vars(body, *reversed(combo))) for combo in combos]
            out = z3.And(*cases) if e.is_forall() else z3.Or(*cases)
        elif z3.is_app(e) and e.num_args() > 0:
            out = e.decl()(*[walk(c) for c in e.children()])
        else:
            out = e
        memo[e.get_id()] = out
        return out

    return walk(formula)


def _universe(model: z3.ModelRef, sort: z3.SortRef) -> list[z3.ExprRef]:
    u = model.get_universe(sort) if sort.kind() == z3.Z3_UNINTERPRETED_SORT else None
    if u is not None and len(u):
        return list(u)
    if sort.kind() == z3.Z3_BOOL_SORT:
        return [z3.BoolVal(False, sort.ctx), z3.BoolVal(True, sort.ctx)]
    return [model.eval(z3.Const("!any", sort), model_completion=True)]


def holds_in(model: z3.ModelRef, formula: z3.BoolRef) -> bool:
    """Whether ``formula`` is true in ``model`` (quantifiers over its finite universes)."""
    return z3.is_true(model.eval(expand(formula, model), model_completion=True))
