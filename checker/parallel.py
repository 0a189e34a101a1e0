"""Parallel explicit-state search: level-synchronised breadth-first search on worker processes.

The coordinating process holds the visited set, the packed states in breadth-first order and
the parent and action index of each. Each level's frontier is cut into chunks of consecutive
states. Worker processes (started once per exploration, at the first level large enough to
be worth a round trip; each holds the model's IR) expand a chunk with the sequential engine's
own generated expansion (`codegen.generate_chunk`: the same specialised guards, branches and
successors, with a chunk as the outer loop) and return the successors as packed
ints with their parent's position and the action, plus the first state of the chunk that
decides each open property. Smaller levels the coordinator expands itself with the same
function. The coordinator merges the chunks in frontier order, so states get the same
numbers, parents and actions as in the sequential search, and each property is decided at
the same state: the verdicts, state counts, depth and counterexamples are identical to
`explicit.explore`'s (the tests check it).

Like the sequential engine, the search goes on after a property is decided (until every state
is expanded, or a limit or a domain error stops it), so that state counts, coverage and the
remaining properties are the same; a level is the unit of synchronisation, not of stopping.

Workers drop a successor they have produced (or expanded) before: the coordinator has then
already merged it at an earlier position, so dropping it changes no number. This saves
pickling and the coordinator's look-ups; it is off when every transition is recorded (liveness
or ``graph=True``), which needs each edge.

Nothing is written to files; the model reaches the workers as its IR (`System`, plain frozen
dataclasses) through multiprocessing's in-memory pickling. One code generator serves both
engines, so a guard, an update or a property means the same in both.
"""

from __future__ import annotations

import multiprocessing
import time
from array import array
from bisect import bisect_left
from dataclasses import dataclass
from typing import Any

from migcheck.models.errors import MigcheckError
from migcheck.models.ir import System

from .codegen import Active, Packing, generate_chunk
from .explicit import DEADLOCK, Exploration, Limits, Plan, ProgressFn, conclude, initial_states
from .symmetry import Symmetry

TICK = 1024  # the sequential engine checks its limits after every 1024th expanded state
_FORGET = 4_000_000  # a worker forgets the successors it produced beyond this many (memory)
LOCAL_LEVEL = 2048  # levels with fewer states are expanded by the coordinator itself
MIN_CHUNK = 1024  # frontier states per task, at least
CHUNKS_PER_WORKER = 3  # tasks per worker and level: the coordinator merges one while others run


class WorkersRefused(MigcheckError):
    """A parallel search was asked for with options it does not take."""


@dataclass(frozen=True)
class Checks:
    """The checks a worker runs on a chunk; decided properties are dropped between levels."""

    invariants: tuple[int, ...]
    witnesses: tuple[int, ...]
    action_props: tuple[int, ...]
    deadlock: bool
    every_edge: bool  # send every transition (no dropping of successors seen before)
    canonical: bool = False  # send each successor's canonical form (symmetry.py)


def generate_expand(system: System, packing: Packing, checks: Checks) -> str:
    """The source of ``expand(chunk, produced, fired, canon)``, run by a worker on one chunk:
    the sequential search's specialised expansion with a chunk as its outer loop
    (`codegen.generate_chunk`, which says what it returns)."""
    return generate_chunk(system, packing, Active(checks.invariants, checks.witnesses, checks.action_props,
                                                  checks.deadlock, checks.every_edge, checks.canonical))


# ---------------------------------------------------------------- worker processes

class Expander:
    """What a worker process holds: the model, its compiled ``expand`` functions (one per set of
    open checks) and the successors it has produced. The coordinator has one too, for levels too
    small to be worth sending."""

    def __init__(self, system: System, symmetry: Symmetry | None):
        self.system = system
        self.packing = Packing.of(system.layout)
        self.wide = self.packing.bits > 64  # states travel as a list of ints, not an array of u64
        self.canon = symmetry.canonical_packed if symmetry is not None and symmetry.groups else None
        self.compiled: dict[Checks, Any] = {}
        self.produced: set[int] = set()

    def __call__(self, task: tuple[Checks, Any]) -> tuple:
        checks, chunk = task
        expand = self.compiled.get(checks)
        if expand is None:
            source = generate_expand(self.system, self.packing, checks)
            namespace: dict = {}
            exec(compile(source, f"<migcheck parallel {self.system.model}/{self.system.variant}>", "exec"),
                 namespace)
            expand = self.compiled[checks] = namespace["expand"]
        if len(self.produced) > _FORGET:
            self.produced.clear()  # always sound: forgetting only means sending a duplicate
        fired = bytearray(len(self.system.actions))
        succ, owner, acts, spent, hits, dead, domain = expand(chunk, self.produced, fired, self.canon)
        return (succ if self.wide else array("Q", succ), array("I", owner), array("I", acts),
                array("I", spent), tuple(h for h in hits if h[1] >= 0), dead, domain, bytes(fired))


_expander: Expander | None = None  # the worker process's own


def _start_worker(system: System, symmetric_for: list[str] | None) -> None:
    """The worker's own `Expander`; with symmetry, it rebuilds the checked `Symmetry` for the
    properties named (its canonical form is a generated function, which does not pickle)."""
    global _expander
    symmetry = Symmetry.of(system, symmetric_for) if symmetric_for is not None else None
    _expander = Expander(system, symmetry)


def _expand_chunk(task: tuple[Checks, Any]) -> tuple:
    assert _expander is not None, "the worker process was not started with _start_worker"
    return _expander(task)


# ---------------------------------------------------------------- the coordinating process


def explore_parallel(system: System, properties: list[str] | None = None, *, workers: int = 2,
                     max_states: int | None = None, timeout: float | None = None, graph: bool = False,
                     symmetry: bool = False, on_progress: ProgressFn | None = None,
                     chunk_states: int | None = None, start_method: str | None = None) -> Exploration:
    """Explore ``system`` breadth-first on ``workers`` processes; the result equals
    `explicit.explore`'s with the same arguments (states, numbering, verdicts, counterexamples).

    ``chunk_states`` fixes how many frontier states a task holds and sends every level to the
    workers (default: a level split into about three tasks per worker, each of at least 1024
    states; levels under 2048 states are expanded by the coordinator, since a round trip to the
    workers would cost more); it changes the speed, never the result. ``start_method`` is
    multiprocessing's (default ``fork`` where available).

    >>> from migcheck.models.library import bundled
    >>> from migcheck.models.model import build
    >>> explore_parallel(build(bundled("two-phase-commit"), {"rms": 3}), workers=2).stats.states
    288

    Time: the sequential engine's work spread over the workers, plus pickling each chunk's
    frontier and successors and the coordinator's look-up of every successor sent; memory: the
    sequential engine's, plus each worker's set of the successors it produced.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise WorkersRefused(f"workers must be a positive integer, not {workers!r}")
    plan = Plan.of(system, properties)
    props = system.properties
    every_edge = graph or bool(plan.liveness)  # liveness is decided on the recorded transitions
    # refuses, with the reason, if not symmetric
    sym = Symmetry.of(system, list(plan.wanted)) if symmetry else None
    open_inv, open_wit, open_act = list(plan.invariants), list(plan.witnesses), list(plan.action_props)

    packing = Packing.of(system.layout)
    states, seen = initial_states(system, packing, every_edge)
    parents = array("q", [-1] * len(states))
    via = array("I", [0] * len(states))
    edges: list[tuple[int, int, int]] | None = [] if every_edge else None
    fired = bytearray(len(system.actions))
    found: dict[str, tuple[str, Any]] = {}
    domain_error: tuple[int, int, int, int] | None = None
    transitions = 0
    wide = packing.bits > 64

    limits = Limits(max_states, timeout, on_progress)
    started, stop_reason = limits.started, limits.stop_reason

    def tick(i: int, depth: int) -> bool:
        """The sequential engine's limit check, at the same states (every 1024th)."""
        return limits.reached(len(states), i, lambda: {"depth": depth, "workers": workers})

    method = start_method or ("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    pool = None  # started at the first level worth sending to workers
    local = Expander(system, sym)
    try:
        level_start, depth, stopped = 0, 0, False
        while level_start < len(states) and not stopped:
            level_end = len(states)
            checks = Checks(tuple(open_inv), tuple(open_wit), tuple(open_act),
                            plan.deadlock and DEADLOCK not in found, every_edge, bool(sym and sym.groups))
            width = level_end - level_start
            size = chunk_states or max(MIN_CHUNK, -(-width // (CHUNKS_PER_WORKER * workers)))
            bounds = [(a, min(a + size, level_end)) for a in range(level_start, level_end, size)]
            if chunk_states is None and width < LOCAL_LEVEL:  # a round trip would cost more
                results: Any = (local((checks, states[a:b])) for a, b in bounds)
            else:
                if pool is None:
                    pool = multiprocessing.get_context(method).Pool(
                        workers, _start_worker, (system, list(plan.wanted) if sym is not None else None))
                tasks = ((checks, states[a:b] if wide else array("Q", states[a:b])) for a, b in bounds)
                results = pool.imap(_expand_chunk, tasks)
            hits: dict[int, tuple[int, int]] = {}  # property -> first (state, action) this level
            dead = -1
            for (base, end), result in zip(bounds, results, strict=False):
                succ, owner, acts, spent, chunk_hits, chunk_dead, domain, chunk_fired = result
                for a_i, f in enumerate(chunk_fired):
                    if f:
                        fired[a_i] = 1
                # merge the successors in segments that end where the sequential engine ticks
                last = end - base if domain is None else domain[0]  # parents expanded in full
                pos, at = 0, 0
                while pos < last:
                    seg = min(last, (base + pos) // TICK * TICK + TICK - base)
                    upto = bisect_left(owner, seg, at)
                    _merge(states, parents, via, seen, edges, base, succ[at:upto], owner[at:upto],
                           acts[at:upto])
                    transitions += sum(spent[pos:seg])
                    pos, at = seg, upto
                    if not (base + pos) % TICK and tick(base + pos, depth):
                        stopped = True
                        break
                limit = base + pos  # the first state not expanded, if the search stops here
                for k, p, a_i in chunk_hits:
                    if k not in hits and (not stopped or base + p < limit):
                        hits[k] = (base + p, a_i)
                if chunk_dead >= 0 and dead < 0 and (not stopped or base + chunk_dead < limit):
                    dead = base + chunk_dead
                if stopped:
                    break
                if domain is not None:  # the parent's successors before the bad update count
                    _merge(states, parents, via, seen, edges, base, succ[at:], owner[at:], acts[at:])
                    domain_error = (base + domain[0], domain[1], domain[2], domain[3])
                    stopped = True
                    break
            for k, (i, a_i) in hits.items():
                kind = props[k].kind
                found[props[k].name] = ("step", (i, a_i)) if kind == "action" else ("state", i)
                for open_list in (open_inv, open_wit, open_act):
                    if k in open_list:
                        open_list.remove(k)
            if dead >= 0:
                found[DEADLOCK] = ("state", dead)
            level_start, depth = level_end, depth + 1
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()

    elapsed = time.perf_counter() - started
    return conclude(system, plan, packing, states, parents, via, edges, found=found,
                    complete=not stopped, domain_error=domain_error, transitions=transitions,
                    seconds=elapsed, fired=fired, stop_reason=stop_reason, symmetry=sym)


def _merge(states: list[int], parents: array, via: array, seen: Any,
           edges: list[tuple[int, int, int]] | None, base: int, succ, owner, acts) -> None:
    """Append the successors not seen before, in order; with ``edges``, record every transition."""
    push_state, push_parent, push_via = states.append, parents.append, via.append
    if edges is None:
        mark_seen = seen.add
        for y, p, a_i in zip(succ, owner, acts, strict=True):
            if y not in seen:
                mark_seen(y)
                push_state(y)
                push_parent(base + p)
                push_via(a_i)
        return
    push_edge = edges.append
    for y, p, a_i in zip(succ, owner, acts, strict=True):
        j = seen.get(y)
        if j is None:
            j = len(states)
            seen[y] = j
            push_state(y)
            push_parent(base + p)
            push_via(a_i)
        push_edge((base + p, a_i, j))
