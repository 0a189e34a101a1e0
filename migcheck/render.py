"""Text and JSON renderings of results and traces, for people and for machines.

Traces print the way TLC prints them: numbered states, the initial state in full, then for
each step its actor, its action and only the variables it changed.
"""

from __future__ import annotations

from typing import Any

from migcheck.checker.trace import Trace
from migcheck.models.ir import System

from . import __version__
from .runner import Result


def verdict_text(r: Result) -> str:
    v = r.verdict
    if v.verdict == "violated" and v.trace is not None:
        text = f"violated ({len(v.trace)} steps{_found_at(v)})"
    elif v.verdict == "violated":
        text = f"violated ({v.reason})" if v.reason else "violated"
    elif v.verdict == "holds":
        text = f"holds ({v.completeness}{_found_at(v)})"
    elif v.verdict == "vacuous":
        text = f"vacuous: {v.reason}"
    else:
        text = f"{v.verdict}: {v.reason}"
    if not r.as_expected:
        text += f"  UNEXPECTED (expected {r.expected})"
    return text


def _found_at(v) -> str:
    """For ``--set pages=any``: the smallest size with the counterexample (or witness)."""
    sizes = v.extra.get("found_at")
    return "" if not sizes else ", smallest at " + " ".join(f"{k}={n}" for k, n in sizes.items())


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


def trace_text(trace: Trace, system: System, doc: str = "") -> str:
    """Numbered states; the first in full, then only what each step changed."""
    layout = system.layout
    out = []
    what = f"{trace.property} violated" if trace.property else "trace"
    if trace.loop is not None:
        out.append(f"{what} in {system.model} [{system.variant}]: a fair behaviour that never gets "
                   f"there, {trace.loop} steps to the loop, {len(trace) - trace.loop} in it")
    elif trace.property:
        out.append(f"{what} in {system.model} [{system.variant}] after {len(trace)} steps "
                   "(breadth-first: no shorter counterexample exists)")
    else:
        out.append(what)
    if doc:
        out.append(f"  property: {doc}")
    prev = None
    for n, step in enumerate(trace.steps, start=1):
        if trace.loop is not None and n - 2 == trace.loop:
            out.append(f"  -- the loop: the steps from here return to state {trace.loop + 1}, forever --")
        if prev is None:
            out.append(f"State {n}: initial state")
            for key, val in layout.render(step.state).items():
                out.append(f"    {key} = {_show(val)}")
        else:
            actor = step.owner or "?"
            doc = system.action_doc(step.action or "")
            out.append(f"State {n}: [{actor}] {step.label}" + (f"  -- {doc}" if doc else ""))
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
