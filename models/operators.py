"""The IR's operators, each defined once: what it takes, what it gives, and how each backend
writes it.

A row says everything a backend needs about one operator: its arity, whether it yields a
boolean or an integer, its value on integers (booleans as 0/1: the interpreter, constant
folding and the specialiser all read this), its Python source (the compiled search), its C
source (the native backend), its Promela and Murphi source (the peer models in ``bench/``), its
z3 builder (the symbolic engines), how it is shown to people, whether its operands commute
(symmetry's normal form) and the range of values it can take (domain checks).
``tests/test_operators.py`` enumerates the table and fails when a row lacks a column or a
backend disagrees with ``evaluate``.

The z3 column receives the z3 module and the already translated operands, so this module does
not import z3 (``migcheck list`` and the explicit engine never load it).

>>> OPERATORS["add"].evaluate(2, 3), OPERATORS["add"].python(["v0", "1"])
(5, '(v0 + 1)')
>>> evaluate(Op("ite", (Slot(0), Const(7), Const(9))), (0,))
9
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .nodes import Const, Node, Op, Slot

Interval = tuple[int, int]


@dataclass(frozen=True)
class Operator:
    """One row of the table. ``arity`` None means two operands or more (``and``, ``or``)."""

    name: str
    arity: int | None
    boolean: bool  # the result is a boolean (else an integer, or the branches' type for ite)
    commutative: bool
    evaluate: Callable[..., int]  # operand values -> value (booleans as 0/1)
    python: Callable[[list[str]], str]  # operand sources -> a Python expression
    c: Callable[[list[str]], str]  # operand sources -> a C expression (int64 values)
    promela: Callable[[list[str]], str]  # operand sources -> a Promela expression (bench/peer)
    murphi: Callable[[list[str]], str]  # operand sources, coerced as ``operands`` says -> Murphi
    operands: str  # "bool", "int" or "ite" (a boolean, then two integers): for typed languages
    z3: Callable[[Any, list[Any]], Any]  # (the z3 module, operand terms) -> a z3 term
    show: Callable[[list[str]], str]  # operand texts -> text for people
    interval: Callable[[list[Interval]], Interval]  # operand ranges -> a sound range of the result
    # (a op b) op c is a op (b op c): a chain may be read as one operator (symmetry's normal
    # form); ``unit`` is the operand value such a chain drops (None: it drops none)
    associative: bool = False
    unit: int | None = None


# ---------------------------------------------------------------- z3 coercions
# The IR mixes 0/1 integers and booleans (a folded ite loses its boolean flag); the z3 builders
# coerce where an operator needs one or the other.


def z3_bool(z3: Any, e: Any) -> Any:
    """A z3 term as a boolean: integers are true when non-zero."""
    return e if z3.is_bool(e) else e != 0


def z3_int(z3: Any, e: Any) -> Any:
    """A z3 term as an integer: booleans are 0/1."""
    return z3.If(e, 1, 0) if z3.is_bool(e) else e


def z3_conj(z3: Any, items: Sequence[Any], ctx: Any) -> Any:
    """The conjunction of ``items``, true when there are none; constants folded."""
    items = [i for i in items if not z3.is_true(i)]
    if any(z3.is_false(i) for i in items):
        return z3.BoolVal(False, ctx)
    return z3.BoolVal(True, ctx) if not items else items[0] if len(items) == 1 else z3.And(*items)


def z3_disj(z3: Any, items: Sequence[Any], ctx: Any) -> Any:
    """The disjunction of ``items``, false when there are none; constants folded."""
    items = [i for i in items if not z3.is_false(i)]
    if any(z3.is_true(i) for i in items):
        return z3.BoolVal(True, ctx)
    return z3.BoolVal(False, ctx) if not items else items[0] if len(items) == 1 else z3.Or(*items)


def _z3_same(z3: Any, a: Any, b: Any) -> tuple[Any, Any]:
    """Two operands of one type: both booleans, or both integers."""
    return (a, b) if z3.is_bool(a) and z3.is_bool(b) else (z3_int(z3, a), z3_int(z3, b))


def _z3_ite(z3: Any, args: list[Any]) -> Any:
    c, a, b = args
    a, b = _z3_same(z3, a, b)
    return z3.If(z3_bool(z3, c), a, b)


def _z3_compare(how: Callable[[Any, Any], Any], same: bool) -> Callable[[Any, list[Any]], Any]:
    """A comparison's builder; ``same`` lets booleans compare as booleans (eq, ne)."""
    def build(z3: Any, args: list[Any]) -> Any:
        a, b = _z3_same(z3, *args) if same else (z3_int(z3, args[0]), z3_int(z3, args[1]))
        return how(a, b)
    return build


def _z3_arith(how: Callable[[Any, Any], Any]) -> Callable[[Any, list[Any]], Any]:
    return lambda z3, args: how(z3_int(z3, args[0]), z3_int(z3, args[1]))


# ---------------------------------------------------------------- intervals


def _compare_interval(never: Callable[..., bool], always: Callable[..., bool]) -> Callable:
    def interval(parts: list[Interval]) -> Interval:
        (a, b), (c, d) = parts
        return (0, 0) if never(a, b, c, d) else (1, 1) if always(a, b, c, d) else (0, 1)
    return interval


def _mul_interval(parts: list[Interval]) -> Interval:
    (a, b), (c, d) = parts
    prods = (a * c, a * d, b * c, b * d)
    return min(prods), max(prods)


def _infix(symbol: str) -> Callable[[list[str]], str]:
    return lambda a: f"({a[0]} {symbol} {a[1]})"


def _joined(symbol: str) -> Callable[[list[str]], str]:
    return lambda a: "(" + f" {symbol} ".join(a) + ")"


# ---------------------------------------------------------------- the table

_ROWS = (
    Operator("not", 1, True, False,
             evaluate=lambda a: int(not a),
             python=lambda a: f"(not {a[0]})",
             c=lambda a: f"(!{a[0]})",
             promela=lambda a: f"(!{a[0]})",
             murphi=lambda a: f"(!{a[0]})", operands="bool",
             z3=lambda z3, a: z3.Not(z3_bool(z3, a[0])),
             show=lambda a: f"~{a[0]}",
             interval=lambda p: (1 - p[0][1], 1 - p[0][0])),
    Operator("and", None, True, True,
             evaluate=lambda *v: int(all(v)),
             python=_joined("and"),
             c=_joined("&&"),
             promela=_joined("&&"),
             murphi=_joined("&"), operands="bool",
             z3=lambda z3, a: z3_conj(z3, [z3_bool(z3, x) for x in a], a[0].ctx),
             show=lambda a: "(" + " & ".join(a) + ")",
             interval=lambda p: (min(lo for lo, _ in p), min(hi for _, hi in p)),
             associative=True),
    Operator("or", None, True, True,
             evaluate=lambda *v: int(any(v)),
             python=_joined("or"),
             c=_joined("||"),
             promela=_joined("||"),
             murphi=_joined("|"), operands="bool",
             z3=lambda z3, a: z3_disj(z3, [z3_bool(z3, x) for x in a], a[0].ctx),
             show=lambda a: "(" + " | ".join(a) + ")",
             interval=lambda p: (max(lo for lo, _ in p), max(hi for _, hi in p)),
             associative=True),
    Operator("eq", 2, True, True,
             evaluate=lambda a, b: int(a == b),
             python=_infix("=="), c=_infix("=="),
             promela=_infix("=="),
             murphi=_infix("="), operands="int",
             z3=_z3_compare(lambda a, b: a == b, same=True),
             show=lambda a: f"({a[0]} = {a[1]})",
             interval=_compare_interval(lambda a, b, c, d: b < c or d < a,
                                        lambda a, b, c, d: a == b == c == d)),
    Operator("ne", 2, True, True,
             evaluate=lambda a, b: int(a != b),
             python=_infix("!="), c=_infix("!="),
             promela=_infix("!="),
             murphi=_infix("!="), operands="int",
             z3=_z3_compare(lambda a, b: a != b, same=True),
             show=lambda a: f"({a[0]} != {a[1]})",
             interval=_compare_interval(lambda a, b, c, d: a == b == c == d,
                                        lambda a, b, c, d: b < c or d < a)),
    Operator("lt", 2, True, False,
             evaluate=lambda a, b: int(a < b),
             python=_infix("<"), c=_infix("<"),
             promela=_infix("<"),
             murphi=_infix("<"), operands="int",
             z3=_z3_compare(lambda a, b: a < b, same=False),
             show=lambda a: f"({a[0]} < {a[1]})",
             interval=_compare_interval(lambda a, b, c, d: a >= d, lambda a, b, c, d: b < c)),
    Operator("le", 2, True, False,
             evaluate=lambda a, b: int(a <= b),
             python=_infix("<="), c=_infix("<="),
             promela=_infix("<="),
             murphi=_infix("<="), operands="int",
             z3=_z3_compare(lambda a, b: a <= b, same=False),
             show=lambda a: f"({a[0]} <= {a[1]})",
             interval=_compare_interval(lambda a, b, c, d: a > d, lambda a, b, c, d: b <= c)),
    Operator("add", 2, False, True,
             evaluate=lambda a, b: a + b,
             python=_infix("+"), c=_infix("+"),
             promela=_infix("+"),
             murphi=_infix("+"), operands="int",
             z3=_z3_arith(lambda a, b: a + b),
             show=lambda a: f"({a[0]} + {a[1]})",
             interval=lambda p: (p[0][0] + p[1][0], p[0][1] + p[1][1]),
             associative=True, unit=0),
    Operator("sub", 2, False, False,
             evaluate=lambda a, b: a - b,
             python=_infix("-"), c=_infix("-"),
             promela=_infix("-"),
             murphi=_infix("-"), operands="int",
             z3=_z3_arith(lambda a, b: a - b),
             show=lambda a: f"({a[0]} - {a[1]})",
             interval=lambda p: (p[0][0] - p[1][1], p[0][1] - p[1][0])),
    Operator("mul", 2, False, True,
             evaluate=lambda a, b: a * b,
             python=_infix("*"), c=_infix("*"),
             promela=_infix("*"),
             murphi=_infix("*"), operands="int",
             z3=_z3_arith(lambda a, b: a * b),
             show=lambda a: f"({a[0]} * {a[1]})",
             interval=_mul_interval,
             associative=True, unit=1),
    Operator("ite", 3, False, False,
             evaluate=lambda c, a, b: a if c else b,
             python=lambda a: f"({a[1]} if {a[0]} else {a[2]})",
             c=lambda a: f"({a[0]} ? {a[1]} : {a[2]})",
             promela=lambda a: f"({a[0]} -> {a[1]} : {a[2]})",
             murphi=lambda a: f"({a[0]} ? {a[1]} : {a[2]})", operands="ite",
             z3=_z3_ite,
             show=lambda a: f"ite({a[0]}, {a[1]}, {a[2]})",
             interval=lambda p: (min(p[1][0], p[2][0]), max(p[1][1], p[2][1]))),
)

OPERATORS: dict[str, Operator] = {row.name: row for row in _ROWS}
BOOL_OPS = frozenset(name for name, row in OPERATORS.items() if row.boolean)
COMMUTATIVE = frozenset(name for name, row in OPERATORS.items() if row.commutative)
ASSOCIATIVE = {name: row.unit for name, row in OPERATORS.items() if row.associative}


def evaluate(node: Node, env: Sequence[int] | Mapping[int, int]) -> int:
    """The value of ``node`` when slot ``k`` holds ``env[k]`` (a state tuple, or a dict of the
    slots known): the one evaluator of the IR. Linear in the node."""
    if isinstance(node, Const):
        return node.value
    if isinstance(node, Slot):
        return env[node.index]
    return OPERATORS[node.op].evaluate(*(evaluate(a, env) for a in node.args))


def source(node: Node, language: str, slot: Callable[[int], str] = lambda k: f"v{k}") -> str:
    """``node`` written in ``language`` ("python" or "c") over the locals ``slot`` names."""
    if isinstance(node, Const):
        return str(node.value)
    if isinstance(node, Slot):
        return slot(node.index)
    assert isinstance(node, Op), node
    write = getattr(OPERATORS[node.op], language)
    return write([source(a, language, slot) for a in node.args])
