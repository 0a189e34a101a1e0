"""The state graph of a small model instance, with a counterexample's path marked, as data.

The explicit engine explores the instance again with transitions recorded (cheap: the
instance is small) and stops past ``limit`` states; a larger instance gets no picture, only
a sentence that says why. `graph_dot` and `graph_layers` draw the data.
"""

from __future__ import annotations

import itertools
import shutil
from dataclasses import dataclass

from migcheck.checker.explicit import explore
from migcheck.checker.trace import Trace
from migcheck.models.ir import System

DEFAULT_LIMIT = 300


@dataclass(frozen=True)
class StateGraph:
    """Nodes are state indexes in breadth-first order; edges carry their action labels."""

    system: System
    nodes: tuple[str, ...]  # a tooltip per state: its variables
    layers: tuple[int, ...]  # breadth-first distance from an initial state
    edges: tuple[tuple[int, int, str, str], ...]  # (from, to, action labels, owner)
    initial: frozenset[int]
    dead_ends: frozenset[int]  # states without successors (deadlocks or final states)
    path: tuple[int, ...] = ()  # the highlighted counterexample's states, in order
    path_edges: frozenset[tuple[int, int]] = frozenset()
    highlighted: str = ""  # the property whose counterexample is highlighted


@dataclass(frozen=True)
class GraphPicture:
    variant: str
    states: int | None  # None: more than the limit
    svg: str  # empty when not drawn
    layout: str  # "graphviz dot", "breadth-first layers" or ""
    highlighted: str
    note: str

    def to_json(self) -> dict[str, object]:
        return {"variant": self.variant, "states": self.states, "drawn": bool(self.svg),
                "layout": self.layout, "highlighted": self.highlighted, "note": self.note}


def state_graph(system: System, limit: int = DEFAULT_LIMIT, trace: Trace | None = None) -> StateGraph | None:
    """The explored graph of ``system``, or None when it has more than ``limit`` states or the
    search does not finish. ``trace``'s path is marked when its states are in the graph."""
    ex = explore(system, [], max_states=limit + 1, graph=True)
    if len(ex.states) > limit or ex.edges is None:
        return None
    g = ex.graph()
    states = [ex.state(i) for i in range(len(ex.states))]
    layout = system.layout
    tips = tuple(f"state {i}: " + ", ".join(f"{k}={v}" for k, v in layout.render(s).items())
                 for i, s in enumerate(states))
    initial = frozenset(ex.initial_indexes())
    layers = [-1] * len(states)
    frontier = sorted(initial)
    for i in frontier:
        layers[i] = 0
    while frontier:
        nxt = []
        for i in frontier:
            for j in sorted(g.successors(i)):
                if layers[j] < 0:
                    layers[j] = layers[i] + 1
                    nxt.append(j)
        frontier = nxt
    edges = tuple((i, j, ", ".join(d["actions"]), d["owner"]) for i, j, d in sorted(g.edges(data=True)))
    dead = frozenset(i for i in g.nodes if g.out_degree(i) == 0)
    path: tuple[int, ...] = ()
    marked: frozenset[tuple[int, int]] = frozenset()
    if trace is not None:
        where = {s: i for i, s in enumerate(states)}
        if all(st.state in where for st in trace.steps):
            path = tuple(where[st.state] for st in trace.steps)
            pairs = set(itertools.pairwise(path))
            if trace.loop is not None and g.has_edge(path[-1], path[trace.loop]):
                pairs.add((path[-1], path[trace.loop]))
            marked = frozenset(pairs)
    return StateGraph(system, tips, tuple(layers), edges, initial, dead, path, marked,
                      trace.property if trace is not None and path else "")


def picture(system: System, limit: int = DEFAULT_LIMIT, trace: Trace | None = None,
            states: int | None = None) -> GraphPicture:
    """Draw the state graph: Graphviz ``dot`` when installed, breadth-first layers otherwise.

    ``states`` is the instance's state count when a search already knows it (to skip the
    exploration of a large instance).
    """
    from .graph_dot import dot_svg
    from .graph_layers import layers_svg

    variant = system.variant
    if states is not None and states > limit:
        return GraphPicture(variant, states, "", "", "",
                            f"{states:,} states: more than the {limit} a picture can show")
    g = state_graph(system, limit, trace)
    if g is None:
        return GraphPicture(variant, states, "", "", "", f"more than the {limit} states a picture can show")
    n = len(g.nodes)
    note = ""
    if shutil.which("dot"):
        svg, problem = dot_svg(g)
        if svg:
            return GraphPicture(variant, n, svg, "graphviz dot", g.highlighted, "")
        note = f"Graphviz dot failed ({problem}); drawn as breadth-first layers instead"
    return GraphPicture(variant, n, layers_svg(g), "breadth-first layers", g.highlighted, note)
