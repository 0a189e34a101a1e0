"""Is a trace a counterexample to the property it is labelled with? The model's answer,
from the IR interpreter alone, before anything concrete runs.

A trace is one only when its steps are a run of the model (`interpret.validate`: actions,
parameters, owners, states, and a lasso's loop closing fairly) and the run violates the
property:

- ``invariant``: false in the last state;
- ``action``: false on the last step;
- ``eventually q``: a lasso (``loop`` set) whose every state, stem and loop, is a not-q state;
- ``leads_to(p, q)``: a lasso with a p-state after which (the loop included) no state is a q-state;
- ``deadlock``: the last state has no successor and is not a final state.

A ``reachable`` property's trace is a witness, not a violation. Anything else raises
`TraceMismatch` with one line naming the step or the property that does not hold.
"""

from __future__ import annotations

from migcheck.models.errors import TraceError, TraceMismatch
from migcheck.models.ir import PropertyIR, System
from migcheck.models.operators import evaluate

from . import interpret
from .explicit import DEADLOCK
from .liveness import LIVENESS
from .trace import Trace


def check_counterexample(system: System, trace: Trace) -> None:
    """Raise `TraceError` unless ``trace`` is a run of ``system`` violating ``trace.property``."""
    prop = _property(system, trace.property)
    if prop is not None and prop.kind == "reachable":
        raise TraceError(f"trace: {prop.name} is a reachable property (a witness): a trace that "
                         "reaches it shows it is witnessed, which is no violation to replay")
    kind = prop.kind if prop is not None else DEADLOCK
    if trace.loop is not None and kind not in LIVENESS:
        raise TraceMismatch(f"trace: {trace.property} is {_a(kind)} property, but the trace ends in "
                            f"a loop (loop = {trace.loop}); only liveness counterexamples do")
    if trace.loop is None and kind in LIVENESS:
        raise TraceMismatch(f"trace: {trace.property} is a liveness property ({kind}); only a lasso "
                            "(a trace with 'loop') that never reaches its goal violates it, and this "
                            "trace has no loop")
    interpret.validate(system, trace)
    last = len(trace.steps) - 1
    if prop is None:
        _check_deadlock(system, trace)
    elif kind == "invariant":
        assert prop.pred is not None
        if evaluate(prop.pred, trace.steps[-1].state):
            raise TraceMismatch(f"trace: {prop.name} holds in the last state (step {last}): the trace "
                                "does not violate it")
    elif kind == "action":
        _check_action_property(system, trace, prop)
    else:
        _check_liveness(trace, prop)


def _property(system: System, name: str) -> PropertyIR | None:
    """The property ``name`` (None for the deadlock check); `TraceError` if the model has none."""
    prop = system.property(name)
    if prop is not None:
        return prop
    if name == DEADLOCK and system.check_deadlock:
        return None
    known = [p.name for p in system.properties] + ([DEADLOCK] if system.check_deadlock else [])
    raise TraceError(f"trace: model '{system.model}' has no property '{name}' "
                     f"(properties: {', '.join(known)})")


def _a(kind: str) -> str:
    return {"invariant": "an invariant", "action": "an action", DEADLOCK: "a deadlock"}[kind]


def _check_action_property(system: System, trace: Trace, prop: PropertyIR) -> None:
    last = len(trace.steps) - 1
    if last == 0:
        raise TraceMismatch(f"trace: {prop.name} is an action property, and the trace has no step")
    step = trace.steps[last]
    a_i = interpret.find_action(system, step.action, step.params)
    if evaluate(prop.per_action[a_i], trace.steps[last - 1].state):
        raise TraceMismatch(f"trace: {prop.name} holds on the last step ({last} {step.label}): the "
                            "trace does not violate it")


def _check_deadlock(system: System, trace: Trace) -> None:
    state, last = trace.steps[-1].state, len(trace.steps) - 1
    moves = interpret.successors(system, state)
    if moves:
        raise TraceMismatch(f"trace: the last state (step {last}) is no deadlock: "
                            f"{system.actions[moves[0][0]].label} can take place")
    if system.final is not None and evaluate(system.final, state):
        raise TraceMismatch(f"trace: the last state (step {last}) is a final state, where having no "
                            "successor is no deadlock")


def _check_liveness(trace: Trace, prop: PropertyIR) -> None:
    assert prop.goal is not None and prop.pred is not None and trace.loop is not None
    states = [s.state for s in trace.steps]
    goal = [bool(evaluate(prop.goal, s)) for s in states]
    loop = trace.loop
    if prop.kind == "eventually":
        reached = [n for n, g in enumerate(goal) if g]
        if reached:
            raise TraceMismatch(f"trace: the run reaches {prop.name}'s goal at step {reached[0]}: it "
                                "does not violate it")
        return
    # leads_to: a p-state from which the run (stem, then the loop forever) never meets q
    for n, s in enumerate(states):
        if evaluate(prop.pred, s) and not any(goal[min(n, loop):]):
            return
    triggers = [n for n, s in enumerate(states) if evaluate(prop.pred, s)]
    if not triggers:
        raise TraceMismatch(f"trace: no state of the run satisfies {prop.name}'s condition, so the "
                            "trace does not violate it")
    reached = next(n for n, g in enumerate(goal) if g and n >= min(triggers[-1], loop))
    raise TraceMismatch(f"trace: after the run satisfies {prop.name}'s condition (step "
                        f"{triggers[-1]}) it reaches the goal (step {reached}): the trace does not "
                        "violate it")
