"""A message sequence chart as a Mermaid ``sequenceDiagram`` (GitHub and GitLab draw it in a
pull-request comment). Same content as the SVG: one message per step, a note for a step that
concerns only its actor, a ``loop`` block for a lasso.
"""

from __future__ import annotations

import re

from .sequence import Chart, Message
from .sequence_svg import message_lines


def chart_mermaid(chart: Chart) -> str:
    """The chart's Mermaid source (without the fence)."""
    ids = {a: "a_" + re.sub(r"\W", "_", a) for a in chart.lifelines}
    out = ["sequenceDiagram"]
    out += [f"    participant {ids[a]} as {_safe(chart.title(a))}" for a in chart.lifelines]
    first, last = ids[chart.lifelines[0]], ids[chart.lifelines[-1]]
    span = first if first == last else f"{first},{last}"
    out.append(f"    Note over {span}: State 1: initial state")
    in_loop = False
    for m in chart.messages:
        if m.in_loop and not in_loop:
            tab = (f"state {chart.loop} repeats forever" if chart.stutters
                   else f"back to state {chart.loop}, forever")
            out.append(f"    loop {_safe(tab)}")
            in_loop = True
        out += _message(m, ids, "        " if in_loop else "    ")
    if in_loop:
        out.append("    end")
    out.append(f"    Note over {span}: {_safe('✗ ' + chart.ending)}")
    return "\n".join(out)


def _message(m: Message, ids: dict[str, str], pad: str) -> list[str]:
    text = "<br/>".join(_safe(line) for line in message_lines(m))
    actor = ids.get(m.actor, ids[next(iter(ids))])
    if not m.targets:
        return [f"{pad}Note over {actor}: {text}"]
    lines = [f"{pad}{actor}->>{ids[m.targets[0]]}: {text}"]
    lines += [f"{pad}{actor}->>{ids[t]}: {m.state}. (same step)" for t in m.targets[1:]]
    return lines


def _safe(text: str) -> str:
    """Mermaid text: entity codes for the characters its parser gives a meaning."""
    return re.sub(r"[#;<>]", lambda m: _CODES[m.group()], text)


_CODES = {"#": "#35;", ";": "#59;", "<": "#lt;", ">": "#gt;"}
