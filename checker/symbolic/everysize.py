"""Proofs for every size of the index sets given as ``any`` (``--set pages=any``), and the
smallest counterexample when there is no proof.

The model is lifted to a first-order system (`lift`): a sort per ``any`` set, its arrays as
functions of it. PDR's blocking step (`strengthen`) then runs on that system: a
counterexample to induction is a z3 model with a finite universe of pages, read as a state
of the model traced at that many pages; the cube that blocks it (over one or two pages, never
seen in the sample's reachable states) becomes one universally quantified lemma,
``forall p, q distinct. ~cube(p, q)``, rather than one clause per renaming. When the claim and
the lemmas are inductive together, the certificate (`certificate.EverySizeCertificate`) is
re-checked on a fresh solver, and every condition must stay in the decidable fragment
(`epr`), so z3's answer is a decision, not a heuristic's.

When blocking fails, the explicit engine searches the instances in order of size (pages = 1,
2, ...): the first that has a counterexample gives its shortest one (breadth-first), at the
smallest size that has one, and the verdict says which size that is.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import z3

from migcheck.models.errors import SolverUnknown
from migcheck.models.ir import PropertyIR, System

from ..explicit import explore
from ..symmetry import SymmetryRefused
from ..verdict import HOLDS, VACUOUS, VIOLATED, Verdict
from . import outcome
from .certificate import EverySizeCertificate, check_every_size_certificate
from .epr import holds_in
from .goals import conjuncts, selected, supported
from .lift import FirstOrder, Instance
from .limits import Deadline
from .strengthen import Cube, Frame, Oracle, Shape, Strengthener, _elements, sample_oracle

ENGINE = "pdr"
SAMPLE_SIZE = 2  # elements of each any set in the sample whose states judge the cubes
SEARCH_SIZES = 4  # the largest size of each any set searched for a counterexample
SEARCH_STATES = 2_000_000  # states of one instance's search before it stops


class QuantifiedFrame(Frame):
    """The blocking loop's view of a first-order system: a cube blocks as one quantified clause."""

    scoped_goals = True

    def __init__(self, fo: FirstOrder):
        self.fo, self.sig = fo, fo.sig
        self.st0, self.st1 = fo.sig.state("@0"), fo.sig.state("@1")
        self.solver = z3.Solver(ctx=fo.sig.ctx)
        self.solver.add(fo.domain(self.st0), fo.trans(self.st0, self.st1), fo.domain(self.st1))
        self._shapes: dict[tuple[tuple[str, int], ...], tuple[Shape, Oracle]] = {}

    def at(self, clause: z3.BoolRef, k: int) -> z3.BoolRef:
        return self.sig.at(clause, f"@{k}")

    def literal(self, name: str) -> z3.BoolRef:
        return z3.Bool(name, self.sig.ctx)

    def states(self, model: z3.ModelRef) -> tuple[Shape, tuple[int, ...], tuple[int, ...], Oracle]:
        system, pre = self.fo.concrete(model, self.st0)
        _, post = self.fo.concrete(model, self.st1)
        key = system.params
        if key not in self._shapes:
            self._shapes[key] = (Shape(system, self.fo.sets), Oracle(system, list(system.initial)))
        shape, initial = self._shapes[key]
        return shape, pre, post, initial

    def clauses(self, shape: Shape, cube: Cube) -> list[z3.BoolRef]:
        """``forall`` distinct elements ``. ~cube``: one clause for every renaming and size."""
        template = self.sig.state("")
        elems = _elements(cube)
        var = {e: z3.Const(f"{e[0]}#{n}", self.sig.sorts[e[0]]) for n, e in enumerate(elems)}
        lits = []
        for lit in cube:
            if lit.kind == "scalar":
                x = template.scalars[lit.name]
                atom = (x if lit.value else z3.Not(x)) if z3.is_bool(x) else x == lit.value
            elif lit.kind == "array":
                y = template.arrays[lit.name](var[lit.elem])
                atom = (y if lit.value else z3.Not(y)) if z3.is_bool(y) else y == lit.value
            else:
                elem, null = template.refs[lit.name]
                is_null = null if null is not None else z3.BoolVal(False, self.sig.ctx)
                atom = is_null if lit.elem is None else z3.And(z3.Not(is_null), elem == var[lit.elem])
            lits.append(atom if lit.positive else z3.Not(atom))
        body = z3.Not(z3.And(*lits)) if len(lits) > 1 else z3.Not(lits[0])
        by_set = [[v for e, v in var.items() if e[0] == k] for k in self.sig.sets]
        apart = [z3.Distinct(*vs) for vs in by_set if len(vs) > 1]
        if apart:
            body = z3.Implies(z3.And(*apart) if len(apart) > 1 else apart[0], body)
        return [z3.ForAll(list(var.values()), body) if var else body]

    def false_after(self, model: z3.ModelRef, clause: z3.BoolRef) -> bool:
        return not holds_in(model, self.at(clause, 1))


@dataclass(frozen=True)
class Answer:
    """A verdict and the instance it speaks of: the tracing instance for a proof, the smallest
    instance with a counterexample (or a witness) otherwise."""

    verdict: Verdict
    system: System


def check_every_size(instance: Instance, sets: tuple[str, ...], arg_sets: dict[str, tuple[str, ...]],
                     properties: list[str] | None, timeout: float | None, engine: str = "pdr"
                     ) -> dict[str, Answer]:
    """Decide ``properties`` for every size of ``sets`` (see the module docstring).

    ``instance`` traces the model with the any sets at given sizes (its other parameters
    fixed). ``engine`` ``"kind"`` tries only 1-induction of the property itself (no lemmas):
    what it proves needs no strengthening. Raises `lift.LiftRefused` when the model has no
    first-order form.
    """
    deadline = Deadline(timeout)
    props = selected(instance({k: 1 for k in sets}), properties)
    names = [p.name for p in props]
    witnesses = [p.witness for p in props if p.witness and p.witness not in names]  # for vacuity
    fo = FirstOrder(instance, sets, arg_sets, [*names, *witnesses])
    props = [fo.system.property(p.name) or p for p in props]  # traced at the lifting size
    props += [fo.system.property(w) for w in dict.fromkeys(witnesses)]
    oracle: Oracle | None = None
    out: dict[str, Answer] = {}
    for prop in props:
        deadline.mark()
        if not supported(prop):
            out[prop.name] = Answer(outcome.unsupported(prop, engine), fo.system)
            continue
        why = ""
        try:
            if engine == "kind":
                proved, why = _certified(fo, instance, sets, arg_sets, prop, [], deadline, engine)
                why = "not 1-inductive on its own (kind adds no lemmas; --engine pdr does)" if why else ""
            else:
                if oracle is None:
                    oracle = sample_oracle(instance({k: SAMPLE_SIZE for k in sets}), deadline)
                proved, why = _prove(fo, instance, sets, arg_sets, prop, oracle, deadline)
        except SolverUnknown as exc:
            proved, why = None, str(exc)
        if proved is not None:
            out[prop.name] = Answer(proved, fo.system)
            continue
        out[prop.name] = _smallest(instance, sets, prop, why, deadline, engine) or Answer(
            outcome.inconclusive(prop, engine, f"{why}; no counterexample with each of "
                                 f"{', '.join(sets)} up to {SEARCH_SIZES}", outcome.stats(0, deadline.lap())),
            fo.system)
    return {p.name: _vacuous(p, out) for p in props if p.name in names}


def _vacuous(prop: PropertyIR, answers: dict[str, Answer]) -> Answer:
    """A property proved for every size while its witness is proved never reached, at any
    size, holds only because nothing happens (as the explicit engine says of one size)."""
    answer = answers[prop.name]
    witness = answers.get(prop.witness)
    if (witness is None or answer.verdict.verdict != HOLDS or witness.verdict.verdict != VIOLATED
            or not witness.verdict.complete):
        return answer
    return replace(answer, verdict=replace(answer.verdict, verdict=VACUOUS, reason=(
        f"its witness '{prop.witness}' is never reached, at any size (proved)")))


def _prove(fo: FirstOrder, instance: Instance, sets: tuple[str, ...], arg_sets: dict[str, tuple[str, ...]],
           prop: PropertyIR, oracle: Oracle, deadline: Deadline) -> tuple[Verdict | None, str]:
    claim = fo.claim(prop, fo.sig.state(""))
    blocked = Strengthener(QuantifiedFrame(fo), oracle, deadline).run(conjuncts(claim), [])
    if not blocked.proved:
        return None, f"blocking: {blocked.reason}"
    return _certified(fo, instance, sets, arg_sets, prop, blocked.lemmas, deadline, ENGINE,
                      invariant_by="blocking", lemmas=len(blocked.lemmas), ctis=blocked.ctis,
                      sample_states=oracle.states)


def _certified(fo: FirstOrder, instance: Instance, sets: tuple[str, ...],
               arg_sets: dict[str, tuple[str, ...]], prop: PropertyIR, strengthening: list[z3.BoolRef],
               deadline: Deadline, engine: str, **note: object
               ) -> tuple[Verdict | None, str]:
    """``holds`` for every size once the property and its ``strengthening`` re-check as an
    inductive invariant on a fresh solver; else None and why not."""
    claim = fo.claim(prop, fo.sig.state(""))
    invariant = z3.And(*conjuncts(claim), *strengthening) if strengthening or z3.is_and(claim) else claim
    system = fo.system
    fixed = tuple((k, v) for k, v in system.params if k not in sets)
    params = tuple(sorted((*fixed, *((k, "any") for k in sets))))
    cert = EverySizeCertificate(system.model, system.variant, params, sets, prop.name, engine, invariant,
                                lambda ctx: FirstOrder(instance, sets, arg_sets, [prop.name], ctx))
    check = check_every_size_certificate(cert, deadline.seconds_left())
    if not check.valid:
        return None, f"the quantified invariant did not re-check: {check.reason}"
    st = outcome.stats(0, deadline.lap())
    return outcome.proved(prop, engine, st, certificate=cert, k=1, every=sets, **note), ""


def sizes_in_order(sets: tuple[str, ...], largest: int) -> list[dict[str, int]]:
    """Every assignment of sizes 1..largest to ``sets``, smallest total first."""
    combos = itertools.product(range(1, largest + 1), repeat=len(sets))
    return [dict(zip(sets, c, strict=True)) for c in sorted(combos, key=lambda c: (sum(c), c))]


def _smallest(instance: Instance, sets: tuple[str, ...], prop: PropertyIR, why: str,
              deadline: Deadline, engine: str) -> Answer | None:
    """The shortest counterexample (or witness) at the smallest size that has one."""
    for sizes in sizes_in_order(sets, SEARCH_SIZES):
        system = instance(sizes)
        left = deadline.seconds_left()
        try:
            found = explore(system, [prop.name], max_states=SEARCH_STATES, timeout=left,
                            symmetry=True).verdicts[prop.name]
        except SymmetryRefused:
            found = explore(system, [prop.name], max_states=SEARCH_STATES, timeout=left).verdicts[prop.name]
        path = found.trace if found.trace is not None else found.witness
        if path is not None and found.verdict in (VIOLATED, HOLDS):
            where = ", ".join(f"{k}={n}" for k, n in sizes.items())
            what = "witness" if found.witness is not None else "counterexample"
            note = f"the smallest size with a {what}: {where} (no proof for every size: {why})"
            return Answer(replace(found, engine=engine, extra={**found.extra, "found_at": sizes,
                                                               "found_by": note}), system)
        if not found.complete:
            return None  # a limit stopped the search: a larger size says nothing about the smallest
    return None


__all__ = ["Answer", "QuantifiedFrame", "check_every_size", "sizes_in_order"]

