"""The report as Markdown for a pull-request comment (GitHub and GitLab draw the Mermaid charts).

A comment has a size limit (65,536 characters on GitHub), so counterexamples are added in
the report's order (unexpected ones first) while they fit in ``BUDGET``; the rest are
named, with a pointer to report.html, which always has everything.
"""

from __future__ import annotations

from .contents import Report, Violation
from .matrix import Cell
from .sequence_mermaid import chart_mermaid

BUDGET = 60_000
RESERVE = 1_500  # the section heading and the sentence naming what was left out
MARKS = {"ok": "✅", "known": "⚠️", "bad": "❌", "odd": "❔", "none": "–"}


def report_markdown(report: Report, budget: int = BUDGET) -> str:
    head = _head(report)
    tail = _tail(report)
    room = budget - len(head) - len(tail) - RESERVE
    blocks, left = [], []
    for v in report.violations:
        block = _violation(v)
        if len(block) <= room:
            blocks.append(block)
            room -= len(block)
        else:
            left.append(v)
    body = ["### Counterexamples", ""] if report.violations else []
    body += blocks
    if left:
        body.append(f"{len(left)} more counterexample(s), left out to keep this comment short, are in "
                    "`report.html`: " + ", ".join(f"{v.variant}: {v.property_name}" for v in left) + ".")
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
    m = r.matrix
    out.append("| variant | " + " | ".join(m.properties) + " | states | seconds |")
    out.append("|---" * (len(m.properties) + 3) + "|")
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
            "Numbers in brackets are counterexample lengths.", ""]
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
    out += ["", "### State graphs", ""]
    for g in r.graphs:
        if g.svg:
            out.append(f"- {g.variant}: {g.states:,} states, drawn in report.html ({g.layout})")
        else:
            out.append(f"- {g.variant}: not drawn: {g.note}")
    hashes = ", ".join(f"{s.variant} `{s.ir_hash}`" for s in r.systems)
    out += ["", "### Reproduce", "", "```sh", r.command, "```", "",
            f"migcheck {r.version} · Python {r.python} · IR hashes: {hashes} · {r.created}", ""]
    return "\n".join(out)
