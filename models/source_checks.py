"""Mistakes only a model function's source shows: Python operators that act before tracing can.

Tracing sees values, not operators. Two Python operators give a wrong value silently:

- ``~`` on a Python bool (a variant flag such as ``s.BUGGY``) is integer inversion: ``~True``
  is ``-2`` and ``~False`` is ``-1``, both truthy, so ``if ~s.BUGGY:`` always takes its branch;
- ``is`` / ``is not`` on a state variable (``s.buf is None``) asks whether the traced term is
  that very object, which it never is, so the condition is a constant ``False`` (or ``True``).

Where one reaches the IR as a boolean it is refused there (`expr.python_bool`); this check
also catches the uses that never reach it (a Python ``if`` on a flag). A function whose source
cannot be read (built at run time) is not checked here.
"""

from __future__ import annotations

import ast
import functools
import inspect
import os
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class _Use:
    """An operator applied to ``root.attr`` (or to the name ``attr`` when ``root`` is empty)."""

    operator: str  # "~" or "is"
    root: str
    attr: str
    line: int


def misuse(fn: Callable[..., Any], constants: dict[str, Any], state: set[str]) -> str | None:
    """What is wrong in ``fn``'s source, as a message ending with the fix, or None.

    ``constants`` are the names the function's views read as Python values (flags,
    parameters); ``state`` the names of state variables.
    """
    code = getattr(fn, "__code__", None)
    if code is None:
        return None
    params = set(code.co_varnames[:code.co_argcount])
    for use in _uses(code):
        where = f"{os.path.basename(code.co_filename)}:{use.line}"
        if use.operator == "~":
            if use.root:
                value = constants.get(use.attr) if use.root in params else None
            else:
                value = None if use.attr in code.co_varnames else _free_value(fn, use.attr)
            if isinstance(value, bool):
                shown = f"{use.root}.{use.attr}" if use.root else use.attr
                return (f"{where}: '~{shown}' is integer inversion of a Python bool "
                        f"(~{value} == {~value}, which is truthy); write 'not {shown}'")
        elif use.root in params and use.attr in state:
            return (f"{where}: 'is' on state variable '{use.attr}' compares Python objects, never "
                    f"values, so it is constant while tracing; use '==' or '!=' (or .is_none())")
    return None


def _free_value(fn: Callable[..., Any], name: str) -> Any:
    """The value of a name the function reads from its closure or module, if any."""
    code = fn.__code__
    if name in code.co_freevars and fn.__closure__:
        try:
            return fn.__closure__[code.co_freevars.index(name)].cell_contents
        except ValueError:  # an empty cell
            return None
    return getattr(fn, "__globals__", {}).get(name)


@functools.lru_cache(maxsize=1024)
def _uses(code: Any) -> tuple[_Use, ...]:
    """The ``~`` and ``is`` uses in the source of the function with this code object."""
    try:
        lines, first = inspect.getsourcelines(code)
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except (OSError, TypeError, SyntaxError, IndentationError):
        return ()
    found: list[_Use] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert):
            target = _named(node.operand)
            if target is not None:
                found.append(_Use("~", *target, first + node.lineno - 1))
        elif isinstance(node, ast.Compare) and any(isinstance(op, (ast.Is, ast.IsNot)) for op in node.ops):
            for side in (node.left, *node.comparators):
                while isinstance(side, ast.Subscript):
                    side = side.value
                target = _named(side)
                if target is not None and target[0]:
                    found.append(_Use("is", *target, first + node.lineno - 1))
    return tuple(found)


def _named(node: ast.AST) -> tuple[str, str] | None:
    """``("s", "FLAG")`` for ``s.FLAG``, ``("", "FLAG")`` for ``FLAG``, else None."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return node.value.id, node.attr
    if isinstance(node, ast.Name):
        return "", node.id
    return None
