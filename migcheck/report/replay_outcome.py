"""What a counterexample does on the concrete emulator, for the report.

Traces of a model with a binding to an emulator (`migcheck.emulator.bindings`) are replayed
in-process with `migcheck.replay.replay` (the same code as ``migcheck replay``), and the
outcome and the concrete damage (pages that differ, packets lost, stale write-backs) are
kept as lines. Other models get an outcome that says replay is not available.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from migcheck.checker.trace import Trace
from migcheck.models.errors import MigcheckError
from migcheck.models.ir import System

CONFIRMED, NOT_REPRODUCED = "confirmed", "not reproduced"
DIVERGED, NOT_AVAILABLE = "diverged", "not available"


@dataclass(frozen=True)
class ReplayOutcome:
    result: str
    summary: str
    observed: tuple[str, ...] = ()
    damage: tuple[str, ...] = ()  # one line per damaged page, lost packet or stale write-back
    text: str = ""  # the full replay, as `migcheck replay` prints it
    data: dict[str, Any] | None = field(default=None)

    def to_json(self) -> dict[str, Any]:
        return {"result": self.result, "summary": self.summary, "observed": list(self.observed),
                "damage": list(self.damage), "replay": self.data}


def replay_outcome(trace: Trace, system: System) -> ReplayOutcome:
    from migcheck import replay as rp
    from migcheck.emulator.bindings import BINDINGS

    if system.model not in BINDINGS:
        return ReplayOutcome(NOT_AVAILABLE, f"replay is not available: model '{system.model}' has no "
                             f"binding to an emulator (models with one: {', '.join(BINDINGS)})")
    try:
        report = rp.replay(trace, system)
    except MigcheckError as exc:
        return ReplayOutcome(DIVERGED, f"the emulator did not follow the trace: {exc}")
    d = report.damage
    damage = [f"{p.role} (guest address {p.address:#x}): {p.differing} bytes differ at the destination; "
              f"source {p.source.hex(' ')} / destination {p.destination.hex(' ')} at +{p.excerpt_at:#05x}"
              for p in d.pages]
    damage += [f"{p.label}: {p.fate}: {p.reason}"
               for p in d.packets if p.fate != "delivered"]
    damage += [f"stale write-back over a DMA write: {w.role} +{w.offset:#05x}, {w.length} bytes"
               for w in d.stale_writes]
    if report.observed:
        summary = f"CONFIRMED on the emulator: {trace.property} is violated with real bytes"
    else:
        summary = (f"NOT REPRODUCED: the trace ran on the emulator, but nothing that {trace.property} "
                   "forbids was observed")
    return ReplayOutcome(CONFIRMED if report.observed else NOT_REPRODUCED, summary, report.observed,
                         tuple(damage), rp.report_text(report), rp.report_json(report))
