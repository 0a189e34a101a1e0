"""What each kind of property asks of a symbolic engine, as z3 formulas over an `Encoding`.

Every property is reduced to a *safe-state predicate* that the proof engines (k-induction,
PDR) show to hold in every reachable state, and to the *target* a bounded search looks for:

============  ===============================  =====================================
kind          safe-state predicate              bounded search target
============  ===============================  =====================================
invariant     ``pred``                          a state where ``pred`` is false
action        ``AND_a guard_a => per_action_a`` a step ``act@k == a`` with
                                                ``not per_action_a`` (pre-state form)
reachable     ``not pred`` ("never")            a state where ``pred`` is true
============  ===============================  =====================================

Proving "never" for a reachable property means it is *not witnessed* (verdict violated,
as the explicit engine says); a path to the target is its witness (verdict holds). The
proof engines always prove the predicate together with `Encoding.domain_safe`, so a proof
also shows that no reachable step leaves a slot's domain.
"""

from __future__ import annotations

import z3

from migcheck.models.errors import ModelNotFound
from migcheck.models.expr import Const, Node
from migcheck.models.ir import PropertyIR, System

from .encode import Encoding


def safe_state(enc: Encoding, prop: PropertyIR) -> z3.BoolRef:
    """The state predicate whose invariance is the property (for reachable: its absence)."""
    if prop.kind == "invariant":
        return enc.pred(prop.pred)
    if prop.kind == "reachable":
        return z3.Not(enc.pred(prop.pred))
    if prop.kind == "action":
        return enc.conj([z3.Implies(enc.guards[a_i], enc.pred(p))
                         for a_i, p in enumerate(prop.per_action) if not _allows_all(p)])
    raise ValueError(f"property '{prop.name}': unknown kind '{prop.kind}'")


def claim(enc: Encoding, prop: PropertyIR) -> z3.BoolRef:
    """What an unbounded proof of ``prop`` must establish: the safe-state predicate and the
    absence of out-of-domain updates."""
    return enc.conj([safe_state(enc, prop), enc.domain_safe])


def conjuncts(formula: z3.BoolRef) -> list[z3.BoolRef]:
    """The top-level conjuncts of a formula (itself if it is not a conjunction)."""
    return list(formula.children()) if z3.is_and(formula) else [formula]


def violating_step(enc: Encoding, prop: PropertyIR) -> z3.BoolRef:
    """A transition (over ``cur``, ``act``, ``nxt``) that violates an action property."""
    return z3.And(enc.trans, enc.disj([z3.And(enc.act == a_i, z3.Not(enc.pred(p)))
                                       for a_i, p in enumerate(prop.per_action) if not _allows_all(p)]))


def _allows_all(node: Node) -> bool:
    """The property's predicate for an action is the constant true: every such step is fine."""
    return isinstance(node, Const) and bool(node.value)


SUPPORTED = ("invariant", "action", "reachable")
DEADLOCK = "deadlock"


def supported(prop: PropertyIR) -> bool:
    """Whether the symbolic engines decide this kind of property (liveness and deadlock are
    left to the explicit engine)."""
    return prop.kind in SUPPORTED


def selected(system: System, names: list[str] | None) -> list[PropertyIR]:
    """The properties named, in the order given; by default every property of a kind the
    symbolic engines decide (invariant, action, reachable).

    A named liveness property, or "deadlock" when the model checks it, is returned too (the
    engines answer it with an ``inconclusive`` verdict saying which engine decides it).
    Raises `ModelNotFound` naming an unknown property and listing the model's.
    """
    if names is None:
        return [p for p in system.properties if supported(p)]
    chosen = []
    for name in names:
        prop = system.property(name)
        if prop is None and name == DEADLOCK and system.check_deadlock:
            prop = PropertyIR(DEADLOCK, DEADLOCK, "a reachable state without successors")
        if prop is None:
            known = [p.name for p in system.properties] + ([DEADLOCK] if system.check_deadlock else [])
            raise ModelNotFound(f"model '{system.model}' has no property '{name}' "
                                f"(properties: {', '.join(known)})")
        chosen.append(prop)
    return chosen
