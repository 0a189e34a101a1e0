"""Bindings: how a model of the library runs on a concrete emulator, one module per model.

A binding is the one place that ties a model to an emulator. ``migcheck replay`` is generic
over it: it finds the binding by the trace's model name, builds the emulator the trace's
variant describes, performs each step's action, checks after every step that the
emulator's state, read through the abstraction, equals the trace's state, and at the end
asks the property's observer what concrete event the property forbids. Nothing outside a
binding knows a model's names.

Writing a binding for a new model ``my-model``
-----------------------------------------------
1. Create ``emulator/bindings/my_model.py`` defining ``BINDING = Binding(...)`` with:

   - ``model``: the model's name, as traces spell it (``"my-model"``).
   - ``configure(variant_class, params)``: the emulator's configuration for a variant (read
     the variant class's flags) at the trace's parameter values; ``boot(config)`` builds a
     fresh emulator from it. Replay may pass its own configuration (tests vary the
     emulator where the model is silent), so keep the two apart.
   - ``abstract(machine)``: the emulator's state as the model's state, shaped as
     ``system.layout.render`` shapes it (arrays as lists, enums as labels).
   - ``operations``: the emulator's operation kinds (see `migcheck.emulator.schedule`):
     each emulator call written once, with its ``why_not`` check.
   - ``actions``: for every action of the model (by name), an `ActionBinding`: the
     operation kind it performs and ``arguments(machine, step_params)``, which turns the
     step's parameters into the operation's arguments and raises `StepRefused` when the
     emulator cannot follow the step as written (e.g. the step names another ring slot
     than the one the device would use).
   - ``observers``: for every property the model checks except the ``reachable`` witnesses
     (and for ``deadlock`` when the model checks deadlocks), a function
     ``(machine, damage) -> list of lines``: the concrete events seen on the emulator that
     the property forbids, each saying what happened (computed from the journal and the
     machine, never fixed text); empty when nothing forbidden was seen.
   - ``assess(machine)``: the concrete `Damage` (pages, packets, stale writes) and
     ``events(machine)``: the journal so far, as one line per event.
   - optionally ``settings``: choices about the emulator that the model leaves open, made
     at replay (``migcheck replay --NAME VALUE``), each a `Setting` whose first value is the
     default, and ``apply(config, chosen)``, the configuration with those choices made.
2. Add ``"my-model": "migcheck.emulator.bindings.my_model"`` to `BINDINGS` below.
3. ``tests/test_bindings.py`` then checks, for every variant, that every action and
   property has an entry, that every entry names an operation kind, and that a fresh
   emulator reads as an initial state of the model. A model action or property added later
   without an entry fails that test, not a user's replay.

`emulator` imports nothing from ``checker``: validating a trace against the model is
``migcheck.replay``'s job, before the emulator is touched.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from migcheck.models.errors import TraceError, UsageError
from migcheck.models.model import Model

from ..damage import Damage
from ..errors import StepRefused
from ..schedule import Arguments, OperationKind, kind

Machine = TypeVar("Machine")
Config = TypeVar("Config")

# Only the properties of these kinds can be violated by a trace; a reachable property's
# trace is a witness, and there is nothing for the emulator to refute.
OBSERVED_KINDS = ("invariant", "action", "eventually", "leads_to")
DEADLOCK = "deadlock"

# model name -> the module that defines its BINDING; imported only when asked for.
BINDINGS: dict[str, str] = {
    "guest-assisted": "migcheck.emulator.bindings.guest_assisted",
    "vfio-v2": "migcheck.emulator.bindings.vfio_v2",
    "failover": "migcheck.emulator.bindings.failover",
}


class NoBinding(TraceError):
    """A trace names a model that has no binding to an emulator."""


def _no_arguments(machine: Any, params: Mapping[str, int]) -> Arguments:
    return ()


@dataclass(frozen=True)
class ActionBinding:
    """How one model action is performed: the emulator operation kind it is, and its
    arguments from the step's parameters (`StepRefused` when the emulator cannot follow)."""

    operation: str
    arguments: Callable[[Any, Mapping[str, int]], Arguments] = _no_arguments


Observer = Callable[[Any, Damage], list[str]]


@dataclass(frozen=True)
class Setting:
    """A choice about the emulator that the model leaves open, made at replay."""

    name: str  # as the replay's option spells it: --NAME
    values: tuple[str, ...]  # the first is the default
    doc: str


def _as_configured(config: Any, chosen: Mapping[str, str]) -> Any:
    return config


@dataclass(frozen=True)
class Binding(Generic[Config, Machine]):
    """A model's emulator: configuration, abstraction, actions, observers (see the module)."""

    model: str
    configure: Callable[[type[Model], Mapping[str, int]], Config]
    boot: Callable[[Config], Machine]
    abstract: Callable[[Machine], dict[str, Any]]
    operations: tuple[OperationKind, ...]
    actions: Mapping[str, ActionBinding]
    observers: Mapping[str, Observer]
    assess: Callable[[Machine], Damage]
    events: Callable[[Machine], Sequence[str]]
    settings: tuple[Setting, ...] = ()
    apply: Callable[[Config, Mapping[str, str]], Config] = _as_configured

    def chosen(self, given: Mapping[str, str]) -> dict[str, str]:
        """Every setting's value: ``given``'s, or the default; `UsageError` (one line) for a
        setting this emulator does not have or a value it does not take."""
        known = {s.name: s for s in self.settings}
        for name, value in given.items():
            if name not in known:
                has = ", ".join(f"--{n}" for n in known) or "none"
                raise UsageError(f"--{name}: the emulator of model '{self.model}' has no such "
                                 f"setting (its settings: {has})")
            if value not in known[name].values:
                raise UsageError(f"--{name} {value!r}: one of {', '.join(known[name].values)}")
        return {s.name: given.get(s.name, s.values[0]) for s in self.settings}

    def configured(self, variant: type[Model], params: Mapping[str, int],
                   given: Mapping[str, str]) -> Config:
        """The emulator's configuration for ``variant`` at ``params``, with the settings made."""
        return self.apply(self.configure(variant, params), self.chosen(given))

    def machine(self, variant: type[Model], params: Mapping[str, int]) -> Machine:
        """A fresh emulator configured as ``variant`` at ``params``."""
        return self.boot(self.configure(variant, params))

    def operation(self, action: str) -> OperationKind:
        """The operation kind the model action ``action`` performs."""
        return kind(self.actions[action].operation, self.operations)

    def perform(self, m: Machine, action: str, params: Mapping[str, int]) -> None:
        """Do the model action ``action`` on ``m``; `StepRefused` if it cannot happen now."""
        if action not in self.actions:
            raise StepRefused(f"the emulator has no counterpart for action '{action}'")
        bound = self.actions[action]
        self.operation(action).perform(m, bound.arguments(m, params))

    def observe(self, prop: str, m: Machine, damage: Damage) -> list[str]:
        """The concrete events on ``m`` that ``prop`` forbids (empty: none seen)."""
        if prop not in self.observers:  # tests/test_bindings.py keeps bundled bindings whole
            raise TraceError(f"the binding of model '{self.model}' has no observer for property "
                             f"'{prop}': add one to its observers")
        return self.observers[prop](m, damage)


def bound_models() -> tuple[str, ...]:
    return tuple(BINDINGS)


def binding_for(model: str) -> Binding[Any, Any]:
    """The binding of ``model``; `NoBinding` (one line, naming the models that have one)."""
    if model not in BINDINGS:
        raise NoBinding(f"model {model!r} has no binding to an emulator, so its traces cannot be "
                        f"replayed (models with one: {', '.join(BINDINGS)})")
    found = importlib.import_module(BINDINGS[model]).BINDING
    assert found.model == model, f"{BINDINGS[model]} binds {found.model!r}, not {model!r}"
    return found
