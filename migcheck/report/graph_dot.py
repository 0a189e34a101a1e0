"""Drawing a state graph with Graphviz ``dot`` (when it is installed), as inline SVG.

The graph goes to ``dot -Tsvg`` on standard input; the XML prolog and doctype are cut so
the ``<svg>`` element can sit inside the HTML page. Nodes are small circles with the
state's variables as tooltip; the counterexample's path is red.
"""

from __future__ import annotations

import re
import subprocess

from .state_graph import StateGraph

PATH = "#c62828"
TIMEOUT = 60.0  # seconds dot may take for one picture


def dot_source(g: StateGraph) -> str:
    """The graph in the DOT language."""
    on_path = set(g.path)
    end = g.path[-1] if g.path else None
    out = ["digraph states {",
           '  graph [rankdir=TB, nodesep=0.12, ranksep=0.45, bgcolor="transparent"];',
           '  node [shape=circle, label="", width=0.16, fixedsize=true, style=filled, '
           'fillcolor="#dfe6ee", color="#7a8a99"];',
           '  edge [color="#7a8a9966", arrowsize=0.4];']
    for i, tip in enumerate(g.nodes):
        attrs = [f'tooltip="{_quote(tip)}"', f'id="s{i}"']
        if i == end:
            attrs += [f'fillcolor="{PATH}"', f'color="{PATH}"', "width=0.22"]
        elif i in g.initial:
            attrs += ['fillcolor="#1f5fa8"', 'color="#1f5fa8"', "width=0.22"]
        elif i in on_path:
            attrs += ['fillcolor="#ffffff"', f'color="{PATH}"', "penwidth=2"]
        elif i in g.dead_ends:
            attrs += ['fillcolor="#999999"', 'color="#333333"']
        out.append(f"  n{i} [{', '.join(attrs)}];")
    for i, j, actions, _owner in g.edges:
        attrs = [f'tooltip="{_quote(f"state {i} → state {j}: {actions}")}"']
        if (i, j) in g.path_edges:
            attrs += [f'color="{PATH}"', "penwidth=2.4", "arrowsize=0.7"]
        out.append(f"  n{i} -> n{j} [{', '.join(attrs)}];")
    out.append("}")
    return "\n".join(out)


def dot_svg(g: StateGraph) -> tuple[str, str]:
    """(svg, "") from Graphviz, or ("", what went wrong)."""
    try:
        done = subprocess.run(["dot", "-Tsvg"], input=dot_source(g), capture_output=True, text=True,
                              timeout=TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return "", str(exc)
    if done.returncode != 0 or "<svg" not in done.stdout:
        return "", (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[0]
    svg = done.stdout[done.stdout.index("<svg"):]
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.S)
    svg = svg.replace("<svg ", '<svg class="graph" ', 1)
    return svg.strip(), ""


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
