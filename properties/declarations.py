"""Property declarations: decorated functions traced into the same IR as the actions.

- ``@invariant``: a state predicate that must hold in every reachable state (``always``).
- ``@action_property``: a predicate over a step ``(before, act, after)`` that every
  transition must satisfy; ``act`` is the concrete action instance (its name, owner and
  parameters are plain Python values, so ``if act.name == ...`` is allowed).
- ``@reachable``: a witness (``sometimes``): some reachable state must satisfy it, or the
  property is reported as not witnessed.
- ``@eventually``: every fair behaviour reaches a state satisfying the predicate.
- ``@leads_to``: the function returns ``(p, q)``; every fair behaviour that reaches a
  p-state later reaches a q-state (the p-state itself counts).

Liveness is judged under the model's ``fairness`` declaration; a behaviour may stutter
forever in a state where no fairly scheduled action is enabled.

Every decorator takes ``name=`` (the property's name, used as written; default: the function's
name in kebab-case) and ``loses_data=True`` (a violation means guest data is lost: `check`'s
first screen then says the variant "loses data"); invariants and action properties take
``witness=`` (the reachable property that shows they are not vacuous).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from migcheck.models.errors import ModelDefinitionError
from migcheck.models.expr import Const, Slot
from migcheck.models.ir import ActionIR, PropertyIR
from migcheck.models.model import PropertyMember, TraceContext, _as_bool_node, kebab
from migcheck.models.tracing import StateView, Tracer

KINDS = ("invariant", "action", "reachable", "eventually", "leads_to")


class PropertyDecl(PropertyMember):
    def __init__(self, fn: Callable[..., Any], kind: str, name: str | None, witness: str | None = None,
                 loses_data: bool = False):
        self.fn = fn
        self.kind = kind
        self.witness = witness or ""
        self.loses_data = loses_data
        self.prop_name = name or kebab(fn.__name__)
        self.doc = (inspect.getdoc(fn) or "").split("\n\n")[0].replace("\n", " ")

    def trace(self, ctx: TraceContext) -> PropertyIR:
        if self.kind == "eventually":
            goal = ctx.state_predicate(self.fn, f"eventually {self.prop_name}")
            return PropertyIR(self.prop_name, self.kind, self.doc, pred=Const(1, True), goal=goal,
                              loses_data=self.loses_data)
        if self.kind == "leads_to":
            pair = self.fn
            p = ctx.state_predicate(lambda s: _pair(pair(s), self.prop_name)[0], f"leads_to {self.prop_name}")
            q = ctx.state_predicate(lambda s: _pair(pair(s), self.prop_name)[1], f"leads_to {self.prop_name}")
            return PropertyIR(self.prop_name, self.kind, self.doc, pred=p, goal=q, loses_data=self.loses_data)
        if self.kind != "action":
            pred = ctx.state_predicate(self.fn, f"{self.kind} {self.prop_name}")
            return PropertyIR(self.prop_name, self.kind, self.doc, pred=pred, witness=self.witness,
                              loses_data=self.loses_data)
        per_action = tuple(self._trace_step(ctx, a) for a in ctx.actions)
        return PropertyIR(self.prop_name, self.kind, self.doc, per_action=per_action, witness=self.witness,
                          loses_data=self.loses_data)

    def _trace_step(self, ctx: TraceContext, act: ActionIR) -> Any:
        updates = dict(act.updates)
        context = f"{ctx.prefix}: action property {self.prop_name} on {act.label}"
        before = Tracer(ctx.layout, context, writable=False)
        after = Tracer(ctx.layout, context, base=lambda i: updates.get(i, Slot(i)), writable=False)
        step = Step(act.name, act.owner, dict(act.params))
        result = before.run(self.fn, StateView(before, ctx.constants), step,
                            StateView(after, ctx.constants))
        return _as_bool_node(result, before)


def _pair(value: Any, name: str) -> tuple[Any, Any]:
    if not (isinstance(value, tuple) and len(value) == 2):
        raise ModelDefinitionError(f"leads_to {name}: return a pair (p, q) of conditions")
    return value


@dataclass(frozen=True)
class Step:
    """The action instance of a step, as an action property sees it."""

    name: str
    owner: str
    params: dict[str, int]


def _decorator(kind: str) -> Callable[..., Any]:
    def decorate(fn: Callable[..., Any] | None = None, *, name: str | None = None,
                 witness: str | None = None, loses_data: bool = False) -> Any:
        if witness is not None and kind not in ("invariant", "action"):
            raise ModelDefinitionError(f"@{kind}: only invariants and action properties take a witness")
        if not isinstance(loses_data, bool):
            raise ModelDefinitionError(f"@{kind}(loses_data={loses_data!r}): give True or False")
        if fn is not None:
            return PropertyDecl(fn, kind, name, witness, loses_data)
        return lambda f: PropertyDecl(f, kind, name, witness, loses_data)

    decorate.__name__ = kind
    return decorate


invariant = _decorator("invariant")
action_property = _decorator("action")
reachable = _decorator("reachable")
eventually = _decorator("eventually")
leads_to = _decorator("leads_to")

__all__ = ["Step", "action_property", "eventually", "invariant", "leads_to", "reachable"]
