"""The variant × property matrix of a report: each cell's verdict and how complete it is.

Completeness in the report's words: ``exhaustive`` (a finished breadth-first search),
``bounded at k`` (BMC found nothing up to depth k), ``proved with certificate`` (k-induction
or PDR, the inductive invariant re-checked), ``witnessed`` (a reachable property's state was
found), ``vacuous`` (holds only because its witness is never reached), or a counterexample.
With ``--engine all`` a cell also says which engines agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from migcheck.checker.verdict import HOLDS, VACUOUS, VIOLATED

from ..render import witness_undecided
from ..runner import Result

EXPLICIT_ENGINES = ("explicit", "all")


@dataclass(frozen=True)
class Cell:
    variant: str
    property: str
    kind: str
    verdict: str
    expected: str
    completeness: str
    engines: tuple[tuple[str, str], ...]  # (engine, its answer) when several engines ran
    states: int | None
    seconds: float
    steps: int | None  # the counterexample's length

    @property
    def as_expected(self) -> bool:
        return self.verdict == self.expected

    @property
    def short(self) -> str:
        """The cell's text: verdict and completeness in a few words."""
        if self.verdict == VIOLATED and self.steps is not None:
            return f"violated ({self.steps} steps)"
        if self.verdict == VIOLATED:
            return "violated (not witnessed)" if self.kind == "reachable" else "violated"
        if self.verdict == HOLDS:
            return f"holds ({self.completeness})"
        return self.verdict

    def to_json(self) -> dict[str, object]:
        return {"variant": self.variant, "property": self.property, "kind": self.kind,
                "verdict": self.verdict, "expected": self.expected, "as_expected": self.as_expected,
                "completeness": self.completeness, "engines": dict(self.engines), "states": self.states,
                "seconds": round(self.seconds, 4), "steps": self.steps}


def completeness(r: Result) -> str:
    v = r.verdict
    if v.verdict == VIOLATED:
        if v.trace is not None:
            shape = "a lasso: shortest stem, loop built greedily, not always shortest" \
                if v.trace.loop is not None else "shortest" if v.engine in EXPLICIT_ENGINES \
                else "a counterexample"
            return f"counterexample, {len(v.trace)} steps ({shape})"
        return "not witnessed: no reachable state satisfies it" if v.kind == "reachable" else v.reason
    if v.verdict == VACUOUS:
        return f"vacuous: {v.reason}"
    if v.verdict == HOLDS:
        return "witnessed" if v.kind == "reachable" else _how_held(r) + witness_undecided(v)
    return v.reason or v.verdict


def _how_held(r: Result) -> str:
    v = r.verdict
    if v.complete and v.engine in ("kind", "pdr"):
        return "proved with certificate" if "certificate" in v.extra else "proved"
    if v.complete and v.engine == "all":
        return v.completeness
    if v.complete:
        return "exhaustive"
    return f"bounded at k={v.bound}"


def cell(r: Result) -> Cell:
    v = r.verdict
    engines = tuple((e, str(s)) for e, s in v.extra.get("engines", {}).items())
    states = v.stats.states if v.engine in EXPLICIT_ENGINES else None
    steps = len(v.trace) if v.trace is not None and v.verdict == VIOLATED else None
    return Cell(r.system.variant, v.property, v.kind, v.verdict, r.expected, completeness(r), engines,
                states, v.stats.seconds, steps)


@dataclass(frozen=True)
class Matrix:
    variants: tuple[str, ...]
    properties: tuple[str, ...]
    cells: tuple[Cell, ...]

    def at(self, variant: str, prop: str) -> Cell | None:
        for c in self.cells:
            if c.variant == variant and c.property == prop:
                return c
        return None

    def row_states(self, variant: str) -> int | None:
        counts = [c.states for c in self.cells if c.variant == variant and c.states is not None]
        return max(counts) if counts else None

    def row_seconds(self, variant: str) -> float:
        """One exploration decides every property of a variant; symbolic engines run per property."""
        row = [c for c in self.cells if c.variant == variant]
        if any(c.states is not None for c in row):
            return max(c.seconds for c in row)
        return sum(c.seconds for c in row)


def matrix(results: list[Result]) -> Matrix:
    variants = tuple(dict.fromkeys(r.system.variant for r in results))
    props = tuple(dict.fromkeys(r.verdict.property for r in results))
    return Matrix(variants, props, tuple(cell(r) for r in results))
