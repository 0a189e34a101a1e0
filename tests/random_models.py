"""Random models for the differential test: a seeded generator of small model *descriptions*,
and the migcheck model class each description stands for.

A description is plain data (`Spec`): typed variables, actions with a guard and ordered
updates, invariants (some paired with a witness) and reachable properties, over expression
trees such as ``("lt", ("var", "x"), ("const", 2))``. `to_model` writes it in migcheck's
modelling language (``&``, ``ite``, ``count``, ``s.arr[p]`` ...), so tracing, the IR and every
engine are under test; ``reference_bfs.py`` gives the same description a meaning of its own,
in plain Python. A model with ``symmetric=True`` reads its array only at the action's own
element or through ``count``/``all``/``any``, so it is symmetric by construction, unless it is
``leaky``: declared symmetric, it may also read particular elements, and ``--symmetry`` must
then refuse it or agree with the reference.

Expression trees (``e``: any, ``b``: boolean, ``i``: integer):
``("var", name)``, ``("const", v)``, ``("elem", array)`` (the action's element ``p``),
``("at", array, k)``, ``("not", b)``, ``("and", b, b)``, ``("or", b, b)``, ``("eq", e, e)``,
``("ne", e, e)``, ``("lt", i, i)``, ``("le", i, i)``, ``("add", i, i)``, ``("sub", i, i)``,
``("ite", b, e, e)``, ``("count", array)``, ``("all", array)``, ``("any", array)``,
``("is", enum_var, label)``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

Expr = tuple[Any, ...]


@dataclass(frozen=True)
class Var:
    name: str
    kind: str  # "bool", "int" or "enum"
    lo: int = 0
    hi: int = 1
    labels: tuple[str, ...] = ()
    init: Any = 0
    array: bool = False  # an array over the model's index set


@dataclass(frozen=True)
class Act:
    name: str
    indexed: bool  # takes a parameter p over the index set
    guard: Expr
    updates: tuple[tuple[str, bool, Expr], ...]  # (variable, at the element p, value), in order


@dataclass(frozen=True)
class Spec:
    seed: int
    size: int  # elements of the index set (0: the model has none)
    symmetric: bool
    vars: tuple[Var, ...]
    actions: tuple[Act, ...]
    invariants: tuple[tuple[str, Expr, str], ...]  # (name, predicate, witness name or "")
    reachables: tuple[tuple[str, Expr], ...]
    leaky: bool = False  # declared symmetric, yet may read particular elements

    def var(self, name: str) -> Var:
        return next(v for v in self.vars if v.name == name)


# ---------------------------------------------------------------- generating descriptions


class _Gen:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.seed = seed

    def spec(self) -> Spec:
        rng = self.rng
        size = rng.choice((0, 2, 2, 3))
        symmetric = size > 0 and rng.random() < 0.5
        scalars = []
        for k in range(rng.randint(2, 3)):
            kind = rng.choice(("bool", "int", "int", "enum"))
            scalars.append(self.var(f"v{k}", kind, array=False))
        arrays = [self.var(f"a{k}", rng.choice(("bool", "bool", "int")), array=True)
                  for k in range(rng.randint(1, 2) if size else 0)]
        self.vars = (*scalars, *arrays)
        self.size, self.symmetric = size, symmetric
        # drawn apart, so that the other seeds keep their models
        self.leaky = symmetric and random.Random(self.seed * 7919 + 1).random() < 0.25
        actions = [self.action(f"act{k}", indexed=bool(arrays) and rng.random() < 0.5)
                   for k in range(rng.randint(2, 5))]
        reachables = [(f"seen{k}", self.boolean(2, None)) for k in range(rng.randint(1, 2))]
        invariants = []
        for k in range(rng.randint(1, 3)):
            pred = self.boolean(2, None)
            if rng.random() < 0.5:  # a disjunction holds more often: both verdicts get exercised
                pred = ("or", pred, self.boolean(1, None))
            witness = rng.choice(reachables)[0] if rng.random() < 0.4 else ""
            invariants.append((f"inv{k}", pred, witness))
        return Spec(self.seed, size, symmetric, self.vars, tuple(actions), tuple(invariants),
                    tuple(reachables), self.leaky)

    def var(self, name: str, kind: str, array: bool) -> Var:
        rng = self.rng
        if kind == "bool":
            return Var(name, "bool", 0, 1, init=rng.random() < 0.3, array=array)
        if kind == "enum":
            labels = tuple(f"m{j}" for j in range(rng.randint(2, 3)))
            return Var(name, "enum", 0, len(labels) - 1, labels, init=rng.choice(labels), array=array)
        lo = rng.choice((0, 0, -1))
        hi = lo + rng.randint(2, 4)
        return Var(name, "int", lo, hi, init=rng.randint(lo, hi), array=array)

    def action(self, name: str, indexed: bool) -> Act:
        rng = self.rng
        guard = ("const", True) if rng.random() < 0.35 else self.boolean(rng.choice((1, 1, 2)), indexed)
        targets = [(v.name, False) for v in self.vars if not v.array]
        if indexed:
            targets += [(v.name, True) for v in self.vars if v.array]
        elif not self.symmetric or self.leaky:
            targets += [(v.name, k) for v in self.vars if v.array for k in range(self.size)]
        rng.shuffle(targets)
        updates = []
        for target, at in targets[:rng.randint(1, min(3, len(targets)))]:
            var = next(v for v in self.vars if v.name == target)
            old = ("var", target) if at is False else ("elem", target) if at is True else ("at", target, at)
            updates.append((target, at, self.value(var, old, indexed)))
        return Act(name, indexed, guard, tuple(updates))

    def value(self, var: Var, old: Expr, indexed: bool | None) -> Expr:
        """A new value for ``var`` (now ``old``), within its domain: integers are clamped by
        ``ite``; often a step from the old value, so that the state space has some depth."""
        rng = self.rng
        if var.kind == "bool":
            return ("not", old) if rng.random() < 0.4 else self.boolean(2, indexed)
        if var.kind == "enum":
            return ("const", rng.choice(var.labels))
        if rng.random() < 0.7:
            return ("clamp", (rng.choice(("add", "sub")), old, ("const", 1)), var.lo, var.hi)
        return ("clamp", self.integer(2, indexed), var.lo, var.hi)

    def leaves(self, kind: str, indexed: bool | None) -> list[Expr]:
        """Reads of variables of ``kind`` ("bool" or "int") this context may make."""
        out: list[Expr] = [("var", v.name) for v in self.vars if not v.array and v.kind == kind]
        for v in self.vars:
            if not v.array or v.kind != kind:
                continue
            if indexed:
                out.append(("elem", v.name))
            if not self.symmetric or self.leaky:
                out += [("at", v.name, k) for k in range(self.size)]
            if kind == "bool":
                out.append((self.rng.choice(("all", "any")), v.name))
        if kind == "int":
            out += [("count", v.name) for v in self.vars if v.array and v.kind == "bool"]
        return out

    def boolean(self, depth: int, indexed: bool | None) -> Expr:
        rng = self.rng
        if depth <= 0 or rng.random() < 0.25:
            choices = self.leaves("bool", indexed)
            enums = [v for v in self.vars if v.kind == "enum" and not v.array]
            if enums and rng.random() < 0.4:
                v = rng.choice(enums)
                return ("is", v.name, rng.choice(v.labels))
            if not choices or rng.random() < 0.3:
                return ("lt", self.integer(0, indexed), self.integer(0, indexed))
            return rng.choice(choices)
        op = rng.choice(("not", "and", "or", "and", "or", "cmp", "cmp", "ite"))
        if op == "not":
            return ("not", self.boolean(depth - 1, indexed))
        if op in ("and", "or"):
            return (op, self.boolean(depth - 1, indexed), self.boolean(depth - 1, indexed))
        if op == "ite":
            return ("ite", self.boolean(depth - 1, indexed), self.boolean(depth - 1, indexed),
                    self.boolean(depth - 1, indexed))
        return (rng.choice(("eq", "ne", "lt", "le")), self.integer(depth - 1, indexed),
                self.integer(depth - 1, indexed))

    def integer(self, depth: int, indexed: bool | None) -> Expr:
        rng = self.rng
        choices = self.leaves("int", indexed)
        if depth <= 0 or rng.random() < 0.3:
            if not choices or rng.random() < 0.3:
                return ("const", rng.randint(-1, 3))
            return rng.choice(choices)
        op = rng.choice(("add", "sub", "ite"))
        if op == "ite":
            return ("ite", self.boolean(depth - 1, indexed), self.integer(depth - 1, indexed),
                    self.integer(depth - 1, indexed))
        return (op, self.integer(depth - 1, indexed), self.integer(depth - 1, indexed))


def generate(seed: int) -> Spec:
    """The description of seed ``seed`` (the same seed, the same model)."""
    return _Gen(seed).spec()


# ---------------------------------------------------------------- the model in migcheck's language


def to_model(spec: Spec) -> type:
    """The migcheck model class ``spec`` describes."""
    from migcheck.models import Array, Bool, Enum, Index, Int, Model, action, require
    from migcheck.properties import invariant, reachable

    ns: dict[str, Any] = {"name": f"random-{spec.seed}"}
    index = None
    if spec.size:
        index = Index("elem", default=spec.size, allowed=range(1, 4), symmetric=spec.symmetric)
        ns["elems"] = index
    for v in spec.vars:
        vtype = (Bool() if v.kind == "bool" else Int(v.lo, v.hi) if v.kind == "int" else Enum(*v.labels))
        if v.array:
            ns[v.name] = Array(index, vtype, init=v.init)
        else:
            vtype.init = v.init
            ns[v.name] = vtype

    def make_action(act: Act):
        def body(s, *p):
            require(_term(act.guard, s, p))
            for target, at, value in act.updates:
                term = _term(value, s, p)
                if at is False:
                    setattr(s, target, term)
                else:
                    getattr(s, target)[p[0] if at is True else at] = term

        body.__name__ = act.name
        if act.indexed:
            def indexed(s, p):
                body(s, p)
            indexed.__name__ = act.name
            indexed.__annotations__ = {"p": index}  # the Index itself, not this module's name for it
            return action(indexed, owner="env")
        return action(lambda s: body(s), owner="env", name=act.name)

    for act in spec.actions:
        ns[act.name] = make_action(act)
    for name, pred, witness in spec.invariants:
        ns[name] = invariant(lambda s, e=pred: _term(e, s, ()), name=name, witness=witness or None)
    for name, pred in spec.reachables:
        ns[name] = reachable(lambda s, e=pred: _term(e, s, ()), name=name)
    return type(f"Random{spec.seed}", (Model,), ns)


def _term(e: Expr, s: Any, p: tuple[int, ...]) -> Any:
    """``e`` written with the modelling language's operators on the traced state ``s``."""
    from migcheck.models import all_, any_, count, ite

    op = e[0]
    if op == "const":
        return e[1]
    if op == "var":
        return getattr(s, e[1])
    if op == "elem":
        return getattr(s, e[1])[p[0]]
    if op == "at":
        return getattr(s, e[1])[e[2]]
    if op == "is":
        return getattr(s, e[1]) == e[2]
    if op in ("count", "all", "any"):
        items = [getattr(s, e[1])[k] for k in s.elems]
        return {"count": count, "all": all_, "any": any_}[op](items)
    if op == "clamp":
        value, lo, hi = _term(e[1], s, p), e[2], e[3]
        return ite(value < lo, lo, ite(hi < value, hi, value))
    args = [_term(a, s, p) for a in e[1:]]
    if op == "not":  # a Python bool (two constants compared) is negated the Python way
        return (not args[0]) if isinstance(args[0], bool) else ~args[0]
    if op == "ite":
        return ite(*args)
    a, b = args  # Python's operators reach the term's methods, reflected when a is a constant
    if op == "and":
        return (a and b) if isinstance(a, bool) and isinstance(b, bool) else a & b
    if op == "or":
        return (a or b) if isinstance(a, bool) and isinstance(b, bool) else a | b
    return {"eq": lambda: a == b, "ne": lambda: a != b, "lt": lambda: a < b, "le": lambda: a <= b,
            "add": lambda: a + b, "sub": lambda: a - b}[op]()
