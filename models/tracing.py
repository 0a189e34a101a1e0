"""Tracing: running a model's Python function once per parameter instance on a symbolic view
of the state, recording its guard and assignments as IR.

Reads see the state before the action, or the value the action already assigned (so a body
reads top to bottom like ordinary Python); each slot may be assigned once.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import types
from collections.abc import Callable
from typing import Any

from .domains import Domain
from .errors import ModelDefinitionError
from .expr import BOOL, INT, Const, Node, RefType, Slot, StateBranch, Term, ite, lift, mk, python_bool
from .ir import Layout, interval

# The tracer of the action being traced, for require(); a stack so traces can nest in tests.
_active: list[Tracer] = []


def require(cond: Any) -> None:
    """Guard the action being traced: it is enabled only in states where ``cond`` holds."""
    if not _active:
        raise ModelDefinitionError("require() called outside an action being traced")
    _active[-1].require(cond)


def slot_type(layout: Layout, index: int) -> Any:
    return value_type(layout.slots[index].domain)


def value_type(d: Domain) -> Any:
    """The expression type of values of domain ``d``."""
    if d.kind == "ref":
        return RefType(d.of, d.hi if d.none else d.hi + 1, d.none)
    return d.labels if d.kind == "enum" else (BOOL if d.kind == "bool" else INT)


class Tracer:
    """Collects one function's guard and assignments. ``base`` gives each slot's pre-value."""

    def __init__(self, layout: Layout, context: str, base: Callable[[int], Node] | None = None,
                 writable: bool = True):
        self.layout = layout
        self.context = context
        self.base = base or Slot
        self.writable = writable
        self.guard: list[Node] = []
        self.assigned: dict[int, Node] = {}

    def read(self, index: int) -> Term:
        info = self.layout.slots[index]
        node = self.assigned.get(index)
        if node is None:
            node = self.base(index)
        return Term(node, slot_type(self.layout, index), (info.name,))

    def assign(self, index: int, value: Any) -> None:
        info = self.layout.slots[index]
        if not self.writable:
            raise self.error(f"assigns '{info.name}', but a property may only read the state")
        if index in self.assigned:
            raise self.error(f"assigns '{info.name}' twice; compute the value once, "
                             "using ite(...) for a conditional value")
        try:
            term = lift(value, slot_type(self.layout, index))
        except ModelDefinitionError as exc:
            raise self.error(f"assigns '{info.name}': {exc}") from None
        if term.typ != slot_type(self.layout, index):
            raise self.error(f"assigns a {term.typ} value to '{info.name}' ({info.domain.describe()})")
        lo, hi = interval(term.node, self.layout)
        d = info.domain
        if isinstance(term.node, Const) and not d.lo <= term.node.value <= d.hi:
            raise self.error(f"assigns {term.node.value} to '{info.name}', outside its domain "
                             f"{d.describe()}")
        if (hi < d.lo or lo > d.hi) and not self.never_enabled():
            raise self.error(f"assigns '{info.name}' a value in {lo}..{hi}, always outside "
                             f"{d.describe()}")
        self.assigned[index] = term.node

    def require(self, cond: Any) -> None:
        if isinstance(cond, Term):
            if cond.typ != BOOL:
                raise self.error(f"require() needs a boolean, got {cond.typ}")
            self.guard.append(cond.node)
        else:
            try:
                value = python_bool(cond, "the condition of require()")
            except ModelDefinitionError as exc:
                raise self.error(str(exc)) from None
            self.guard.append(Const(int(value), True))

    def guard_node(self) -> Node:
        if not self.guard:
            return Const(1, True)
        node = mk("and", *self.guard)
        return Const(0, True) if interval(node, self.layout) == (0, 0) else node

    def never_enabled(self) -> bool:
        """The guard so far can never hold (``round < rounds`` with rounds = 0, say)."""
        return self.guard_node() == Const(0, True)

    def error(self, message: str) -> ModelDefinitionError:
        return ModelDefinitionError(f"{self.context}: {message}")

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Call ``fn`` with this tracer active, turning tracing mistakes into definition errors."""
        _active.append(self)
        try:
            with contextlib.redirect_stdout(sys.stderr):  # a model's print never mixes into --json
                return fn(*args)
        except StateBranch as exc:
            raise self.error(
                f"Python 'if', 'and', 'or' or 'not' on state variable '{exc.variable}'; "
                "use require(...) or ite(...) for conditions, and &, |, ~ to combine them"
            ) from None
        except ModelDefinitionError as exc:
            if str(exc).startswith(self.context):
                raise
            raise self.error(str(exc)) from None
        except (Exception, SystemExit) as exc:  # the model's own code failed, or tried to end the process
            raise self.error(f"{type(exc).__name__}: {exc}") from None
        finally:
            _active.pop()


class ArrayView:
    """An array variable seen through a tracer; indices are ints or integer terms."""

    def __init__(self, tracer: Tracer, name: str, base: int, length: int):
        self._tracer, self._name, self._base, self._length = tracer, name, base, length

    def __len__(self) -> int:
        return self._length

    def __iter__(self):
        return (self[i] for i in range(self._length))

    def _check_index(self, i: Any) -> None:
        if isinstance(i, Term):
            if i.typ != INT:
                raise self._tracer.error(f"index of '{self._name}' must be an integer")
            lo, hi = interval(i.node, self._tracer.layout)
            if lo < 0 or hi >= self._length:
                raise self._tracer.error(
                    f"index of '{self._name}' may take values {lo}..{hi}, outside 0..{self._length - 1}; "
                    "bound the index variable's domain")
        elif isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < self._length:
            raise self._tracer.error(f"index {i!r} out of range for '{self._name}' (0..{self._length - 1})")

    def __getitem__(self, i: Any) -> Term:
        self._check_index(i)
        if not isinstance(i, Term):
            return self._tracer.read(self._base + i)
        value = self._tracer.read(self._base + self._length - 1)
        for j in range(self._length - 2, -1, -1):
            value = ite(i == j, self._tracer.read(self._base + j), value)
        return value

    def __setitem__(self, i: Any, value: Any) -> None:
        self._check_index(i)
        if not isinstance(i, Term):
            self._tracer.assign(self._base + i, value)
            return
        new = [ite(i == j, value, self._tracer.read(self._base + j)) for j in range(self._length)]
        for j, v in enumerate(new):
            self._tracer.assign(self._base + j, v)


class StateView:
    """What a model function receives as ``s``: state variables, parameters and model constants."""

    def __init__(self, tracer: Tracer, constants: dict[str, Any]):
        object.__setattr__(self, "_tracer", tracer)
        object.__setattr__(self, "_constants", constants)

    def __getattr__(self, name: str) -> Any:
        tracer: Tracer = object.__getattribute__(self, "_tracer")
        var = tracer.layout.var(name)
        if var is not None:
            if var.length is None:
                return tracer.read(var.base)
            return ArrayView(tracer, name, var.base, var.length)
        constants = object.__getattribute__(self, "_constants")
        if name in constants:
            value = constants[name]
            if isinstance(value, types.FunctionType):  # a model's helper: s.helper(...) is helper(s, ...)
                return functools.partial(value, self)
            return value
        raise tracer.error(f"unknown variable '{name}'; the model declares "
                           f"{', '.join(v.name for v in tracer.layout.vars)}")

    def __setattr__(self, name: str, value: Any) -> None:
        tracer: Tracer = object.__getattribute__(self, "_tracer")
        var = tracer.layout.var(name)
        if var is None:
            raise tracer.error(f"assigns unknown variable '{name}'; declare it in the model")
        if var.length is not None:
            raise tracer.error(f"assigns the whole array '{name}'; assign its elements: s.{name}[i] = ...")
        tracer.assign(var.base, value)
