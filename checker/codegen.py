"""Compile a traced `System` into one Python function that runs breadth-first search.

States are packed into Python ints (one bit field per slot), so the visited set holds small
ints. The generated loop inlines every guard, update and property check, and is shaped so
that a state costs little more than the actions it enables:

- guards are split into conjuncts (`specialise.py`); where consecutive actions (or property
  checks) all test the same slot, the code branches once on that slot's value (``phase``,
  ``drv``, ``hstep``...) and each branch holds only the actions that can fire there, in
  declaration order, with what is left of their guards;
- a slot's bit field is unpacked only where a test needs it, and a test read once is made on
  the packed state directly (``x & 0x7000 == 0x1000``);
- inside a branch the values it fixes are folded into the actions' updates, so a successor is
  often the packed state plus a constant (``y = x + 4098``) rather than a mask and an or.

The order in which a state's successors are generated is declaration order, exactly as
without any of this, so state numbering and counterexamples do not change. The function
returns to the driver on any event (violation, witness, limit); the driver resumes it with
the decided properties switched off (``decided``), without compiling again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from migcheck.models.expr import Const, Node, Op
from migcheck.models.ir import Layout, System
from migcheck.models.operators import source

from .specialise import Conjunct, Known, Specialiser, Test, singletons, substitute


@dataclass(frozen=True)
class Packing:
    """Bit offsets and widths of each slot inside a packed state."""

    offsets: tuple[int, ...]
    widths: tuple[int, ...]
    lows: tuple[int, ...]

    @classmethod
    def of(cls, layout: Layout) -> Packing:
        offsets, widths, lows, at = [], [], [], 0
        for s in layout.slots:
            w = (s.domain.hi - s.domain.lo).bit_length()
            offsets.append(at)
            widths.append(w)
            lows.append(s.domain.lo)
            at += w
        return cls(tuple(offsets), tuple(widths), tuple(lows))

    @property
    def bits(self) -> int:
        return self.offsets[-1] + self.widths[-1] if self.offsets else 0

    def pack(self, state: tuple[int, ...]) -> int:
        x = 0
        for v, o, lo in zip(state, self.offsets, self.lows, strict=True):
            x |= (v - lo) << o
        return x

    def unpack(self, x: int) -> tuple[int, ...]:
        return tuple(((x >> o) & ((1 << w) - 1)) + lo
                     for o, w, lo in zip(self.offsets, self.widths, self.lows, strict=True))


def py(node: Node) -> str:
    """A Python expression over the unpacked locals ``v<slot>`` (the operator table's sources)."""
    return source(node, "python")


@dataclass(frozen=True)
class Active:
    """Which checks the generated loop performs (the others are left out of it)."""

    invariants: tuple[int, ...]  # property indexes
    witnesses: tuple[int, ...]
    action_props: tuple[int, ...]
    deadlock: bool
    edges: bool  # record every transition (for the networkx graph)
    symmetry: bool = False  # store each successor's canonical form (see symmetry.py)


DEADLOCK_FLAG = -1  # the entry of ``decided`` that switches the deadlock check off


def generate(system: System, packing: Packing, active: Active) -> str:
    """The source of ``search(states, parents, via, seen, i, tick, edges, fired, canon, decided=())``.

    ``search`` expands states from index ``i`` on and returns an event tuple: ``('invariant' |
    'witness', k, i, t)``, ``('action', k, i, t, a)``, ``('deadlock', -1, i, t)``, ``('domain', a,
    i, t, slot, value)``, ``('limit', -1, i, t)`` or ``('done', -1, i, t)``. ``decided`` holds the
    indexes of the properties in ``active`` that are no longer checked (and `DEADLOCK_FLAG`).
    """
    return _Generator(system, packing, active).source()


def generate_chunk(system: System, packing: Packing, active: Active) -> str:
    """The source of ``expand(chunk, produced, fired, canon)``: the same specialised expansion as
    `generate`, with a partition's outer loop (``cluster.py``) over its share of a level.

    It returns ``(succ, owner, acts, spent, hits, dead, domain)``: the successors in the
    sequential search's order (by parent, then by action), each successor's parent as a position
    in the chunk and its action index, the transitions of each parent, the first ``(property,
    position, action)`` deciding each open property (``-1`` when none), the first deadlocked
    position (``-1``), and the first update outside its domain as ``(position, action, slot,
    value)`` (the chunk ends there, as the sequential search does). Unless ``active.edges``, a
    successor already in ``produced`` (this worker's earlier output) is not sent again.
    """
    return _ChunkGenerator(system, packing, active).source()


def compile_predicate(node: Node, n_slots: int):
    """A Python function of an unpacked state tuple that evaluates ``node``."""
    names = ", ".join(f"v{i}" for i in range(n_slots))
    source = f"def predicate(state):\n    {names}, = state\n    return bool({py(node)})\n"
    namespace: dict = {}
    exec(compile(source, "<migcheck predicate>", "exec"), namespace)
    return namespace["predicate"]


def compile_search(system: System, packing: Packing, active: Active):
    """Compile the generated source; returns the ``search`` function."""
    source = generate(system, packing, active)
    namespace: dict = {}
    exec(compile(source, f"<migcheck {system.model}/{system.variant}>", "exec"), namespace)
    return namespace["search"]


# ---------------------------------------------------------------- planning the tests

# Rough costs, in nanoseconds of CPython 3.11, that decide where branching on a slot pays.
_TEST = 25.0  # one conjunct tested (on the packed state or an unpacked local)
_GENERAL = 40.0  # one conjunct that reads several slots
_UNPACK = 45.0  # a bit field into a local
_COMPARE = 8.0  # one case of a branch on a local
_COPY = 10.0  # what one more copy of an item's code must save per state (it costs compile time)
_MIN_SAVING = 10.0  # per state; below this a branch is not worth its code


@dataclass(frozen=True)
class _Item:
    """One thing the loop does per state: a property check or an action, and its guard."""

    order: int
    kind: str  # "invariant", "witness" or "action"
    index: int  # property or action index
    conds: tuple[Conjunct, ...]
    flag: str = ""  # local that is true while the property is still open


@dataclass(frozen=True)
class _Guard:
    item: _Item


@dataclass(frozen=True)
class _Branch:
    slot: int
    cases: tuple[tuple[frozenset[int], tuple], ...]  # values, statements (in order of testing)


def _probability(c: Conjunct, known: Known) -> float:
    if isinstance(c, Test):
        return len(c.values) / len(known[c.slot])
    return 0.5


def _ordered(conds, known: Known, unpacked: set[int]) -> list[Conjunct]:
    """Most selective first; among equals, tests on unpacked slots, then other tests."""
    def key(c: Conjunct):
        if isinstance(c, Test):
            return (_probability(c, known), 0 if c.slot in unpacked else 1)
        return (0.5, 2)
    return sorted(conds, key=key)


def _profile(item: _Item, known: Known) -> list[tuple[float, float, int]]:
    """(probability, cost, slot or -1) of each conjunct, in the order they are tested."""
    out = []
    for c in item.conds:
        if isinstance(c, Test):
            out.append((len(c.values) / len(known[c.slot]), _TEST, c.slot))
        else:
            out.append((0.5, _GENERAL, -1))
    out.sort()
    return out


def _cost(profile: list[tuple[float, float, int]], skip: int = -1) -> float:
    """Expected cost of testing the conjuncts of ``profile`` (leaving out slot ``skip``)."""
    total, reach = 0.0, 1.0
    for p, cost, slot in profile:
        if slot == skip and skip >= 0:
            continue
        total += reach * cost
        reach *= p
    return total


class _Generator:
    def __init__(self, system: System, packing: Packing, active: Active):
        self.system, self.packing, self.active = system, packing, active
        self.domains: Known = {}
        for s, info in enumerate(system.layout.slots):
            d = info.domain
            if d.hi - d.lo < 256:
                self.domains[s] = frozenset(range(d.lo, d.hi + 1))
        self.sp = Specialiser(self.domains)
        self.lines: list[str] = []
        self.stmt_reads: dict[int, tuple[set[int], set[int]]] = {}
        self.update_reads: dict[int, frozenset[int]] = {}
        self.texts: dict[int, tuple[Node, str]] = {}  # id(node) -> (node, its Python)

    def py(self, node: Node) -> str:
        """`py`, remembered per node (the same guard or update is often written several times)."""
        hit = self.texts.get(id(node))
        if hit is None:
            hit = self.texts[id(node)] = (node, py(node))
        return hit[1]

    # -------------------------------------------------------- items and the plan

    def items(self) -> tuple[list[_Item], list[_Item]]:
        props, active = self.system.properties, self.active
        checks: list[_Item] = []
        for k in active.invariants:
            conds = self.sp.conjuncts(Op("not", (props[k].pred,)) if not isinstance(props[k].pred, Const)
                                      else Const(int(not props[k].pred.value)))
            if conds is not None:
                checks.append(_Item(len(checks), "invariant", k, tuple(conds), self.flag(k)))
        for k in active.witnesses:
            conds = self.sp.conjuncts(props[k].pred)
            if conds is not None:
                checks.append(_Item(len(checks), "witness", k, tuple(conds), self.flag(k)))
        # A state's property checks may come in any order (all are decided at the first state
        # where they hold or fail): put those that test the same slot next to each other.
        freq: dict[int, int] = {}
        for it in checks:
            for c in it.conds:
                if isinstance(c, Test):
                    freq[c.slot] = freq.get(c.slot, 0) + 1

        def group(it: _Item):
            slots = [c.slot for c in it.conds if isinstance(c, Test)]
            if not slots:
                return (1, 0, it.order)
            best = max(slots, key=lambda s: (freq[s], -s))
            return (0, -freq[best], best, it.order)
        checks.sort(key=group)
        actions = []
        for a_i, act in enumerate(self.system.actions):
            conds = self.sp.conjuncts(act.guard)
            if conds is not None:
                actions.append(_Item(a_i, "action", a_i, tuple(conds)))
        return checks, actions

    def plan(self, items: list[_Item], known: Known) -> tuple:
        out: list = []
        profiles = [_profile(it, known) for it in items]
        p = 0
        while p < len(items):
            choice = self.best_branch(items, profiles, p, known)
            if choice is None:
                out.append(_Guard(items[p]))
                p += 1
                continue
            slot, end, groups = choice
            cases = []
            for values, members in groups:
                inner = {**known, slot: values}
                sub = []
                for it in members:
                    conds = self.sp.restrict(it.conds, {slot: values})
                    if conds is not None:  # else a folded part is false for these values
                        sub.append(replace(it, conds=tuple(conds)))
                cases.append((values, self.plan(sub, inner)))
            out.append(_Branch(slot, tuple(cases)))
            p = end
        return tuple(out)

    def best_branch(self, items: list[_Item], profiles: list, p: int, known: Known):
        """The slot and the run of items from ``p`` worth one branch on its value, if any.

        A run is consecutive items that all test the slot; each branch keeps its items in
        order, so an item whose test allows several values is copied into several branches.
        The estimated saving per state must pay for the copies.
        """
        best = None
        for slot in sorted({c.slot for c in items[p].conds if isinstance(c, Test)}):
            values = sorted(known[slot])
            n = len(values)
            sig = dict.fromkeys(values, 0)  # value -> signature of the items it lets through
            count = dict.fromkeys(values, 0)
            inner = dict.fromkeys(values, 0.0)  # value -> expected cost of its items' other tests
            flat = 0.0
            q = p
            while q < len(items) and q - p < 64:
                test = next((c for c in items[q].conds if isinstance(c, Test) and c.slot == slot), None)
                if test is None:
                    break
                flat += _cost(profiles[q])
                rest = _cost(profiles[q], skip=slot)
                for v in test.values:
                    sig[v] = sig[v] * 64 + (q - p + 1)
                    count[v] += 1
                    inner[v] += rest
                q += 1
                if q - p < 2:
                    continue
                groups: dict[int, list[int]] = {}
                for v in values:
                    if count[v]:
                        groups.setdefault(sig[v], []).append(v)
                copies = sum(count[vs[0]] for vs in groups.values())
                ordered = sorted(groups.values(), key=lambda vs: -len(vs))
                covered = sum(len(vs) for vs in ordered)
                compare = 0.0
                for rank, vs in enumerate(ordered, start=1):
                    last_is_else = rank == len(ordered) and covered == n
                    compare += len(vs) * (rank - 1 if last_is_else else rank)
                compare += (n - covered) * len(ordered)
                cost = _UNPACK / 2 + _COMPARE * compare / n + sum(inner.values()) / n
                saving = flat - cost - _COPY * (copies - (q - p))
                if saving >= _MIN_SAVING and (best is None or saving > best[0]):
                    best = (saving, slot, q, ordered)
        if best is None:
            return None
        _, slot, end, ordered = best
        groups = []
        for vs in ordered:
            members = [items[k] for k in range(p, end)
                       if any(isinstance(c, Test) and c.slot == slot and vs[0] in c.values
                              for c in items[k].conds)]
            groups.append((frozenset(vs), members))
        return slot, end, groups

    # -------------------------------------------------------- emitting

    def emit(self, indent: int, text: str) -> None:
        self.lines.append("    " * indent + text)

    def unpack(self, s: int, indent: int) -> None:
        o, w, lo = self.packing.offsets[s], self.packing.widths[s], self.packing.lows[s]
        field = (f"(x >> {o}) & {(1 << w) - 1}" if o else f"x & {(1 << w) - 1}") if w else "0"
        if lo:
            field = f"({field}) + {lo}" if lo > 0 else f"({field}) - {-lo}"
        self.emit(indent, f"v{s} = {field}")

    # -------------------------------------------------------- the outer loop's hooks
    # The sequential search returns an event per decision and stores new states itself;
    # `_ChunkGenerator` (a partition's share of a level, cluster.py) notes decisions and returns successors.

    def flag(self, k: int) -> str:
        """Python that is true while property ``k`` is still open."""
        return f"o{k}"

    def hit(self, kind: str, k: int, a_i: int | None = None) -> str:
        """The statement run when property ``k`` is decided here (by action ``a_i``)."""
        return f"return ('{kind}', {k}, i, t0" + (f", {a_i})" if a_i is not None else ")")

    def escape(self, a_i: int, s: int) -> str:
        """The statement run when action ``a_i`` sets slot ``s`` (to ``n<s>``) outside its domain."""
        return f"return ('domain', {a_i}, i, t0, {s}, n{s})"

    def store(self, a_i: int) -> tuple[str, ...]:
        """Lines that keep successor ``y`` of the current state, found by action ``a_i``."""
        if self.active.edges:
            return ("j = seen.get(y)", "if j is None:", "    j = len(states)", "    seen[y] = j",
                    "    push_state(y)", "    push_parent(i)", f"    push_via({a_i})",
                    f"push_edge((i, {a_i}, j))")
        return ("if y not in seen:", "    mark_seen(y)", "    push_state(y)",
                "    push_parent(i)", f"    push_via({a_i})")

    def source(self) -> str:
        active, system = self.active, self.system
        flags = [*active.invariants, *active.witnesses, *active.action_props]
        self.emit(0, "def search(states, parents, via, seen, i, tick, edges, fired, canon, decided=()):")
        for k in flags:
            self.emit(1, f"o{k} = {k} not in decided")
        if active.deadlock:
            self.emit(1, f"o_deadlock = {DEADLOCK_FLAG} not in decided")
        self.emit(1, "push_state = states.append")
        self.emit(1, "push_parent = parents.append")
        self.emit(1, "push_via = via.append")
        self.emit(1, "push_edge = edges.append" if active.edges else "mark_seen = seen.add")
        self.emit(1, "t = 0")
        self.emit(1, "pending = iter(states)")
        self.emit(1, "pending.__setstate__(i)  # resume at state i")
        self.emit(1, "for x in pending:")
        self.emit(2, "t0 = t")
        checks, actions = self.items()
        root = dict(self.domains)
        unpacked: set[int] = set()
        self.block(self.plan(checks, root), 2, unpacked, root)
        self.block(self.plan(actions, root), 2, unpacked, root)
        if active.deadlock:
            final = system.final
            self.emit(2, "if o_deadlock and t == t0:")
            if final is None:
                self.emit(3, "return ('deadlock', -1, i, t0)")
            else:
                inner = set(unpacked)
                for s in sorted(self.sp.reads(final) - inner):
                    self.unpack(s, 3)
                self.emit(3, f"if not {py(final)}: return ('deadlock', -1, i, t0)")
        self.emit(2, "i += 1")
        self.emit(2, "if not i & 1023 and tick(i): return ('limit', -1, i, t)")
        self.emit(1, "return ('done', -1, i, t)")
        return "\n".join(self.lines) + "\n"

    def block(self, stmts: tuple, indent: int, unpacked: set[int], known: Known) -> None:
        """Emit ``stmts`` in order; ``unpacked`` grows by the locals set at this level."""
        head_reads: list[set[int]] = []
        deep_reads: list[set[int]] = []
        for st in stmts:
            head, deep = self.reads(st)
            head_reads.append(head)
            deep_reads.append(deep)
        shared: set[int] = set()
        for s in set().union(*deep_reads) if deep_reads else ():
            heads = sum(s in h for h in head_reads)
            deeps = sum(s in d for d in deep_reads)
            if heads >= 2 or (heads and deeps >= 2):
                shared.add(s)
        for st, deep in zip(stmts, deep_reads, strict=True):
            for s in sorted((shared & deep) - unpacked):
                self.unpack(s, indent)
                unpacked.add(s)
            if isinstance(st, _Branch):
                self.branch(st, indent, unpacked, known)
            else:
                self.guard(st.item, indent, unpacked, known)

    def reads(self, st) -> tuple[set[int], set[int]]:
        """Slots read first thing by ``st``, and anywhere in it."""
        hit = self.stmt_reads.get(id(st))
        if hit is None:
            hit = self.stmt_reads[id(st)] = self.find_reads(st)
        return hit

    def find_reads(self, st) -> tuple[set[int], set[int]]:
        if isinstance(st, _Branch):
            deep = {st.slot}
            for _, sub in st.cases:
                for inner in sub:
                    deep |= self.reads(inner)[1]
            return {st.slot}, deep
        item = st.item
        deep: set[int] = set()
        for c in item.conds:
            deep |= {c.slot} if isinstance(c, Test) else self.sp.reads(c)
        first = _ordered(item.conds, self.domains, set())
        head: set[int] | frozenset[int] = set()
        if first:
            head = {first[0].slot} if isinstance(first[0], Test) else self.sp.reads(first[0])
        return head, deep | self.body_reads(item)

    def branch(self, st: _Branch, indent: int, unpacked: set[int], known: Known) -> None:
        s = st.slot
        if s not in unpacked:
            self.unpack(s, indent)
            unpacked.add(s)
        remaining = known[s]
        for n, (values, sub) in enumerate(st.cases):
            keyword = "if" if n == 0 else "elif"
            if n == len(st.cases) - 1 and values == remaining and n > 0:
                self.emit(indent, "else:")
            else:
                self.emit(indent, f"{keyword} {self.test(Test(s, values), remaining, True)}:")
            emitted = len(self.lines)
            self.block(sub, indent + 1, set(unpacked), {**known, s: values})
            if len(self.lines) == emitted:  # every item's guard folded to false for these values
                self.emit(indent + 1, "pass")
            remaining = remaining - values

    def test(self, c: Test, context: frozenset[int], local: bool) -> str:
        """Python for "slot c.slot is in c.values", given that it is in ``context``."""
        s, allowed = c.slot, c.values & context
        excluded = context - allowed
        o, w, lo = self.packing.offsets[s], self.packing.widths[s], self.packing.lows[s]
        if local:
            subject, at = f"v{s}", lambda v: v
        else:
            subject, at = f"x & {((1 << w) - 1) << o}", lambda v: (v - lo) << o
        if context <= {0, 1} and lo == 0 and len(allowed) == 1:
            return subject if allowed == {1} else f"not {subject}"
        if len(allowed) == 1:
            return f"{subject} == {at(min(allowed))}"
        if len(excluded) == 1:
            return f"{subject} != {at(min(excluded))}"
        if max(allowed) < min(excluded):
            return f"{subject} <= {at(max(allowed))}"
        if min(allowed) > max(excluded):
            return f"{subject} >= {at(min(allowed))}"
        if not {v for v in excluded if min(allowed) < v < max(allowed)}:
            return f"{at(min(allowed))} <= {subject} <= {at(max(allowed))}"
        return f"{subject} in {{{', '.join(str(at(v)) for v in sorted(allowed))}}}"

    def guard(self, item: _Item, indent: int, unpacked: set[int], known: Known) -> None:
        """``if <what is left of the guard>: <the item's effect>``, unpacking on first use."""
        known = dict(known)
        conds = _ordered(item.conds, known, unpacked)
        later: list[set[int]] = []  # slots read after each conjunct (later conjuncts, the body)
        body_reads = self.body_reads(item)
        acc = set(body_reads)
        for c in reversed(conds):
            later.append(set(acc))
            acc |= {c.slot} if isinstance(c, Test) else self.sp.reads(c)
        later.reverse()
        line: list[str] = [item.flag] if item.flag else []
        scope = unpacked  # the first unpacks happen at this level, visible to later statements
        level = indent
        for c, after in zip(conds, later, strict=True):
            if isinstance(c, Test):
                needs = {c.slot} - scope if c.slot in after else set()
            else:
                c = self.fold(c, known)
                needs = self.sp.reads(c) - scope
            if needs and line:
                self.emit(level, f"if {' and '.join(line)}:")
                level += 1
                line = []
                scope = set(scope)
            for s in sorted(needs):
                self.unpack(s, level)
                scope.add(s)
            if isinstance(c, Test):
                allowed = c.values & known[c.slot]
                if not allowed:  # an earlier part of the guard already excludes these values
                    self.never(level, indent)
                    return
                if allowed != known[c.slot]:
                    line.append(self.test(c, known[c.slot], c.slot in scope))
                    known[c.slot] = allowed
            elif isinstance(c, Const):
                if not c.value:
                    self.never(level, indent)
                    return
            else:
                line.append(self.py(c))
        if item.kind != "action":
            what = self.hit(item.kind, item.index)
            self.emit(level, f"if {' and '.join(line)}: {what}" if line else what)
            return
        if line:
            self.emit(level, f"if {' and '.join(line)}:")
            level += 1
            scope = set(scope)
        self.action_body(item.index, level, scope, known)

    def never(self, level: int, indent: int) -> None:
        """A guard found false part way: close the ``if`` blocks it opened."""
        if level > indent:
            self.emit(level, "pass")

    def fold(self, node: Node, known: Known) -> Node:
        """``node`` with the slots that have one possible value here folded in."""
        return self.fold_values(node, singletons(known, self.sp.reads(node)))

    def fold_values(self, node: Node, env: dict[int, int]) -> Node:
        """``node`` with the slots of ``env`` replaced by their values (constants folded)."""
        if not env or env.keys().isdisjoint(self.sp.reads(node)):
            return node
        return substitute(node, env)

    def body_reads(self, item: _Item) -> frozenset[int]:
        """Slots the updates of the item's action read."""
        if item.kind != "action":
            return frozenset()
        hit = self.update_reads.get(item.index)
        if hit is None:
            hit = self.update_reads[item.index] = frozenset().union(
                *(self.sp.reads(n) for _, n in self.system.actions[item.index].updates))
        return hit

    # -------------------------------------------------------- an action's effect

    def action_body(self, a_i: int, indent: int, unpacked: set[int], known: Known) -> None:
        act, active, packing = self.system.actions[a_i], self.active, self.packing
        props = self.system.properties
        used = self.body_reads(_Item(a_i, "action", a_i, ())) | {s for s, _ in act.updates}
        for k in active.action_props:
            used |= self.sp.reads(props[k].per_action[a_i])
        env = singletons(known, used)
        updates = tuple((s, self.fold_values(n, env)) for s, n in act.updates)
        checked: list[int] = []
        for s, node in updates:
            if s not in act.checks:
                continue
            d = self.system.layout.slots[s].domain
            possible = {node.value} if isinstance(node, Const) else self.sp.values_of(node, known)
            if possible is not None and all(d.lo <= v <= d.hi for v in possible):
                continue  # cannot leave the domain here
            checked.append(s)
        action_checks = []
        for k in active.action_props:
            pred = self.fold_values(props[k].per_action[a_i], env)
            if not (isinstance(pred, Const) and pred.value):
                action_checks.append((k, pred))
        reads: set[int] = set()
        for _, node in updates:
            reads |= self.sp.reads(node)
        for _, pred in action_checks:
            reads |= self.sp.reads(pred)
        for s in sorted(reads - unpacked):
            self.unpack(s, indent)
        self.emit(indent, "t += 1")
        self.emit(indent, f"fired[{a_i}] = 1")
        upd = dict(updates)
        for s in checked:
            d = self.system.layout.slots[s].domain
            self.emit(indent, f"n{s} = {self.py(upd[s])}")
            self.emit(indent, f"if not {d.lo} <= n{s} <= {d.hi}: {self.escape(a_i, s)}")
        for k, pred in action_checks:
            self.emit(indent, f"if {self.flag(k)} and not {self.py(pred)}: {self.hit('action', k, a_i)}")
        self.emit(indent, "y = " + self.successor_expr(updates, tuple(checked), packing, env, self.py))
        if active.symmetry:
            self.emit(indent, "y = canon(y)")
        for text in self.store(a_i):
            self.emit(indent, text)

    @staticmethod
    def successor_expr(updates, checked, packing: Packing, env: dict[int, int], text=None) -> str:
        """``x`` after ``updates``: fields whose old value is known change by adding a constant;
        the others are cleared by a mask and or-ed with their new value."""
        clear = const = delta = 0
        parts = []
        for s, node in updates:
            o, w, lo = packing.offsets[s], packing.widths[s], packing.lows[s]
            if isinstance(node, Const):
                if s in env:
                    delta += (node.value - env[s]) << o
                    continue
                clear |= ((1 << w) - 1) << o
                const |= (node.value - lo) << o
                continue
            clear |= ((1 << w) - 1) << o
            value = f"n{s}" if s in checked else (text or py)(node)
            value = f"({value} - {lo})" if lo else value
            parts.append(f"({value} << {o})" if o else f"({value})")
        if const:
            parts.insert(0, str(const))
        expr = f"(x & {(1 << packing.bits) - 1 & ~clear})" if clear else "x"
        if parts:
            expr = expr + "".join(f" | {p}" for p in parts)
        if delta:
            sign = "+" if delta > 0 else "-"
            expr = f"{expr if not parts else '(' + expr + ')'} {sign} {abs(delta)}"
        return expr


class _ChunkGenerator(_Generator):
    """`generate_chunk`'s generator: decisions are noted, not returned; successors are sent."""

    def flag(self, k: int) -> str:
        return f"h{k} < 0"

    def hit(self, kind: str, k: int, a_i: int | None = None) -> str:
        return f"h{k} = pos" if a_i is None else f"h{k}, g{k} = pos, {a_i}"

    def escape(self, a_i: int, s: int) -> str:
        return f"domain = (pos, {a_i}, {s}, n{s}); break"

    def store(self, a_i: int) -> tuple[str, ...]:
        if self.active.edges:
            return ("push_succ(y)", "push_owner(pos)", f"push_acts({a_i})")
        return ("if y not in produced:", "    mark(y)", "    push_succ(y)", "    push_owner(pos)",
                f"    push_acts({a_i})")

    def source(self) -> str:
        active, system = self.active, self.system
        flags = [*active.invariants, *active.witnesses, *active.action_props]
        self.emit(0, "def expand(chunk, produced, fired, canon):")
        for name in ("succ", "owner", "acts", "spent"):
            self.emit(1, f"{name} = []")
            self.emit(1, f"push_{name} = {name}.append")
        self.emit(1, "mark = produced.add")
        self.emit(1, "dead = -1")
        self.emit(1, "domain = None")
        for k in flags:
            self.emit(1, f"h{k} = g{k} = -1")
        self.emit(1, "pos = -1")
        self.emit(1, "for x in chunk:")
        self.emit(2, "pos += 1")
        self.emit(2, "t = 0")
        if not active.edges:
            self.emit(2, "mark(x)")
        checks, actions = self.items()
        root = dict(self.domains)
        unpacked: set[int] = set()
        self.block(self.plan(checks, root), 2, unpacked, root)
        self.block(self.plan(actions, root), 2, unpacked, root)
        if active.deadlock:
            final = system.final
            self.emit(2, "if dead < 0 and t == 0:")
            if final is None:
                self.emit(3, "dead = pos")
            else:
                for s in sorted(self.sp.reads(final) - unpacked):
                    self.unpack(s, 3)
                self.emit(3, f"if not {py(final)}: dead = pos")
        self.emit(2, "push_spent(t)")
        hits = ", ".join(f"({k}, h{k}, g{k})" for k in flags)
        self.emit(1, f"return succ, owner, acts, spent, ({hits}{',' if hits else ''}), dead, domain")
        return "\n".join(self.lines) + "\n"
