"""A live status line while a report is computed: the CLI gives it a terminal stream.

It listens to the engine's progress events and to the report's stages and rewrites one line
in place; nothing is written unless the stream is a terminal.
"""

from __future__ import annotations

import time
from typing import Any, TextIO

WIDTH = 100


class StatusLine:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self.started = time.perf_counter()
        self.shown = False

    def stage(self, text: str) -> None:
        self._show(f"report: {text}")

    def search(self, variant: str, info: dict[str, Any]) -> None:
        if "note" in info:  # a symbolic engine at work
            self._show(f"report: checking {variant}: {info['note']}")
            return
        rate = info["states"] / info["seconds"] if info["seconds"] > 0 else 0
        self._show(f"report: checking {variant}: {info['states']:,} states  depth {info['depth']}  "
                   f"{rate:,.0f} states/s")

    def _show(self, line: str) -> None:
        if not self.live:
            return
        elapsed = time.perf_counter() - self.started
        text = f"{line}  {elapsed:.0f} s"
        self.stream.write("\r" + text[:WIDTH].ljust(WIDTH))
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r" + " " * WIDTH + "\r")
            self.stream.flush()
            self.shown = False
