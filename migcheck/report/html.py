"""The report as one self-contained HTML page: inline CSS and inline SVG, no scripts, and a
Content-Security-Policy that forbids the page to fetch anything at all.

Order on the page: summary, the variant × property matrix, the counterexamples (sequence
chart, replay on the emulator, numbered steps), coverage, state graphs, every result in
detail, and how to reproduce the report.
"""

from __future__ import annotations

from .contents import Report, Violation, graphs_sentence
from .markup import clip, esc
from .matrix import Cell
from .sequence_svg import chart_svg

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

STYLE = """
:root { --ok: #e8f5e9; --ok-ink: #1b5e20; --known: #fff3e0; --known-ink: #a65b00;
        --bad: #ffebee; --bad-ink: #b71c1c; --odd: #ede7f6; --odd-ink: #4527a0; --line: #d5dbe1; }
body { font: 15px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif;
       margin: 0; color: #1d2329; background: #fafbfc; }
main { max-width: 1500px; margin: 0 auto; padding: 18px 28px 60px; }
h1 { font-size: 24px; margin: 6px 0 2px; } h2 { font-size: 19px; margin: 30px 0 8px;
     border-bottom: 1px solid var(--line); padding-bottom: 4px; } h3 { font-size: 16px; margin: 20px 0 6px; }
.doc { color: #4a5560; margin: 0 0 8px; } .meta { color: #4a5560; font-size: 13px; }
.summary { display: inline-block; padding: 4px 10px; border-radius: 4px; font-weight: 600; margin: 6px 0; }
.summary.pass { background: var(--ok); color: var(--ok-ink); }
.summary.fail { background: var(--bad); color: var(--bad-ink); }
code, pre, .mono { font-family: ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, monospace;
                   font-size: 13px; }
pre { background: #fff; border: 1px solid var(--line); padding: 10px; overflow: auto; border-radius: 4px; }
table { border-collapse: collapse; background: #fff; }
th, td { border: 1px solid var(--line); padding: 4px 7px; vertical-align: top; }
th { background: #f0f3f6; font-weight: 600; text-align: left; }
table.matrix th.prop { writing-mode: vertical-rl; transform: rotate(180deg); white-space: nowrap;
                       font-size: 13px; padding: 6px 3px; text-align: left; }
table.matrix td { font-size: 11px; padding: 3px 4px; }
table.matrix td.num { text-align: right; white-space: nowrap; }
table.matrix th.variant { min-width: 150px; max-width: 240px; }
table.matrix th.variant .d { display: block; font-weight: normal; font-size: 12px; color: #4a5560; }
td .v { font-weight: 600; display: block; } td .c { color: #4a5560; display: block; }
td.ok { background: var(--ok); color: var(--ok-ink); }
td.known { background: var(--known); color: var(--known-ink); }
td.bad { background: var(--bad); color: var(--bad-ink); outline: 2px solid var(--bad-ink);
         outline-offset: -2px; }
td.odd { background: var(--odd); color: var(--odd-ink); }
td.none { background: #f6f6f6; color: #999; }
td a { color: inherit; }
.legend span { display: inline-block; padding: 1px 7px; margin: 2px 6px 2px 0; border-radius: 3px;
               font-size: 12px; }
.legend .ok { background: var(--ok); color: var(--ok-ink); } .legend .known { background: var(--known);
  color: var(--known-ink); } .legend .bad { background: var(--bad); color: var(--bad-ink); }
.legend .odd { background: var(--odd); color: var(--odd-ink); }
.scroll { overflow: auto; max-width: 100%; background: #fff; border: 1px solid var(--line);
          border-radius: 4px; padding: 6px; }
.replay { border-left: 4px solid #888; background: #fff; padding: 6px 12px; margin: 10px 0; }
.replay.confirmed { border-color: var(--bad-ink); } .replay.unavailable { border-color: #bbb; color: #555; }
.tag { font-size: 12px; padding: 1px 6px; border-radius: 3px; margin-left: 6px; vertical-align: 1px; }
.tag.bad { background: var(--bad); color: var(--bad-ink); }
.tag.known { background: var(--known); color: var(--known-ink); }
details summary { cursor: pointer; color: #1f5fa8; margin: 6px 0; }
ul.gaps li { margin: 2px 0; }
"""


def report_html(report: Report) -> str:
    title = f"migcheck report: {report.model}"
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body><main>",
        _header(report), _matrix(report), _sources(report), _violations(report), _coverage(report),
        _graphs(report), _details(report), _reproduce(report), "</main></body></html>",
    ]
    return "\n".join(parts) + "\n"


def _header(r: Report) -> str:
    params = " ".join(f"{k}={v}" for k, v in r.params)
    status = r.exit_status
    verdict = (f"{r.as_expected} of {len(r.results)} verdicts as expected"
               + ("" if status == 0 else f"; exit status {status}"))
    return (f"<h1>migcheck report: {esc(r.model)}</h1><p class=\"doc\">{esc(r.doc)}</p>"
            f'<div class="summary {"pass" if status == 0 else "fail"}">{esc(verdict)}</div>'
            f'<p class="meta">parameters <code>{esc(params or "none")}</code> · engine '
            f"<code>{esc(r.engine)}</code> · {len(r.systems)} variant(s) · {len(r.violations)} "
            f"counterexample(s) · migcheck {esc(r.version)} · {esc(r.created)}</p>")


def cell_class(c: Cell | None) -> str:
    if c is None:
        return "none"
    if not c.as_expected:
        return "bad"
    if c.verdict in ("inconclusive", "error", "vacuous"):
        return "odd"
    return "known" if c.verdict == "violated" else "ok"


def cell_note(c: Cell) -> str:
    """A few words under a cell's verdict: how complete it is, or what kind of violation."""
    if c.verdict == "violated":
        what = "not witnessed" if c.kind == "reachable" else "known bug" if c.as_expected else "bug"
        return what if c.as_expected else f"{what}; expected {c.expected}"
    if c.verdict == "vacuous":
        return "witness never reached"
    if c.verdict == "holds":
        return c.completeness if c.as_expected else f"{c.completeness}; expected {c.expected}"
    return clip(c.completeness, 60)


def _cell(c: Cell | None, anchors: dict[tuple[str, str], str]) -> str:
    if c is None:
        return '<td class="none" title="not checked in this variant">–</td>'
    tip = [f"{c.variant}: {c.property} ({c.kind})", f"verdict: {c.verdict}", f"expected: {c.expected}",
           f"how complete: {c.completeness}"]
    tip += [f"{e}: {answer}" for e, answer in c.engines]
    tip.append(f"states: {c.states:,}" if c.states is not None else "states: (symbolic engine)")
    tip.append(f"seconds: {c.seconds:.2f}")
    words = c.verdict if c.steps is None else f"violated ({c.steps})"
    if not c.as_expected:
        words += " ✗"
    note = cell_note(c)
    if c.engines and c.verdict == "violated":
        others = [e for e, _ in c.engines if e != "explicit"]
        note += "; " + " and ".join(others) + (" agree" if len(others) > 1 else " agrees")
    inner = f'<span class="v">{esc(words)}</span><span class="c">{esc(note)}</span>'
    link = anchors.get((c.variant, c.property))
    if link:
        inner = f'<a href="#{esc(link)}">{inner}</a>'
    return f'<td class="{cell_class(c)}" title="{esc(chr(10).join(tip))}">{inner}</td>'


def _matrix(r: Report) -> str:
    m = r.matrix
    anchors = {(v.variant, v.property_name): v.anchor for v in r.violations}
    docs = {s.variant: s.doc for s in r.systems}
    head = "".join(f'<th class="prop">{esc(p)}</th>' for p in m.properties)
    rows = []
    for variant in m.variants:
        cells = "".join(_cell(m.at(variant, p), anchors) for p in m.properties)
        states = m.row_states(variant)
        doc = docs.get(variant, "")
        rows.append(f'<tr><th class="variant">{esc(variant)}<span class="d">{esc(doc)}</span></th>{cells}'
                    f'<td class="num">{"–" if states is None else f"{states:,}"}'
                    f'<span class="c">{m.row_seconds(variant):.2f} s</span></td></tr>')
    legend = ('<p class="legend"><span class="ok">holds, as expected</span><span class="known">violated, '
              'as the variant expects (a known bug)</span><span class="bad">not as expected ✗</span>'
              '<span class="odd">vacuous, inconclusive or error</span> Hover a cell for its engines, '
              "states and seconds; a violated cell links to its counterexample.</p>")
    return (f'<h2 id="matrix">Variants × properties</h2><div class="scroll"><table class="matrix">'
            f'<tr><th>variant</th>{head}<th>states, time</th></tr>{"".join(rows)}</table></div>'
            + legend)


def _sources(r: Report) -> str:
    """Each variant beside what it is and where it comes from."""
    if not any(v.source for v in r.sources):
        return ""
    rows = "".join(f"<tr><td><b>{esc(v.variant)}</b></td><td>{esc(v.doc)}</td><td>{esc(v.source)}</td></tr>"
                   for v in r.sources)
    return (f'<h2 id="sources">Variants and their sources</h2><table><tr><th>variant</th><th>what it is'
            f"</th><th>source</th></tr>{rows}</table>")


def _violations(r: Report) -> str:
    if not r.violations:
        return "<h2 id=\"counterexamples\">Counterexamples</h2><p>No property is violated.</p>"
    out = ['<h2 id="counterexamples">Counterexamples</h2>',
           "<p>Each chart has a lifeline per actor. A step is an arrow from the actor that took it to "
           "every actor it touches (one whose enabled actions it changed, or the one actor that alone "
           "watches a variable it changed, as clearing BME touches the device), or a box on its own "
           "lifeline when it touches no one else; it is labelled with the state it leads to, the "
           "action and the variables it changed. The violating step is red.</p>"]
    out += [_violation(v) for v in r.violations]
    return "\n".join(out)


def _violation(v: Violation) -> str:
    r = v.result
    trace = r.verdict.trace
    steps = len(trace) if trace is not None else 0
    tag = ('<span class="tag bad">unexpected: expected ' + esc(r.expected) + "</span>" if not r.as_expected
           else '<span class="tag known">expected: a known bug of this variant</span>')
    rp = v.replay
    klass = {"confirmed": "confirmed", "not available": "unavailable"}.get(rp.result, "")
    replay = [f'<div class="replay {klass}"><strong>Replay on the emulator:</strong> {esc(rp.summary)}']
    if rp.observed or rp.damage:
        replay.append("<ul>" + "".join(f"<li>{esc(o)}</li>" for o in rp.observed)
                      + "".join(f'<li class="mono">{esc(d)}</li>' for d in rp.damage) + "</ul>")
    replay.append("</div>")
    full = (f"<details><summary>The replay step by step</summary><pre>{esc(rp.text)}</pre></details>"
            if rp.text else "")
    return (f'<section id="{esc(v.anchor)}"><h3>{esc(v.variant)}: {esc(v.property_name)} violated in {steps} '
            f"steps{tag}</h3>" + (f'<p class="doc">{esc(v.doc)}</p>' if v.doc else "")
            + f'<div class="scroll">{chart_svg(v.chart)}</div>' + "".join(replay)
            + f"<details><summary>Numbered steps (changed variables)</summary><pre>{esc(v.steps_text)}"
            f"</pre></details>{full}</section>")


def _coverage(r: Report) -> str:
    out = ['<h2 id="coverage">Coverage</h2>']
    gaps = r.gaps
    if not gaps:
        out.append("<p>Every action instance is enabled somewhere and every witness is reached, in every "
                   "variant checked exhaustively.</p>")
        return "".join(out)
    out.append("<p>An action never enabled is dead model code; a witness never reached means a safety "
               "property it guards may hold only because nothing happens (vacuity).</p><ul class=\"gaps\">")
    for c in gaps:
        if c["never_enabled"]:
            out.append(f"<li><strong>{esc(c['variant'])}</strong>: actions never enabled: "
                       f"<code>{esc(', '.join(c['never_enabled']))}</code></li>")
        if c["witnesses_not_reached"]:
            out.append(f"<li><strong>{esc(c['variant'])}</strong>: witnesses never reached: "
                       f"<code>{esc(', '.join(c['witnesses_not_reached']))}</code></li>")
    out.append("</ul>")
    return "".join(out)


def _graphs(r: Report) -> str:
    out = ['<h2 id="graphs">State graphs</h2>',
           f"<p>Drawn for variants with at most {r.graph_limit} states. Blue: initial states; red: the "
           "path of the first counterexample shown above, ending in the red state; grey: states with no "
           "successor. Hover a state for its variables, a transition for its actions.</p>"]
    if any(not g.svg for g in r.graphs):  # one sentence for all that are too large, not a line each
        out.append(f'<p class="meta">{esc(graphs_sentence(r))}</p>')
    for g in r.graphs:
        if not g.svg:
            continue
        size = "" if g.states is None else f" ({g.states:,} states)"
        out.append(f"<h3>{esc(g.variant)}{esc(size)}</h3>")
        marked = (f"the counterexample to <strong>{esc(g.highlighted)}</strong> is highlighted"
                  if g.highlighted else "no counterexample to highlight")
        out.append(f'<p class="meta">{esc(g.layout)}; {marked}'
                   + (f"; {esc(g.note)}" if g.note else "") + "</p>")
        out.append(f'<div class="scroll">{g.svg}</div>')
    return "\n".join(out)


def _details(r: Report) -> str:
    rows = []
    for c in r.matrix.cells:
        engines = "; ".join(f"{e}: {a}" for e, a in c.engines) or "–"
        rows.append(f'<tr><td>{esc(c.variant)}</td><td>{esc(c.property)}</td><td>{esc(c.kind)}</td>'
                    f'<td class="{cell_class(c)}">{esc(c.verdict)}</td><td>{esc(c.expected)}</td>'
                    f"<td>{esc(c.completeness)}</td><td>{esc(engines)}</td>"
                    f'<td class="num">{"–" if c.states is None else f"{c.states:,}"}</td>'
                    f'<td class="num">{c.seconds:.2f}</td></tr>')
    return ('<h2 id="results">Every result</h2><details><summary>Show the table</summary><table>'
            "<tr><th>variant</th><th>property</th><th>kind</th><th>verdict</th><th>expected</th>"
            "<th>how complete</th><th>engines</th><th>states</th><th>seconds</th></tr>"
            + "".join(rows) + "</table></details>")


def _reproduce(r: Report) -> str:
    hashes = "".join(f"<tr><td>{esc(s.variant)}</td><td><code>{esc(s.ir_hash)}</code></td></tr>"
                     for s in r.systems)
    params = ", ".join(f"{k}={v}" for k, v in r.params) or "none"
    return (f'<h2 id="reproduce">Reproduce</h2><pre>{esc(r.command)}</pre>'
            f"<p class=\"meta\">migcheck {esc(r.version)} · Python {esc(r.python)} · parameters "
            f"{esc(params)} · engine {esc(r.engine)} · written {esc(r.created)}. The IR hash identifies "
            "each variant's traced model; a different hash means the model changed.</p>"
            f"<table><tr><th>variant</th><th>IR hash</th></tr>{hashes}</table>")
