"""The emulator's journal: every concrete event (a DMA write issued or landed, a descriptor
written, a page copied, a stale write-back) with the machine's context at that moment
(BME, the vCPU, the migration phase, posted writes outstanding).

Components record events; the journal stamps the context, which the machine supplies. The
damage report and the replay's observations read the journal; nothing here interprets it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Context:
    bus_master: bool
    vcpu_running: bool
    migration: str  # the migrator's phase
    posted: int  # DMA writes issued and not yet landed

    @property
    def device_quiet(self) -> bool:
        return not self.bus_master and self.posted == 0


@dataclass(frozen=True)
class Event:
    """One concrete event. ``page``/``offset``/``length`` locate it in guest RAM when it
    touched memory; ``seq`` names the packet it concerns; ``before``/``after`` hold the bytes
    a write replaced and wrote, when that matters (stale write-backs)."""

    index: int
    actor: str  # "vf", "driver", "migrator", "cpu", "wire"
    kind: str
    text: str
    context: Context
    page: int | None = None
    offset: int = 0
    length: int = 0
    slot: int | None = None
    seq: int | None = None
    before: bytes = b""
    after: bytes = b""


class Journal:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self._context: Callable[[], Context] = lambda: Context(False, True, "idle", 0)

    def attach(self, context: Callable[[], Context]) -> None:
        """Where to read the machine's context from (set once the machine is assembled)."""
        self._context = context

    def record(self, actor: str, kind: str, text: str, *, page: int | None = None, offset: int = 0,
               length: int = 0, slot: int | None = None, seq: int | None = None, before: bytes = b"",
               after: bytes = b"") -> Event:
        event = Event(len(self.events), actor, kind, text, self._context(), page, offset, length, slot,
                      seq, before, after)
        self.events.append(event)
        return event

    def of_kind(self, *kinds: str) -> list[Event]:
        return [e for e in self.events if e.kind in kinds]

    def since(self, index: int) -> list[Event]:
        return self.events[index:]
