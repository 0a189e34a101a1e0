"""Liveness under fairness, on the explored state graph.

A behaviour violates ``eventually q`` (or ``leads_to(p, q)`` after a p-state) when it stays
in not-q states forever while respecting fairness. On a finite graph such a behaviour ends
in a lasso: a fair strongly connected component of not-q states, or a state where it may
stutter forever because no fairly scheduled action is enabled there.

Fairness is per action instance. Weak: an instance enabled in every state of the loop must
be taken in the loop. Strong: an instance enabled in some state of the loop must be taken in
the loop. A component that fails strong fairness may still contain a fair sub-component
that avoids the states enabling the neglected instance; those are searched for (the
Emerson-Lei refinement).

The stem is a shortest path to the nearest state (breadth-first) that lies on a fair loop. The
loop is not guaranteed shortest: a shortest cycle taking every required action is a
shortest tour through required edges (NP-hard), so `_fair_cycle` adds one required action at
a time, each reached by a shortest path inside the component.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING

from migcheck.models.ir import PropertyIR, System

from .codegen import compile_predicate
from .trace import Step, Trace

LIVENESS = ("eventually", "leads_to")

if TYPE_CHECKING:
    from .explicit import Exploration


class FairGraph:
    """The explored transitions as adjacency lists, with enabledness and fairness."""

    def __init__(self, exploration: Exploration):
        if exploration.edges is None:
            raise ValueError("liveness needs the search to record transitions (graph=True)")
        self.exploration = exploration
        self.system: System = exploration.system
        n = len(exploration.states)
        self.out: list[list[tuple[int, int]]] = [[] for _ in range(n)]
        for i, a, j in exploration.edges:
            self.out[i].append((a, j))
        self.fair = {a: act.fairness for a, act in enumerate(self.system.actions) if act.fairness}
        self._states: list[tuple[int, ...]] | None = None

    def unpacked(self) -> list[tuple[int, ...]]:
        if self._states is None:
            self._states = [self.exploration.state(i) for i in range(len(self.exploration.states))]
        return self._states

    def enabled(self, i: int) -> set[int]:
        return {a for a, _ in self.out[i]}

    def stutters_fairly(self, i: int) -> bool:
        """No fairly scheduled action is enabled: the behaviour may stay here forever."""
        return not any(a in self.fair for a, _ in self.out[i])


def check_liveness(exploration: Exploration, prop: PropertyIR, g: FairGraph | None = None) -> Trace | None:
    """A fair lasso that violates ``prop``, or None when it holds on the explored graph.

    ``g`` may be shared between the properties of one exploration.
    """
    g = g or FairGraph(exploration)
    states = g.unpacked()
    n_slots = len(exploration.system.layout.slots)
    is_goal = compile_predicate(prop.goal, n_slots)
    goal = [is_goal(s) for s in states]
    if prop.kind == "eventually":
        starts = [i for i in exploration.initial_indexes() if not goal[i]]
    else:
        is_trigger = compile_predicate(prop.pred, n_slots)
        starts = [i for i, s in enumerate(states) if not goal[i] and is_trigger(s)]
    if not starts:
        return None
    # Breadth-first through not-goal states from every start, remembering the way back.
    parent: dict[int, tuple[int, int] | None] = {i: None for i in starts}
    queue = deque(starts)
    order: list[int] = []
    while queue:
        i = queue.popleft()
        order.append(i)
        for a, j in g.out[i]:
            if not goal[j] and j not in parent:
                parent[j] = (i, a)
                queue.append(j)
    rank = {i: n for n, i in enumerate(order)}
    ends: list[tuple[int, list[tuple[int, int, int]]]] = []  # (entry, loop edges)
    stutter = next((i for i in order if g.stutters_fairly(i)), None)
    if stutter is not None:
        ends.append((stutter, []))
    component = _first_fair_component(g, order, rank)
    if component is not None:
        entry = min(component, key=rank.__getitem__)
        ends.append((entry, _fair_cycle(g, component, entry)))
    if not ends:
        return None
    entry, loop = min(ends, key=lambda e: (rank[e[0]], len(e[1])))
    return _lasso(exploration, parent, entry, loop, prop.name)


def _components(nodes: set[int], g: FairGraph) -> list[set[int]]:
    """The strongly connected components of the explored graph restricted to ``nodes``
    (Tarjan's algorithm, iterative). Linear in the nodes and their edges."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    stack: list[int] = []
    on_stack: set[int] = set()
    out: list[set[int]] = []
    for root in sorted(nodes):
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter([j for _, j in g.out[root] if j in nodes]))]
        while work:
            v, successors = work[-1]
            for w in successors:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter([j for _, j in g.out[w] if j in nodes])))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = set()
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.add(w)
                        if w == v:
                            break
                    out.append(comp)
    return out


def _first_fair_component(g: FairGraph, order: list[int], rank: dict[int, int]) -> set[int] | None:
    inside = set(order)
    candidates = []
    pending: list[set[int]] = [inside]
    while pending:
        nodes = pending.pop()
        for comp in _components(nodes, g):
            if len(comp) == 1:
                (only,) = comp
                if all(j != only for _, j in g.out[only]):
                    continue  # no cycle here (stuttering is handled apart)
            taken = {a for i in comp for a, j in g.out[i] if j in comp}
            enabled = [g.enabled(i) for i in comp]
            neglected = neglected_strong(g.fair, taken, enabled)
            if neglected:
                rest = {i for i in comp if not (g.enabled(i) & neglected)}
                if rest:
                    pending.append(rest)
                continue
            if not neglected_weak(g.fair, taken, enabled):
                candidates.append(comp)
    if not candidates:
        return None
    return min(candidates, key=lambda c: min(rank[i] for i in c))


def neglected_strong(fair: Mapping[int, str], taken: Collection[int],
                     enabled: Sequence[Collection[int]]) -> set[int]:
    """The strongly fair action instances a loop neglects: enabled in some state of the loop
    (``enabled`` lists each state's enabled instances), never ``taken`` in it."""
    anywhere = set().union(*enabled)
    return {a for a in anywhere if fair.get(a) == "strong" and a not in taken}


def neglected_weak(fair: Mapping[int, str], taken: Collection[int],
                   enabled: Sequence[Collection[int]]) -> set[int]:
    """The weakly fair action instances a loop neglects: enabled in every state of the loop,
    never ``taken`` in it."""
    always = set(enabled[0]).intersection(*enabled[1:]) if enabled else set()
    return {a for a in always if fair.get(a) == "weak" and a not in taken}


def unfair_to(fair: Mapping[int, str], taken: Collection[int],
              enabled: Sequence[Collection[int]]) -> int | None:
    """The first action instance (in declaration order) a loop is unfair to; None when the
    loop is fair. A loop of no steps stutters: ``enabled`` is then its one state's."""
    neglected = neglected_strong(fair, taken, enabled) | neglected_weak(fair, taken, enabled)
    return min(neglected) if neglected else None


def _fair_cycle(g: FairGraph, comp: set[int], entry: int) -> list[tuple[int, int, int]]:
    """A cycle from ``entry`` inside ``comp`` that takes or sees disabled every fair action."""
    taken = {}
    for i in sorted(comp):
        for a, j in g.out[i]:
            if j in comp:
                taken.setdefault(a, (i, a, j))
    enabled_anywhere = sorted(set().union(*(g.enabled(i) for i in comp)))
    cycle: list[tuple[int, int, int]] = []
    here = entry
    done_actions: set[int] = set()
    seen_states = {entry}

    def walk(edges: list[tuple[int, int, int]]) -> None:
        cycle.extend(edges)
        done_actions.update(a for _, a, _ in edges)
        seen_states.update(j for _, _, j in edges)

    # Strong-fair actions first (each must be taken), then weak ones, each of which is also
    # satisfied by a state on the cycle where it is disabled: fewer detours, a shorter loop.
    for a in sorted(enabled_anywhere, key=lambda a: g.fair.get(a) != "strong"):
        if a not in g.fair or a in done_actions:
            continue  # already taken on the way
        if g.fair[a] == "weak" and any(a not in g.enabled(i) for i in seen_states):
            continue  # the cycle passes a state where it is disabled
        if a in taken:
            i, _, j = taken[a]
            walk([*_path(g, comp, here, i), (i, a, j)])
            here = j
        elif not any(a not in g.enabled(i) for i in seen_states):
            # weak and never taken here: visit a state where it is disabled
            target = next(i for i in sorted(comp) if a not in g.enabled(i))
            walk(_path(g, comp, here, target))
            here = target
    if not cycle and here == entry:  # no fair action at all: any cycle through entry will do
        a, j = next((a, j) for a, j in g.out[entry] if j in comp)
        walk([(entry, a, j)])
        here = j
    walk(_path(g, comp, here, entry))
    return cycle


def _path(g: FairGraph, comp: set[int], src: int, dst: int) -> list[tuple[int, int, int]]:
    if src == dst:
        return []
    back: dict[int, tuple[int, int]] = {src: (-1, -1)}
    queue = deque([src])
    while queue:
        i = queue.popleft()
        for a, j in g.out[i]:
            if j in comp and j not in back:
                back[j] = (i, a)
                if j == dst:
                    queue.clear()
                    break
                queue.append(j)
    edges = []
    node = dst
    while node != src:
        i, a = back[node]
        edges.append((i, a, node))
        node = i
    return edges[::-1]


def _lasso(exploration: Exploration, parent: dict, entry: int, loop: list[tuple[int, int, int]],
           name: str) -> Trace:
    system = exploration.system
    tail: list[tuple[int, int]] = []  # (action, state) from the start state to the entry
    node = entry
    while parent[node] is not None:
        i, a = parent[node]
        tail.append((a, node))
        node = i
    stem = exploration.path(node, name)
    steps = list(stem.steps)
    for a, j in reversed(tail):
        steps.append(_step(system, a, exploration.state(j)))
    loop_start = len(steps) - 1
    for _, a, j in loop:
        steps.append(_step(system, a, exploration.state(j)))
    return Trace(stem.instance, name, tuple(steps), loop_start)


def _step(system: System, a: int, state: tuple[int, ...]) -> Step:
    act = system.actions[a]
    return Step(act.name, act.params, act.owner, state)


def stutters(trace: Trace) -> bool:
    """True when the lasso's loop is stuttering in its last state."""
    return trace.loop is not None and trace.loop == len(trace.steps) - 1

