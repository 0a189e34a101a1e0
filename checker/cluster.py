"""The explicit search spread over a Dask distributed cluster (``--cluster``).

States are partitioned by a hash of their packed form; one partition lives on each worker as a
Dask actor (`Partition`). Its owner keeps the visited states of its share and expands its
share of each level's frontier with the sequential search's own generated expansion: in C
(`native/partition.py`, the same per-state code as the sequential native search) or as
compiled Python (`expand.py`, `codegen.generate_chunk`), chosen by ``backend`` as for the
sequential search. Successors owned elsewhere travel in batches, one per destination partition
and level, as arrays of packed states with a 64-bit key each.

The search is level-synchronised and keeps the sequential search's order: every state of a
level has a rank, its position in the sequential engine's breadth-first order. A successor's
key is ``rank(parent) × actions + action``; the sequential engine numbers the next level by the
first (parent, action) that reaches each new state, so an owner keeps each new state's smallest
key, and the ranks of the next level are the keys' positions in their sorted union (computed by
the coordinator). So each property is decided at the same state, and a counterexample follows
the same parents as in the sequential search: verdicts, state counts, depths and shortest
counterexamples are identical (tests/test_cluster.py checks it on every bundled variant).

Liveness (it needs the whole state graph in one place) is refused. ``--symmetry`` is supported:
each partition canonicalises the successors it produces, as the sequential engine does.

A search stopped by ``--max-states`` or ``--timeout`` stops after the level where the limit is
hit, so its state count can exceed the sequential search's (its verdicts are inconclusive the
same way); Ctrl-C stops it at once with the verdicts decided so far.
"""

from __future__ import annotations

import contextlib
import logging
import resource
import signal
import threading
import time
from array import array
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from migcheck.models.errors import MigcheckError
from migcheck.models.ir import System

from .codegen import Active, Packing
from .expand import Expander
from .explicit import DEADLOCK, Exploration, Limits, Plan, ProgressFn, conclude, initial_states
from .native.build import NativeUnavailable
from .symmetry import Symmetry, SymmetryRefused

LOCAL = "local:"
INTERRUPTED = "interrupted (Ctrl-C)"
_MIX = 0x9E3779B97F4A7C15  # Fibonacci hashing: the high bits of x × this spread packed states evenly
_PEER_WAIT = 3600.0  # seconds a partition waits for its peers' successors before giving up


class ClusterRefused(MigcheckError):
    """A cluster search was asked for with options it does not take, or no cluster is reachable."""


def owner_of(x: int, count: int) -> int:
    """The partition that owns packed state ``x``."""
    return ((x * _MIX) >> 29) % count


# ---------------------------------------------------------------- connecting


@dataclass(frozen=True)
class Connection:
    """A Dask client and the workers the partitions go to (one each)."""

    client: Any
    workers: tuple[str, ...]
    spec: str


def _parse(spec: str) -> int | None:
    """The N of ``local:N`` (None for an address); ClusterRefused in one line for a bad N."""
    if not spec.startswith(LOCAL):
        if not spec.strip():
            raise ClusterRefused("--cluster needs local:N or a scheduler address (tcp://host:8786)")
        return None
    try:
        n = int(spec[len(LOCAL):])
    except ValueError:
        raise ClusterRefused(f"--cluster '{spec}': give local:N with N a number of workers, "
                             "for example local:2") from None
    if n < 1:
        raise ClusterRefused(f"--cluster {spec}: give at least 1 worker")
    return n


@contextlib.contextmanager
def connect(spec: str, timeout: float = 10) -> Iterator[Connection]:
    """``local:N``: start N worker processes on this machine (closed on exit); otherwise join the
    running scheduler at address ``spec`` (waiting up to ``timeout`` seconds for it). One
    connection at a time in a process: Dask actors call through its default client."""
    n = _parse(spec)
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ClusterRefused("--cluster needs Dask distributed: pip install 'migcheck[cluster]'") from None
    cluster = None
    with contextlib.ExitStack() as stack:
        if n is not None:
            # The workers ignore SIGINT (inherited): Ctrl-C reaches the whole process group, and
            # only this process should answer it, by stopping the search and closing the cluster.
            old = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", worker_dashboard_address=":0",  # any free port
                                       silence_logs=logging.CRITICAL)
            finally:
                signal.signal(signal.SIGINT, old)
            stack.callback(_quiet_close, cluster)
            client = Client(cluster)
        else:
            try:
                client = Client(spec, timeout=timeout)
            except (OSError, TimeoutError, ValueError) as exc:
                raise ClusterRefused(f"--cluster {spec}: no Dask scheduler reachable there ({exc})") from None
        stack.callback(_quiet_close, client)
        workers = tuple(sorted(client.scheduler_info()["workers"]))
        if not workers:
            raise ClusterRefused(f"--cluster {spec}: the scheduler has no workers")
        yield Connection(client, workers, spec)


def _quiet_close(thing: Any) -> None:
    with contextlib.suppress(Exception):
        thing.close(timeout=5) if "timeout" in thing.close.__code__.co_varnames else thing.close()


# ---------------------------------------------------------------- one partition (a Dask actor)


class Partition:
    """The actor on one worker: its share of the search, native (`native.partition`) or compiled
    Python (`PythonPartition`), whose answers it passes on with the seconds it worked on them
    (so that a benchmark can tell work from communication) and the worker's peak memory."""

    def __init__(self, system: System, symmetric_for: list[str] | None, index: int, count: int,
                 active: Active, source: str | None):
        """``source``: the native partition's C source, or None for the compiled Python one."""
        if source is not None:
            from .native.partition import NativePartition
            self.share: Any = NativePartition(system, source, active, index, count)
        else:
            symmetry = Symmetry.of(system, symmetric_for) if symmetric_for is not None else None
            self.share = PythonPartition(system, symmetry, index, count)

        self.index = index
        self.peers: list[Any] = []  # the other partitions' actors, by index (set by `meet`)
        self.inbox: dict[int, list[tuple[Any, Squeezed]]] = {}  # level -> the batches delivered
        self.arrived = threading.Condition()
        self.sent: list[Any] = []  # the futures of this partition's last deliveries

    def meet(self, peers: list[Any]) -> None:
        self.peers = list(peers)

    def seed(self, initial: list[tuple[int, int]]) -> int:
        return self.share.seed(initial)

    async def deliver(self, level: int, states: Any, keys: Squeezed) -> None:
        """A peer's successors for this partition (run on the worker's event loop, so that it is
        taken while this partition's own `step` still works or waits)."""
        with self.arrived:
            self.inbox.setdefault(level, []).append((states, keys))
            self.arrived.notify_all()

    def step(self, level: int, checks: Active, ranks: Squeezed | None) -> tuple:
        """One level: expand this partition's share, deliver each peer its successors directly,
        wait for every peer's delivery, and merge them into the next level.

        Returns `PythonPartition.expand`'s decisions (hits, deadlock, domain error, transitions,
        actions fired), the next level's keys (squeezed), the bytes delivered, the seconds spent
        expanding and merging, in wall time and in this thread's CPU time (the rest is waiting and
        communication; wall above CPU is a core shared with others), and the peak memory."""
        import numpy as np

        start, cpu = time.perf_counter(), time.thread_time()
        batches, *decisions = self.share.expand(checks, None if ranks is None else unsqueeze(ranks).tobytes())
        work, cpu = time.perf_counter() - start, time.thread_time() - cpu
        for future in self.sent:  # last level's deliveries: long arrived, so only errors to see
            future.result()
        sent, self.sent = 0, []
        for d, (states, keys) in enumerate(batches):
            if d != self.index:
                packed = squeeze(np.frombuffer(keys, dtype=np.int64))
                sent += len(states) * (1 if isinstance(states, bytes) else 8) + len(packed[3])
                self.sent.append(self.peers[d].deliver(level, states, packed))  # not waited for
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.inbox.get(level, ())) == len(self.peers) - 1,
                                         timeout=_PEER_WAIT):
                raise ClusterRefused(f"level {level}: a peer's successors did not come in {_PEER_WAIT} s")
            delivered = self.inbox.pop(level, [])
        start, cpu_before = time.perf_counter(), time.thread_time()
        merged = [batches[self.index]] + [(states, unsqueeze(keys).tobytes()) for states, keys in delivered]
        keys = np.frombuffer(self.share.receive(merged), dtype=np.int64)
        work, cpu = work + time.perf_counter() - start, cpu + time.thread_time() - cpu_before
        return (*decisions, squeeze(keys), sent, (work, cpu), _peak_rss_mib())

    def locate(self, level: int, rank: int) -> tuple[int, int] | None:
        return self.share.locate(level, rank)


# An increasing array of 64-bit integers as (length, first value, the differences' NumPy type, the
# differences): a level's keys and ranks travel so, in 1, 2 or 4 bytes a value instead of 8.
Squeezed = tuple[int, int, str, bytes]


def squeeze(values: Any) -> Squeezed:
    """``values`` (an int64 NumPy array, increasing for the squeeze to pay) in the narrowest type
    its differences fit."""
    import numpy as np

    if len(values) == 0:
        return 0, 0, "u1", b""
    steps = np.diff(values)
    top = int(steps.max()) if len(steps) else 0
    kind = "i8" if len(steps) and steps.min() < 0 else next(k for k in ("u1", "u2", "u4", "i8")
                                                            if top <= np.iinfo(k).max)
    return len(values), int(values[0]), kind, steps.astype(kind).tobytes()


def unsqueeze(packed: Squeezed) -> Any:
    """The int64 NumPy array `squeeze` packed."""
    import numpy as np

    count, first, kind, steps = packed
    out = np.empty(count, dtype=np.int64)
    if count:
        out[0] = first
        np.cumsum(np.frombuffer(steps, dtype=kind), dtype=np.int64, out=out[1:])
        out[1:] += first
    return out


def ranks_of(keys: list[Any]) -> list[Any]:
    """Each partition's next level's ranks: its keys' positions in the union of every partition's
    (each sorted, all distinct). With a few partitions, a key's rank is its position in its own
    list plus, for each other list, the keys below it there (a binary search); with many, the
    union is sorted once (a merge of sorted runs)."""
    import numpy as np

    if len(keys) <= 8:
        return [np.arange(len(k), dtype=np.int64)
                + sum((np.searchsorted(other, k) for j, other in enumerate(keys) if j != i),
                      np.zeros(len(k), dtype=np.int64))
                for i, k in enumerate(keys)]
    everything = np.sort(np.concatenate(keys), kind="stable")
    return [np.searchsorted(everything, k).astype(np.int64) for k in keys]


def _peak_rss_mib() -> float:
    """This process's own peak resident memory. Linux's ``ru_maxrss`` starts a spawned worker at
    its parent's peak (kept across ``exec``), so the high-water mark of its own address space
    (``VmHWM``) is read where there is one."""
    with contextlib.suppress(OSError):
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PythonPartition:
    """The states one worker owns: its visited states, each with its smallest key, and each
    level's states in sequential order with their ranks (for counterexamples)."""

    def __init__(self, system: System, symmetry: Symmetry | None, index: int, count: int):
        self.expander = Expander(system, symmetry)
        self.wide = self.expander.packing.bits > 64  # states travel as lists of ints, not u64 arrays
        self.index, self.count = index, count
        self.actions = len(system.actions)
        self.seen: dict[int, int] = {}  # state -> key of the (parent, action) that reached it first
        self.levels: list[tuple[list[int], array]] = []  # per level: states in rank order, ranks
        self.incoming: list[int] = []  # the next level's states, in key order
        self.fired = bytearray(self.actions)

    def seed(self, initial: list[tuple[int, int]]) -> int:
        """Keep the initial states (state, rank) this partition owns; their number."""
        mine = [(x, rank) for x, rank in initial
                if owner_of(x, self.count) == self.index and x not in self.seen]
        for x, rank in mine:
            self.seen[x] = -1 - rank
        self.incoming = [x for x, _ in mine]
        self.levels.append((self.incoming, array("q", [r for _, r in mine])))
        return len(mine)

    def expand(self, checks: Active, ranks: bytes | None) -> tuple:
        """Expand this level's states (ranks: theirs, from the coordinator; None for level 0).

        Returns the batches per destination partition as (states, keys), the first hit of each
        open property as (property, rank, action), the first deadlocked rank (-1), the first
        domain error as (rank, action, slot, value) or None, the transitions and the actions fired."""
        if ranks is not None:
            level = (self.incoming, array("q", ranks))
            self.levels.append(level)
        frontier, rank_of = self.levels[-1]
        succ, owner, acts, spent, hits, dead, domain = self.expander(checks, frontier, self.fired)
        n, actions = self.count, self.actions
        out_states: list[list[int]] = [[] for _ in range(n)]
        out_keys = [array("q") for _ in range(n)]
        for y, p, a in zip(succ, owner, acts, strict=True):
            d = ((y * _MIX) >> 29) % n
            out_states[d].append(y)
            out_keys[d].append(rank_of[p] * actions + a)
        batches = [(s if self.wide else array("Q", s).tobytes(), k.tobytes())
                   for s, k in zip(out_states, out_keys, strict=True)]
        found = tuple((k, rank_of[h], g) for k, h, g in hits if h >= 0)
        if domain is not None:
            domain = (rank_of[domain[0]], *domain[1:])
        return batches, found, rank_of[dead] if dead >= 0 else -1, domain, sum(spent), bytes(self.fired)

    def receive(self, batches: list[tuple[Any, bytes]]) -> bytes:
        """Keep the successors not seen before, each with its smallest key; return the new states'
        keys in increasing order (the coordinator drops those past a domain error's)."""
        new: dict[int, int] = {}
        seen = self.seen
        for states, keys in batches:
            if not self.wide:
                states = array("Q", states)
            for y, key in zip(states, array("q", keys), strict=True):
                if y in seen:
                    continue
                old = new.get(y)
                if old is None or key < old:
                    new[y] = key
        ordered = sorted(new.items(), key=lambda item: item[1])
        seen.update(ordered)
        self.incoming = [y for y, _ in ordered]
        return array("q", [k for _, k in ordered]).tobytes()

    def locate(self, level: int, rank: int) -> tuple[int, int] | None:
        """The state at ``rank`` in ``level`` and its key, if this partition owns it."""
        if level >= len(self.levels):
            return None
        states, ranks = self.levels[level]
        i = bisect_left(ranks, rank)
        if i < len(ranks) and ranks[i] == rank:
            return states[i], self.seen[states[i]]
        return None



# ---------------------------------------------------------------- the coordinator


def explore_cluster(system: System, connection: Connection, properties: list[str] | None = None, *,
                    max_states: int | None = None, timeout: float | None = None, symmetry: bool = False,
                    on_progress: ProgressFn | None = None, backend: str = "auto") -> Exploration:
    """Explore ``system`` breadth-first over the partitions of ``connection``; the verdicts, the
    number of states, the depth and the counterexamples equal `explicit.explore`'s. ``backend``
    is the partitions' expansion, as for the sequential search (``auto``: native when it can).

    Time per level: the slowest partition's expansion and merge, one round trip from this
    process (which sends the level's ranks and gets the next level's keys, squeezed to 1-2 bytes
    a state) and the successor batches, which go from partition to partition directly; memory:
    each partition holds its share of the visited states, this process only counts and ranks.
    """
    plan = Plan.of(system, properties)
    if plan.liveness:
        raise ClusterRefused(f"--cluster does not check liveness ({', '.join(plan.liveness)}): it needs "
                             "the whole state graph in one place; run it without --cluster")
    props = system.properties
    sym = Symmetry.of(system, list(plan.wanted)) if symmetry else None  # refuses if not symmetric
    packing = Packing.of(system.layout)
    n_actions = len(system.actions)
    client, n = connection.client, len(connection.workers)
    open_inv, open_wit, open_act = list(plan.invariants), list(plan.witnesses), list(plan.action_props)
    symmetric_for = list(plan.wanted) if sym is not None else None
    first = Active(tuple(open_inv), tuple(open_wit), tuple(open_act), plan.deadlock, False,
                   bool(sym and sym.groups))
    source = _native_source(backend, system, packing, sym, first, on_progress)

    def start(source: str | None) -> list[Any]:
        futures = [client.submit(Partition, system, symmetric_for, i, n, first, source, actor=True,
                                 workers=[w], allow_other_workers=False, pure=False)
                   for i, w in enumerate(connection.workers)]
        return [f.result() for f in futures]

    try:
        parts = start(source)
    except NativeUnavailable as exc:  # a worker on another machine, without a C compiler
        if backend == "native":
            raise NativeUnavailable(f"--backend native: a worker cannot build its partition: {exc}") from None
        if on_progress is not None:
            on_progress({"note": f"a worker cannot build its native partition ({exc}); "
                                 "the workers run the Python backend"})
        source, parts = None, start(None)
    for f in [p.meet(parts) for p in parts]:  # successors then travel from partition to partition
        f.result()

    limits = Limits(max_states, timeout, on_progress)
    started, stop_reason = limits.started, limits.stop_reason
    found: dict[str, tuple[str, Any]] = {}
    paths: dict[str, list[tuple[int, int]]] = {}  # property -> (state, action) from an initial state
    domain_error: tuple[int, int, int, int] | None = None
    domain_path: list[tuple[int, int]] = []
    fired = bytearray(n_actions)
    transitions, total, depth, complete = 0, 0, 0, False
    per_level: list[dict[str, Any]] = []  # communication and time, level by level (benchmarks)
    memory: list[float] = [0.0] * n

    def path_to(level: int, rank: int) -> list[tuple[int, int]]:
        """The sequential search's path to the state at ``rank`` in ``level``: (state, action)s."""
        steps: list[tuple[int, int]] = []
        while True:
            answers = [a for a in (f.result() for f in [p.locate(level, rank) for p in parts]) if a]
            state, key = answers[0]
            if level == 0:
                steps.append((state, 0))
                return steps[::-1]
            rank, action = divmod(key, n_actions)
            steps.append((state, action))
            level -= 1

    try:
        initial, _ = initial_states(system, packing, False)
        ranked = list(zip(initial, range(len(initial)), strict=True))
        sizes = [f.result() for f in [p.seed(ranked) for p in parts]]  # each keeps the ones it owns
        total, level, ranks = len(initial), 0, [None] * n
        rank_bytes = 0  # the bytes of the ranks sent with this level's expansion
        while True:
            tick = time.perf_counter()
            checks = Active(tuple(open_inv), tuple(open_wit), tuple(open_act),
                            plan.deadlock and DEADLOCK not in found, False, bool(sym and sym.groups))
            steps = [p.step(level, checks, r) for p, r in zip(parts, ranks, strict=True)]
            answers = [f.result() for f in steps]
            hits: dict[int, tuple[int, int]] = {}
            dead, domain = -1, None
            for i, (got, got_dead, got_domain, spent, got_fired, *_, rss) in enumerate(answers):
                transitions += spent
                memory[i] = rss
                fired = bytearray(a | b for a, b in zip(fired, got_fired, strict=True))
                for k, rank, a in got:
                    if k not in hits or (rank, a) < hits[k]:
                        hits[k] = (rank, a)
                if got_dead >= 0 and (dead < 0 or got_dead < dead):
                    dead = got_dead
                if got_domain is not None and (domain is None or got_domain[:2] < domain[:2]):
                    domain = got_domain
            keys = [unsqueeze(answer[5]) for answer in answers]
            # the sequential search stops at the first domain error: later keys never happen
            cutoff = domain[0] * n_actions + domain[1] if domain is not None else None
            if cutoff is not None:
                keys = [k[k < cutoff] for k in keys]
            for k, (rank, a) in hits.items():
                if cutoff is not None and rank * n_actions + a >= cutoff:
                    continue
                name = props[k].name
                paths[name] = path_to(level, rank)
                found[name] = ("step", a) if props[k].kind == "action" else ("state", None)
                for open_list in (open_inv, open_wit, open_act):
                    if k in open_list:
                        open_list.remove(k)
            if dead >= 0 and (cutoff is None or dead < domain[0]):
                paths[DEADLOCK] = path_to(level, dead)
                found[DEADLOCK] = ("state", None)
            if domain is not None:
                domain_error = (0, domain[1], domain[2], domain[3])  # 0: laid out by _conclude
                domain_path = path_to(level, domain[0])
            width = sum(len(k) for k in keys)
            sizes = [s + len(k) for s, k in zip(sizes, keys, strict=True)]
            per_level.append({"level": level, "expanded": total, "new": width,
                              "bytes": sum(answer[6] for answer in answers),
                              "key_bytes": sum(len(answer[5][3]) for answer in answers),
                              "rank_bytes": rank_bytes, "seconds": time.perf_counter() - tick,
                              "work": [answer[7][0] for answer in answers],
                              "cpu": [answer[7][1] for answer in answers]})
            total += width
            if width:
                depth = level + 1
            if domain is not None:
                break
            if width == 0:
                complete = True
                break
            if limits.reached(total, 0, lambda d=depth, s=sizes: {"depth": d, "per_worker": list(s)}):
                break
            ranks = [squeeze(r) for r in ranks_of(keys)]
            rank_bytes = sum(len(r[3]) for r in ranks)
            level += 1
    except KeyboardInterrupt:
        stop_reason.insert(0, INTERRUPTED)

    result = _conclude(system, plan, packing, paths, found, domain_error, domain_path, total=total,
                       depth=depth, complete=complete, transitions=transitions,
                       seconds=time.perf_counter() - started, fired=fired, stop_reason=stop_reason, sym=sym)
    result.backend = f"cluster ({connection.spec}, {n} workers, {'python' if source is None else 'native'})"
    result.workers = [{"states": s, "peak_rss_mib": round(m, 1)} for s, m in zip(sizes, memory, strict=True)]
    result.levels = per_level
    result.interrupted = bool(stop_reason) and stop_reason[0] == INTERRUPTED
    return result


def _native_source(backend: str, system: System, packing: Packing, sym: Symmetry | None, active: Active,
                   on_progress: ProgressFn | None) -> str | None:
    """The native partitions' C source, or None when they run as compiled Python: as
    `explicit._search_engine` decides for the sequential search (``native`` that cannot run
    raises `NativeUnavailable`; ``auto`` falls back with a note), except that a cluster's model
    is never too small to compile. The library is built here, once, so that workers on this
    machine only load it; a worker elsewhere builds its own (`explore_cluster` falls back to
    Python partitions when one cannot)."""
    if backend == "python":
        return None
    from .native.build import load
    from .native.partition import source_of
    from .native.search import unavailable_reason

    try:
        reason = unavailable_reason(system, packing)
        if reason is not None:
            raise NativeUnavailable(reason)
        source = source_of(system, sym, active)
        load(source)
        return source
    except (NativeUnavailable, SymmetryRefused) as exc:
        if backend == "native":
            raise NativeUnavailable(f"--backend native: {exc}") from None
        if on_progress is not None:
            on_progress({"note": f"native backend unavailable ({exc}); the workers run the Python backend"})
        return None


def _conclude(system: System, plan: Plan, packing: Packing, paths: dict[str, list[tuple[int, int]]],
              found: dict[str, tuple[str, Any]], domain_error: tuple[int, int, int, int] | None,
              domain_path: list[tuple[int, int]], *, total: int, depth: int, complete: bool,
              transitions: int, seconds: float, fired: bytearray, stop_reason: list[str],
              sym: Symmetry | None) -> Exploration:
    """`explicit.conclude` on the counterexamples' paths only, laid end to end."""
    states: list[int] = []
    parents, via = array("q"), array("I")
    at: dict[str, int] = {}

    def lay(path: list[tuple[int, int]]) -> int:
        for j, (x, a) in enumerate(path):
            parents.append(len(states) - 1 if j else -1)
            via.append(a)
            states.append(x)
        return len(states) - 1

    for name, path in paths.items():
        at[name] = lay(path)
    by_index = {name: (how, at[name] if how == "state" else (at[name], data))
                for name, (how, data) in found.items()}
    if domain_error is not None:
        domain_error = (lay(domain_path), *domain_error[1:])
    return conclude(system, plan, packing, states, parents, via, None, found=by_index, complete=complete,
                    domain_error=domain_error, transitions=transitions, seconds=seconds, fired=fired,
                    stop_reason=stop_reason, symmetry=sym, totals=(total, depth))
