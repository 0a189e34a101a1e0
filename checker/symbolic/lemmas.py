"""Strengthening lemmas mined from the model, for k-induction and PDR: candidate clauses that
every state of an explicit search of a small instance satisfies, carried to the instance being
checked by renaming the elements of its symmetric index sets, and filtered by a Houdini
fixpoint so that what remains is inductive.

1. *Mining.* The explicit engine explores a *sample* instance (the same variant, with each
   symmetric index set cut down to `SAMPLE_SIZE` elements). For every slot and every pair of
   slots, a combination of values that no explored state shows (and whose parts each occur)
   becomes a candidate clause ``~(a = u & b = v)``: "data-driven" templates over pairs of
   variables and array elements, as Daikon and Houdini do.
2. *Carrying over.* A candidate mentions elements of a symmetric set through arrays over it
   (``dirty[1]``) and through references to it (``buf[0] = 1``); it is instantiated for every
   injective renaming of those elements into the target's (``dirty[p]``, ``buf[0] = p``).
   A null reference stays null; scalars keep their values.
3. *Houdini.* Candidates false in some initial state are dropped; then, while some candidate
   can be falsified by one step from a state in the slot domains satisfying all remaining
   candidates, every candidate that step falsifies is dropped. What survives is inductive
   (relative to the domains) by construction, so it holds in every reachable state.

Nothing here is trusted: the lemmas only strengthen a proof whose certificate (the lemmas
included) is re-checked by `certificate.check_certificate` before ``holds`` is reported.
Candidates are only candidates: a sample that misses behaviour gives too many (Houdini drops
them), a sample too small gives too few (the proof may then fail; never a wrong verdict).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import z3

from migcheck.models.ir import System

from ..explicit import explore
from .encode import Encoding, Unroller
from .limits import Deadline

SAMPLE_SIZE = 2  # elements of each symmetric index set in the sample instance
SAMPLE_STATES = 150_000  # the sample search stops here (a prefix is still a sample; mining is linear in it)

Literal = tuple[str, int, bool]  # slot name, value, and whether it equals (True) or differs


@dataclass(frozen=True)
class Mined:
    """The lemmas that survived, with what it took to find them."""

    lemmas: tuple[z3.BoolRef, ...]
    sample_states: int
    candidates: int
    rounds: int


def sample_params(system: System, allowed: Mapping[str, Iterable[int]] | None = None) -> dict[str, int]:
    """The parameters of the sample instance: each symmetric index set cut to `SAMPLE_SIZE`,
    or to the smallest size its ``allowed`` values (by parameter name) permit above that.

    >>> from migcheck.models import build
    >>> from migcheck.models.library import bundled
    >>> sample_params(build(bundled("guest-assisted"), {"pages": 8}))["pages"]
    2
    """
    params = dict(system.params)
    for key, _ in system.symmetric:
        size = params[key]
        want = min(size, SAMPLE_SIZE)
        sizes = allowed.get(key) if allowed is not None else None
        params[key] = want if sizes is None else min(v for v in (*sizes, size) if want <= v <= size)
    return params


@dataclass(frozen=True)
class Feature:
    """What a candidate clause talks about: one slot, or the *column* of one element of a
    symmetric index set (every array over the set at that element, and for each reference
    to the set whether it points at the element)."""

    parts: tuple[tuple[str, int | None], ...]  # (slot, None): its value; (ref slot, j): == j

    def literals(self, value: tuple[int, ...]) -> list[Literal]:
        return [(name, v, True) if j is None else (name, j, bool(v))
                for (name, j), v in zip(self.parts, value, strict=True)]


def features(sample: System) -> list[tuple[Feature, list[int]]]:
    """The features of ``sample`` and, for each part of each, the slot index it reads."""
    slots = sample.layout.slots
    index = {s.name: i for i, s in enumerate(slots)}
    in_column: set[str] = set()
    out: list[tuple[Feature, list[int]]] = []
    for key, arrays in sample.symmetric:
        size = dict(sample.params)[key]
        refs = [s.name for s in slots if s.domain.kind == "ref" and s.domain.of == key]
        for j in range(size):
            parts: list[tuple[str, int | None]] = [(f"{a}[{j}]", None) for a in arrays]
            parts += [(r, j) for r in refs]
            in_column.update(f"{a}[{j}]" for a in arrays)
            out.append((Feature(tuple(parts)), [index[n] for n, _ in parts]))
    for s in slots:
        if s.name not in in_column:
            out.append((Feature(((s.name, None),)), [index[s.name]]))
    return out


def _read(state: tuple[int, ...], feature: Feature, where: list[int]) -> tuple[int, ...]:
    return tuple(state[i] if j is None else int(state[i] == j)
                 for (_, j), i in zip(feature.parts, where, strict=True))


def mine_cubes(sample: System, states: list[tuple[int, ...]], triples: bool = False
               ) -> list[tuple[Literal, ...]]:
    """Combinations of feature values, over one feature or a pair, that no state in ``states``
    shows although each part occurs, shortened while they stay unseen: the cubes whose
    negations are the candidate clauses. Cost: features² × states."""
    feats = features(sample)
    columns = [[_read(x, f, w) for x in states] for f, w in feats]
    seen = [sorted(set(c)) for c in columns]
    cubes: list[tuple[Literal, ...]] = []
    for a, (f, _) in enumerate(feats):
        if len(f.parts) == 1:
            slot = sample.layout.slots[feats[a][1][0]]
            present = {v for (v,) in seen[a]}
            cubes += [tuple(f.literals((v,))) for v in range(slot.domain.lo, slot.domain.hi + 1)
                      if v not in present]
    scalars = [k for k, (f, _) in enumerate(feats) if len(f.parts) == 1]
    groups = [list(g) for g in itertools.combinations(range(len(feats)), 2)]
    if triples:  # a column with two slots: "page p is logged or synced once the handler marked"
        groups += [[c, a, b] for c, (f, _) in enumerate(feats) if len(f.parts) > 1
                   for a, b in itertools.combinations(scalars, 2)]
    for group in groups:
        combos = set(zip(*(columns[g] for g in group), strict=True))
        flat = [tuple(x for part in combo for x in part) for combo in combos]
        seen_flat = set(flat)
        lits = [feats[g][0] for g in group]
        for combo in itertools.product(*(seen[g] for g in group)):
            values = tuple(x for part in combo for x in part)
            if values in seen_flat:
                continue
            cube = [lit for f, part in zip(lits, combo, strict=True) for lit in f.literals(part)]
            cubes.append(_shortest(cube, values, flat))
    return list(dict.fromkeys(cubes))


def _shortest(cube: list[Literal], values: tuple[int, ...], seen: list[tuple[int, ...]]
              ) -> tuple[Literal, ...]:
    """``cube`` (reading ``values``) with literals dropped, greedily, while no seen combination
    agrees with what is left."""
    keep = list(range(len(values)))
    for k in range(len(values)):
        rest = [i for i in keep if i != k]
        if rest and not any(all(x[i] == values[i] for i in rest) for x in seen):
            keep = rest
    return tuple(cube[i] for i in keep)


class _Carrier:
    """Renames cubes of the sample instance into the target instance (see the module docstring)."""

    def __init__(self, sample: System, target: System):
        self.target = {s.name: s for s in target.layout.slots}
        self.sizes = {key: (dict(sample.params)[key], dict(target.params)[key])
                      for key, _ in sample.symmetric}
        self.element: dict[str, tuple[str, str, int]] = {}  # slot -> (set, array name, element)
        self.refs: dict[str, str] = {}  # slot -> the set it refers to
        for key, arrays in sample.symmetric:
            for v in sample.layout.vars:
                if v.name in arrays and v.length is not None:
                    for j in range(v.length):
                        self.element[f"{v.name}[{j}]"] = (key, v.name, j)
        for s in sample.layout.slots:
            if s.domain.kind == "ref" and s.domain.of in self.sizes:
                self.refs[s.name] = s.domain.of

    def carry(self, cube: tuple[Literal, ...]) -> list[tuple[Literal, ...]]:
        mentioned: list[tuple[str, int]] = []
        for name, value, _ in cube:
            if name in self.element:
                key, _, j = self.element[name]
                mentioned.append((key, j))
            elif name in self.refs and value < self.sizes[self.refs[name]][0]:
                mentioned.append((self.refs[name], value))
        mentioned = list(dict.fromkeys(mentioned))
        choices = [range(self.sizes[key][1]) for key, _ in mentioned]
        out = []
        for image in itertools.product(*choices):
            renaming = dict(zip(mentioned, image, strict=True))
            if len(set(zip((k for k, _ in mentioned), image, strict=True))) < len(mentioned):
                continue  # not injective
            lits = [self._literal(lit, renaming) for lit in cube]
            if all(lit is not None for lit in lits):
                out.append(tuple(lit for lit in lits if lit is not None))
        return out

    def _literal(self, lit: Literal, renaming: dict[tuple[str, int], int]) -> Literal | None:
        name, value, positive = lit
        if name in self.element:
            key, array, j = self.element[name]
            name = f"{array}[{renaming[key, j]}]"
        elif name in self.refs:
            key = self.refs[name]
            small, large = self.sizes[key]
            value = renaming[key, value] if value < small else large  # null stays null
        slot = self.target.get(name)
        if slot is None or not slot.domain.lo <= value <= slot.domain.hi:
            return None
        return name, value, positive


def candidates(enc: Encoding, cubes: list[tuple[Literal, ...]]) -> list[z3.BoolRef]:
    """The clauses ``~cube`` over ``enc``'s current-state constants, without repeats."""
    by_name = {str(v): v for v in enc.cur}
    out: dict[int, z3.BoolRef] = {}
    for cube in cubes:
        clause = enc.blocking_clause([(by_name[name], value, positive) for name, value, positive in cube])
        out.setdefault(clause.get_id(), clause)
    return list(out.values())


def houdini(enc: Encoding, cands: list[z3.BoolRef], deadline: Deadline
            ) -> tuple[list[z3.BoolRef], int]:
    """The largest subset of ``cands`` that holds initially and is inductive (relative to the
    slot domains), with the number of rounds it took. Raises `SolverUnknown` on a limit.

    Each round is one query: a step, from a state in the domains satisfying every remaining
    candidate, to a state falsifying one of them; its model drops every candidate it falsifies.
    """
    alive = list(range(len(cands)))
    rounds = 0
    first = enc.solver()
    first.add(enc.init)
    u = Unroller(enc)
    step = enc.solver()
    step.add(u.at(enc.domain, 0), u.at(enc.trans, 0), u.at(enc.domain, 1))
    selectors = [enc.literal(f"candidate#{i}") for i in range(len(cands))]
    for i, c in enumerate(cands):
        step.add(z3.Implies(selectors[i], u.at(c, 0)))
    after = [u.at(c, 1) for c in cands]
    for solver, post, frame in ((first, cands, False), (step, after, True)):
        while alive:
            rounds += 1
            goal = enc.literal(f"houdini#{rounds}")
            solver.add(z3.Implies(goal, enc.disj([z3.Not(post[i]) for i in alive])))
            assumptions = [goal, *([selectors[i] for i in alive] if frame else [])]
            if deadline.check(solver, *assumptions) == z3.unsat:
                break
            model = solver.model()
            alive = [i for i in alive if not z3.is_false(model.eval(post[i], model_completion=True))]
    return [cands[i] for i in alive], rounds


def mine(system: System, enc: Encoding, sample: System | None, deadline: Deadline,
         extra: list[z3.BoolRef] = (), triples: bool = False) -> Mined:
    """Lemmas for ``system`` (over ``enc``) mined from ``sample`` (default: ``system`` itself),
    filtered together with the ``extra`` candidates (say, the property's claim)."""
    sample = system if sample is None else sample
    ex = explore(sample, [], max_states=SAMPLE_STATES, timeout=deadline.seconds_left())
    states = [ex.state(i) for i in range(len(ex.states))]
    cubes = mine_cubes(sample, states, triples)
    if sample is not system:
        carrier = _Carrier(sample, system)
        cubes = [c for cube in cubes for c in carrier.carry(cube)]
    cands = candidates(enc, cubes) + list(extra)
    kept, rounds = houdini(enc, cands, deadline)
    return Mined(tuple(kept), len(states), len(cands), rounds)
