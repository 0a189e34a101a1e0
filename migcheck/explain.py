"""Why a counterexample breaks its property, in the words a reader needs first.

Two facts are derived from the trace and the traced IR, nothing model-specific:

- the *why*: the variables the violation rests on. For a state property, those read by the
  predicate whose value alone, changed to any other value of its domain, would make it hold
  in the last state (for an action property, in the state before the last step; for a
  liveness lasso, the goal's variables that keep one value around the whole loop).
- the *decisive step*: the last step that set one of the why-variables to the value it keeps
  to the end. For a safety property with a witness, the variables the witness reads are the
  occasion (the VM resumed, say), not the fault, and are left out of that choice. An action
  property is broken by its final step; a lasso's decisive step is the last one in its stem
  that set a variable the loop then never changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from migcheck.checker.explicit import DEADLOCK
from migcheck.checker.interpret import evaluate, find_action
from migcheck.checker.trace import Trace
from migcheck.models.expr import Node, slots_read
from migcheck.models.ir import System

MAX_SHOWN = 6  # why-variables listed before "…"; a predicate over many pages names only the first


@dataclass(frozen=True)
class Explanation:
    """``why``: slot indices the violation rests on, in the state ``state`` (an index into the
    trace's steps); ``decisive``: the index of the decisive step in the trace's steps."""

    why: tuple[int, ...]
    state: int
    decisive: int
    summary: str  # the why line's text
    settles: str = ""  # what the decisive step sets that stays so to the end

    def line(self) -> str:
        return f"  why: {self.summary}"

    def marker(self) -> str:
        return f"  <== decisive: {self.settles} from here on" if self.settles else "  <== decisive step"


def explain(system: System, trace: Trace) -> Explanation | None:
    """The why and the decisive step of a counterexample; None for a property the system lacks."""
    last = len(trace.steps) - 1
    states = [s.state for s in trace.steps]
    if trace.property == DEADLOCK:
        return Explanation((), last, last, f"no action is enabled in state {last + 1}, and it is not "
                                           "a final state")
    prop = system.property(trace.property)
    if prop is None:
        return None
    if trace.loop is not None:
        return _explain_lasso(system, trace, prop.goal, states)
    if prop.kind == "action":
        step = trace.steps[last]
        a_i = find_action(system, step.action, step.params)
        why = _critical(system, prop.per_action[a_i], states[last - 1])
        shown = _show(system, why, states[last - 1])
        return Explanation(why, last - 1, last,
                           f"{step.label} is taken while {shown}" if shown else f"{step.label} is taken")
    why = _critical(system, prop.pred, states[last])
    witness = system.property(prop.witness) if prop.witness else None
    occasion = slots_read(witness.pred) if witness is not None and witness.pred is not None else set()
    faults = tuple(i for i in why if i not in occasion) or why
    decisive = _last_change(faults, states, last, before_end=False) if faults else last
    shown = _show(system, why, states[last])
    return Explanation(why, last, decisive, f"in state {last + 1}, {shown}" if shown else
                       f"the property is false in state {last + 1}",
                       _settles(system, faults, states, decisive, last))


def _explain_lasso(system: System, trace: Trace, goal: Node | None, states: list) -> Explanation:
    loop = trace.loop or 0
    around = states[loop:]
    span = f"state {loop + 1}" if len(around) == 1 else f"states {loop + 1}-{len(states)}"
    if goal is None:
        return Explanation((), loop, loop, f"the loop ({span}) repeats forever")
    steady = tuple(i for i in _critical(system, goal, around[0]) if all(s[i] == around[0][i] for s in around))
    decisive = _last_change(steady, states, loop) if steady else loop
    shown = _show(system, steady, around[0])
    if shown:
        return Explanation(steady, loop, decisive, f"{shown} throughout the loop ({span}), so it never gets "
                                                   "there", _settles(system, steady, states, decisive, loop))
    return Explanation((), loop, decisive, f"no state of the loop ({span}) gets there")


def _critical(system: System, pred: Node | None, state: tuple[int, ...]) -> tuple[int, ...]:
    """The slots ``pred`` reads whose value alone, changed, would make ``pred`` true."""
    if pred is None:
        return ()
    out = []
    for i in sorted(slots_read(pred)):
        domain = system.layout.slots[i].domain
        for value in range(domain.lo, domain.hi + 1):
            if value != state[i] and evaluate(pred, (*state[:i], value, *state[i + 1:])):
                out.append(i)
                break
    return tuple(out)


def _last_change(slots: tuple[int, ...], states: list, end: int, before_end: bool = True) -> int:
    """The latest step that set one of ``slots`` to the value it has at ``end`` (before ``end``
    itself when ``before_end``); ``end`` when none did."""
    best = 0
    for i in slots:
        t = end
        while t > 0 and states[t - 1][i] == states[end][i]:
            t -= 1
        if (t < end or not before_end) and t > best:
            best = t
    return best if best else end


def _settles(system: System, slots: tuple[int, ...], states: list, step: int, end: int) -> str:
    """The why-variables that ``step`` sets to the value they keep up to ``end``."""
    if step == 0 or step == end:
        return ""
    kept = tuple(i for i in slots if states[step - 1][i] != states[step][i]
                 and all(states[t][i] == states[step][i] for t in range(step, end + 1)))
    return _show(system, kept, states[step])


def _show(system: System, slots: tuple[int, ...], state: tuple[int, ...]) -> str:
    parts = [f"{system.layout.slots[i].name} = {system.layout.slots[i].domain.render(state[i])}"
             for i in slots[:MAX_SHOWN]]
    if len(slots) > MAX_SHOWN:
        parts.append(f"… ({len(slots) - MAX_SHOWN} more)")
    return ", ".join(parts)
