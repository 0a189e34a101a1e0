"""Verdicts and the statistics that come with them.

A verdict always says how complete it is: ``holds`` from an exhaustive search is complete;
a bounded search's ``holds`` carries its bound; a limit gives ``inconclusive`` with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from .trace import Trace


class Outcome(StrEnum):
    """A verdict's outcome. A `StrEnum`: each equals its text, which JSON and reports show."""

    HOLDS = "holds"
    VIOLATED = "violated"
    INCONCLUSIVE = "inconclusive"  # a limit was reached; the verdict says which
    ERROR = "error"
    VACUOUS = "vacuous"  # a safety property holds, but only because its witness is never reached


HOLDS, VIOLATED, INCONCLUSIVE, ERROR, VACUOUS = (Outcome.HOLDS, Outcome.VIOLATED, Outcome.INCONCLUSIVE,
                                                 Outcome.ERROR, Outcome.VACUOUS)


@dataclass(frozen=True)
class Stats:
    states: int
    transitions: int
    depth: int
    seconds: float
    peak_rss_mib: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"states": self.states, "transitions": self.transitions, "depth": self.depth,
                "seconds": round(self.seconds, 4), "peak_rss_mib": round(self.peak_rss_mib, 1)}


@dataclass(frozen=True)
class Verdict:
    """The answer for one property of one model instance.

    ``complete`` is True only for an exhaustive search or a re-checked proof; ``bound`` is
    the depth a bounded search covered; ``reason`` explains inconclusive and error results.
    """

    property: str
    kind: str
    verdict: str
    engine: str
    complete: bool
    stats: Stats
    bound: int | None = None
    reason: str = ""
    trace: Trace | None = None
    witness: Trace | None = None  # for reachable properties: a path to the witness state
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def completeness(self) -> str:
        """How far the verdict can be trusted, in words."""
        if self.verdict == VIOLATED:
            return "counterexample"
        if self.verdict == HOLDS:
            if self.kind == "reachable":
                return "witnessed"
            if self.complete:
                if self.engine == "all":
                    others = [e for e in self.extra.get("engines", {}) if e != "explicit"]
                    return f"exhaustive; {' and '.join(others)} " + ("agree" if len(others) > 1 else "agrees")
                every = self.extra.get("every")
                if every:
                    return "proved for every " + " and ".join(every)
                return "exhaustive" if self.engine == "explicit" else "proved"
            return f"bounded at depth {self.bound}"
        return self.reason or self.verdict


def mark_vacuous(verdicts: dict[str, Verdict], props: list[Any]) -> None:
    """A safety property that holds while its witness is proved never reached holds vacuously
    (``props`` are the `PropertyIR` reported; each may name a witness among ``verdicts``). One
    whose witness was left undecided still holds, and says so (``extra["witness_undecided"]``,
    with the witness's reason)."""
    for p in props:
        v, w = verdicts.get(p.name), verdicts.get(p.witness)
        if v is None or w is None or v.verdict != HOLDS:
            continue
        if w.verdict == VIOLATED and w.complete:
            verdicts[p.name] = replace(v, verdict=VACUOUS,
                                       reason=f"its witness '{p.witness}' is never reached")
        elif w.verdict == INCONCLUSIVE:
            verdicts[p.name] = replace(v, reason=f"its witness '{p.witness}' is not decided: {w.reason}",
                                       extra={**v.extra, "witness_undecided": p.witness})
