"""Escaping and text measures shared by the SVG and HTML writers of a report.

Charts use a monospace font so that a label's width can be known without a browser:
every character is ``CHAR_WIDTH`` pixels wide at ``FONT_SIZE``.
"""

from __future__ import annotations

from html import escape

FONT_SIZE = 12
CHAR_WIDTH = 7.3  # a monospace glyph at 12 px is 0.6 em; a little more for safety
LINE_HEIGHT = 15
FONT = "ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, monospace"


def esc(text: object) -> str:
    """``text`` escaped for XML and HTML content and attribute values."""
    return escape(str(text), quote=True)


def text_width(text: str, size: int = FONT_SIZE) -> float:
    return len(text) * CHAR_WIDTH * size / FONT_SIZE


def clip(text: str, chars: int) -> str:
    """``text`` cut to ``chars`` characters, with an ellipsis when cut."""
    return text if len(text) <= chars else text[: max(1, chars - 1)] + "…"
