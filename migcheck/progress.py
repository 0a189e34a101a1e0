"""A live status line for long runs, on a terminal only.

The engines emit progress events (`runner.run`'s ``on_progress``: the variant, and states,
depth and seconds for the explicit search, or a note for a symbolic engine); this line shows
the latest one, redrawn by a background thread twice a second so that it moves even while an
engine is silent (a long solver call), with the variant's place in the run, the rate, the
memory in use and the time so far. Nothing is written in the first second, nor ever when the
stream is not a terminal (a pipe, a CI log).
"""

from __future__ import annotations

import os
import resource
import shutil
import threading
import time
from typing import Any, TextIO

SHOW_AFTER = 1.0  # seconds: shorter runs never show a line
REFRESH = 0.5


def memory_mib() -> float:
    """The process's resident memory now (Linux), else its peak so far, in MiB."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def status_text(variant: str, info: dict[str, Any], elapsed: float, memory: float) -> str:
    """One line: ``variant k of n``, then the search's figures or the engine's note."""
    where = f"variant {info['variant_number']} of {info['variants']}: " if "variants" in info else ""
    parts = []
    if "states" in info:
        seconds = info.get("seconds", 0.0)
        rate = info["states"] / seconds if seconds > 0 else 0.0
        parts.append(f"{info['states']:,} states  {rate:,.0f} states/s  depth {info.get('depth', 0)}")
        if "per_worker" in info:  # a cluster search: each worker's share
            parts.append("per worker " + " ".join(f"{n:,}" for n in info["per_worker"]))
    parts.append(f"{memory:,.0f} MiB  {elapsed:.0f} s")
    if "note" in info:  # what runs now, last: the part a narrow terminal may cut
        parts.append(info["note"])
    return f"{where}{variant}: " + "  ".join(parts)


class Progress:
    """Call it with each progress event; ``stage(text)`` shows a stage of the command's own
    (a report being written); ``close()`` stops the thread and wipes the line. A context
    manager: ``with Progress(sys.stderr) as p: run(..., on_progress=p)``."""

    def __init__(self, stream: TextIO, prefix: str = "") -> None:
        self.stream, self.prefix = stream, prefix
        self.live = _is_terminal(stream)
        self.started = time.perf_counter()
        self.latest: tuple[str, dict[str, Any]] | None = None
        self.stage_text = ""
        self.width = 0
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        if self.live:
            self._thread = threading.Thread(target=self._refresh, name="migcheck-progress", daemon=True)
            self._thread.start()

    def __call__(self, variant: str, info: dict[str, Any]) -> None:
        with self._lock:
            self.latest = (variant, dict(info))
            self.stage_text = ""

    def stage(self, text: str) -> None:
        with self._lock:
            self.stage_text = text

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            self._write("")

    def line(self) -> str:
        """The text the line shows now (empty before the first event)."""
        with self._lock:
            elapsed = time.perf_counter() - self.started
            if self.stage_text:
                return f"{self.prefix}{self.stage_text}  {elapsed:.0f} s"
            if self.latest is None:
                return ""
            variant, info = self.latest
            return self.prefix + status_text(variant, info, elapsed, memory_mib())

    def _refresh(self) -> None:
        while not self._done.wait(REFRESH):
            if time.perf_counter() - self.started < SHOW_AFTER:
                continue
            text = self.line()
            with self._lock:
                if not self._done.is_set():
                    self._write(text)

    def _write(self, text: str) -> None:
        """Overwrite the line with ``text`` (cut to the terminal); empty text wipes it."""
        if not self.live or (not text and not self.width):
            return
        columns = shutil.get_terminal_size().columns - 1
        text = text[:columns]
        self.stream.write("\r" + text.ljust(self.width) + ("\r" if not text else ""))
        self.stream.flush()
        self.width = len(text)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
