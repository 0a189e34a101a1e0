"""What a design verification report holds, computed once; the writers only lay it out.

`build_report` checks the chosen variants and properties through `migcheck.runner.run`,
then for every counterexample builds its sequence chart, its numbered steps and its replay
on the emulator, collects coverage gaps, and draws the state graph of each variant small
enough to show. Progress is reported through two optional callbacks: ``on_search`` (the
engine's progress events) and ``on_stage`` (a sentence per stage).
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from migcheck.checker.verdict import VIOLATED
from migcheck.models.ir import System
from migcheck.models.model import Model, build

from .. import __version__, render
from ..runner import Result, coverage, exit_status, run, select_variants
from .matrix import Matrix, matrix
from .replay_outcome import ReplayOutcome, replay_outcome
from .sequence import Chart, chart
from .state_graph import DEFAULT_LIMIT, GraphPicture, picture

StageFn = Callable[[str], None]


@dataclass(frozen=True)
class Violation:
    """A counterexample: the row it belongs to, its chart, its numbered steps, its replay."""

    result: Result
    doc: str
    chart: Chart
    steps_text: str
    replay: ReplayOutcome

    @property
    def variant(self) -> str:
        return self.result.system.variant

    @property
    def property_name(self) -> str:
        return self.result.verdict.property

    @property
    def anchor(self) -> str:
        return f"cx-{self.variant}-{self.property_name}"


@dataclass(frozen=True)
class VariantSource:
    """A checked variant, what it is and where it comes from (a mail, a commit, a document)."""

    variant: str
    doc: str
    source: str

    def to_json(self) -> dict[str, str]:
        return {"variant": self.variant, "doc": self.doc, "source": self.source}


@dataclass(frozen=True)
class Report:
    model: str
    doc: str
    params: tuple[tuple[str, int], ...]
    engine: str
    command: str
    systems: tuple[System, ...]  # one per variant checked
    results: tuple[Result, ...]
    matrix: Matrix
    violations: tuple[Violation, ...]
    coverage: tuple[dict[str, Any], ...]
    graphs: tuple[GraphPicture, ...]
    graph_limit: int
    created: str
    sources: tuple[VariantSource, ...] = ()
    version: str = __version__
    python: str = platform.python_version()

    @property
    def exit_status(self) -> int:
        return exit_status(list(self.results))

    @property
    def as_expected(self) -> int:
        return sum(r.as_expected for r in self.results)

    @property
    def gaps(self) -> list[dict[str, Any]]:
        return [c for c in self.coverage if c["never_enabled"] or c["witnesses_not_reached"]]


def build_report(model: type[Model], *, variants: list[str] | None = None,
                 properties: list[str] | None = None, params: dict[str, Any] | None = None,
                 engine: str = "explicit", max_states: int | None = None, timeout: float | None = None,
                 depth: int | None = None, symmetry: bool = False, graph_limit: int = DEFAULT_LIMIT,
                 command: str = "", backend: str = "auto",
                 on_search: Callable[[str, dict[str, Any]], None] | None = None,
                 on_stage: StageFn | None = None) -> Report:
    """Check and gather everything a report shows. Raises `MigcheckError` for bad input.

    ``symmetry`` asks the explicit engine for symmetry reduction (state counts are then of the
    reduced graph); the state-graph pictures always show the full graph.
    """
    stage = on_stage or (lambda text: None)
    stage(f"checking {model.name}")
    reduce: dict[str, Any] = {"symmetry": True} if symmetry else {}
    results = run(model, variants=variants, properties=properties, params=params, engine=engine,
                  max_states=max_states, timeout=timeout, depth=depth, on_progress=on_search,
                  backend=backend, **reduce)
    systems = tuple({r.system.variant: r.system for r in results}.values())
    if not results:  # every variant lacked the wanted properties: still say what was asked
        systems = tuple(build(v, params) for v in select_variants(model, variants))

    # Unexpected violations first, so they lead the report and survive the Markdown budget.
    shown = [r for r in results if r.verdict.verdict == VIOLATED and r.verdict.trace is not None]
    shown.sort(key=lambda r: r.as_expected)
    violations = []
    for n, r in enumerate(shown, start=1):
        trace = r.verdict.trace
        assert trace is not None
        stage(f"counterexample {n} of {len(shown)}: {r.system.variant} {r.verdict.property}: "
              "chart and replay")
        doc = next((p.doc for p in r.system.properties if p.name == r.verdict.property), "")
        violations.append(Violation(r, doc, chart(trace, r.system),
                                    render.trace_text(trace, r.system, doc), replay_outcome(trace, r.system)))

    graphs = []
    for system in systems:
        stage(f"state graph of {system.variant}")
        first = next((v.result.verdict.trace for v in violations if v.variant == system.variant), None)
        known = [r.verdict.stats.states for r in results
                 if r.system.variant == system.variant and r.verdict.engine in ("explicit", "all")
                 and r.verdict.complete and not symmetry]
        graphs.append(picture(system, graph_limit, first, max(known) if known else None))

    root = model.root()
    classes = root.variants()
    sources = tuple(VariantSource(s.variant, classes[s.variant].doc(), classes[s.variant].source)
                    for s in systems)
    return Report(model=root.name, doc=root.doc(), params=systems[0].params if systems else (),
                  engine=engine, command=command, systems=systems, results=tuple(results),
                  matrix=matrix(results), violations=tuple(violations),
                  coverage=tuple(coverage(results)), graphs=tuple(graphs), graph_limit=graph_limit,
                  created=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"), sources=sources)


def graphs_sentence(r: Report) -> str:
    """Which state graphs are drawn, and which are not and why, in one sentence each."""
    drawn = [g for g in r.graphs if g.svg]
    big = [g for g in r.graphs if not g.svg]
    parts = []
    if drawn:
        parts.append("Drawn in report.html: " + ", ".join(
            f"{g.variant} ({g.states:,} states)" if g.states is not None else g.variant for g in drawn) + ".")
    if big:
        sizes = ", ".join(f"{g.variant} ({g.states:,})" if g.states is not None else g.variant for g in big)
        parts.append(f"Not drawn, having more than {r.graph_limit:,} states (--graph-states): {sizes}."
                     if all(g.states is None or g.states > r.graph_limit for g in big)
                     else "Not drawn: " + "; ".join(f"{g.variant}: {g.note}" for g in big) + ".")
    return " ".join(parts) or "No variant was checked."
