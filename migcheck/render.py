"""Text and JSON renderings of results and traces, for people and for machines.

Traces print the way TLC prints them: numbered states, the initial state in full, then for
each step its actor, its action and only the variables it changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from migcheck.checker.trace import Trace
from migcheck.checker.verdict import ERROR, INCONCLUSIVE, VACUOUS, VIOLATED
from migcheck.models.ir import System

from . import __version__
from .explain import explain
from .runner import Result


def verdict_text(r: Result) -> str:
    v = r.verdict
    if v.verdict == "violated" and v.trace is not None:
        text = f"violated ({len(v.trace)} steps{_found_at(v)})"
    elif v.verdict == "violated":
        text = f"violated ({v.reason})" if v.reason else "violated"
    elif v.verdict == "holds":
        text = f"holds ({v.completeness}{_found_at(v)}{witness_undecided(v)})"
    elif v.verdict == "vacuous":
        text = f"vacuous: {v.reason}"
    elif v.verdict == INCONCLUSIVE:
        text = bounded_text(v)
    else:
        text = f"{v.verdict}: {v.reason}"
    if not r.as_expected and v.verdict != INCONCLUSIVE:  # a bound is no surprise, only less known
        text += f"  UNEXPECTED (expected {r.expected})"
    return text


def bounded_text(v) -> str:
    """An inconclusive verdict: the depth its search covered, if any, and why it stopped."""
    if v.bound is None:
        return f"inconclusive: {v.reason}"
    found = "not reached" if v.kind == "reachable" else "no violation"
    return f"{found} up to depth {v.bound} ({v.reason})"


SAFETY = ("invariant", "action")
LIVENESS = ("eventually", "leads_to", "deadlock")


@dataclass(frozen=True)
class VariantLine:
    """What the first screen says of one variant."""

    variant: str
    outcome: str  # safe, loses data, unsafe, stalls, other, no violation up to depth k, undecided,
    # not checked, error
    broken: tuple[str, ...]  # the properties it violates (witnesses not reached aside)
    verdict: str  # "known bug", "as expected", or UNEXPECTED with what differs
    doc: str


def variant_lines(results: list[Result]) -> list[VariantLine]:
    """One line per variant, in the order checked: what happens to it, and is that its known bug."""
    by_variant: dict[str, list[Result]] = {}
    for r in results:
        by_variant.setdefault(r.system.variant, []).append(r)
    return [_variant_line(rows) for rows in by_variant.values()]


def _variant_line(rows: list[Result]) -> VariantLine:
    system = rows[0].system
    violated = [r for r in rows if r.verdict.verdict == VIOLATED]
    broken = tuple(r.verdict.property for r in violated if r.verdict.kind != "reachable")
    props = {p.name: p for p in system.properties}
    open_rows = [r for r in rows if r.verdict.verdict == INCONCLUSIVE]

    def any_of(kinds: tuple[str, ...]) -> bool:
        return any(r.verdict.kind in kinds for r in violated)

    if any(r.verdict.verdict == ERROR for r in rows):
        outcome = "error"
    elif any(props.get(n) is not None and props[n].loses_data for n in broken):
        outcome = "loses data"
    elif any_of(SAFETY):
        outcome = "unsafe"
    elif any_of(LIVENESS):
        outcome = "stalls"
    elif open_rows:
        bounds = [r.verdict.bound for r in open_rows if r.verdict.bound is not None]
        checked = any(r.verdict.stats.states for r in rows)
        outcome = (f"no violation up to depth {min(bounds)}" if bounds else
                   "undecided" if checked else "not checked")
    elif violated or any(r.verdict.verdict == VACUOUS for r in rows):
        outcome = "other"  # a witness never reached, a property that holds only vacuously
    else:
        outcome = "safe"
    surprises = [r for r in rows if not r.as_expected and r.verdict.verdict != INCONCLUSIVE]
    if surprises:
        verdict = "UNEXPECTED: " + ", ".join(f"{r.verdict.property} {r.verdict.verdict} (expected "
                                             f"{r.expected})" for r in surprises)
    elif open_rows:  # a bound, not a surprise: say why the rest is open
        verdict = ("known bug; the rest " if broken else "") + open_rows[0].verdict.reason
    else:
        verdict = "known bug" if broken else "as expected"
    return VariantLine(system.variant, outcome, broken, verdict, system.doc)


def summary(results: list[Result], width: int | None = None) -> str:
    """The first screen: per variant its outcome, broken properties, whether that is its known
    bug, and its description (cut to ``width`` columns when given: a terminal's width)."""
    lines = variant_lines(results)
    rows = [("variant", "outcome", "broken properties", "known bug?", "description")]
    rows += [(v.variant, v.outcome, ", ".join(v.broken) or "-", v.verdict, v.doc) for v in lines]
    widths = [max(len(row[c]) for row in rows) for c in range(4)]
    out = []
    for row in rows:
        line = "  ".join(row[c].ljust(widths[c]) for c in range(4)) + "  " + row[4]
        if width and len(line) > width:
            line = line[: width - 1] + "…"
        out.append(line.rstrip())
    return "\n".join(out)


def _found_at(v) -> str:
    """For ``--set pages=any``: the smallest size with the counterexample (or witness)."""
    sizes = v.extra.get("found_at")
    return "" if not sizes else ", smallest at " + " ".join(f"{k}={n}" for k, n in sizes.items())


def witness_undecided(v) -> str:
    """A safety property that holds while its witness is neither reached nor proved unreachable
    (the verdict's reason says why): whether it holds vacuously is open."""
    name = v.extra.get("witness_undecided")
    return f"; witness '{name}' undecided" if name else ""


def table(results: list[Result]) -> str:
    """The variant × property table: verdict, distinct states, seconds."""
    rows = [("variant", "property", "verdict", "states", "seconds")]
    for r in results:
        s = r.verdict.stats
        states = f"{s.states:,}" if r.verdict.engine in ("explicit", "all") else "-"
        rows.append((r.system.variant, r.verdict.property, verdict_text(r), states, f"{s.seconds:.2f}"))
    widths = [max(len(row[c]) for row in rows) for c in range(4)]
    lines = []
    for n, row in enumerate(rows):
        cells = [row[c].ljust(widths[c]) if c != 3 else row[c].rjust(widths[c]) for c in range(4)]
        lines.append("  ".join(cells) + "  " + row[4].rjust(7))
        if n == 0:
            lines.append("-" * len(lines[0]))
    return "\n".join(lines)


def header(system: System, params: dict[str, Any] | None = None) -> str:
    """The model, its parameters (``params``: as asked, with ``any`` sets) and IR hash."""
    params = " ".join(f"{k}={v}" for k, v in (params or dict(system.params)).items())
    return f"{system.model}  {params}  (IR {system.ir_hash})"


def headers(results: list[Any]) -> str:
    """`header` of the first result's system, then a line for each variant whose own defaults
    give other parameters (first-page-mark's ``span``), so that no row is read at wrong sizes."""
    first = results[0].system
    lines = [header(first, results[0].params)]
    base = dict(first.params)
    for s in {r.system.variant: r.system for r in results}.values():
        differ = {k: v for k, v in s.params if base.get(k) != v}
        if differ:
            lines.append(f"  {s.variant}: " + " ".join(f"{k}={v}" for k, v in differ.items())
                         + f"  (its own defaults; IR {s.ir_hash})")
    return "\n".join(lines)


def trace_text(trace: Trace, system: System, doc: str = "", error: str = "") -> str:
    """Numbered states; the first in full, then only what each step changed. With ``error``
    (an error verdict's reason), the trace is the run that leads to it, not a counterexample."""
    layout = system.layout
    out = []
    what = f"{trace.property} violated" if trace.property else "trace"
    if error:
        out.append(f"{trace.property}: error in {system.model} [{system.variant}]: {error}")
        out.append(f"  the run that leads there, {len(trace)} steps:")
        doc = ""
    elif trace.loop is not None:
        out.append(f"{what} in {system.model} [{system.variant}]: a fair behaviour that never gets "
                   f"there, {trace.loop} steps to the loop, {len(trace) - trace.loop} in it")
    elif trace.property:
        out.append(f"{what} in {system.model} [{system.variant}] after {len(trace)} steps "
                   "(breadth-first: no shorter counterexample exists)")
    else:
        out.append(what)
    if doc:
        out.append(f"  property: {doc}")
    why = explain(system, trace) if trace.property and not error else None
    if why is not None:
        out.append(why.line())
    prev = None
    for n, step in enumerate(trace.steps, start=1):
        mark = why.marker() if why is not None and n - 1 == why.decisive and n > 1 else ""
        if trace.loop is not None and n - 2 == trace.loop:
            out.append(f"  -- the loop: the steps from here return to state {trace.loop + 1}, forever --")
        if prev is None:
            out.append(f"State {n}: initial state")
            for key, val in layout.render(step.state).items():
                out.append(f"    {key} = {_show(val)}")
        else:
            actor = step.owner or "?"
            doc = system.action_doc(step.action or "")
            out.append(f"State {n}: [{actor}] {step.label}" + (f"  -- {doc}" if doc else "") + mark)
            changed = [i for i in range(len(step.state)) if step.state[i] != prev[i]]
            if not changed:
                out.append("    (nothing changed)")
            for i in changed:
                slot = layout.slots[i]
                out.append(f"    {slot.name} = {_show(slot.domain.render(step.state[i]))}"
                           f"   (was {_show(slot.domain.render(prev[i]))})")
        prev = step.state
    if trace.loop is not None and trace.loop == len(trace.steps) - 1:
        out.append(f"State {trace.loop + 1} repeats forever: no fairly scheduled action is enabled there")
    elif trace.loop is not None:
        out.append(f"Back to state {trace.loop + 1}")
    return "\n".join(out)


def _show(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)


def result_json(r: Result) -> dict[str, Any]:
    v = r.verdict
    s = r.system
    trace = v.trace
    return {
        "model": s.model,
        "variant": s.variant,
        "params": r.params,
        "ir_hash": s.ir_hash,
        "property": v.property,
        "kind": v.kind,
        "verdict": v.verdict,
        "expected": r.expected,
        "as_expected": r.as_expected,
        "engine": v.engine,
        "complete": v.complete,
        "completeness": v.completeness,
        "bound": v.bound,
        "reason": v.reason or None,
        "engines": v.extra.get("engines"),  # --engine all: each engine's verdict
        "proof": _proof(v),
        "found_at": v.extra.get("found_at"),  # --set pages=any: the smallest size with the trace
        "stats": v.stats.to_json(),
        "trace": None if trace is None else {k: val for k, val in trace.to_json(s).items()
                                             if k in ("steps", "loop")},
    }


def _proof(v) -> dict[str, Any] | None:
    """How an unbounded proof was found (k-induction or PDR): its k, what produced the
    invariant and how many lemmas it has; None for other verdicts."""
    if "certificate" not in v.extra:
        return None
    keys = ("k", "invariant_by", "lemmas", "ctis", "sample_states")
    proof = {k: v.extra[k] for k in keys if k in v.extra}
    if v.extra.get("every"):
        proof["for_every"] = list(v.extra["every"])  # the index sets proved for every size
    return proof


def results_json(results: list[Result]) -> dict[str, Any]:
    return {"migcheck": __version__, "results": [result_json(r) for r in results]}
