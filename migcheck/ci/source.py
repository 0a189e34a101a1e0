"""Where a model's properties, actions and variants are defined: file and line, for SARIF.

Lines come from `inspect.getsourcelines` on the decorated function or the class; the line
reported is the ``def`` or ``class`` line itself, not its decorator.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from migcheck.models.model import Model


@dataclass(frozen=True)
class SourceLine:
    path: str  # absolute
    line: int  # 1-based
    what: str  # "property completeness", "action dma_unmap", "variant thread-order"


def _where(obj: Any, what: str) -> SourceLine | None:
    try:
        path = inspect.getsourcefile(obj)
        lines, start = inspect.getsourcelines(obj)
    except (OSError, TypeError):
        return None
    if not path:
        return None
    offset = next((k for k, text in enumerate(lines)
                   if text.lstrip().startswith(("def ", "class ", "async def "))), 0)
    return SourceLine(path, max(start, 1) + offset, what)


def property_line(cls: type[Model], name: str) -> SourceLine | None:
    for m in cls.property_members():
        if getattr(m, "prop_name", "") == name and hasattr(m, "fn"):
            return _where(m.fn, f"property {name}")
    return None


def action_line(cls: type[Model], name: str) -> SourceLine | None:
    for decl in cls.actions().values():
        if decl.label == name:
            return _where(decl.fn, f"action {name}")
    return None


def variant_line(cls: type[Model]) -> SourceLine | None:
    return _where(cls, f"variant {cls.variant_name}")
