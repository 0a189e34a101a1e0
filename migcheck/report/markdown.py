"""The report as Markdown for a pull-request comment (GitHub and GitLab draw the Mermaid charts).

It leads with what is unexpected: each unexpected verdict, and the full counterexample of each
unexpected violation (chart, replay, steps). Then one line per variant (outcome, broken
properties, known bug or not, description), one line per counterexample of a known bug (its
length, why, and decisive step), the matrix folded away, coverage and how to reproduce. A
comment has a size limit (65,536 characters on GitHub); ``BUDGET`` keeps far below it: full
counterexamples are added while they fit, the rest named, and report.html has everything.
"""

from __future__ import annotations

from .. import render
from ..explain import explain
from .contents import Report, Violation, graphs_sentence
from .matrix import Cell
from .sequence_mermaid import chart_mermaid

BUDGET = 24_000
RESERVE = 1_500  # the section heading and the sentence naming what was left out
MARKS = {"ok": "✅", "known": "⚠️", "bad": "❌", "odd": "❔", "none": "–"}


def report_markdown(report: Report, budget: int = BUDGET) -> str:
    head = _head(report)
    tail = _variants(report) + _known_bugs(report) + _matrix(report) + _tail(report)
    room = budget - len(head) - len(tail) - RESERVE
    blocks, left = [], []
    unexpected = [v for v in report.violations if not v.result.as_expected]
    for v in unexpected:
        block = _violation(v)
        if len(block) <= room:
            blocks.append(block)
            room -= len(block)
        else:
            left.append(v)
    body = ["### Unexpected counterexamples", ""] if unexpected else []
    body += blocks
    if left:
        body.append(f"{len(left)} more, left out to keep this comment short, are in `report.html`: "
                    + ", ".join(f"{v.variant}: {v.property_name}" for v in left) + ".")
        body.append("")
    return head + "\n".join(body) + tail


def _mark(c: Cell | None) -> str:
    from .html import cell_class

    return MARKS[cell_class(c)]


def _head(r: Report) -> str:
    params = " ".join(f"{k}={v}" for k, v in r.params) or "none"
    status = r.exit_status
    out = [f"## migcheck report: {r.model}", "", f"> {r.doc}", "",
           f"**{r.as_expected} of {len(r.results)} verdicts as expected**"
           + ("" if status == 0 else f" (exit status {status})")
           + f" · parameters `{params}` · engine `{r.engine}` · migcheck {r.version}", ""]
    surprises = [x for x in r.results if not x.as_expected]
    if surprises:
        out += ["### ❌ Unexpected", ""]
        out += [f"- **{x.system.variant}**: `{x.verdict.property}` {render.verdict_text(x)}"
                for x in surprises]
        out.append("")
    return "\n".join(out) + "\n"


def _variants(r: Report) -> str:
    out = ["### Variants", "", "| variant | outcome | broken properties | known bug? | description |",
           "|---|---|---|---|---|"]
    for line in render.variant_lines(list(r.results)):
        cells = [f"**{line.variant}**", line.outcome, ", ".join(line.broken) or "–", line.verdict, line.doc]
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(out) + "\n\n"


def _known_bugs(r: Report) -> str:
    """One line per counterexample of a known bug: its length, why, and its decisive step."""
    known = [v for v in r.violations if v.result.as_expected]
    if not known:
        return ""
    out = ["### Known bugs, found again", ""]
    for v in known:
        trace = v.result.verdict.trace
        assert trace is not None
        why = explain(v.result.system, trace)
        line = f"- **{v.variant}** `{v.property_name}`: violated in {len(trace)} steps"
        if why is not None:
            step = trace.steps[why.decisive]
            line += f"; why: {why.summary}; decisive: state {why.decisive + 1}, `{step.label}`"
        out.append(line)
    out += ["", "Their charts, replays and steps are in `report.html`.", ""]
    return "\n".join(out) + "\n"


def _matrix(r: Report) -> str:
    m = r.matrix
    out = ["<details><summary>Variants × properties</summary>", "",
           "| variant | " + " | ".join(m.properties) + " | states | seconds |",
           "|---" * (len(m.properties) + 3) + "|"]
    for variant in m.variants:
        cells = []
        for p in m.properties:
            c = m.at(variant, p)
            if c is None:
                cells.append("–")
                continue
            text = c.verdict if c.steps is None else f"violated ({c.steps})"
            if c.verdict == "holds":
                text = f"holds ({c.completeness})" if c.completeness != "exhaustive" else "holds"
            cells.append(f"{_mark(c)} {text}".replace("|", "\\|"))
        states = m.row_states(variant)
        out.append(f"| **{variant}** | " + " | ".join(cells)
                   + f" | {'–' if states is None else f'{states:,}'} | {m.row_seconds(variant):.2f} |")
    out += ["", "✅ holds as expected (exhaustive unless it says otherwise) · ⚠️ violated, as the variant "
            "expects (a known bug) · ❌ not as expected · ❔ vacuous, inconclusive or error. "
            "Numbers in brackets are counterexample lengths.", "", "</details>", ""]
    if any(v.source for v in r.sources):
        out += ["| variant | source |", "|---|---|"]
        out += [f"| **{v.variant}** | {v.source} |".replace("\n", " ") for v in r.sources]
        out.append("")
    return "\n".join(out) + "\n"


def _violation(v: Violation) -> str:
    r = v.result
    steps = len(r.verdict.trace) if r.verdict.trace is not None else 0
    mark = "❌" if not r.as_expected else "⚠️"
    why = f"expected {r.expected}" if not r.as_expected else "expected: a known bug of this variant"
    out = [f"<details{' open' if not r.as_expected else ''}><summary>{mark} <b>{v.variant}</b>: "
           f"{v.property_name} violated in {steps} steps ({why})</summary>", ""]
    if v.doc:
        out += [f"_{v.doc}_", ""]
    out += ["```mermaid", chart_mermaid(v.chart), "```", ""]
    out.append(f"**Replay on the emulator:** {v.replay.summary}")
    out += [f"- {o}" for o in v.replay.observed]
    out += [f"- `{d}`" for d in v.replay.damage]
    out += ["", "<details><summary>Numbered steps</summary>", "", "```", v.steps_text, "```", "",
            "</details>", "</details>", ""]
    return "\n".join(out) + "\n"


def _tail(r: Report) -> str:
    out = []
    gaps = r.gaps
    out += ["### Coverage", ""]
    if not gaps:
        out.append("Every action instance is enabled somewhere and every witness is reached.")
    for c in gaps:
        if c["never_enabled"]:
            out.append(f"- **{c['variant']}**: actions never enabled: `{', '.join(c['never_enabled'])}`")
        if c["witnesses_not_reached"]:
            out.append(f"- **{c['variant']}**: witnesses never reached (vacuity warning): "
                       f"`{', '.join(c['witnesses_not_reached'])}`")
    out += ["", "### State graphs", "", graphs_sentence(r)]
    hashes = ", ".join(f"{s.variant} `{s.ir_hash}`" for s in r.systems)
    out += ["", "### Reproduce", "", "```sh", r.command, "```", "",
            f"migcheck {r.version} · Python {r.python} · IR hashes: {hashes} · {r.created}", ""]
    return "\n".join(out)
