"""The IR's nodes: small frozen values (hashable, structurally equal) that every backend reads.

What an operator means is in ``operators.py``; building nodes with constant folding is
``expr.mk``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Const:
    value: int
    is_bool: bool = False


@dataclass(frozen=True)
class Slot:
    """A read of one flattened state slot (a scalar variable or one array element)."""

    index: int


@dataclass(frozen=True)
class Op:
    """An operator (a row of ``operators.OPERATORS``) applied to nodes."""

    op: str
    args: tuple[Any, ...]


Node = Const | Slot | Op

TRUE = Const(1, True)
FALSE = Const(0, True)


def slots_read(node: Node) -> set[int]:
    """The slots a node reads (for frame conditions and error messages)."""
    found: set[int] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Slot):
            found.add(n.index)
        elif isinstance(n, Op):
            stack.extend(n.args)
    return found
