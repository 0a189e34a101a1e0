"""PDR's blocking strengthening: cubes are judged against a sample's states up to renaming,
what it proves re-checks and holds in every reachable state, it gives up (never proves) on a
violated claim, and a wrong strengthening cannot turn into a `holds`."""

from __future__ import annotations

import importlib

import pytest
import z3

from migcheck.checker.explicit import explore
from migcheck.checker.symbolic import check_symbolic
from migcheck.checker.symbolic.certificate import Certificate, check_certificate
from migcheck.checker.symbolic.encode import Encoding
from migcheck.checker.symbolic.goals import claim, conjuncts
from migcheck.checker.symbolic.limits import Deadline
from migcheck.checker.symbolic.strengthen import (
    Lit,
    Oracle,
    Shape,
    Strengthened,
    generalise,
    sample_oracle,
    strengthen,
)
from migcheck.models import build
from migcheck.models.library import bundled

pdr_module = importlib.import_module("migcheck.checker.symbolic.pdr")  # the package exports a function `pdr`


def guest(variant: str = "disable-first", **params):
    return build(bundled("guest-assisted").variants()[variant], params)


def _state(system, **values) -> tuple[int, ...]:
    """The initial state with some slots changed (by slot name)."""
    index = {s.name: i for i, s in enumerate(system.layout.slots)}
    state = list(system.initial[0])
    for name, v in values.items():
        state[index[name.replace("_", "[", 1) + "]" if name[-1].isdigit() else name]] = v
    return tuple(state)


def test_a_view_reads_references_relative_to_the_chosen_pages():
    system = guest(pages=4)
    shape = Shape(system)
    index = {s.name: i for i, s in enumerate(system.layout.slots)}
    state = list(system.initial[0])
    state[index["buf[0]"]] = 1  # in the view
    state[index["buf[1]"]] = 3  # outside it
    cube = shape.view(tuple(state), [("pages", 1)])
    refs = {(lit.name, lit.elem, lit.positive) for lit in cube if lit.kind == "ref"}
    assert refs == {("buf[0]", ("pages", 1), True), ("buf[1]", ("pages", 1), False), ("buf[1]", None, False)}
    arrays = {lit.name for lit in cube if lit.kind == "array"}
    assert arrays == {"mapped", "dirty", "synced", "tail_dirty", "tail_synced"}
    assert all(lit.elem == ("pages", 1) for lit in cube if lit.kind == "array")


def test_the_oracle_sees_a_cube_under_any_renaming_of_its_pages():
    """The sample is explored up to symmetry, so only canonical states are held; a cube about
    page 1 is still seen when the canonical state shows it at page 0."""
    sample = guest(pages=2)
    oracle = sample_oracle(sample, Deadline(60))
    assert oracle.states == explore(sample, [], symmetry=True).stats.states
    mapped = [Lit("array", "mapped", ("pages", j), 1, True) for j in (0, 1)]
    synced_not = [Lit("array", "synced", ("pages", j), 0, True) for j in (0, 1)]
    for j in (0, 1):
        assert oracle.seen((mapped[j], synced_not[j]))
    # switched over with page 1 out of date: never in disable-first (that is completeness)
    switched = Lit("scalar", "phase", None, 5, True)
    stale = (switched, Lit("array", "synced", ("pages", 1), 0, True))
    assert not oracle.seen(stale)
    assert oracle.seen(stale[:1]) and oracle.seen(stale[1:])
    # a cube over three pages says nothing to a two-page sample: treated as seen, never blocked
    three = tuple(Lit("array", "mapped", ("pages", j), 1, True) for j in range(3))
    assert oracle.seen(three)


def test_generalise_drops_literals_while_the_cube_stays_unseen():
    unseen_if = {("a", 1), ("b", 2)}  # unseen exactly when both literals are in the cube

    def unseen(cube):
        return unseen_if <= {(lit.name, lit.value) for lit in cube}

    cube = tuple(Lit("scalar", n, None, v, True) for n, v in (("a", 1), ("c", 0), ("b", 2), ("d", 5)))
    assert {(lit.name, lit.value) for lit in generalise(cube, unseen)} == unseen_if


@pytest.mark.parametrize("pages", [2, pytest.param(3, marks=pytest.mark.slow)])
def test_blocking_proves_completeness_and_every_lemma_holds_in_every_reachable_state(pages):
    """Lemmas found with a two-page sample; at three pages they are carried to new pages."""
    system = guest(pages=pages)
    enc = Encoding(system)
    claims = conjuncts(claim(enc, system.property("completeness")))
    result = strengthen(system, enc, sample_oracle(guest(pages=2), Deadline(120)), claims, [], Deadline(120))
    assert result.proved and result.ctis == len(result.cubes) > 50
    ex = explore(system, [])
    reachable = Oracle(system, [ex.state(i) for i in range(len(ex.states))])
    assert not [c for c in result.cubes if reachable.seen(c)]  # no cube is reachable, under any renaming


@pytest.mark.slow  # about 40 s of CPU since guest-assisted has a TX ring and a destination
def test_pdr_proves_by_blocking_with_a_re_checked_certificate_beyond_the_sample():
    v = check_symbolic(guest(pages=3), "pdr", ["completeness"], None, 1200,
                       sample=guest(pages=2))["completeness"]
    assert (v.verdict, v.completeness, v.extra["invariant_by"]) == ("holds", "proved", "blocking")
    assert v.extra["lemmas"] >= v.extra["ctis"] > 0


def test_blocking_gives_up_on_a_violated_claim():
    system = guest("thread-order")
    enc = Encoding(system)
    claims = conjuncts(claim(enc, system.property("completeness")))
    result = strengthen(system, enc, sample_oracle(system, Deadline(60)), claims, [], Deadline(60))
    assert not result.proved and "looks reachable" in result.reason


def test_pdr_finds_the_shortest_violation_blocking_gave_up_on_beyond_the_sample():
    """thread-order at 3 pages: blocking fails, the two-page sample's counterexample gives BMC
    its depth, and BMC's trace is as short as the explicit engine's at 3 pages."""
    system = guest("thread-order", pages=3)
    v = check_symbolic(system, "pdr", ["completeness"], None, 300, sample=guest("thread-order", pages=2))
    v = v["completeness"]
    assert v.verdict == "violated" and "sample's counterexample" in v.extra["found_by"]
    shortest = explore(system, ["completeness"]).verdicts["completeness"].trace
    assert len(v.trace.steps) == len(shortest.steps)


def test_a_wrong_strengthening_never_becomes_a_proof(monkeypatch):
    """Blocking replaced by one that reports a false lemma as proved: the certificate re-check
    refuses it, and Spacer decides instead."""
    system = build(bundled("peterson"))

    def lying(system, enc, oracle, claims, lemmas, deadline):
        return Strengthened([z3.Not(enc.cur[0])], proved=True)  # flag[0] stays down: false

    monkeypatch.setattr(pdr_module, "strengthen", lying)
    v = check_symbolic(system, "pdr", ["mutual-exclusion"], None, 60)["mutual-exclusion"]
    assert (v.verdict, v.completeness, v.extra["invariant_by"]) == ("holds", "proved", "spacer")
    monkeypatch.undo()
    v = check_symbolic(system, "pdr", ["mutual-exclusion"], None, 60)["mutual-exclusion"]
    assert v.extra["invariant_by"] == "blocking"


def test_lemmas_from_a_sample_missing_states_are_dropped_and_the_proof_still_re_checks():
    """A prefix of spinlock's search as the sample: some reachable states look unreachable, so
    wrong lemmas are added, then dropped when a counterexample to induction looks reachable;
    what is left is inductive with the claim, and the certificate re-checks it."""
    system = build(bundled("spinlock"))
    enc = Encoding(system)
    ex = explore(system, [])
    states = [ex.state(i) for i in range(len(ex.states))]
    claims = conjuncts(claim(enc, system.property("mutual-exclusion")))
    partial = strengthen(system, enc, Oracle(system, states[:6]), claims, [], Deadline(60))
    assert partial.proved and partial.dropped > 0
    cert = Certificate.of(system, "mutual-exclusion", "pdr", enc.conj([*claims, *partial.lemmas]))
    assert check_certificate(system, cert, 60).valid
    full = strengthen(system, enc, Oracle(system, states), claims, [], Deadline(60))
    assert full.proved and full.dropped == 0
