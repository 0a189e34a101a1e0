"""Drawing a state graph without Graphviz: breadth-first layers as rows of an SVG.

Row k holds the states k steps from an initial state, in breadth-first order. Edges are
straight lines (curves within a row, small loops for self-loops); the counterexample's
states and transitions are drawn last, in red, over the rest. Hovering shows a state's
variables or a transition's actions (SVG ``<title>``).
"""

from __future__ import annotations

from .markup import FONT, esc
from .state_graph import StateGraph

COLUMN = 26
ROW = 56
RADIUS = 5
MARGIN = 24
PATH = "#c62828"


def layers_svg(g: StateGraph) -> str:
    rows: dict[int, list[int]] = {}
    for i, layer in enumerate(g.layers):
        rows.setdefault(max(layer, 0), []).append(i)
    widest = max(len(r) for r in rows.values())
    width = 2 * MARGIN + max(widest - 1, 1) * COLUMN
    height = 2 * MARGIN + (max(rows) + 1) * ROW - ROW + 20
    pos: dict[int, tuple[float, float]] = {}
    for layer, members in rows.items():
        offset = (width - (len(members) - 1) * COLUMN) / 2
        for k, i in enumerate(members):
            pos[i] = (offset + k * COLUMN, MARGIN + layer * ROW)

    plain, marked = [], []
    for i, j, actions, _owner in g.edges:
        on_path = (i, j) in g.path_edges
        (x1, y1), (x2, y2) = pos[i], pos[j]
        stroke = (f'stroke="{PATH}" stroke-width="2.2"' if on_path
                  else 'stroke="#7a8a99" stroke-opacity="0.35" stroke-width="1"')
        if i == j:
            shape = (f'<path d="M{x1 - 3:.1f},{y1 - 4:.1f} a7,7 0 1,1 6,0" fill="none" {stroke}>')
        elif y1 == y2:
            bend = min(ROW * 0.45, abs(x2 - x1) / 3 + 6)
            shape = (f'<path d="M{x1:.1f},{y1:.1f} Q{(x1 + x2) / 2:.1f},{y1 - bend:.1f} {x2:.1f},{y2:.1f}" '
                     f'fill="none" {stroke}>')
        else:
            shape = f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" {stroke}>'
        tip = f"<title>{esc(f'state {i} → state {j}: {actions}')}</title>"
        closing = "</path>" if shape.startswith("<path") else "</line>"
        (marked if on_path else plain).append(shape + tip + closing)
        if on_path:
            marked.append(_arrowhead(x1, y1, x2, y2))

    on_path_nodes = set(g.path)
    end = g.path[-1] if g.path else None
    nodes = []
    for i, (x, y) in sorted(pos.items()):
        if i == end:
            fill, ring = PATH, PATH
        elif i in g.initial:
            fill, ring = "#1f5fa8", "#1f5fa8"
        elif i in on_path_nodes:
            fill, ring = "#fff", PATH
        elif i in g.dead_ends:
            fill, ring = "#999", "#333"
        else:
            fill, ring = "#dfe6ee", "#7a8a99"
        r = RADIUS + (1.5 if i in on_path_nodes or i in g.initial else 0)
        nodes.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{fill}" stroke="{ring}" '
                     f'stroke-width="1.5"><title>{esc(g.nodes[i])}</title></circle>')
    labels = [f'<text x="4" y="{MARGIN + layer * ROW + 4}" font-size="10" fill="#777">{layer}</text>'
              for layer in sorted(rows)]
    title = f"state graph of {g.system.model} [{g.system.variant}]: {len(g.nodes)} states"
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" width="{width:.0f}" '
            f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
            f'aria-label="{esc(title)}" font-family="{esc(FONT)}"><title>{esc(title)}</title>'
            + "".join(labels) + "".join(plain) + "".join(marked) + "".join(nodes) + "</svg>")


def _arrowhead(x1: float, y1: float, x2: float, y2: float) -> str:
    """A small triangle just short of the target node, pointing along the edge."""
    dx, dy = x2 - x1, y2 - y1
    length = (dx * dx + dy * dy) ** 0.5
    if length < 1:
        return ""
    ux, uy = dx / length, dy / length
    tip_x, tip_y = x2 - ux * (RADIUS + 2), y2 - uy * (RADIUS + 2)
    bx, by = tip_x - ux * 8, tip_y - uy * 8
    return (f'<polygon points="{tip_x:.1f},{tip_y:.1f} {bx - uy * 4:.1f},{by + ux * 4:.1f} '
            f'{bx + uy * 4:.1f},{by - ux * 4:.1f}" fill="{PATH}"/>')
