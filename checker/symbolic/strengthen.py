"""Strengthening by blocking counterexamples to induction, generalised against a sample's
reachable states: the lemmas a claim needs when the mined pair templates are too weak.

The claim ``C`` and the lemmas ``L`` (inductive on their own) are checked for one step: a
state satisfying ``L & C`` whose successor falsifies some clause is a *counterexample to
induction* (CTI). Its pre-state ``s`` is blocked by a cube of ``s`` that no state of the
sample's explicit search shows, under any injective renaming of the symmetric elements the
cube mentions into the sample's (the sample may be explored up to symmetry: a cube is seen
when some renaming of it matches a canonical state). The cube starts as ``s`` seen through a
*view*: every slot outside the symmetric arrays, and the columns of one or two elements
(their array values, and where each reference points relative to them); literals are then
dropped while the cube stays unseen. Its negation, instantiated for every injective renaming
of its elements into the checked instance, becomes a group of new lemmas, which are checked
in turn. This is IC3's blocking step with the sample, rather than relative induction, as the
generalisation oracle: the "invisible invariants" idea (reachable states of a small instance,
projected and carried to a large one), computed lazily, only where a proof needs it.

When no view of ``s`` is unseen, ``s`` looks reachable and the clauses its successor falsifies
are dropped (as Houdini does), with every earlier check undone; if a conjunct of the claim is
dropped the strengthening has failed. A sample that misses behaviour can only make lemmas
wrong, and wrong lemmas are dropped or fail the re-checked certificate, never give ``holds``.

Relative inductiveness is monotone in the hypothesis, so a clause checked once stays checked
while lemmas are only added: each round asks about the unchecked clauses only.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import z3

from migcheck.models.ir import System

from ..explicit import explore
from ..symmetry import SymmetryRefused
from .encode import Encoding, Unroller
from .limits import Deadline
from .outcome import read_state

MAX_VIEW = 2  # symmetric elements in a view (of all sets together): none, one, then pairs
MAX_ROUNDS = 2000  # CTIs handled before giving up (each adds a group or drops clauses)
SAMPLE_STATES = 300_000  # the sample search stops here (a prefix is still evidence, only weaker)

Element = tuple[str, int]  # (symmetric set, element)


@dataclass(frozen=True)
class Lit:
    """``name = value`` (``positive``) or ``name != value``. For an array over a symmetric set
    ``name`` is the array and ``elem`` the element (the slot ``name[elem]``); for a reference
    to one, ``elem`` is the element referred to (None: the null reference) and value unused."""

    kind: str  # "scalar" | "array" | "ref"
    name: str
    elem: Element | None
    value: int
    positive: bool

    def renamed(self, image: dict[Element, int]) -> Lit:
        if self.elem is None:
            return self
        return Lit(self.kind, self.name, (self.elem[0], image[self.elem]), self.value, self.positive)


Cube = tuple[Lit, ...]


def _elements(cube: Cube) -> list[Element]:
    return list(dict.fromkeys(lit.elem for lit in cube if lit.elem is not None))


class Shape:
    """How an instance's slots read as scalars, symmetric arrays and references."""

    def __init__(self, system: System, sets: tuple[str, ...] | None = None):
        """``sets``: the symmetric sets whose elements a cube names (default: every one); the
        arrays over the others read as scalars."""
        symmetric = [(k, a) for k, a in system.symmetric if sets is None or k in sets]
        self.slots = system.layout.slots
        self.index = {s.name: i for i, s in enumerate(self.slots)}
        self.sizes = {key: dict(system.params)[key] for key, _ in symmetric}
        self.array_of: dict[str, str] = {}  # array name -> its set
        in_array: set[str] = set()
        for key, arrays in symmetric:
            for a in arrays:
                self.array_of[a] = key
                in_array.update(f"{a}[{j}]" for j in range(self.sizes[key]))
        self.refs = {s.name: s.domain.of for s in self.slots
                     if s.domain.kind == "ref" and s.domain.of in self.sizes}
        self.scalars = [s.name for s in self.slots if s.name not in in_array and s.name not in self.refs]
        # a reference held in an array over a symmetric set would need renaming on both sides
        self.unsupported = next((f"'{r}' refers to a symmetric set from inside an array over one"
                                 for r in self.refs if r in in_array), "")

    def slot_of(self, lit: Lit) -> tuple[int, int, bool]:
        """The literal as (slot index, value, positive) in this instance."""
        if lit.kind == "scalar":
            return self.index[lit.name], lit.value, lit.positive
        if lit.kind == "array":
            return self.index[f"{lit.name}[{lit.elem[1]}]"], lit.value, lit.positive
        key = self.refs[lit.name]
        target = self.sizes[key] if lit.elem is None else lit.elem[1]  # None is one past the last
        return self.index[lit.name], target, lit.positive

    def view(self, state: tuple[int, ...], chosen: list[Element]) -> Cube:
        """``state`` seen through the columns of the ``chosen`` elements."""
        lits = [Lit("scalar", n, None, state[self.index[n]], True) for n in self.scalars]
        for key, j in chosen:
            lits += [Lit("array", a, (key, j), state[self.index[f"{a}[{j}]"]], True)
                     for a, k in self.array_of.items() if k == key]
        for r, key in self.refs.items():
            v = state[self.index[r]]
            mine = [j for k, j in chosen if k == key]
            if v == self.sizes[key]:
                lits.append(Lit("ref", r, None, 0, True))
            elif v in mine:
                lits.append(Lit("ref", r, (key, v), 0, True))
            else:
                lits += [Lit("ref", r, (key, j), 0, False) for j in mine]
                lits.append(Lit("ref", r, None, 0, False))
        return tuple(lits)

    def column(self, state: tuple[int, ...], e: Element) -> tuple[int, ...]:
        """Element ``e``'s array values and which references point at it."""
        key, j = e
        vals = [state[self.index[f"{a}[{j}]"]] for a, k in self.array_of.items() if k == key]
        vals += [int(state[self.index[r]] == j) for r, k in self.refs.items() if k == key]
        return tuple(vals)

    def renamings(self, elems: list[Element]) -> list[dict[Element, int]]:
        """Every injective map of ``elems`` into this instance's elements of the same sets."""
        if any(e[0] not in self.sizes for e in elems):
            return []
        out = []
        for image in itertools.product(*(range(self.sizes[k]) for k, _ in elems)):
            pairs = list(zip(((k for k, _ in elems)), image, strict=True))
            if len(set(pairs)) == len(pairs):
                out.append(dict(zip(elems, image, strict=True)))
        return out


class Oracle:
    """The sample's explored states as one bit mask per (slot, value): whether a cube is seen
    is an AND of masks, for every renaming of its elements into the sample."""

    def __init__(self, sample: System, states: list[tuple[int, ...]]):
        self.shape = Shape(sample)
        self.states = len(states)
        self.full = (1 << len(states)) - 1
        columns: list[dict[int, int]] = [{} for _ in self.shape.slots]
        for bit, state in enumerate(states):
            for i, v in enumerate(state):
                columns[i][v] = columns[i].get(v, 0) | (1 << bit)
        self.columns = columns

    def seen(self, cube: Cube) -> bool:
        elems = _elements(cube)
        maps = self.shape.renamings(elems)
        if elems and not maps:
            return True  # more elements than the sample has: no evidence that it is unreachable
        if any(lit.kind != "array" and lit.name not in self.shape.index for lit in cube):
            return True  # a slot the sample lacks (a model whose shape depends on the sizes): no evidence
        for image in maps or [{}]:
            mask = self.full
            for lit in cube:
                i, v, positive = self.shape.slot_of(lit.renamed(image))
                m = self.columns[i].get(v, 0)
                mask &= m if positive else ~m
                if not mask:
                    break
            if mask:
                return True
        return False


def generalise(cube: Cube, unseen: Callable[[Cube], bool]) -> Cube:
    """``cube`` (unseen) with literals dropped, greedily, while it stays unseen: references and
    array columns first, the scalars last."""
    keep = list(cube)
    order = sorted(range(len(cube)), key=lambda k: {"ref": 0, "array": 1, "scalar": 2}[cube[k].kind])
    for k in order:
        trial = [lit for lit in keep if lit is not cube[k]]
        if trial and unseen(tuple(trial)):
            keep = trial
    return tuple(keep)


@dataclass
class Strengthened:
    """The lemmas after strengthening (inductive together with the claim when ``proved``)."""

    lemmas: list[z3.BoolRef]
    proved: bool
    ctis: int = 0
    cubes: list[Cube] = field(default_factory=list)
    dropped: int = 0
    reason: str = ""


@dataclass
class _Group:
    """Clauses assumed together under one selector literal; a group losing a clause is retired
    and its other clauses re-added as a new group."""

    clauses: list[z3.BoolRef]
    selector: z3.BoolRef
    claim: bool = False
    retired: bool = False
    checked: bool = False


class Frame:
    """What the blocking loop needs of an encoding: one step from a state in the domains
    (``solver``), clauses at the steps (``at``), states read from a z3 model, and the clauses
    that block a cube. `ConcreteFrame` is the encoding of one instance; `anysize` has one for
    every size."""

    solver: z3.Solver
    unsupported: str = ""
    scoped_goals = False  # assert each query's goal in a push/pop scope rather than under a literal

    def at(self, clause: z3.BoolRef, k: int) -> z3.BoolRef:
        raise NotImplementedError

    def literal(self, name: str) -> z3.BoolRef:
        raise NotImplementedError

    def states(self, model: z3.ModelRef) -> tuple[Shape, tuple[int, ...], tuple[int, ...], Oracle]:
        """The pre- and post-state of the step in ``model``, their shape and the initial states
        at that shape (a cube matching one is surely wrong)."""
        raise NotImplementedError

    def clauses(self, shape: Shape, cube: Cube) -> list[z3.BoolRef]:
        raise NotImplementedError

    def false_after(self, model: z3.ModelRef, clause: z3.BoolRef) -> bool:
        raise NotImplementedError


class ConcreteFrame(Frame):
    """The frame of one instance: a cube is blocked by one clause per renaming of its elements."""

    def __init__(self, system: System, enc: Encoding):
        self.shape = Shape(system)
        self.unsupported = self.shape.unsupported
        self.enc, self.u = enc, Unroller(enc)
        self.initial = Oracle(system, list(system.initial))
        self.solver = enc.solver()
        self.solver.add(self.u.at(enc.domain, 0), self.u.at(enc.trans, 0), self.u.at(enc.domain, 1))

    def at(self, clause: z3.BoolRef, k: int) -> z3.BoolRef:
        return self.u.at(clause, k)

    def literal(self, name: str) -> z3.BoolRef:
        return self.enc.literal(name)

    def states(self, model: z3.ModelRef) -> tuple[Shape, tuple[int, ...], tuple[int, ...], Oracle]:
        return (self.shape, read_state(model, self.u.state(0)), read_state(model, self.u.state(1)),
                self.initial)

    def clauses(self, shape: Shape, cube: Cube) -> list[z3.BoolRef]:
        """The clause ``~cube`` for every injective renaming of its elements into this instance."""
        out = []
        for image in shape.renamings(_elements(cube)) or [{}]:
            lits = [shape.slot_of(lit.renamed(image)) for lit in cube]
            out.append(self.enc.blocking_clause([(self.enc.cur[i], v, positive) for i, v, positive in lits]))
        return out

    def false_after(self, model: z3.ModelRef, clause: z3.BoolRef) -> bool:
        return z3.is_false(model.eval(self.u.at(clause, 1), model_completion=True))


class Strengthener:
    """The blocking loop over one frame (see the module docstring)."""

    def __init__(self, frame: Frame, oracle: Oracle, deadline: Deadline):
        self.frame, self.oracle, self.deadline = frame, oracle, deadline
        self.solver = frame.solver
        self.groups: list[_Group] = []
        self.known: set[int] = set()  # ids of the clauses ever added
        self.queries = 0

    def _add(self, clauses: list[z3.BoolRef], claim: bool = False, checked: bool = False) -> None:
        group = _Group(clauses, self.frame.literal(f"group#{len(self.groups)}"), claim, checked=checked)
        self.known.update(c.get_id() for c in clauses)
        for c in clauses:
            self.solver.add(z3.Implies(group.selector, self.frame.at(c, 0)))
        self.groups.append(group)

    def _live(self) -> list[_Group]:
        return [g for g in self.groups if not g.retired and g.clauses]

    def run(self, claims: list[z3.BoolRef], lemmas: list[z3.BoolRef]) -> Strengthened:
        if self.frame.unsupported or self.oracle.shape.unsupported:
            why = self.frame.unsupported or self.oracle.shape.unsupported
            return Strengthened(list(lemmas), False, reason=f"not applicable: {why}")
        self._add(list(claims), claim=True)
        if lemmas:
            self._add(list(lemmas), checked=True)  # inductive on their own
        ctis = dropped = 0
        cubes: list[Cube] = []
        while True:
            todo = [g for g in self._live() if not g.checked]
            if not todo:
                return Strengthened(self.lemmas(), True, ctis, cubes, dropped)
            if ctis >= MAX_ROUNDS:
                return Strengthened(self.lemmas(), False, ctis, cubes, dropped,
                                    f"no inductive strengthening after {MAX_ROUNDS} counterexamples "
                                    "to induction")
            group = todo[0]
            self.queries += 1
            broken = [z3.Not(self.frame.at(c, 1)) for c in group.clauses]
            answer, model = self._query(z3.Or(*broken) if len(broken) > 1 else broken[0])
            if answer == z3.unsat:
                group.checked = True
                continue
            ctis += 1
            shape, pre, post, initial = self.frame.states(model)
            cube = self._block(shape, initial, pre, post)
            fresh = [] if cube is None else [c for c in self.frame.clauses(shape, cube)
                                             if c.get_id() not in self.known]
            if fresh:
                cubes.append(cube)
                self._add(fresh)
                continue
            # the pre-state looks reachable (or its cube was dropped before, so blocking it
            # again would loop): drop every clause its successor falsifies
            for g in self._live():
                bad = [c for c in g.clauses if self.frame.false_after(model, c)]
                if bad and g.claim:
                    return Strengthened(self.lemmas(), False, ctis, cubes, dropped,
                                        "a counterexample to induction of the claim looks reachable")
                if bad:
                    dropped += len(bad)
                    g.retired = True
                    self._add([c for c in g.clauses if not any(c.eq(b) for b in bad)])
            for g in self.groups:
                g.checked = False  # a weaker hypothesis: every check is undone

    def _query(self, goal: z3.BoolRef) -> tuple[z3.CheckSatResult, z3.ModelRef | None]:
        """One step from the live clauses to ``goal``. A quantified goal is asserted in a scope
        of its own, so the constants its negation brings do not pile up in later models; a
        quantifier-free one under a literal, so the solver keeps what it learnt."""
        selectors = [g.selector for g in self._live()]
        if self.frame.scoped_goals:
            self.solver.push()
            self.solver.add(goal)
            try:
                answer = self.deadline.check(self.solver, *selectors)
                return answer, self.solver.model() if answer == z3.sat else None
            finally:
                self.solver.pop()
        literal = self.frame.literal(f"goal#{self.queries}")
        self.solver.add(z3.Implies(literal, goal))
        answer = self.deadline.check(self.solver, literal, *selectors)
        return answer, self.solver.model() if answer == z3.sat else None

    def lemmas(self) -> list[z3.BoolRef]:
        """The live clauses outside the claim."""
        return [c for g in self._live() if not g.claim for c in g.clauses]

    def _block(self, sh: Shape, initial: Oracle, pre: tuple[int, ...], post: tuple[int, ...]) -> Cube | None:
        """A generalised unseen cube of ``pre``, or None when every view of it is seen. Views
        over the elements whose columns the step changed come first."""
        elems = [(k, j) for k in sh.sizes for j in range(sh.sizes[k])]
        changed = [e for e in elems if sh.column(pre, e) != sh.column(post, e)]
        ordered = changed + [e for e in elems if e not in changed]
        tried: set[tuple] = set()

        def unseen(cube: Cube) -> bool:
            return not self.oracle.seen(cube) and not initial.seen(cube)

        for size in range(0, MAX_VIEW + 1):
            for chosen in itertools.combinations(ordered, size):
                cube = sh.view(pre, list(chosen))
                position = {e: n for n, e in enumerate(chosen)}  # views alike but for the
                key = tuple(sorted(repr(lit.renamed(position)) for lit in cube))  # elements: seen once
                if key in tried:
                    continue
                tried.add(key)
                if unseen(cube):
                    return generalise(cube, unseen)
        return None


def sample_oracle(sample: System, deadline: Deadline) -> Oracle:
    """An `Oracle` over an explicit search of ``sample``, up to symmetry when it has symmetric
    index sets (fewer states to hold; `Oracle.seen` tries every renaming anyway)."""
    try:
        ex = explore(sample, [], max_states=SAMPLE_STATES, timeout=deadline.seconds_left(),
                     symmetry=bool(sample.symmetric))
    except SymmetryRefused:
        ex = explore(sample, [], max_states=SAMPLE_STATES, timeout=deadline.seconds_left())
    return Oracle(sample, [ex.state(i) for i in range(len(ex.states))])


def strengthen(system: System, enc: Encoding, oracle: Oracle, claims: list[z3.BoolRef],
               lemmas: list[z3.BoolRef], deadline: Deadline) -> Strengthened:
    """Lemmas that make ``claims`` inductive with ``lemmas`` (inductive on their own), found by
    blocking CTIs with cubes the ``oracle``'s sample never shows. Raises `SolverUnknown` at
    the deadline."""
    return Strengthener(ConcreteFrame(system, enc), oracle, deadline).run(claims, lemmas)
