"""The explicit search spread over a Dask distributed cluster (``--cluster``).

States are partitioned by a hash of some of their fields (`partitioning.py`: those most
transitions leave alone, so that most successors stay with their parent's partition); one
partition lives on each worker as a Dask actor (`Partition`). Its owner keeps the visited states
of its share and expands its share of each level's frontier with the sequential search's own
generated expansion: in C (`native/partition.py`, the same per-state code as the sequential
native search) or as compiled Python (`expand.py`, `codegen.generate_chunk`), chosen by
``backend`` as for the sequential search. Successors owned elsewhere travel in batches, one per
destination partition and level, as arrays of packed states with a key each, from partition
to partition.

The search is level-synchronised and keeps the sequential search's order: every state of a
level has a rank, its position in the sequential engine's breadth-first order. A successor's
key is ``rank(parent) × actions + action``; the sequential engine numbers the next level by the
first (parent, action) that reaches each new state, so an owner keeps each new state's smallest
key, and the ranks of the next level are the keys' positions in their sorted union, which the
partitions find together (`Partition.run`). The partitions go from level to level by
themselves; the coordinator reads each level's record and decides as the sequential search
does. So each property is decided at the same state, and a counterexample follows the same
parents as in the sequential search: verdicts, state counts, depths and shortest
counterexamples are identical (tests/test_cluster.py checks it on every bundled variant).

Liveness (it needs the whole state graph in one place) is refused. ``--symmetry`` is supported:
each partition canonicalises the successors it produces, as the sequential engine does.

A search stopped by ``--max-states`` or ``--timeout`` stops after the level where the limit is
hit, so its state count can exceed the sequential search's (its verdicts are inconclusive the
same way); Ctrl-C stops it at once with the verdicts decided so far.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import os
import pickle
import resource
import secrets
import signal
import threading
import time
import warnings
from array import array
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from migcheck.models.errors import MigcheckError
from migcheck.models.ir import System

from .codegen import Active, Packing
from .expand import Expander
from .explicit import DEADLOCK, Exploration, Limits, Plan, ProgressFn, conclude, initial_states
from .links import LinkBroken, Links, link_host
from .native.build import NativeUnavailable
from .symmetry import Symmetry, SymmetryRefused

LOCAL = "local:"
INTERRUPTED = "interrupted (Ctrl-C)"
_PEER_WAIT = 3600.0  # seconds a partition waits for its peers' successors before giving up
_POLL = 0.1  # seconds between the coordinator's readings of the partitions' progress
_HALT_WAIT = 10.0  # seconds a halted partition has to finish its level
_LINK_WAIT = 30.0  # seconds partitions have to open their direct links to each other
EVERY_KEY = 8  # up to this many partitions, every partition hears every key (`Partition.run`)
# Up to this many partitions, the levels' messages go by direct links: each partition keeps a
# connection and two threads per peer, so past it they go as Dask actor calls (which share
# each worker's event loop and Dask's own connections).
MOST_LINKED = 64


# A local cluster's processes run no dashboard and sample nothing: with the defaults, a worker's
# profiler (every 10 ms), GIL monitor (every 1 ms) and event-loop watch (every 20 ms) took a fifth
# of the CPU of a search on two workers (measured on guest-assisted pages=4: workers 1.76 CPU s
# each, of which 1.40 searching; the scheduler 0.23).
_QUIET = {"distributed.worker.profile.enabled": False, "distributed.admin.system-monitor.gil.enabled": False,
          "distributed.admin.system-monitor.interval": "1s", "distributed.admin.tick.interval": "1s"}


class ClusterRefused(MigcheckError):
    """A cluster search was asked for with options it does not take, or no cluster is reachable."""


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
                import dask

                # (another cluster on this machine holds the scheduler's HTTP port, 8787: it
                # takes another, and says so on stderr, in the middle of migcheck's output)
                with dask.config.set(_QUIET), warnings.catch_warnings():  # the nannies pass _QUIET on
                    warnings.filterwarnings("ignore", message="Port .* is already in use")
                    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                           dashboard_address=None, silence_logs=logging.CRITICAL)
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


# Dask's nanny starts its workers with MALLOC_TRIM_THRESHOLD_=65536, which also fixes glibc's
# mmap threshold at 128 KiB: every level's batches and buffers were then mapped fresh and
# unmapped after, and page faults and munmap took about a tenth of a search thread's CPU. Blocks
# up to 1 MiB from the heap, never trimmed during the search: guest-assisted pages=4 on two
# workers, 1.19-1.23 CPU s a search thread before, 1.12-1.16 after, for a peak of 220 MiB a
# worker instead of 201 (a 32 MiB threshold saved no more CPU and peaked at 262-308 MiB).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
_KEEP = {_M_TRIM_THRESHOLD: 1 << 30, _M_MMAP_THRESHOLD: 1 << 20}


@contextlib.contextmanager
def _freed_memory_kept() -> Iterator[None]:
    """While a partition searches, let glibc keep freed memory and serve blocks up to 1 MiB
    from its heaps (`_KEEP`); after, restore the worker's settings and give the memory back.
    Nothing to do without glibc."""
    try:
        libc = ctypes.CDLL(None)
        mallopt, trim = libc.mallopt, libc.malloc_trim
    except (OSError, AttributeError):
        yield
        return
    for parameter, value in _KEEP.items():
        mallopt(parameter, value)
    try:
        yield
    finally:
        for parameter, name in ((_M_TRIM_THRESHOLD, "MALLOC_TRIM_THRESHOLD_"),
                                (_M_MMAP_THRESHOLD, "MALLOC_MMAP_THRESHOLD_")):
            setting = os.environ.get(name, "")
            mallopt(parameter, int(setting) if setting.isdigit() else 128 << 10)  # glibc's default
        trim(0)


@contextlib.contextmanager
def _heap_frozen() -> Iterator[None]:
    """While a partition searches, Python's collector leaves alone what the worker held before
    (Dask's own objects, many): collections that traversed them took about 2 % of a search's
    CPU on two workers (vfio-v2 devs=2 pages=4, under perf)."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class _Clock:
    """The wall and CPU seconds a partition works (inside ``with clock:``), read and restarted
    once a level: the rest of a level's time is waiting for peers and communication."""

    def __init__(self) -> None:
        self.work = self.cpu = 0.0
        self.since = time.perf_counter()

    def __enter__(self) -> None:
        self.started = (time.perf_counter(), time.thread_time())

    def __exit__(self, *exc: object) -> None:
        self.work += time.perf_counter() - self.started[0]
        self.cpu += time.thread_time() - self.started[1]

    def read(self) -> dict[str, float]:
        now = time.perf_counter()
        out = {"seconds": now - self.since, "work": self.work, "cpu": self.cpu}
        self.work = self.cpu = 0.0
        self.since = now
        return out


class Partition:
    """The actor on one worker: its share of the search, native (`native.partition`) or compiled
    Python (`PythonPartition`), run level after level by `run` in step with its peers, without
    the coordinator: successors and then the new level's keys go from partition to partition.
    Each level leaves a record (what it decided, its counts, the bytes sent, the seconds worked
    and the peak memory) that the coordinator reads with `progress`."""

    def __init__(self, model: bytes, index: int):
        """``model``: `pickled_model`'s bytes. Partition ``index`` (of as many as `meet` brings
        peers); its store is made by `meet`, which brings the owner mask (the coordinator
        chooses it meanwhile). A native library that cannot be built here raises
        `NativeUnavailable` now."""
        system, symmetric_for, active, source, spread = pickle.loads(model)
        if source is not None:
            from .native.build import load

            load(source)
        self.model = (system, symmetric_for, active, source)
        self.share: Any = None

        self.index, self.n_actions, self.spread = index, max(1, len(system.actions)), spread
        self.peers: list[Any] = []  # every partition's actor, by index, this one's too (set by `meet`)
        self.inbox: dict[int, list[tuple[Any, Squeezed]]] = {}  # level -> the successor batches delivered
        # level -> sender -> (its keys in this partition's range, its cut, halt and count; see `run`)
        self.to_rank: dict[int, dict[int, tuple[Any, int | None, bool, int]]] = {}
        self.placed: dict[int, dict[int, tuple[int, Any, list]]] = {}  # level -> range -> its places
        self.arrived = threading.Condition()
        self.sent: list[Any] = []  # the futures of this partition's messages not yet seen arrived
        self.sent_bytes = 0  # of keys and positions, since the last level's record
        self.records: list[dict[str, Any]] = []  # one per level done (read by `progress`)
        self.halted = False  # set by `halt`: stop after the level under way
        self.links: Links | None = None  # the direct links to the peers (`listen`), if any

    def listen(self) -> tuple[str, int] | None:
        """Open this partition's end of the direct links (`links.py`); its address, or None
        where the worker's transport keeps Dask's messages."""
        from distributed import get_worker

        host = link_host(get_worker().address)
        if host is None:
            return None
        self.links = Links(host)
        return self.links.address

    @staticmethod
    def pickled_model(system: System, symmetric_for: list[str] | None, active: Active, source: str | None,
                      spread: bool) -> bytes:
        """What every partition is made from, pickled here once: Dask walks and tokenizes a
        task's arguments, and for a System that took 0.2 to 0.4 s of a search's start (vfio-v2
        devs=2 pages=4) against 0.03 s for these bytes. ``source``: the native partition's C
        source, or None for the compiled Python one; ``spread``: rank by ranges (else every
        partition hears every key; see `run`)."""
        return pickle.dumps((system, symmetric_for, active, source, spread), protocol=pickle.HIGHEST_PROTOCOL)

    def meet(self, peers: list[Any], addresses: list[tuple[str, int]] | None, secret: bytes,
             mask: int) -> None:
        """This partition's store, for the states whose bits in ``mask`` hash to it
        (`partitioning.owner_mask`); the peers' proxies; and with ``addresses`` (every
        partition's `listen`), the direct links that carry the levels' messages instead of them
        (``secret``: what a connection between partitions starts with, `Links.join`). The
        proxies are made here, so that they call from this worker: a proxy that arrives
        unpickled (workers that are threads of one process) is still bound to its actor's own
        worker, and Dask would run an async method on it as a local call and drop the coroutine
        (the search then waited for successors that never came)."""
        from distributed.actor import Actor

        system, symmetric_for, active, source = self.model
        if source is not None:
            from .native.partition import NativePartition
            self.share = NativePartition(system, source, active, self.index, len(peers), mask)
        else:
            symmetry = Symmetry.of(system, symmetric_for) if symmetric_for is not None else None
            self.share = PythonPartition(system, symmetry, self.index, len(peers), mask)
        self.peers = [Actor(p._cls, p._address, p.key) for p in peers]
        if addresses is None:
            if self.links is not None:
                self.links.server.close()
            self.links = None
        elif self.links is not None:
            self.links.join(self.index, addresses, secret, self._handle, self._wake, timeout=_LINK_WAIT)

    def seed(self, initial: list[tuple[int, int]]) -> int:
        return self.share.seed(initial)

    # These run on the worker's event loop, so that they are taken while `run` works or waits;
    # with direct links, the same messages come through `_handle` from the links' threads.
    async def deliver(self, level: int, states: Any, keys: Squeezed) -> None:
        """A peer's successors for this partition."""
        self._handle("deliver", level, states, keys)

    async def keys_in_range(self, level: int, sender: int, keys: Squeezed, cut: int | None, halt: bool,
                            count: int) -> None:
        """A partition's keys of ``level`` that fall in this partition's range, with the key of
        its first domain error (None: none), whether it was asked to stop, and its number of
        new states."""
        self._handle("keys_in_range", level, sender, keys, cut, halt, count)

    async def placed_in_range(self, level: int, part: int, size: int, positions: Squeezed,
                              everyone: list) -> None:
        """Partition ``part``'s answer for this partition's keys in its range: how many keys the
        range has, their positions among them, and every partition's (cut, halt, count)."""
        self._handle("placed_in_range", level, part, size, positions, everyone)

    def _handle(self, kind: str, level: int, *rest: Any) -> None:
        """A message from a peer, by its kind (the name of the actor method that takes it)."""
        if kind == "deliver":
            with self.arrived:
                self.inbox.setdefault(level, []).append(rest)
                self.arrived.notify_all()
        elif kind == "keys_in_range":
            sender, keys, cut, halt, count = rest
            self._take_keys(level, sender, unsqueeze(keys), cut, halt, count)
        else:
            part, size, positions, everyone = rest
            self._take_placed(level, part, size, unsqueeze(positions), everyone)

    def _send(self, peer: int, size: int, kind: str, *message: Any) -> None:
        """Send a peer a message of ``kind`` (see `_handle`): by the direct link, or else as a
        call of the peer's actor method of that name (its future kept: its error is seen
        later); ``size``: the bytes of keys or positions it carries, for the level's record."""
        future = None
        if self.links is not None:
            self.links.send(peer, kind, *message)
        else:
            future = getattr(self.peers[peer], kind)(*message)
        with self.arrived:
            if future is not None:
                self.sent.append(future)
            self.sent_bytes += size

    def _wake(self) -> None:
        """A link broke: wake `_gather`, which raises."""
        with self.arrived:
            self.arrived.notify_all()

    async def halt(self) -> None:
        self.halted = True

    async def progress(self, since: int) -> list[dict[str, Any]]:
        """The records of the levels done from level ``since`` on."""
        return self.records[since:]

    def _take_keys(self, level: int, sender: int, keys: Any, cut: int | None, halt: bool, count: int) -> None:
        """Once every partition's keys in this range are in: their positions in the range, to
        each sender (from the thread that brought the last ones)."""
        with self.arrived:
            got = self.to_rank.setdefault(level, {})
            got[sender] = (keys, cut, halt, count)
            if len(got) < len(self.peers):
                return
            del self.to_rank[level]
        runs = [got[p][0] for p in range(len(self.peers))]
        everyone = [got[p][1:] for p in range(len(self.peers))]
        size = sum(len(r) for r in runs)
        for p, positions in enumerate(self.share.positions(runs, None if self.spread else self.index)):
            if p == self.index:
                self._take_placed(level, p, size, positions, everyone)
            elif self.spread:  # (else each places its own keys)
                packed = squeeze(positions)
                self._send(p, len(packed[3]), "placed_in_range", level, self.index, size, packed, everyone)

    def _take_placed(self, level: int, part: int, size: int, positions: Any, everyone: list) -> None:
        with self.arrived:
            self.placed.setdefault(level, {})[part] = (size, positions, everyone)
            self.arrived.notify_all()

    def _settle(self, level: int, wait: bool = False) -> None:
        """See the errors of the messages that arrived (``wait``: of all of them; the links,
        if any, then send their last message and close)."""
        if self.links is not None:
            try:
                self.links.check()
                if wait:
                    self.links.close()
                    self.links.check()
            except LinkBroken as exc:
                raise ClusterRefused(f"level {level}: {exc}") from None
            return
        with self.arrived:
            done = self.sent if wait else [f for f in self.sent if f.done()]
            self.sent = [f for f in self.sent if f not in done]
        for future in done:
            future.result()

    def _gather(self, box: dict[int, Any], level: int, count: int) -> Any:
        """The ``count`` messages of ``level`` in ``box``, once they have all come."""
        links = self.links
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(box.get(level, ())) == count
                                         or (links is not None and links.failure is not None),
                                         timeout=_PEER_WAIT):
                raise ClusterRefused(f"level {level}: a peer's message did not come in {_PEER_WAIT} s")
            if links is not None and len(box.get(level, ())) < count:
                raise ClusterRefused(f"level {level}: {links.failure}")
            return box.pop(level, [])

    def run(self, checks: Active, max_states: int | None, total: int) -> None:
        try:
            with _freed_memory_kept(), _heap_frozen():
                self._levels(checks, max_states, total)
        except Exception as exc:  # the peers stop at once too, with the reason
            if self.links is not None:
                self.links.abort(str(exc))
            raise

    def _levels(self, checks: Active, max_states: int | None, total: int) -> None:
        """Level after level: expand this partition's share of the level, deliver each peer its
        successors, merge theirs into the next level, and rank that level's states: a state's
        rank is its key's position in the union of every partition's keys. With ``spread``,
        ranking is spread by range: the keys of a level are split into as many ranges as
        partitions (by their parent's rank, so evenly), partition q places every partition's
        keys in range q among each other, and a key's rank is its place in its range plus the
        sizes of the ranges below (keys and places travel once each). Without, every partition
        hears every key and places its own (a round trip less, but each hears the whole level).
        The expansion of the next level goes ahead meanwhile, with the ranks it has (its states'
        positions here, in the same order); its keys take their ranks after. So a level waits
        once for its peers, for their successors.

        Every partition hears every partition's (cut, halt, count) with the keys in its range,
        so all stop after the same level: at a domain error (the sequential search stops
        there), when no state is new, at ``max_states`` in all (``total`` so far), or when one
        was halted (the expansion of the level after, made before that was known, is left
        unused). A property this partition decided is not checked again."""
        import numpy as np

        n = len(self.peers)
        level, record, keys, width = 0, None, None, total  # width: the states of the level expanded
        clock = _Clock()
        while True:
            with clock:
                self.share.expand(checks)
            if record is not None:  # the level before: its successors are all in, so it ends
                placed = self._gather(self.placed, level, n if self.spread else 1)
                with clock:
                    everyone = placed[self.index][2]  # each partition's (cut, halt, count)
                    cuts = [c for c, _, _ in everyone if c is not None]
                    cutoff = min(cuts) if cuts else None  # the sequential search stops at a domain error
                    new = len(keys) if cutoff is None else int(np.searchsorted(keys, cutoff))
                    width = sum(c for _, _, c in everyone)
                    total += width
                    stop = (cutoff is not None or width == 0 or any(h for _, h, _ in everyone)
                            or (max_states is not None and total >= max_states))
                    if not stop and self.spread:
                        below = np.cumsum([0] + [placed[q][0] for q in range(n - 1)])
                        self.share.rank(np.concatenate([below[q] + placed[q][1] for q in range(n)]))
                    elif not stop:
                        self.share.rank(placed[self.index][1])
                self.records.append({**record, "new": new, "key_bytes": self.sent_bytes, **clock.read()})
                self.sent_bytes = 0
                if stop:
                    self._settle(level, wait=True)
                    return
            with clock:
                self._settle(level)
                batches, found, dead, domain, transitions, fired = self.share.out()
                sent = 0
                for d, (states, k) in enumerate(batches):
                    if d != self.index:
                        packed = squeeze(np.frombuffer(k, dtype=np.int64))
                        self._send(d, 0, "deliver", level, states, packed)
                        sent += len(states) * (1 if isinstance(states, bytes) else 8) + len(packed[3])
            delivered = self._gather(self.inbox, level, n - 1)
            with clock:
                merged = [batches[self.index], *((states, unsqueeze(k).tobytes()) for states, k in delivered)]
                keys = np.frombuffer(self.share.receive(merged), dtype=np.int64)
                cut = domain[0] * self.n_actions + domain[1] if domain is not None else None
                halt = self.halted  # once: every range must hear the same
                # range q: the keys of parents ranked in [q × width / n, (q + 1) × width / n)
                starts = [-(-q * width // n) * self.n_actions for q in range(1, n)]
                ranges = np.split(keys, np.searchsorted(keys, starts)) if self.spread else [keys] * n
                for q, part in enumerate(ranges):
                    if q == self.index:
                        self._take_keys(level + 1, q, part, cut, halt, len(keys))
                    else:
                        packed = squeeze(part)
                        message = (level + 1, self.index, packed, cut, halt, len(keys))
                        self._send(q, len(packed[3]), "keys_in_range", *message)
                record = {"found": found, "dead": dead, "domain": domain, "transitions": transitions,
                          "fired": fired, "rss": _peak_rss_mib(), "bytes": sent}
                decided = {k for k, _, _ in found}
                checks = replace(checks, invariants=tuple(k for k in checks.invariants if k not in decided),
                                 witnesses=tuple(k for k in checks.witnesses if k not in decided),
                                 action_props=tuple(k for k in checks.action_props if k not in decided),
                                 deadlock=checks.deadlock and dead < 0)
            level += 1

    def traces(self, ends: dict[Any, tuple[int, int]], n_actions: int) -> dict[Any, Any]:
        """`trace` of each (level, rank) in ``ends``, by name (one message for them all)."""
        return {name: self.trace(level, rank, n_actions) for name, (level, rank) in ends.items()}

    def trace(self, level: int, rank: int, n_actions: int) -> tuple[list[tuple[int, int]], int] | None:
        """The sequential search's path back from the state at ``rank`` in ``level``, as far as
        this partition owns its states (usually far: successors mostly stay with their parent's
        owner): (state, action)s, last first, and the rank in the level before where it stopped
        (-1: at an initial state); None if this partition does not own that state."""
        steps: list[tuple[int, int]] = []
        while (found := self.share.locate(level, rank)) is not None:
            state, key = found
            if level == 0:
                steps.append((state, 0))
                return steps, -1
            rank, action = divmod(key, n_actions)
            steps.append((state, action))
            level -= 1
        return (steps, rank) if steps else None


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


def positions_in_union(runs: list[Any], which: int | None = None) -> list[Any]:
    """Each key's position in the union of ``runs`` (int64 arrays, each sorted, all values
    distinct), run by run (NumPy: a sort of the union; the native partitions merge in C).
    ``which``: only that run's are needed (the others may be left empty)."""
    import numpy as np

    union = np.concatenate(runs) if runs else np.empty(0, dtype=np.int64)
    positions = np.empty(len(union), dtype=np.int64)
    positions[np.argsort(union, kind="stable")] = np.arange(len(union), dtype=np.int64)
    return np.split(positions, np.cumsum([len(r) for r in runs])[:-1])


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

    def __init__(self, system: System, symmetry: Symmetry | None, index: int, count: int, mask: int):
        from .partitioning import owner_of  # (NumPy, of the cluster extra)

        self.expander = Expander(system, symmetry)
        self.mask, self.owner_of = mask, owner_of
        self.wide = self.expander.packing.bits > 64  # states travel as lists of ints, not u64 arrays
        self.index, self.count = index, count
        self.actions = len(system.actions)
        self.seen: dict[int, int] = {}  # state -> key of the (parent, action) that reached it first
        self.levels: list[tuple[list[int], array]] = []  # per level: states in rank order, ranks
        self.incoming: tuple[list[int], bytes] | None = None  # the level `receive` made: states, keys
        self.expanded: tuple = ()  # the expander's answer for the level last expanded
        self.fired = bytearray(self.actions)

    def seed(self, initial: list[tuple[int, int]]) -> int:
        """Keep the initial states (state, rank) this partition owns; their number."""
        mine = [(x, rank) for x, rank in initial
                if self.owner_of(x, self.mask, self.count) == self.index and x not in self.seen]
        for x, rank in mine:
            self.seen[x] = -1 - rank
        self.levels.append(([x for x, _ in mine], array("q", [r for _, r in mine])))
        return len(mine)

    def expand(self, checks: Active) -> None:
        """Expand the level `receive` made (the initial states at first); its ranks are not
        needed before `out`."""
        frontier = self.incoming[0] if self.incoming is not None else self.levels[-1][0]
        self.expanded = self.expander(checks, frontier, self.fired)

    def out(self) -> tuple:
        """The level expanded, once ranked: the batches per destination partition as (states,
        keys), the first hit of each open property as (property, rank, action), the first
        deadlocked rank (-1), the first domain error as (rank, action, slot, value) or None, the
        transitions and the actions fired."""
        rank_of = self.levels[-1][1]
        succ, owner, acts, spent, hits, dead, domain = self.expanded
        n, actions, mask, owner_of = self.count, self.actions, self.mask, self.owner_of
        out_states: list[list[int]] = [[] for _ in range(n)]
        out_keys = [array("q") for _ in range(n)]
        for y, p, a in zip(succ, owner, acts, strict=True):
            d = owner_of(y, mask, n)
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
        keys in increasing order."""
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
        self.incoming = ([y for y, _ in ordered], array("q", [k for _, k in ordered]).tobytes())
        return self.incoming[1]

    def rank(self, ranks: Any) -> None:
        """Give the level `receive` made its ranks (int64, in its key order)."""
        self.levels.append((self.incoming[0], array("q", ranks.astype("int64").tobytes())))
        self.incoming = None

    positions = staticmethod(positions_in_union)

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


def refuse_liveness(system: System, properties: list[str] | None) -> Plan:
    """The search's plan, or ClusterRefused in one line if it has liveness properties (asked
    before a cluster is started, as well as by `explore_cluster`)."""
    plan = Plan.of(system, properties)
    if plan.liveness:
        safety = [p for p in plan.reported if p not in plan.liveness] + [DEADLOCK] * plan.deadlock
        raise ClusterRefused(f"--cluster does not check liveness ({', '.join(plan.liveness)}): it needs "
                             "the whole state graph in one place; run it without --cluster, or name the "
                             f"others: {' '.join(f'--property {p}' for p in safety)}")
    return plan


def explore_cluster(system: System, connection: Connection, properties: list[str] | None = None, *,
                    max_states: int | None = None, timeout: float | None = None, symmetry: bool = False,
                    on_progress: ProgressFn | None = None, backend: str = "auto",
                    direct: bool = True) -> Exploration:
    """Explore ``system`` breadth-first over the partitions of ``connection``; the verdicts, the
    number of states, the depth and the counterexamples equal `explicit.explore`'s. ``backend``
    is the partitions' expansion, as for the sequential search (``auto``: native when it can).
    ``direct``: the levels' messages go by direct links between the partitions (`links.py`)
    where every worker's transport allows and there are at most `MOST_LINKED` partitions; else
    (and with False) as Dask actor calls.

    Time per level: the slowest partition's expansion, merge and ranking, and one wait for its
    peers' successors (the keys that rank a level travel while the next one is expanded, in
    1-2 bytes a key); this process only reads the partitions' records, as they come, and takes
    each level as the sequential search would. Memory: each partition holds its share of the
    visited states.
    """
    plan = refuse_liveness(system, properties)
    props = system.properties
    sym = Symmetry.of(system, list(plan.wanted)) if symmetry else None  # refuses if not symmetric
    packing = Packing.of(system.layout)
    n_actions = len(system.actions)
    client, n = connection.client, len(connection.workers)
    symmetric_for = list(plan.wanted) if sym is not None else None
    first = Active(tuple(plan.invariants), tuple(plan.witnesses), tuple(plan.action_props), plan.deadlock,
                   False, bool(sym and sym.groups))
    source = _native_source(backend, system, packing, sym, first, on_progress)
    from .partitioning import owner_mask  # (NumPy, of the cluster extra)

    def start(source: str | None) -> list[Any]:
        model = Partition.pickled_model(system, symmetric_for, first, source, n > EVERY_KEY)
        return [client.submit(Partition, model, i, actor=True, workers=[w], allow_other_workers=False,
                              pure=False) for i, w in enumerate(connection.workers)]

    making = start(source)
    mask = owner_mask(system, n, sym)  # while the workers make their partitions
    try:
        parts = [f.result() for f in making]
    except NativeUnavailable as exc:  # a worker on another machine, without a C compiler
        if backend == "native":
            raise NativeUnavailable(f"--backend native: a worker cannot build its partition: {exc}") from None
        if on_progress is not None:
            on_progress({"note": f"a worker cannot build its native partition ({exc}); "
                                 "the workers run the Python backend"})
        source, parts = None, [f.result() for f in start(None)]
    addresses = [f.result() for f in [p.listen() for p in parts]] if direct and n <= MOST_LINKED else [None]
    if None in addresses:  # a worker on a transport the links do not take: Dask's messages, for all
        addresses = None
    secret = secrets.token_bytes(16)

    def meet(addresses: list[tuple[str, int]] | None) -> None:
        for f in [p.meet(parts, addresses, secret, mask) for p in parts]:  # then partition to partition
            f.result()

    try:
        meet(addresses)
    except OSError as exc:  # the workers cannot open each other's ports (a firewall, say)
        if addresses is None:
            raise
        if on_progress is not None:
            on_progress({"note": f"the partitions could not link to each other ({exc}); "
                                 "their messages go through Dask"})
        meet(None)

    limits = Limits(max_states, timeout, on_progress)
    started, stop_reason = limits.started, limits.stop_reason
    found: dict[str, tuple[str, Any]] = {}
    at: dict[str, tuple[int, int]] = {}  # property -> the level and rank of the state deciding it
    domain_error: tuple[int, int, int, int] | None = None
    domain_at: tuple[int, int] | None = None  # the level and rank of the state whose action erred
    fired = bytearray(n_actions)
    transitions, total, depth, complete = 0, 0, 0, False
    per_level: list[dict[str, Any]] = []  # communication and time, level by level (benchmarks)
    records: list[list[dict[str, Any]]] = [[] for _ in parts]  # each partition's, level by level
    memory: list[float] = [0.0] * n

    def conclude_level(level: int) -> bool:
        """Take the partitions' records of ``level`` as the sequential search would take the
        level; True when the search ends with it."""
        nonlocal transitions, total, depth, complete, domain_error, domain_at, fired
        got = [r[level] for r in records]
        hits: dict[int, tuple[int, int]] = {}
        dead, domain = -1, None
        for i, rec in enumerate(got):
            transitions += rec["transitions"]
            memory[i] = rec["rss"]
            sizes[i] += rec["new"]
            fired = bytearray(a | b for a, b in zip(fired, rec["fired"], strict=True))
            for k, rank, a in rec["found"]:
                if k not in hits or (rank, a) < hits[k]:
                    hits[k] = (rank, a)
            if rec["dead"] >= 0 and (dead < 0 or rec["dead"] < dead):
                dead = rec["dead"]
            if rec["domain"] is not None and (domain is None or rec["domain"][:2] < domain[:2]):
                domain = rec["domain"]
        # the sequential search stops at the first domain error: later keys never happen
        cutoff = domain[0] * n_actions + domain[1] if domain is not None else None
        for k, (rank, a) in sorted(hits.items()):
            name = props[k].name
            if name in found or (cutoff is not None and rank * n_actions + a >= cutoff):
                continue
            at[name] = (level, rank)
            found[name] = ("step", a) if props[k].kind == "action" else ("state", None)
        if dead >= 0 and DEADLOCK not in found and (cutoff is None or dead < domain[0]):
            at[DEADLOCK] = (level, dead)
            found[DEADLOCK] = ("state", None)
        width = sum(rec["new"] for rec in got)
        per_level.append({"level": level, "expanded": total, "new": width,
                          "bytes": sum(rec["bytes"] for rec in got),
                          "key_bytes": sum(rec["key_bytes"] for rec in got),
                          "seconds": max(rec["seconds"] for rec in got),
                          "work": [rec["work"] for rec in got], "cpu": [rec["cpu"] for rec in got]})
        total += width
        if width:
            depth = level + 1
        if domain is not None:
            domain_error = (0, domain[1], domain[2], domain[3])  # 0: laid out by _conclude
            domain_at = (level, domain[0])
            return True
        if width == 0:
            complete = True
            return True
        return limits.reached(total, 0, lambda: {"depth": depth, "per_worker": list(sizes)})

    initial, _ = initial_states(system, packing, False)
    sizes = [f.result() for f in [p.seed(list(zip(initial, range(len(initial)), strict=True)))
                                  for p in parts]]  # each keeps the initial states it owns
    total = len(initial)
    runs = [p.run(first, max_states, total) for p in parts]
    done = 0  # the levels concluded here
    try:
        ended = False
        while not ended:
            waiting = next((f for f in runs if not f.done()), None)
            if waiting is not None:
                with contextlib.suppress(TimeoutError):
                    waiting.result(timeout=_POLL)
            for f in runs:  # a partition's error is the search's, whichever partition it is
                if f.done():
                    f.result()
            for r, news in zip(records, [p.progress(len(r)) for p, r in zip(parts, records, strict=True)],
                               strict=True):
                r.extend(news.result())
            while not ended and done < min(len(r) for r in records):
                ended = conclude_level(done)
                done += 1
            if waiting is None and not ended:  # every partition stopped, and no level said why
                raise ClusterRefused("the partitions stopped without the search ending")
    except KeyboardInterrupt:
        stop_reason.insert(0, INTERRUPTED)
    except OSError as exc:  # Dask's word for a worker that went away (killed, out of memory)
        raise ClusterRefused(f"a worker was lost during the search ({exc}); no verdict is given") from None
    finally:  # stop the partitions after the level under way (they may have gone on past a limit)
        with contextlib.suppress(Exception):
            for f in [p.halt() for p in parts]:
                f.result(timeout=_POLL)
            for f in runs:
                f.result(timeout=_HALT_WAIT)

    def paths_to(ends: dict[str | None, tuple[int, int]]) -> dict[str | None, list[tuple[int, int]]]:
        """The sequential search's paths to the states at (level, rank): (state, action)s from an
        initial state, followed inside each partition as far as it owns them, all at once."""
        steps: dict[str | None, list[tuple[int, int]]] = {name: [] for name in ends}
        while ends:
            answers = [f.result() for f in [p.traces(ends, n_actions) for p in parts]]
            for name in list(ends):
                part, rank = next(a[name] for a in answers if a[name])  # from the state's owner
                steps[name] += part
                if rank < 0:
                    del ends[name]
                else:
                    ends[name] = (ends[name][0] - len(part), rank)
        return {name: path[::-1] for name, path in steps.items()}

    paths = paths_to({**at, **({None: domain_at} if domain_at is not None else {})})
    domain_path = paths.pop(None, [])

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
