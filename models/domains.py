"""Declarations of a model's parameters, index sets and typed finite state variables.

Every value is a small integer at run time: booleans are 0/1, bounded integers are
themselves, enum values are their position in the enum. Bounds may name a parameter so
that a domain grows with the model's size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .errors import ModelDefinitionError, ParameterError


class Member:
    """Something declared in a model's class body; gets its attribute name on class creation."""

    name: str = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name


class Param(Member):
    """A model parameter: an integer with a default and an allowed range.

    >>> Param(default=2, allowed=range(1, 5)).validate(3, "pages")
    3
    """

    def __init__(self, default: int, allowed: Iterable[int], doc: str = ""):
        if isinstance(allowed, range) and allowed.step == 1:
            self.allowed: range | tuple[int, ...] = range(allowed.start, allowed.stop)
        else:
            self.allowed = tuple(allowed)
        if not self.allowed or any(isinstance(v, bool) or not isinstance(v, int) for v in self.allowed):
            raise ModelDefinitionError(f"allowed={allowed!r}: a parameter's allowed values are "
                                       "a non-empty range or tuple of integers")
        if isinstance(default, bool) or not isinstance(default, int) or default not in self.allowed:
            raise ModelDefinitionError(f"default={default!r} is not one of the allowed values "
                                       f"({self.describe_allowed()})")
        self.default = default
        self.doc = doc

    def describe_allowed(self) -> str:
        if isinstance(self.allowed, range):
            return f"{self.allowed.start}..{self.allowed.stop - 1}"
        return ", ".join(str(v) for v in self.allowed)

    def validate(self, value: Any, name: str) -> int:
        if isinstance(value, str):
            try:
                value = int(value, 0)
            except ValueError:
                raise ParameterError(
                    f"parameter '{name}': '{value}' is not an integer; allowed {self.describe_allowed()}"
                ) from None
        if isinstance(value, bool) or not isinstance(value, int) or value not in self.allowed:
            raise ParameterError(
                f"parameter '{name}' = {value!r} is outside its range; allowed {self.describe_allowed()}"
            )
        return value


class Index(Param):
    """A finite index set such as the RX buffer pages, sized by a parameter of its own.

    ``symmetric`` declares that the elements are interchangeable (used by symmetry reduction).
    """

    def __init__(self, label: str, default: int, allowed: Iterable[int], symmetric: bool = False,
                 doc: str = ""):
        super().__init__(default, allowed, doc)
        if min(self.allowed) < 0:
            raise ModelDefinitionError(f"Index {label!r}: allowed sizes {self.describe_allowed()} "
                                       "include a negative one")
        self.label = label
        self.symmetric = symmetric


Bound = int | str | Callable[[dict[str, int]], int]  # literal, parameter name, or f(params)


@dataclass(frozen=True)
class Domain:
    """The resolved, concrete domain of one state slot."""

    kind: str  # "bool" | "int" | "enum" | "ref"
    lo: int
    hi: int
    labels: tuple[str, ...] = ()
    of: str = ""  # for "ref": the index set referred to (its key in the model)
    none: bool = False  # for "ref": whether hi (one past the last element) means None

    def render(self, value: int) -> Any:
        """The value as a person reads it: True/False, an int, or the enum label."""
        if self.kind == "bool":
            return bool(value)
        if self.kind == "enum":
            return self.labels[value]
        if self.kind == "ref" and self.none and value == self.hi:
            return None
        return value

    def parse(self, shown: Any) -> int:
        """The inverse of :meth:`render`, for values read back from JSON."""
        if self.kind == "enum":
            if shown not in self.labels:
                raise ValueError(f"{shown!r} is not one of {', '.join(self.labels)}")
            return self.labels.index(shown)
        if self.kind == "bool":
            if not isinstance(shown, bool):
                raise ValueError(f"{shown!r} is not a boolean")
            return int(shown)
        if self.kind == "ref":
            if shown is None and self.none:
                return self.hi
            last = self.hi - 1 if self.none else self.hi
            if isinstance(shown, bool) or not isinstance(shown, int) or not 0 <= shown <= last:
                raise ValueError(f"{shown!r} is not a {self.of} (0..{last}"
                                 + (" or null)" if self.none else ")"))
            return shown
        if isinstance(shown, bool) or not isinstance(shown, int) or not self.lo <= shown <= self.hi:
            raise ValueError(f"{shown!r} is not an integer in {self.lo}..{self.hi}")
        return shown

    def describe(self) -> str:
        if self.kind == "bool":
            return "Bool"
        if self.kind == "enum":
            return "Enum(" + ", ".join(self.labels) + ")"
        if self.kind == "ref":
            return f"Ref({self.of}" + (", none=True)" if self.none else ")")
        return f"Int({self.lo}, {self.hi})"


class VarType(Member):
    """A scalar type: :class:`Bool`, :class:`Int` or :class:`Enum`.

    Written in a class body with ``init=`` it declares a scalar state variable; inside
    :func:`Array` it is the element type.
    """

    _NO_INIT = object()

    def __init__(self, init: Any = _NO_INIT, doc: str = ""):
        self.init = init
        self.doc = doc

    def resolve(self, params: dict[str, int]) -> Domain:
        raise NotImplementedError


class Bool(VarType):
    """A boolean: ``bme = Bool(init=True)``."""

    def __init__(self, init: Any = False, doc: str = ""):
        super().__init__(init, doc)

    def resolve(self, params: dict[str, int]) -> Domain:
        return Domain("bool", 0, 1)


class Int(VarType):
    """A bounded integer ``lo..hi``; a bound may name a parameter: ``Int(0, "rounds", init=0)``."""

    def __init__(self, lo: Bound, hi: Bound, init: Any = VarType._NO_INIT, doc: str = ""):
        super().__init__(init, doc)
        self.lo, self.hi = lo, hi

    def resolve(self, params: dict[str, int]) -> Domain:
        lo, hi = (_bound(b, params) for b in (self.lo, self.hi))
        if lo > hi:
            raise ModelDefinitionError(f"Int({self.lo}, {self.hi}) is empty with {params}")
        return Domain("int", lo, hi)


class Enum(VarType):
    """A finite set of named values: ``phase = Enum("precopy", "stopped", init="precopy")``."""

    def __init__(self, *labels: str, init: Any = VarType._NO_INIT, doc: str = ""):
        super().__init__(init, doc)
        if not labels or len(set(labels)) != len(labels):
            raise ModelDefinitionError(f"Enum{labels}: needs distinct labels")
        if not all(isinstance(label, str) for label in labels):
            raise ModelDefinitionError(f"Enum{labels}: labels are strings: Enum('precopy', 'stopped')")
        self.labels = labels

    def resolve(self, params: dict[str, int]) -> Domain:
        return Domain("enum", 0, len(self.labels) - 1, tuple(self.labels))


class Ref(VarType):
    """A reference to an element of an index set, or None: ``buf = Array(slots, Ref(pages))``.

    References are compared and assigned, never ordered or added, so a ``symmetric`` index
    set stays symmetric when state refers to its elements (symmetry reduction renames them).
    """

    def __init__(self, to: Index, none: bool = True, init: Any = VarType._NO_INIT, doc: str = ""):
        if not isinstance(to, Index):
            raise ModelDefinitionError(f"Ref({to!r}): the argument must be an Index of the model")
        super().__init__(init, doc)
        self.to = to
        self.none = none

    def resolve(self, params: dict[str, int]) -> Domain:
        raise ModelDefinitionError("Ref(...) is resolved with the name of its index: use resolve_as")

    def resolve_as(self, key: str, params: dict[str, int]) -> Domain:
        """The domain, given ``key``, the model's name for the index referred to."""
        size = params[key]
        return Domain("ref", 0, size if self.none else size - 1, of=key, none=self.none)


def _bound(bound: Bound, params: dict[str, int]) -> int:
    if isinstance(bound, str):
        if bound not in params:
            raise ModelDefinitionError(f"bound '{bound}' names no parameter of the model")
        return params[bound]
    value = bound(params) if callable(bound) else bound
    if isinstance(value, bool) or not isinstance(value, int):
        shown = f"a bound function returned {value!r}" if callable(bound) else f"bound {value!r}"
        raise ModelDefinitionError(f"{shown}, not an integer; a bound is an int, the name of a "
                                   "parameter, or a function of the parameters returning an int")
    return value


class Array(Member):
    """An array of scalars indexed by an :class:`Index`: ``dirty = Array(pages, Bool, init=True)``.

    ``init`` is one value for every element, or a list with one value per element.
    """

    def __init__(self, over: Index, vtype: VarType | type, init: Any, doc: str = ""):
        if vtype is Bool:
            vtype = Bool()
        if not isinstance(vtype, VarType):
            raise ModelDefinitionError(
                f"Array element type {vtype!r}: use Bool, Int(lo, hi) or Enum(...)")
        if not isinstance(over, Index):
            raise ModelDefinitionError(f"Array over {over!r}: the first argument must be an Index")
        self.over = over
        self.vtype = vtype
        self.init = init
        self.doc = doc
