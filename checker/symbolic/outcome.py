"""Verdicts of the symbolic engines: traces read out of z3 models and replayed through the
IR interpreter before they are reported, and the verdict records themselves."""

from __future__ import annotations

import resource
from typing import Any

import z3

from migcheck.models.errors import TraceMismatch
from migcheck.models.ir import PropertyIR, System

from .. import interpret
from ..trace import Step, Trace
from ..verdict import ERROR, HOLDS, INCONCLUSIVE, VIOLATED, Stats, Verdict
from .encode import State, Unroller


def read_state(model: z3.ModelRef, state: State) -> tuple[int, ...]:
    """The concrete state a z3 model gives to one step's variables (booleans as 0/1)."""
    values = []
    for v in state:
        x = model.eval(v, model_completion=True)
        values.append(int(z3.is_true(x)) if z3.is_bool(v) else x.as_long())
    return tuple(values)


def read_trace(system: System, unroller: Unroller, model: z3.ModelRef, length: int,
               prop: str) -> Trace:
    """The path of ``length`` transitions a z3 model gives, with the actions from ``act@k``."""
    steps = [Step(None, (), None, read_state(model, unroller.state(0)))]
    for k in range(length):
        a_i = model.eval(unroller.act(k), model_completion=True).as_long()
        act = system.actions[a_i]
        steps.append(Step(act.name, act.params, act.owner, read_state(model, unroller.state(k + 1))))
    return Trace(system.instance, prop, tuple(steps))


def replayed(system: System, trace: Trace) -> Trace:
    """``trace`` after it replays through the interpreter; `TraceMismatch` if it does not."""
    interpret.validate(system, trace)
    return trace


def domain_reason(system: System, a_i: int, state: tuple[int, ...]) -> str:
    """The explicit engine's words for action ``a_i`` leaving a slot's domain in ``state``."""
    act = system.actions[a_i]
    updates = dict(act.updates)
    for s in act.checks:
        value = interpret.evaluate(updates[s], state)
        d = system.layout.slots[s].domain
        if not d.lo <= value <= d.hi:
            return (f"action {act.label} sets {system.layout.slots[s].name} to {value}, outside "
                    f"{d.describe()}; add a guard with require(...) or widen the domain")
    raise TraceMismatch(f"action {act.label} stays within its domains in the state z3 gave")


def stats(depth: int, seconds: float) -> Stats:
    """Statistics of a symbolic run: no states are enumerated, so only depth and time count."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return Stats(states=0, transitions=0, depth=depth, seconds=seconds, peak_rss_mib=rss)


def violated(prop: PropertyIR, engine: str, trace: Trace, st: Stats, **extra: Any) -> Verdict:
    return Verdict(prop.name, prop.kind, VIOLATED, engine, True, st, trace=trace, extra=extra)


def witnessed(prop: PropertyIR, engine: str, trace: Trace, st: Stats, **extra: Any) -> Verdict:
    return Verdict(prop.name, prop.kind, HOLDS, engine, True, st, witness=trace, extra=extra)


def domain_error(prop: PropertyIR, engine: str, reason: str, trace: Trace, st: Stats) -> Verdict:
    return Verdict(prop.name, prop.kind, ERROR, engine, False, st, reason=reason, trace=trace)


def bounded(prop: PropertyIR, engine: str, depth: int, st: Stats, **extra: Any) -> Verdict:
    """No counterexample up to ``depth``: holds up to it, or for a witness, inconclusive."""
    if prop.kind == "reachable":
        return Verdict(prop.name, prop.kind, INCONCLUSIVE, engine, False, st, bound=depth,
                       reason=f"not witnessed up to depth {depth}", extra=extra)
    return Verdict(prop.name, prop.kind, HOLDS, engine, False, st, bound=depth, extra=extra)


def proved(prop: PropertyIR, engine: str, st: Stats, **extra: Any) -> Verdict:
    """An unbounded proof whose certificate re-checked: holds, or for a witness, never reached."""
    if prop.kind == "reachable":
        return Verdict(prop.name, prop.kind, VIOLATED, engine, True, st,
                       reason="not witnessed: no reachable state satisfies it (proved)", extra=extra)
    return Verdict(prop.name, prop.kind, HOLDS, engine, True, st, extra=extra)


def covered(prop: PropertyIR, k: int) -> str:
    """What a search stopped after ``k`` complete depths has shown, in words."""
    if k <= 0:
        return "no depth was completed"
    what = "no witness" if prop.kind == "reachable" else "no counterexample"
    return f"{what} up to depth {k - 1}"


def inconclusive(prop: PropertyIR, engine: str, reason: str, st: Stats, bound: int | None = None,
                 **extra: Any) -> Verdict:
    return Verdict(prop.name, prop.kind, INCONCLUSIVE, engine, False, st, bound=bound, reason=reason,
                   extra=extra)


def reached_in_sample(prop: PropertyIR, engine: str, sample: System, st: Stats, why_not: str = "") -> Verdict:
    """A witness asked only to judge vacuity, which the smaller ``sample`` reaches: left
    undecided, saying so. Only a proof that it is unreachable here would change a verdict (to
    vacuous), and searching for it at a larger size may not end (vfio-v2 at 3 devices and 8
    pages)."""
    params = ", ".join(f"{k}={n}" for k, n in sample.params)
    reason = (f"reached in the sample ({params}), not searched for at this size: asked only to judge "
              "vacuity" + (f"; {why_not}" if why_not else ""))
    return inconclusive(prop, engine, reason, st)


def failed(prop: PropertyIR, engine: str, reason: str, st: Stats) -> Verdict:
    """The engine itself went wrong (a trace that does not replay): an error, never a verdict."""
    return Verdict(prop.name, prop.kind, ERROR, engine, False, st, reason=reason)


def unsupported(prop: PropertyIR, engine: str) -> Verdict:
    """Deadlock and liveness are decided by the explicit engine only."""
    what = "deadlock" if prop.kind == "deadlock" else f"liveness ({prop.kind})"
    return Verdict(prop.name, prop.kind, INCONCLUSIVE, engine, False, stats(0, 0.0),
                   reason=f"{what} is not checked by the symbolic engines; use --engine explicit")
