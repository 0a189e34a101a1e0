"""The native search as the explicit engine sees it: compile, add initial states, run to the
next event, and read the explored states in place.

`NativeSearch.search` answers with the same event tuples as the compiled Python search
(``codegen.generate``), so ``explicit.explore`` drives both the same way. After the search the
states, parents, actions and edges are read from the C store without copying
(`NativeSearch.views`); each view keeps the store alive.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from migcheck.models.ir import System

from ..codegen import DEADLOCK_FLAG, Active, Packing
from .build import NativeUnavailable, find_compiler, is_built, load
from .csource import EVENTS, NativeRefused, generate

SMALL_BITS = 20  # at most a million packed states: the Python search is done in about a second

_TICK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int64)


class _Event(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int64) for name in ("kind", "k", "i", "t", "a", "slot", "value")]


def unavailable_reason(system: System, packing: Packing) -> str | None:
    """Why the native backend cannot search ``system`` here, or None when it can."""
    if find_compiler() is None:
        return "no C compiler found"
    if packing.bits > 128:
        return f"a packed state needs {packing.bits} bits (the native backend holds 128)"
    return None


def _declare(lib: ctypes.CDLL) -> None:
    p, i64 = ctypes.c_void_p, ctypes.c_int64
    for name, res, args in (("mc_new", p, [ctypes.c_int, i64]), ("mc_free", None, [p]),
                            ("mc_add_initial", ctypes.c_int, [p, ctypes.c_uint64, ctypes.c_uint64]),
                            ("mc_search", ctypes.c_int, [p, i64, p, _TICK, ctypes.POINTER(_Event)]),
                            ("mc_count", i64, [p]), ("mc_edge_count", i64, [p]), ("mc_depth", i64, [p, i64]),
                            ("mc_states", p, [p]), ("mc_parents", p, [p]), ("mc_via", p, [p]),
                            ("mc_edges", p, [p]), ("mc_fired", p, [p]), ("mc_bytes", i64, [p]),
                            ("mc_sizeof_state", i64, []), ("mc_sizeof_via", i64, [])):
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args


class _Store:
    """Owns one C store; freed when the last view of it goes."""

    def __init__(self, lib: ctypes.CDLL, graph: bool, n_props: int):
        self.lib = lib
        self.handle = lib.mc_new(int(graph), n_props)
        if not self.handle:
            raise MemoryError("the native search could not allocate its store")

    def __del__(self) -> None:
        if getattr(self, "handle", None):
            self.lib.mc_free(self.handle)
            self.handle = None


def _view(store: _Store, address: int, count: int, ctype: Any, fmt: str) -> memoryview:
    """``count`` values of ``ctype`` at ``address`` as a memoryview that keeps ``store`` alive."""
    kind = type("Owned", (ctype * count,), {})
    arr = kind.from_address(address) if count else kind()
    arr.owner = store
    return memoryview(arr).cast("B").cast(fmt)


class WideStates(Sequence[int]):
    """Packed states of more than 64 bits, stored as two 64-bit halves each."""

    def __init__(self, halves: memoryview):
        self.halves = halves

    def __len__(self) -> int:
        return len(self.halves) // 2

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        return self.halves[2 * i] | self.halves[2 * i + 1] << 64


class Edges:
    """Recorded transitions (from, action, to), read from the store as triples."""

    def __init__(self, flat: memoryview):
        self.flat = flat

    def __len__(self) -> int:
        return len(self.flat) // 3

    def __iter__(self) -> Iterator[tuple[int, int, int]]:
        f = self.flat
        return zip(f[0::3], f[1::3], f[2::3], strict=True)


@dataclass
class Views:
    """The explored states, parents, actions, edges and coverage, read in place."""

    states: Sequence[int]
    parents: memoryview
    via: memoryview
    edges: Edges | None
    fired: bytearray
    store_bytes: int


class NativeSearch:
    """The compiled C search of one system with one set of active checks."""

    name = "native"

    def __init__(self, system: System, packing: Packing, active: Active, canonical: str = "",
                 small_first: bool = False):
        """``small_first``: refuse (`NativeUnavailable`) a system of at most `SMALL_BITS` bits
        whose library is not built yet; the Python search finishes it before the compiler would."""
        reason = unavailable_reason(system, packing)
        if reason is not None:
            raise NativeUnavailable(reason)
        try:
            source = generate(system, packing, active, canonical)
        except NativeRefused as exc:
            raise NativeUnavailable(str(exc)) from None
        if small_first and packing.bits <= SMALL_BITS and not is_built(source):
            raise NativeUnavailable(f"small model ({packing.bits}-bit states), not compiled yet", quiet=True)
        self.lib = load(source)
        _declare(self.lib)
        self.system, self.packing, self.active = system, packing, active
        self.n_props = len(system.properties)
        self.store = _Store(self.lib, active.edges, self.n_props)
        self.wide = self.lib.mc_sizeof_state() > 8

    def add_initial(self, packed: Sequence[int]) -> None:
        for x in packed:
            if self.lib.mc_add_initial(self.store.handle, x & (1 << 64) - 1, x >> 64) < 0:
                raise MemoryError("the native search ran out of memory")

    def count(self) -> int:
        return self.lib.mc_count(self.store.handle)

    def depth(self, i: int) -> int:
        return self.lib.mc_depth(self.store.handle, i)

    def search(self, i: int, tick: Callable[[int], bool], decided: set[int]) -> tuple:
        """Expand from state ``i`` to the next event; the event tuple of ``codegen.generate``."""
        flags = (ctypes.c_uint8 * (self.n_props + 1))()
        for k in decided:
            flags[self.n_props if k == DEADLOCK_FLAG else k] = 1
        ev = _Event()
        errors: list[BaseException] = []

        def on_tick(at: int) -> int:
            try:
                return int(bool(tick(at)))
            except BaseException as exc:  # a Ctrl-C or an error in a progress listener: stop, re-raise
                errors.append(exc)
                return 1

        callback = _TICK(on_tick)
        kind = self.lib.mc_search(self.store.handle, i, flags, callback, ctypes.byref(ev))
        if errors:
            raise errors[0]
        if kind >= len(EVENTS):
            raise MemoryError("the native search ran out of memory (or past 2**31 states)")
        name = EVENTS[kind]
        if name == "action":
            return (name, ev.k, ev.i, ev.t, ev.a)
        if name == "domain":
            return (name, ev.k, ev.i, ev.t, ev.slot, ev.value)
        return (name, ev.k, ev.i, ev.t)

    def views(self) -> Views:
        lib, h, store = self.lib, self.store.handle, self.store
        n = lib.mc_count(h)
        if self.wide:
            states: Sequence[int] = WideStates(_view(store, lib.mc_states(h), 2 * n, ctypes.c_uint64, "Q"))
        else:
            states = _view(store, lib.mc_states(h), n, ctypes.c_uint64, "Q")
        parents = _view(store, lib.mc_parents(h), n, ctypes.c_int32, "i")
        via_type, via_fmt = (ctypes.c_uint16, "H") if lib.mc_sizeof_via() == 2 else (ctypes.c_uint32, "I")
        via = _view(store, lib.mc_via(h), n, via_type, via_fmt)
        edges = None
        if self.active.edges:
            edges = Edges(_view(store, lib.mc_edges(h), 3 * lib.mc_edge_count(h), ctypes.c_int32, "i"))
        fired = bytearray(ctypes.string_at(lib.mc_fired(h), max(1, len(self.system.actions))))
        return Views(states, parents, via, edges, fired[:len(self.system.actions)], lib.mc_bytes(h))
