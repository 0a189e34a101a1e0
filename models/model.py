"""The model contract: a class body declares parameters, index sets, state variables, guarded
actions and properties; :func:`build` resolves the parameters and traces it into a `System`.

Mistakes are caught when the model is built, with a message naming the action, its
parameter values and the fix.
"""

from __future__ import annotations

import inspect
import itertools
import re
import types
from collections.abc import Callable, Iterable
from typing import Any

from .domains import Array, Index, Member, Param, Ref, VarType
from .errors import ModelDefinitionError, ParameterError
from .expr import BOOL, Const, Slot, Term, lift, mk, python_bool
from .ir import ActionIR, Layout, PropertyIR, SlotInfo, System, VarInfo, interval
from .source_checks import misuse
from .tracing import StateView, Tracer, value_type

OWNERS_SUGGESTED = ("driver", "device", "hypervisor", "environment")
VERDICTS_EXPECTABLE = ("holds", "violated", "vacuous")


def kebab(name: str) -> str:
    """``UnmapUnmarked`` and ``unmap_unmarked`` both become ``unmap-unmarked``."""
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", name)
    return name.replace("_", "-").lower()


class ActionDecl(Member):
    """A guarded action; traced once per combination of its index-set parameters."""

    def __init__(self, fn: Callable[..., Any], owner: str, name: str | None = None):
        if not isinstance(owner, str) or not owner:
            raise ModelDefinitionError(f"action {fn.__name__}: owner must be a non-empty string")
        self.fn = fn
        self.owner = owner
        self.label = name or fn.__name__
        self.doc = inspect.getdoc(fn) or ""
        self.arg_names = list(inspect.signature(fn).parameters)[1:]


def action(fn: Callable[..., Any] | None = None, *, owner: str = "environment",
           name: str | None = None) -> Any:
    """Declare an action: ``@action(owner="device") def dma_write(s, p: pages): ...``.

    The first argument is the state view; every other argument is annotated with an
    :class:`Index` of the model (or its name) and ranges over it.
    """
    if fn is not None:
        return ActionDecl(fn, owner, name)
    return lambda f: ActionDecl(f, owner, name)


class FinalDecl(Member):
    """A predicate on states that may legitimately have no successor (not deadlocks)."""

    def __init__(self, fn: Callable[..., Any]):
        self.fn = fn


def final(fn: Callable[..., Any]) -> FinalDecl:
    """Mark states where the system may stop: ``@final def done(s): return s.phase == "switched"``."""
    return FinalDecl(fn)


class PropertyMember(Member):
    """Base of property declarations (see ``migcheck.properties``); traced by :func:`build`."""

    prop_name: str = ""

    def trace(self, ctx: TraceContext) -> PropertyIR:
        raise NotImplementedError


class Model:
    """Base class of every model. A root model sets ``name``; variants subclass it.

    Class attributes a model may set: ``name`` (root only), ``variant_name`` (defaults to
    "base"), ``source`` (where the variant comes from: a mail, a commit, a bug report),
    ``expect`` ({property: "holds" | "violated"}), ``check_deadlock`` (True).
    Plain constants in the class body (flags such as ``drain = True``) are readable in
    actions as ``s.drain``; they choose what is traced, so Python ``if`` may test them.
    """

    name: str = ""
    variant_name: str = "base"
    source: str = ""  # where the variant comes from: the mail, commit or document it models
    expect: dict[str, str] = {}
    check_deadlock: bool = True
    fairness: dict[str, str] = {}  # owner or action name -> "weak" | "strong" | "none"
    _members: dict[str, Member] = {}
    _variants: dict[str, type[Model]] = {}
    _root: type[Model] | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        members: dict[str, Member] = {}
        for klass in reversed(cls.__mro__):
            for key, value in vars(klass).items():
                if isinstance(value, Member):
                    members[key] = value
                elif key in members and value is None:
                    del members[key]  # a variant removes an action by setting it to None
        cls._members = members
        if "name" in vars(cls) and cls.name:
            cls._root = cls
            cls._variants = {}
            cls._variants[cls.variant_name] = cls
        for m in members.values():
            if isinstance(m, ActionDecl):
                _resolve_action_params(cls, m)

    @classmethod
    def root(cls) -> type[Model]:
        if cls._root is None:
            raise ModelDefinitionError(f"{cls.__name__}: a model needs a class attribute name = '...'")
        return cls._root

    @classmethod
    def variants(cls) -> dict[str, type[Model]]:
        return dict(cls.root()._variants)

    @classmethod
    def parameters(cls) -> dict[str, Param]:
        return {k: m for k, m in cls._members.items() if isinstance(m, Param)}

    @classmethod
    def actions(cls) -> dict[str, ActionDecl]:
        return {k: m for k, m in cls._members.items() if isinstance(m, ActionDecl)}

    @classmethod
    def property_members(cls) -> list[PropertyMember]:
        return [m for m in cls._members.values() if isinstance(m, PropertyMember)]

    @classmethod
    def doc(cls) -> str:
        return (inspect.getdoc(cls) or "").split("\n\n")[0].replace("\n", " ")


def variant(base: type[Model], *, name: str | None = None,
            expect: dict[str, str] | None = None) -> Callable[[type[Model]], type[Model]]:
    """Register a subclass of ``base`` as a named variant with its expected verdicts."""

    def register(cls: type[Model]) -> type[Model]:
        if not issubclass(cls, base):
            raise ModelDefinitionError(f"variant {cls.__name__} must subclass {base.__name__}")
        vname = name or kebab(cls.__name__)
        root = base.root()
        if vname in root._variants:
            raise ModelDefinitionError(f"{root.name}: variant '{vname}' is defined twice")
        in_body = vars(cls).get("expect")
        if in_body is not None and expect is not None:
            raise ModelDefinitionError(
                f"variant {vname}: expected verdicts are given twice, as expect = {{...}} in the class "
                "body and as @variant(..., expect={...}); keep one")
        cls.variant_name = vname
        cls.expect = dict(expect if expect is not None else in_body or {})
        cls._root = root
        root._variants[vname] = cls
        return cls

    return register


def _resolve_action_params(cls: type[Model], act: ActionDecl) -> None:
    annotations = getattr(act.fn, "__annotations__", {})
    indexes = {k: m for k, m in cls._members.items() if isinstance(m, Index)}
    act.arg_indexes = []
    for arg in act.arg_names:
        ann = annotations.get(arg)
        found = None
        if isinstance(ann, Index):
            found = next((k for k, m in indexes.items() if m is ann), None)
        elif isinstance(ann, str):
            key = ann.strip("'\"").rsplit(".", 1)[-1]
            found = key if key in indexes else _index_named_by(ann, act.fn, indexes)
        if found is None:
            raise ModelDefinitionError(
                f"action {act.label}: parameter '{arg}' needs an index-set annotation, "
                f"such as '{arg}: pages' (the model has: {', '.join(indexes) or 'no index sets'})")
        act.arg_indexes.append(found)


# ---------------------------------------------------------------- building a System


FAIRNESS = ("weak", "strong", "none")


def _fairness_of(cls: type[Model], act: ActionDecl, prefix: str) -> str:
    """The fairness of an action: its own entry in ``fairness``, else its owner's.

    Fairness applies to each parameter instance on its own (for all p: WF(dma_write(p))).
    """
    owners = {a.owner for a in cls.actions().values()}
    for key, value in cls.fairness.items():
        if key not in owners and key not in cls.actions():
            raise ModelDefinitionError(f"{prefix}: fairness names '{key}', which is neither an owner "
                                       f"({', '.join(sorted(owners))}) nor an action")
        if value not in FAIRNESS:
            raise ModelDefinitionError(f"{prefix}: fairness['{key}'] = {value!r}; use weak, strong or none")
    value = cls.fairness.get(act.label, cls.fairness.get(act.owner, "none"))
    return "" if value == "none" else value


def _index_named_by(annotation: str, fn: Callable[..., Any], indexes: dict[str, Index]) -> str | None:
    """The index a postponed annotation such as ``"PAGES"`` evaluates to, if any."""
    try:
        value = eval(annotation, getattr(fn, "__globals__", {}))  # the model author's own expression
    except Exception:
        return None
    return next((k for k, m in indexes.items() if m is value), None)


class TraceContext:
    """What tracing a property needs: the layout, the constants and the traced actions."""

    def __init__(self, layout: Layout, constants: dict[str, Any], actions: tuple[ActionIR, ...],
                 prefix: str):
        self.layout = layout
        self.constants = constants
        self.actions = actions
        self.prefix = prefix

    def view(self, tracer: Tracer) -> StateView:
        return StateView(tracer, self.constants)

    def state_predicate(self, fn: Callable[..., Any], what: str) -> Any:
        tracer = Tracer(self.layout, f"{self.prefix}: {what}", writable=False)
        result = tracer.run(fn, self.view(tracer))
        return _as_bool_node(result, tracer)


def _as_bool_node(result: Any, tracer: Tracer) -> Any:
    if isinstance(result, Term):
        if result.typ != BOOL:
            raise tracer.error(f"returns a {result.typ} value; a predicate must return a boolean")
        return result.node
    try:
        return Const(int(python_bool(result, "the value it returns")), True)
    except ModelDefinitionError as exc:
        raise tracer.error(f"{exc}; a predicate must return a boolean expression") from None


def resolve_params(cls: type[Model], given: dict[str, Any] | None, sizes: dict[str, int] | None = None
                   ) -> dict[str, int]:
    """The parameter values: defaults, then ``given`` (validated), then ``sizes`` of index sets
    taken as they are (the proofs for every size trace a set beyond its allowed range)."""
    declared = cls.parameters()
    values = {k: p.default for k, p in declared.items()}
    for key, raw in (given or {}).items():
        if key not in declared:
            known = ", ".join(declared) or "none"
            raise ParameterError(f"model '{cls.root().name}' has no parameter '{key}' (parameters: {known})")
        values[key] = declared[key].validate(raw, key)
    for key, n in (sizes or {}).items():
        if key not in declared or n < 1:
            raise ParameterError(f"model '{cls.root().name}': no index set '{key}' of size {n}")
        values[key] = n
    return values


def build(cls: type[Model], params: dict[str, Any] | None = None, *, sizes: dict[str, int] | None = None
          ) -> System:
    """Resolve ``params`` (defaults for those not given) and trace the model into a `System`.
    ``sizes`` sets index sets to sizes outside their allowed range (`checker/symbolic/lift.py`
    traces a set at a few sizes to read it for every size).

    Raises `ParameterError` for a bad parameter and `ModelDefinitionError` for a model that
    cannot be traced. Cost: one trace per action instance, linear in their number.
    """
    root = cls.root()
    values = resolve_params(cls, params, sizes)
    prefix = f"{root.name} [{cls.variant_name}]"
    layout, initial = _layout(cls, values, prefix)
    constants = _constants(cls, values)
    _check_sources(cls, constants, {v.name for v in layout.vars}, prefix)
    actions = tuple(_trace_actions(cls, layout, constants, values, prefix))
    traced = {a.name for a in actions}
    dead = tuple(a.label for a in cls.actions().values() if a.label not in traced)
    ctx = TraceContext(layout, constants, actions, prefix)
    props = tuple(m.trace(ctx) for m in cls.property_members())
    names = [p.name for p in props]
    for dup in {n for n in names if names.count(n) > 1}:
        raise ModelDefinitionError(f"{prefix}: property '{dup}' is declared twice")
    reachables = [p.name for p in props if p.kind == "reachable"]
    for p in props:
        if p.witness and p.witness not in reachables:
            raise ModelDefinitionError(
                f"{prefix}: property '{p.name}' names witness '{p.witness}', which is not a "
                f"@reachable property ({', '.join(reachables) or 'none'})")
    for key, verdict in cls.expect.items():
        if key not in names and not (key == "deadlock" and cls.check_deadlock):
            hint = (f"; property names are their functions' names in kebab-case ('{kebab(key)}'), "
                    f"or give @invariant(name='{key}')" if kebab(key) in names else "")
            raise ModelDefinitionError(f"{prefix}: expect names unknown property '{key}' "
                                       f"(properties: {', '.join(names)}){hint}")
        if verdict not in VERDICTS_EXPECTABLE:
            raise ModelDefinitionError(f"{prefix}: expect['{key}'] = {verdict!r}; "
                                       "use 'holds', 'violated' or 'vacuous'")
    finals = [ctx.state_predicate(m.fn, f"final {m.name}") for m in cls._members.values()
              if isinstance(m, FinalDecl)]
    owners = tuple(dict.fromkeys(a.owner for a in actions))
    return System(
        model=root.name, variant=cls.variant_name, params=tuple(sorted(values.items())),
        layout=layout, initial=(initial,), actions=actions, properties=props,
        final=mk("or", *finals) if finals else None, check_deadlock=cls.check_deadlock,
        expect=tuple(sorted(cls.expect.items())), owners=owners, doc=cls.doc(), dead_actions=dead,
        action_docs=tuple((a.label, a.doc.split("\n\n")[0].replace("\n", " "))
                          for a in cls.actions().values()),
        symmetric=tuple((key, tuple(k for k, m in cls._members.items()
                                    if isinstance(m, Array) and m.over is idx))
                        for key, idx in cls._members.items() if isinstance(idx, Index) and idx.symmetric))


def _check_sources(cls: type[Model], constants: dict[str, Any], state: set[str], prefix: str) -> None:
    """Refuse operators that mean something else on Python values (see `source_checks`)."""
    for key, m in cls._members.items():
        fn = getattr(m, "fn", None)
        if fn is None:
            continue
        problem = misuse(fn, constants, state)
        if problem is not None:
            if isinstance(m, ActionDecl):
                what = f"action {m.label}"
            elif isinstance(m, PropertyMember):
                what = f"{getattr(m, 'kind', 'property')} {m.prop_name}"
            else:
                what = f"final {key}"
            raise ModelDefinitionError(f"{prefix}: {what}: {problem}")


def _constants(cls: type[Model], values: dict[str, int]) -> dict[str, Any]:
    constants: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        for key, value in vars(klass).items():
            if not key.startswith("_") and isinstance(value, (bool, int, str, float, tuple, frozenset)):
                constants[key] = value
            elif not key.startswith("_") and isinstance(value, types.FunctionType):
                constants[key] = value  # a helper predicate: s.helper(...) calls it with s
    for key, member in cls._members.items():
        if isinstance(member, Index):
            constants[key] = range(values[key])
        elif isinstance(member, Param):
            constants[key] = values[key]
    return constants


def _layout(cls: type[Model], values: dict[str, int], prefix: str) -> tuple[Layout, tuple[int, ...]]:
    slots: list[SlotInfo] = []
    infos: list[VarInfo] = []
    initial: list[int] = []
    for key, m in cls._members.items():
        if isinstance(m, Array):
            length = values[_index_key(cls, m.over, key, prefix)]
            vtype, init = m.vtype, m.init
        elif isinstance(m, VarType):
            length, vtype, init = None, m, m.init
            if init is VarType._NO_INIT:
                raise ModelDefinitionError(f"{prefix}: variable '{key}' needs an initial value: init=...")
        else:
            continue
        try:
            if isinstance(vtype, Ref):
                domain = vtype.resolve_as(_index_key(cls, vtype.to, key, prefix), values)
            else:
                domain = vtype.resolve(values)
        except ModelDefinitionError as exc:
            raise ModelDefinitionError(f"{prefix}: variable '{key}': {exc}") from None
        label = m.over.label if isinstance(m, Array) else None
        infos.append(VarInfo(key, len(slots), length, label, domain, getattr(m, "doc", "")))
        count = length if length is not None else 1
        inits = list(init) if isinstance(init, (list, tuple)) and length is not None else [init] * count
        if len(inits) != count:
            raise ModelDefinitionError(f"{prefix}: variable '{key}' has {count} elements but "
                                       f"{len(inits)} initial values")
        for i in range(count):
            slots.append(SlotInfo(f"{key}[{i}]" if length is not None else key, key,
                                  i if length is not None else None, domain))
            typ = value_type(domain)
            try:
                node = lift(inits[i], typ).node
            except ModelDefinitionError as exc:
                raise ModelDefinitionError(f"{prefix}: initial value of '{key}': {exc}") from None
            if not domain.lo <= node.value <= domain.hi:
                raise ModelDefinitionError(f"{prefix}: initial value {inits[i]!r} of '{key}' is "
                                           f"outside {domain.describe()}")
            initial.append(node.value)
    if not slots:
        raise ModelDefinitionError(f"{prefix}: the model declares no state variables")
    return Layout(tuple(slots), tuple(infos)), tuple(initial)


def _index_key(cls: type[Model], index: Index, var: str, prefix: str) -> str:
    for key, m in cls._members.items():
        if m is index:
            return key
    raise ModelDefinitionError(f"{prefix}: array '{var}' is over an Index that is not declared in the model")


def _trace_actions(cls: type[Model], layout: Layout, constants: dict[str, Any],
                   values: dict[str, int], prefix: str) -> Iterable[ActionIR]:
    for act in cls.actions().values():
        ranges = [range(values[idx]) for idx in act.arg_indexes]
        for combo in itertools.product(*ranges):
            params = tuple(zip(act.arg_names, combo, strict=True))
            label = f"{act.label}({', '.join(f'{k}={v}' for k, v in params)})"
            tracer = Tracer(layout, f"{prefix}: action {label}")
            result = tracer.run(act.fn, StateView(tracer, constants), *combo)
            if result is not None:
                raise tracer.error("returns a value; an action changes the state by assignment "
                                   "and guards itself with require(...)")
            guard = tracer.guard_node()
            if isinstance(guard, Const) and not guard.value:
                continue  # never enabled for these parameter values (e.g. require(p != q))
            updates = tuple(sorted((i, n) for i, n in tracer.assigned.items() if n != Slot(i)))
            checks = tuple(i for i, n in updates if not _within(n, layout, i))
            yield ActionIR(act.label, params, act.owner, guard, updates, checks,
                           _fairness_of(cls, act, prefix))


def _within(node: Any, layout: Layout, index: int) -> bool:
    lo, hi = interval(node, layout)
    d = layout.slots[index].domain
    return d.lo <= lo and hi <= d.hi
