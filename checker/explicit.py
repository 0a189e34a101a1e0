"""The explicit-state engine: breadth-first search over packed states.

Breadth-first order makes the first counterexample to each property a shortest one. All
properties of a model instance are checked in one exploration; each is decided the first
time it can be, and the search goes on for the rest. Limits end in ``inconclusive`` for
every property still open, never in ``holds``.
"""

from __future__ import annotations

import resource
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from migcheck.models.ir import System

from .codegen import DEADLOCK_FLAG, Active, Packing, compile_search
from .liveness import LIVENESS, FairGraph, check_liveness
from .symmetry import Symmetry, SymmetryRefused, native_canonical
from .trace import Step, Trace
from .verdict import ERROR, HOLDS, INCONCLUSIVE, VIOLATED, Stats, Verdict, mark_vacuous

DEADLOCK = "deadlock"
ProgressFn = Callable[[dict[str, Any]], None]
StopFn = Callable[[], str | None]  # a reason to stop the search now, or None


@dataclass
class Exploration:
    """The result of one exploration: a verdict per property, and the explored states."""

    system: System
    verdicts: dict[str, Verdict]
    stats: Stats
    packing: Packing
    states: list[int] = field(repr=False)
    parents: array = field(repr=False)
    via: array = field(repr=False)
    edges: list[tuple[int, int, int]] | None = field(default=None, repr=False)
    fair_graph: Any = field(default=None, repr=False)  # built once for the liveness checks
    never_enabled: list[str] = field(default_factory=list)  # action instances (if the search finished)
    symmetry: Symmetry | None = field(default=None, repr=False)  # states are canonical forms
    backend: str = "python"  # the search that ran: python or native
    store_bytes: int | None = None  # native: bytes the C store holds (states, parents, actions, table)
    # cluster: states and peak memory per worker, and per level the states and bytes sent; then
    # `states` holds only the counterexamples' paths
    workers: list[dict[str, Any]] = field(default_factory=list)
    levels: list[dict[str, Any]] = field(default_factory=list)
    interrupted: bool = False  # stopped by Ctrl-C (cluster): the verdicts decided so far

    def state(self, i: int) -> tuple[int, ...]:
        return self.packing.unpack(self.states[i])

    def initial_indexes(self) -> list[int]:
        """Initial states come first in breadth-first order, with no parent."""
        n = 0
        while n < len(self.states) and self.parents[n] < 0:
            n += 1
        return list(range(n))

    def graph(self) -> Any:
        """The explored state graph; nodes are state indexes, edges carry the action label.

        Only available when the search ran with ``graph=True`` (it records every transition).
        """
        if self.edges is None:
            raise ValueError("the search ran without graph=True; no transitions were recorded")
        import networkx as nx  # loaded only when a graph is asked for

        g = nx.DiGraph()
        g.add_nodes_from(range(len(self.states)))
        for i, a, j in self.edges:
            act = self.system.actions[a]
            if g.has_edge(i, j):
                g[i][j]["actions"].append(act.label)
            else:
                g.add_edge(i, j, action=act.label, actions=[act.label], owner=act.owner)
        return g

    def path(self, i: int, prop: str, extra: tuple[int, tuple[int, ...]] | None = None) -> Trace:
        """The breadth-first path from an initial state to state ``i`` (plus one more step)."""
        chain = []
        while i >= 0:
            chain.append(i)
            i = self.parents[i]
        chain.reverse()
        steps = []
        for n, idx in enumerate(chain):
            if n == 0:
                steps.append(Step(None, (), None, self.state(idx)))
            else:
                act = self.system.actions[self.via[idx]]
                steps.append(Step(act.name, act.params, act.owner, self.state(idx)))
        if extra is not None:
            act = self.system.actions[extra[0]]
            steps.append(Step(act.name, act.params, act.owner, extra[1]))
        if self.symmetry is not None:
            steps = self._concrete(steps, prop)
        s = self.system
        return Trace(s.instance, prop, tuple(steps))

    def _concrete(self, steps: list[Step], prop: str) -> list[Step]:
        """Canonical states back to a run of the model: from the concrete state, take the first
        enabled action whose successor has the next canonical state as its canonical form (on
        a property's own step, one that also violates it)."""
        from .interpret import evaluate, successors

        canon = self.symmetry.canonical
        system = self.system
        p = system.property(prop)
        out = [steps[0]]
        for n, step in enumerate(steps[1:], start=1):
            here = out[-1].state
            target = canon(step.state)
            last_action_step = n == len(steps) - 1 and p is not None and p.kind == "action"
            for a, nxt in successors(system, here):
                if canon(nxt) == target and not (last_action_step and evaluate(p.per_action[a], here)):
                    act = system.actions[a]
                    out.append(Step(act.name, act.params, act.owner, nxt))
                    break
            else:  # the symmetry check makes this unreachable
                raise AssertionError(f"no concrete step to canonical state {n} of {prop}")
        return out


class Limits:
    """The search's stopping rules and progress events, shared by the sequential and the
    cluster engines so that both stop for the same reasons."""

    report_every = 0.5  # seconds between progress events (a test sets 0: an event at every check)

    def __init__(self, max_states: int | None, timeout: float | None,
                 on_progress: ProgressFn | None, stop: StopFn | None = None):
        self.max_states, self.timeout, self.on_progress = max_states, timeout, on_progress
        self.stop = stop  # asked at every check: a reason to stop now (Ctrl-C, the run's deadline)
        self.started = time.perf_counter()
        self.last_report = self.started
        self.stop_reason: list[str] = []

    def reached(self, states: int, expanded: int, extra: Callable[[], dict[str, Any]]) -> bool:
        """Report progress at most every `report_every` seconds; True (with the reason kept) once
        a limit is hit."""
        now = time.perf_counter()
        if self.on_progress is not None and now - self.last_report >= self.report_every:
            self.last_report = now
            self.on_progress({"states": states, "expanded": expanded, "seconds": now - self.started,
                              **extra()})
        if self.max_states is not None and states >= self.max_states:
            self.stop_reason.append(f"state limit reached ({states} states, --max-states {self.max_states})")
            return True
        if self.timeout is not None and now - self.started >= self.timeout:
            self.stop_reason.append(f"time limit reached ({self.timeout:g} s, --timeout)")
            return True
        why = self.stop() if self.stop is not None else None
        if why:
            self.stop_reason.append(why)
            return True
        return False


def explore(system: System, properties: list[str] | None = None, *, max_states: int | None = None,
            timeout: float | None = None, graph: bool = False, symmetry: bool = False,
            on_progress: ProgressFn | None = None, backend: str = "python",
            stop: StopFn | None = None) -> Exploration:
    """Explore ``system`` breadth-first and decide ``properties`` (all of them by default).

    The deadlock check runs when the model asks for it and ``properties`` is None or names
    "deadlock". Time: linear in states × action instances; memory: one packed int, one parent
    index and one action index per distinct state. ``backend`` is "python" (the compiled Python
    search), "native" (the same search compiled to C) or "auto" (native when a C compiler is
    present); both give the same states in the same order. ``stop``, asked every 1024 states,
    returns a reason to stop now (Ctrl-C, a deadline of the whole run) or None.

    A search stopped by a limit leaves the open properties ``inconclusive`` with ``bound`` k:
    every state (and step) of a run of at most k steps was checked, since breadth-first order
    expands all states of one depth before the next.
    """
    plan = Plan.of(system, properties)
    props = system.properties
    open_inv, open_wit, open_act = list(plan.invariants), list(plan.witnesses), list(plan.action_props)
    want_deadlock = plan.deadlock
    graph = graph or bool(plan.liveness)  # liveness is decided on the recorded transitions
    # refuses, with the reason, if not symmetric
    sym = Symmetry.of(system, list(plan.wanted)) if symmetry else None

    packing = Packing.of(system.layout)
    reduced = bool(sym and sym.groups)  # a one-element symmetric set explores unreduced
    active = Active(tuple(open_inv), tuple(open_wit), tuple(open_act), want_deadlock, graph, reduced)
    engine, note = _search_engine(backend, system, packing, active, sym if reduced else None)
    if note and on_progress is not None:
        on_progress({"note": note})
    engine.add_initial([packing.pack(init) for init in system.initial])

    limits = Limits(max_states, timeout, on_progress, stop)
    started, stop_reason = limits.started, limits.stop_reason

    def tick(i: int) -> bool:
        return limits.reached(engine.count(), i, lambda: {"depth": engine.depth(i - 1)})

    found: dict[str, tuple[str, Any]] = {}  # property -> (kind of event, data)
    i = 0
    transitions = 0
    domain_error: tuple[int, int, int, int] | None = None
    # Compiled once; a decided property is switched off and the search resumes where it was.
    decided: set[int] = set()
    while True:
        event, k, i, t, *rest = engine.search(i, tick, decided)
        transitions += t
        if event == "invariant" or event == "witness":
            found[props[k].name] = ("state", i)
            decided.add(k)
        elif event == "action":
            a_i = rest[0]
            found[props[k].name] = ("step", (i, a_i))
            decided.add(k)
        elif event == "deadlock":
            found[DEADLOCK] = ("state", i)
            decided.add(DEADLOCK_FLAG)
        elif event == "domain":
            domain_error = (i, k, rest[0], rest[1])
            break
        else:
            break  # done or limit

    elapsed = time.perf_counter() - started
    if on_progress is not None and plan.liveness and event == "done":  # the fair-cycle analysis is next
        last = engine.count() - 1
        on_progress({"states": engine.count(), "expanded": i, "seconds": elapsed, "depth": engine.depth(last),
                     "note": "looking for fair cycles: " + ", ".join(plan.liveness), "phase": "liveness"})
    # Stopped before expanding state i: every state shallower than i was expanded and checked.
    bound = engine.depth(i) - 1 if event == "limit" and i < engine.count() else None
    got = engine.views()
    result = conclude(system, plan, packing, got.states, got.parents, got.via, got.edges, found=found,
                      complete=event == "done", domain_error=domain_error, transitions=transitions,
                      seconds=elapsed, fired=got.fired, stop_reason=stop_reason, symmetry=sym,
                      bound=bound if bound is not None and bound >= 0 else None)
    result.backend = engine.name
    result.store_bytes = getattr(got, "store_bytes", None)
    return result


class PythonSearch:
    """The compiled Python search (``codegen.generate``) behind the interface the driver in
    `explore` shares with ``native.search.NativeSearch``."""

    name = "python"

    def __init__(self, system: System, packing: Packing, active: Active, symmetry: Symmetry | None):
        self.run = compile_search(system, packing, active)
        self.canon = symmetry.canonical_packed if symmetry is not None else None
        self.graph = active.edges
        self.states: list[int] = []
        self.seen: Any = {} if self.graph else set()
        self.parents = array("q")
        self.via = array("I")
        self.edges: list[tuple[int, int, int]] | None = [] if self.graph else None
        self.fired = bytearray(len(system.actions))  # coverage: action instances ever enabled

    def add_initial(self, packed: list[int]) -> None:
        for x in packed:
            if x not in self.seen:
                if self.graph:
                    self.seen[x] = len(self.states)
                else:
                    self.seen.add(x)
                self.states.append(x)
                self.parents.append(-1)
                self.via.append(0)

    def count(self) -> int:
        return len(self.states)

    def depth(self, i: int) -> int:
        return _depth(self.parents, i)

    def search(self, i: int, tick: Callable[[int], bool], decided: set[int]) -> tuple:
        event = self.run(self.states, self.parents, self.via, self.seen, i, tick, self.edges, self.fired,
                         self.canon, decided)
        edges = self.edges
        if edges is not None and event[0] not in ("done", "limit"):
            while edges and edges[-1][0] == event[2]:
                edges.pop()  # state i is expanded again on resumption
        return event

    def views(self) -> Any:
        from types import SimpleNamespace

        return SimpleNamespace(states=self.states, parents=self.parents, via=self.via, edges=self.edges,
                               fired=self.fired)


BACKENDS = ("auto", "python", "native")


def _search_engine(backend: str, system: System, packing: Packing, active: Active,
                   symmetry: Symmetry | None) -> tuple[Any, str]:
    """The search to run for ``backend``, and a one-line note when ``auto`` fell back to Python.

    ``auto`` runs a small system (`native.search.SMALL_BITS`) on the Python backend unless its
    C library is already built: compiling would cost more than the whole Python search.

    ``native`` that cannot run raises `NativeUnavailable` with the reason.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend '{backend}' (backends: {', '.join(BACKENDS)})")
    if backend == "python":
        return PythonSearch(system, packing, active, symmetry), ""
    from .native.build import NativeUnavailable
    from .native.search import NativeSearch

    try:
        canonical = native_canonical(symmetry.groups, packing) if symmetry is not None else ""
        return NativeSearch(system, packing, active, canonical, small_first=backend == "auto"), ""
    except (NativeUnavailable, SymmetryRefused) as exc:
        if backend == "native":
            raise NativeUnavailable(f"--backend native: {exc}") from None
        note = "" if getattr(exc, "quiet", False) else \
            f"native backend unavailable ({exc}); using the Python backend"
        return PythonSearch(system, packing, active, symmetry), note


def initial_states(system: System, packing: Packing, graph: bool) -> tuple[list[int], Any]:
    """The distinct initial states, packed, and the visited set holding them (a dict from state to
    index when every transition is recorded, else a set)."""
    states: list[int] = []
    seen: Any = {} if graph else set()
    for init in system.initial:
        x = packing.pack(init)
        if x not in seen:
            if graph:
                seen[x] = len(states)
            else:
                seen.add(x)
            states.append(x)
    return states, seen


@dataclass(frozen=True)
class Plan:
    """What one exploration checks: the properties asked for, their witnesses, by kind."""

    reported: tuple[str, ...]  # the verdicts returned
    wanted: tuple[str, ...]  # reported, plus the witnesses they name
    index: dict[str, int]  # property name -> index in system.properties
    invariants: tuple[int, ...]
    witnesses: tuple[int, ...]
    action_props: tuple[int, ...]
    liveness: tuple[str, ...]
    deadlock: bool

    @classmethod
    def of(cls, system: System, properties: list[str] | None) -> Plan:
        """The deadlock check runs when the model asks for it and ``properties`` is None or
        names "deadlock"."""
        props = system.properties
        reported = [p.name for p in props] if properties is None else list(properties)
        index = {p.name: k for k, p in enumerate(props)}
        witnesses = [props[index[n]].witness for n in reported if n in index and props[index[n]].witness]
        wanted = reported + [w for w in dict.fromkeys(witnesses) if w not in reported]

        def of_kind(*kinds: str) -> list[int]:
            return [index[n] for n in wanted if n in index and props[index[n]].kind in kinds]

        return cls(tuple(reported), tuple(wanted), index, tuple(of_kind("invariant")),
                   tuple(of_kind("reachable")), tuple(of_kind("action")),
                   tuple(props[k].name for k in of_kind(*LIVENESS)),
                   system.check_deadlock and (properties is None or DEADLOCK in reported))


def conclude(system: System, plan: Plan, packing: Packing, states: list[int], parents: array, via: array,
             edges: list[tuple[int, int, int]] | None, *, found: dict[str, tuple[str, Any]], complete: bool,
             domain_error: tuple[int, int, int, int] | None, transitions: int, seconds: float,
             fired: bytearray, stop_reason: list[str], symmetry: Symmetry | None,
             bound: int | None = None, totals: tuple[int, int] | None = None) -> Exploration:
    """Verdicts from a finished (or stopped) search; shared by the sequential and cluster engines.

    ``found`` maps a decided property to ("state", index) or ("step", (index, action)).
    ``totals`` is (states, depth) when ``states`` holds only the counterexamples' paths (cluster).
    """
    props, index, wanted, want_deadlock = system.properties, plan.index, plan.wanted, plan.deadlock
    count, depth = totals if totals is not None else (len(states), _depth(parents, len(states) - 1))
    stats = Stats(states=count, transitions=transitions, depth=depth,
                  seconds=seconds, peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if symmetry is not None and symmetry.action_orbit:  # an instance fired if one of its orbit fired
        fired_orbits = {symmetry.action_orbit[k] for k, f in enumerate(fired) if f}
        fired = bytearray(symmetry.action_orbit[k] in fired_orbits for k in range(len(fired)))
    never = [a.label for a, f in zip(system.actions, fired, strict=True) if not f] if complete else []
    result = Exploration(system, {}, stats, packing, states, parents, via, edges, never_enabled=never,
                         symmetry=symmetry)

    kinds = {p.name: p.kind for p in props}
    order = [n for n in wanted if n in kinds] + ([DEADLOCK] if want_deadlock else [])
    live_complete = complete  # False once Ctrl-C stops the fair-cycle analysis
    for name in order:
        kind = kinds.get(name, DEADLOCK)
        if kind in LIVENESS and domain_error is None:
            try:
                result.verdicts[name] = _liveness_verdict(result, props[index[name]], live_complete, stats,
                                                          stop_reason)
            except KeyboardInterrupt as stop:  # Ctrl-C, a deadline: the safety verdicts stand
                live_complete = False
                stop_reason.insert(0, str(stop) or "interrupted (Ctrl-C)")
                result.verdicts[name] = _liveness_verdict(result, props[index[name]], live_complete, stats,
                                                          stop_reason)
            continue
        if domain_error is not None and name not in found:
            i, a_i, slot, value = domain_error
            act = system.actions[a_i]
            d = system.layout.slots[slot].domain
            reason = (f"action {act.label} sets {system.layout.slots[slot].name} to {value}, outside "
                      f"{d.describe()}; add a guard with require(...) or widen the domain")
            result.verdicts[name] = Verdict(name, kind, ERROR, "explicit", False, stats, reason=reason,
                                            trace=result.path(i, name))
            continue
        if name in found:
            how, data = found[name]
            trace = result.path(data, name) if how == "state" else _step_trace(result, name, *data)
            if kind == "reachable":
                result.verdicts[name] = Verdict(name, kind, HOLDS, "explicit", True, stats, witness=trace)
            else:
                result.verdicts[name] = Verdict(name, kind, VIOLATED, "explicit", True, stats, trace=trace)
        elif complete:
            if kind == "reachable":
                result.verdicts[name] = Verdict(name, kind, VIOLATED, "explicit", True, stats,
                                                reason="not witnessed: no reachable state satisfies it")
            else:
                result.verdicts[name] = Verdict(name, kind, HOLDS, "explicit", True, stats)
        else:
            result.verdicts[name] = Verdict(name, kind, INCONCLUSIVE, "explicit", False, stats, bound=bound,
                                            reason=stop_reason[0] if stop_reason else "stopped")
    mark_vacuous(result.verdicts, [props[index[n]] for n in plan.reported if n in index])
    result.verdicts = {n: v for n, v in result.verdicts.items() if n in plan.reported or n == DEADLOCK}
    return result


def _liveness_verdict(result: Exploration, prop, complete: bool, stats: Stats,
                      stop_reason: list[str]) -> Verdict:
    if not complete:
        return Verdict(prop.name, prop.kind, INCONCLUSIVE, "explicit", False, stats,
                       reason=stop_reason[0] if stop_reason else "stopped")
    if result.fair_graph is None:
        result.fair_graph = FairGraph(result)
    lasso = check_liveness(result, prop, result.fair_graph)
    if lasso is None:
        return Verdict(prop.name, prop.kind, HOLDS, "explicit", True, stats)
    return Verdict(prop.name, prop.kind, VIOLATED, "explicit", True, stats, trace=lasso)


def _step_trace(result: Exploration, name: str, i: int, a_i: int) -> Trace:
    from .interpret import successor

    after = successor(result.system, a_i, result.state(i))
    return result.path(i, name, extra=(a_i, after))


def _depth(parents: array, i: int) -> int:
    d = 0
    while i >= 0 and parents[i] >= 0:
        i = parents[i]
        d += 1
    return d
