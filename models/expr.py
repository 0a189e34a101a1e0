"""Building IR nodes (folding constants) and the `Term` wrapper that model code manipulates
while being traced.

IR nodes are in ``nodes.py`` and what each operator means in ``operators.py``. A `Term` pairs a
node with its type and overloads Python's operators so that model code reads naturally
(``s.bme & s.mapped[p]``); using a term as a Python truth value raises, because a traced action
cannot branch on state.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .errors import ModelDefinitionError
from .nodes import FALSE, TRUE, Const, Node, Op, Slot, slots_read  # noqa: F401  (re-exported)
from .operators import BOOL_OPS, OPERATORS

# ---------------------------------------------------------------- building nodes


def mk(op: str, *args: Node) -> Node:
    """Build an operator node, folding constants and trivial cases."""
    if op not in OPERATORS:
        raise ValueError(f"unknown IR operator '{op}' (operators: {', '.join(OPERATORS)})")
    if all(isinstance(a, Const) for a in args):
        return _fold(op, [a.value for a in args])
    if op == "not":
        (a,) = args
        if isinstance(a, Op) and a.op == "not":
            return a.args[0]
    elif op in ("and", "or"):
        absorbing, neutral = (FALSE, TRUE) if op == "and" else (TRUE, FALSE)
        flat: list[Node] = []
        for a in args:
            if isinstance(a, Const):
                if bool(a.value) == bool(absorbing.value):
                    return absorbing
                continue
            flat.extend(a.args if isinstance(a, Op) and a.op == op else (a,))
        if not flat:
            return neutral
        if len(flat) == 1:
            return flat[0]
        return Op(op, tuple(flat))
    elif op == "ite":
        c, a, b = args
        if isinstance(c, Const):
            return a if c.value else b
        if a == b:
            return a
    return Op(op, tuple(args))


def _fold(op: str, vals: list[int]) -> Const:
    return Const(OPERATORS[op].evaluate(*vals), op in BOOL_OPS)


# ---------------------------------------------------------------- terms

BOOL = "bool"
INT = "int"


@dataclass(frozen=True)
class RefType:
    """The type of a reference to an element of an index set (a page number, say), or None.

    References can be compared for equality and stored, not ordered or added: that is what
    lets a symmetric index set's elements be permuted (see ``checker/symmetry.py``). At run
    time element k is k and None is ``size``.
    """

    index: str
    size: int
    none: bool = True


class StateBranch(Exception):
    """Raised when a traced term is used as a Python truth value; the tracer adds context."""

    def __init__(self, variable: str):
        super().__init__(variable)
        self.variable = variable


class Term:
    """A typed expression under construction. ``typ`` is "bool", "int" or a tuple of enum labels."""

    __slots__ = ("names", "node", "typ")

    def __init__(self, node: Node, typ: Any, names: tuple[str, ...] = ()):
        self.node = node
        self.typ = typ
        self.names = names  # variable names read, for messages

    # Python control flow on state cannot be traced.
    def __bool__(self) -> bool:
        raise StateBranch(self.names[0] if self.names else "?")

    __hash__ = None  # type: ignore[assignment]  # == builds a term, so terms are not keys

    def __repr__(self) -> str:
        return f"Term({self.node})"

    # -- boolean connectives
    def __and__(self, other: Any) -> Term:
        return _bool_op("and", self, other)

    __rand__ = __and__

    def __or__(self, other: Any) -> Term:
        return _bool_op("or", self, other)

    __ror__ = __or__

    def __invert__(self) -> Term:
        _expect(self, BOOL, "~")
        return Term(mk("not", self.node), BOOL, self.names)

    def __xor__(self, other: Any) -> Term:
        return self != other

    # -- comparisons
    def __eq__(self, other: object) -> Term:  # type: ignore[override]
        a, b = _coerce_pair(self, other, "==")
        return Term(mk("eq", a.node, b.node), BOOL, a.names + b.names)

    def __ne__(self, other: object) -> Term:  # type: ignore[override]
        a, b = _coerce_pair(self, other, "!=")
        return Term(mk("ne", a.node, b.node), BOOL, a.names + b.names)

    def __lt__(self, other: Any) -> Term:
        return _order("lt", self, other, "<")

    def __le__(self, other: Any) -> Term:
        return _order("le", self, other, "<=")

    def __gt__(self, other: Any) -> Term:
        return _order("lt", lift(other, INT), self, ">")

    def __ge__(self, other: Any) -> Term:
        return _order("le", lift(other, INT), self, ">=")

    def is_none(self) -> Term:
        """True when a reference (`Ref`) refers to nothing: ``s.buf[i].is_none()``."""
        if not (isinstance(self.typ, RefType) and self.typ.none):
            what = _typename(self.typ) + (f" ({self.names[0]})" if self.names else "")
            raise ModelDefinitionError(f"is_none() needs a Ref(..., none=True) value, got {what}")
        return self == None  # noqa: E711  (builds a term; None is the reference's null value)

    def isin(self, *values: Any) -> Term:
        """True when the term equals one of ``values``: ``s.phase.isin("stopped", "switched")``."""
        return any_(self == v for v in values)

    # -- arithmetic on integers
    def __add__(self, other: Any) -> Term:
        return _arith("add", self, other, "+")

    def __radd__(self, other: Any) -> Term:
        return _arith("add", lift(other, INT), self, "+")

    def __sub__(self, other: Any) -> Term:
        return _arith("sub", self, other, "-")

    def __rsub__(self, other: Any) -> Term:
        return _arith("sub", lift(other, INT), self, "-")

    def __mul__(self, other: Any) -> Term:
        return _arith("mul", self, other, "*")

    __rmul__ = __mul__


def lift(value: Any, typ: Any) -> Term:
    """A Python constant (bool, int or enum label) as a term of type ``typ``."""
    if isinstance(value, Term):
        return value
    if isinstance(typ, tuple):
        if value not in typ:
            raise ModelDefinitionError(f"{value!r} is not a value of Enum({', '.join(typ)})")
        return Term(Const(typ.index(value)), typ)
    if isinstance(typ, RefType):
        if value is None and typ.none:
            return Term(Const(typ.size), typ)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < typ.size:
            allowed = f"0..{typ.size - 1}" + (" or None" if typ.none else "")
            raise ModelDefinitionError(f"{value!r} is not a {typ.index} ({allowed})")
        return Term(Const(value), typ)
    if typ == BOOL:
        return Term(Const(int(python_bool(value, "the value")), True), BOOL)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ModelDefinitionError(f"{value!r} is not an integer")
    return Term(Const(value), INT)


def python_bool(value: Any, where: str) -> bool:
    """``value`` if it is a Python ``bool``; anything else where a boolean is meant is refused.

    Python's truth rules would accept it silently: ``~True`` is ``-2`` (integer inversion),
    which is truthy, so ``ite(~s.BUGGY, a, b)`` would take the wrong branch.
    """
    if isinstance(value, bool):
        return value
    hint = ""
    if isinstance(value, int) and value in (-1, -2):
        hint = ("; '~' on a Python bool is integer inversion (~True == -2, ~False == -1): "
                "write 'not s.FLAG', not '~s.FLAG', for a Python flag")
    elif isinstance(value, int) and value in (0, 1):
        hint = f"; write {bool(value)}"
    raise ModelDefinitionError(f"{where} is {value!r}, not a boolean{hint}")


def _expect(t: Term, typ: Any, what: str) -> None:
    if t.typ != typ:
        raise ModelDefinitionError(f"'{what}' needs {_typename(typ)} operands, got {_typename(t.typ)}"
                                   + (f" ({t.names[0]})" if t.names else ""))


def _typename(typ: Any) -> str:
    if isinstance(typ, RefType):
        return f"Ref({typ.index})"
    return f"Enum({', '.join(typ)})" if isinstance(typ, tuple) else typ


def _coerce_pair(a: Term, other: Any, what: str) -> tuple[Term, Term]:
    b = lift(other, a.typ)
    if a.typ != b.typ:
        raise ModelDefinitionError(f"'{what}' compares {_typename(a.typ)} with {_typename(b.typ)}")
    return a, b


def _bool_op(op: str, a: Any, b: Any) -> Term:
    symbol = "&" if op == "and" else "|"
    ta, tb = (x if isinstance(x, Term) else lift(python_bool(x, f"an operand of '{symbol}'"), BOOL)
              for x in (a, b))
    _expect(ta, BOOL, symbol)
    _expect(tb, BOOL, symbol)
    return Term(mk(op, ta.node, tb.node), BOOL, ta.names + tb.names)


def _order(op: str, a: Term, other: Any, what: str) -> Term:
    b = lift(other, INT)
    _expect(a, INT, what)
    _expect(b, INT, what)
    return Term(mk(op, a.node, b.node), BOOL, a.names + b.names)


def _arith(op: str, a: Term, other: Any, what: str) -> Term:
    b = lift(other, INT)
    _expect(a, INT, what)
    _expect(b, INT, what)
    return Term(mk(op, a.node, b.node), INT, a.names + b.names)


# ---------------------------------------------------------------- model-facing helpers


def ite(cond: Any, then: Any, otherwise: Any) -> Any:
    """``then`` where ``cond`` holds, else ``otherwise``: the traceable form of a Python ``if``."""
    if not isinstance(cond, Term):
        return then if python_bool(cond, "the condition of ite()") else otherwise
    _expect(cond, BOOL, "ite")
    ref = then if isinstance(then, Term) else otherwise
    if not isinstance(ref, Term):
        typ = BOOL if isinstance(then, bool) else INT
    else:
        typ = ref.typ
    a, b = lift(then, typ), lift(otherwise, typ)
    if a.typ != b.typ:
        raise ModelDefinitionError(f"ite: branches differ in type ({_typename(a.typ)}, {_typename(b.typ)})")
    return Term(mk("ite", cond.node, a.node, b.node), typ, cond.names + a.names + b.names)


def implies(a: Any, b: Any) -> Any:
    """Logical implication ``a => b``."""
    if not isinstance(a, Term) and not isinstance(b, Term):
        return (not python_bool(a, "an operand of implies()")) or python_bool(b, "an operand of implies()")
    return _bool_op("or", ~lift(a, BOOL), b)


def all_(items: Iterable[Any]) -> Any:
    """Conjunction over a finite, trace-time iterable (for example over the pages)."""
    result: Any = True
    for item in items:
        if not isinstance(item, Term):
            item = python_bool(item, "an item of all_()")
        result = result & item if isinstance(result, Term) or isinstance(item, Term) else (result and item)
    return result


def any_(items: Iterable[Any]) -> Any:
    """Disjunction over a finite, trace-time iterable."""
    result: Any = False
    for item in items:
        if not isinstance(item, Term):
            item = python_bool(item, "an item of any_()")
        result = result | item if isinstance(result, Term) or isinstance(item, Term) else (result or item)
    return result


def count(items: Iterable[Any]) -> Any:
    """How many of the boolean items hold (an integer term)."""
    total: Any = 0
    for item in items:
        total = total + ite(item, 1, 0)
    return total
