"""Bounded model checking: one incremental z3 solver, unrolled depth by depth, with one
selector literal per query, so the first counterexample found is a shortest one.

At depth ``k`` the solver holds ``init(x0)``, the transitions ``T(x_j, act@j, x_{j+1})`` for
``j < k`` and every step's domains. In the explicit engine's order it then asks, under a
fresh selector literal each: a state ``x_k`` that violates an invariant or witnesses a
reachable property (a trace of ``k`` transitions); a step from ``x_k`` that leaves a slot's
domain (verdict ``error`` for every open property, with the trace to ``x_k``); a step from
``x_k`` that violates an action property (``k + 1`` transitions). Every trace is replayed
through the interpreter before it is reported.

Without a counterexample up to the depth, an invariant or action property *holds up to
depth k* (``complete=False``, ``bound=k``): every state reachable in at most ``k`` steps, and
every step from one, was checked. A reachable property is then *not witnessed up to depth
k*: ``inconclusive``. Deadlock is not checked symbolically; the explicit engine does it.

Cost: one SAT/SMT query per open property per depth over a formula linear in the depth.
"""

from __future__ import annotations

from dataclasses import replace

import z3

from migcheck.models.errors import SolverUnknown, TraceMismatch
from migcheck.models.ir import PropertyIR, System

from ..verdict import Verdict
from . import outcome
from .encode import Encoding, Unroller
from .goals import selected, supported, violating_step
from .limits import Deadline

ENGINE = "bmc"
DEFAULT_DEPTH = 25


def bmc(system: System, properties: list[str] | None = None, depth: int = DEFAULT_DEPTH,
        timeout: float | None = None) -> dict[str, Verdict]:
    """Search for counterexamples (and witnesses) of ``properties`` up to ``depth`` transitions.

    >>> from migcheck.models import build
    >>> from migcheck.models.library import bundled
    >>> v = bmc(build(bundled("peterson").variants()["turn-first"]), ["mutual-exclusion"], 10)
    >>> v["mutual-exclusion"].verdict, len(v["mutual-exclusion"].trace)
    ('violated', 8)
    """
    if depth < 0:
        raise ValueError(f"depth must be at least 0, got {depth}")
    return search(system, selected(system, properties), depth, Deadline(timeout), ENGINE)


def search(system: System, props: list[PropertyIR], depth: int | None, deadline: Deadline,
           engine: str, enc: Encoding | None = None) -> dict[str, Verdict]:
    """The depth-by-depth search behind :func:`bmc`; ``depth=None`` searches until every
    property is decided or the deadline passes (for engines that know a counterexample exists)."""
    enc = enc or Encoding(system)
    verdicts: dict[str, Verdict] = {p.name: outcome.unsupported(p, engine) for p in props if not supported(p)}
    all_props, props = props, [p for p in props if supported(p)]
    unroll = Unroller(enc)
    solver = enc.solver()
    solver.add(unroll.at(enc.init, 0), unroll.at(enc.domain, 0))
    state_targets = {p.name: (z3.Not(enc.pred(p.pred)) if p.kind == "invariant" else enc.pred(p.pred))
                     for p in props if p.kind in ("invariant", "reachable")}
    step_targets = {p.name: violating_step(enc, p) for p in props if p.kind == "action"}
    open_props = list(props)
    queries = [0]

    def query(target: z3.BoolRef, label: str, k: int) -> z3.ModelRef | None:
        queries[0] += 1
        lit = enc.literal(f"{label}?@{k}#{queries[0]}")  # the selector literal of this one query
        solver.add(z3.Implies(lit, target))
        model = solver.model() if deadline.check(solver, lit) == z3.sat else None
        solver.add(z3.Not(lit))  # retired: the solver may drop the target's clauses
        return model

    def decide(prop: PropertyIR, verdict: Verdict) -> None:
        verdicts[prop.name] = verdict
        open_props.remove(prop)

    def report(prop: PropertyIR, model: z3.ModelRef, length: int, k: int) -> None:
        st = outcome.stats(k, deadline.lap())
        try:
            trace = outcome.replayed(system, outcome.read_trace(system, unroll, model, length, prop.name))
        except TraceMismatch as exc:
            decide(prop, outcome.failed(prop, engine, f"the z3 trace does not replay ({exc}); "
                                        "this is a bug in the symbolic encoding", st))
            return
        if prop.kind == "reachable":
            decide(prop, outcome.witnessed(prop, engine, trace, st))
        else:
            decide(prop, outcome.violated(prop, engine, trace, st))

    k = 0
    try:
        while open_props and (depth is None or k <= depth):
            if k > 0:
                solver.add(unroll.at(enc.trans, k - 1), unroll.at(enc.domain, k))
            for prop in [p for p in open_props if p.name in state_targets]:
                model = query(unroll.at(state_targets[prop.name], k), prop.name, k)
                if model is not None:
                    report(prop, model, k, k)
            if open_props and enc.has_checks:
                model = query(unroll.at(enc.domain_escape, k), "domain", k)
                if model is not None:
                    _domain_error(system, unroll, model, k, open_props, verdicts, engine, deadline)
                    open_props.clear()
            for prop in [p for p in open_props if p.name in step_targets]:
                step = z3.And(unroll.at(step_targets[prop.name], k), unroll.at(enc.domain, k + 1))
                model = query(step, prop.name, k)
                if model is not None:
                    report(prop, model, k + 1, k)
            k += 1
    except SolverUnknown as exc:
        for prop in list(open_props):
            decide(prop, outcome.inconclusive(prop, engine, f"{exc}; {outcome.covered(prop, k)}",
                                              outcome.stats(k, deadline.lap()),
                                              bound=k - 1 if k > 0 else None))
    for prop in list(open_props):
        decide(prop, outcome.bounded(prop, engine, k - 1, outcome.stats(k - 1, deadline.lap())))
    return {p.name: verdicts[p.name] for p in all_props}


def _domain_error(system: System, unroll: Unroller, model: z3.ModelRef, k: int,
                  open_props: list[PropertyIR], verdicts: dict[str, Verdict], engine: str,
                  deadline: Deadline) -> None:
    """Every open property gets ``error``: a reachable step leaves a slot's domain."""
    st = outcome.stats(k, deadline.lap())
    try:
        trace = outcome.replayed(system, outcome.read_trace(system, unroll, model, k, ""))
        a_i = model.eval(unroll.act(k), model_completion=True).as_long()
        reason = outcome.domain_reason(system, a_i, trace.steps[-1].state)
    except TraceMismatch as exc:
        for prop in open_props:
            verdicts[prop.name] = outcome.failed(prop, engine, f"the z3 trace does not replay ({exc}); "
                                                 "this is a bug in the symbolic encoding", st)
        return
    for prop in open_props:
        verdicts[prop.name] = outcome.domain_error(prop, engine, reason,
                                                   replace(trace, property=prop.name), st)
