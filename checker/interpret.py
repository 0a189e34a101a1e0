"""A direct interpreter of the IR over unpacked states, independent of the compiled engine.

It is the model's own transition function: traces are validated against it, and tests
compare it with the compiled search. Expressions are evaluated by the operator table's one
evaluator (``models/operators.py``).
"""

from __future__ import annotations

from migcheck.models.errors import TraceMismatch
from migcheck.models.ir import System
from migcheck.models.operators import evaluate

from .liveness import unfair_to
from .trace import Trace


def enabled(system: System, a_i: int, state: tuple[int, ...]) -> bool:
    return bool(evaluate(system.actions[a_i].guard, state))


def successor(system: System, a_i: int, state: tuple[int, ...]) -> tuple[int, ...]:
    """The state after action instance ``a_i`` (its guard is not checked here)."""
    new = list(state)
    for slot, node in system.actions[a_i].updates:
        new[slot] = evaluate(node, state)
    return tuple(new)


def successors(system: System, state: tuple[int, ...]) -> list[tuple[int, tuple[int, ...]]]:
    """Every enabled action instance and the state it leads to, in declaration order."""
    return [(a, successor(system, a, state)) for a in range(len(system.actions)) if enabled(system, a, state)]


def find_action(system: System, name: str | None, params: tuple[tuple[str, int], ...]) -> int:
    for a_i, act in enumerate(system.actions):
        if act.name == name and dict(act.params) == dict(params):
            return a_i
    raise TraceMismatch(f"no action {name}{dict(params)} in {system.model} [{system.variant}]")


def validate(system: System, trace: Trace) -> None:
    """Replay ``trace`` through the model; raise `TraceMismatch` at the first step it does not
    allow (an action, its parameters or owner, or the state it leads to), or at a loop that
    does not close or is unfair."""
    first = trace.steps[0]
    if first.action is not None or first.params or first.owner is not None:
        raise TraceMismatch("trace: step 0 is the initial state; its action, params and owner must "
                            "be null")
    if first.state not in system.initial:
        raise TraceMismatch("trace: step 0 is not an initial state of the model")
    for n in range(1, len(trace.steps)):
        before, step = trace.steps[n - 1].state, trace.steps[n]
        try:
            a_i = find_action(system, step.action, step.params)
        except TraceMismatch as exc:
            raise TraceMismatch(f"trace: step {n}: {exc}") from None
        act = system.actions[a_i]
        if step.owner != act.owner:
            raise TraceMismatch(f"trace: step {n} {step.label}: the model's {act.name} is done by "
                                f"{act.owner}, not {step.owner!r}")
        if not enabled(system, a_i, before):
            raise TraceMismatch(f"trace: step {n} {step.label} is not enabled in the state before it")
        after = successor(system, a_i, before)
        if after != step.state:
            diff = [system.layout.slots[i].name for i in range(len(after)) if after[i] != step.state[i]]
            raise TraceMismatch(f"trace: step {n} {step.label} leads to another state "
                                f"(differs in {', '.join(diff)})")
    if trace.loop is not None:
        validate_fair_loop(system, trace)


def validate_fair_loop(system: System, trace: Trace) -> None:
    """Check a lasso's loop: it closes, and it is fair to every fairly scheduled action
    (judged as the liveness search judges it, `liveness.unfair_to`).

    The loop is ``steps[loop+1:]`` returning to ``steps[loop]``; when ``loop`` is the last
    index the behaviour stutters there forever.
    """
    loop = trace.loop
    assert loop is not None
    if trace.steps[-1].state != trace.steps[loop].state:
        raise TraceMismatch(f"trace: the last state is not state {loop} that the loop returns to")
    states = [s.state for s in trace.steps[loop:-1]] or [trace.steps[loop].state]
    taken = {find_action(system, s.action, s.params) for s in trace.steps[loop + 1:]}
    fair = {a: act.fairness for a, act in enumerate(system.actions) if act.fairness}
    enabled_in = [{a for a in fair if enabled(system, a, s)} for s in states]
    a_i = unfair_to(fair, taken, enabled_in)
    if a_i is not None:
        act = system.actions[a_i]
        where = "in every state of the loop" if act.fairness == "weak" else "in the loop"
        raise TraceMismatch(f"trace: the loop is unfair to {act.label} ({act.fairness} fairness): "
                            f"enabled {where} but never taken")
