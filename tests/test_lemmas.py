"""Lemmas mined from a small explicit search and filtered by Houdini: what survives holds in
every reachable state, carrying over symmetric pages renames elements and references, and a
lemma that is not an invariant never turns into a `holds`."""

from __future__ import annotations

import pytest
import z3

import migcheck.checker.symbolic.lemmas as lemmas_module
from migcheck.checker.explicit import explore
from migcheck.checker.symbolic import check_symbolic
from migcheck.checker.symbolic.encode import Encoding, Unroller
from migcheck.checker.symbolic.goals import claim, conjuncts
from migcheck.checker.symbolic.lemmas import _Carrier, houdini, mine, sample_params
from migcheck.checker.symbolic.limits import Deadline
from migcheck.models import build
from migcheck.models.library import bundled


def system_of(model: str, variant: str, params: dict | None = None):
    return build(bundled(model).variants()[variant], params or {})


def _holds_on_every_reachable_state(system, enc: Encoding, formulas) -> int:
    """Evaluates the conjunction on each reachable state; returns how many states there are."""
    ex = explore(system, [])
    inv = enc.conj(list(formulas))
    for i in range(len(ex.states)):
        state = ex.state(i)
        pairs = [(v, z3.BoolVal(bool(x), enc.ctx) if z3.is_bool(v) else z3.IntVal(x, enc.ctx))
                 for v, x in zip(enc.cur, state, strict=True)]
        assert z3.is_true(z3.simplify(z3.substitute(inv, *pairs))), state
    return len(ex.states)


def _inductive(enc: Encoding, formulas) -> bool:
    u = Unroller(enc)
    inv = enc.conj(list(formulas))
    s = z3.Solver(ctx=enc.ctx)
    s.add(u.at(enc.domain, 0), u.at(inv, 0), u.at(enc.trans, 0), u.at(enc.domain, 1), z3.Not(u.at(inv, 1)))
    first = z3.Solver(ctx=enc.ctx)
    first.add(enc.init, z3.Not(inv))
    return s.check() == z3.unsat and first.check() == z3.unsat


def test_houdini_keeps_an_inductive_subset_and_drops_what_fails():
    system = system_of("peterson", "base")
    enc = Encoding(system)
    flag0, flag1, turn = enc.cur[0], enc.cur[1], enc.cur[2]
    never_both = z3.Not(z3.And(flag0, flag1))  # false: both flags are raised on the way in
    turn_range = z3.Or(turn == 0, turn == 1)  # true and inductive
    mutex = claim(enc, system.property("mutual-exclusion"))  # true, not inductive alone
    kept, rounds = houdini(enc, [never_both, turn_range, mutex], Deadline(60))
    assert rounds >= 2
    assert not any(k.eq(never_both) for k in kept)
    assert any(k.eq(turn_range) for k in kept)
    assert _inductive(enc, kept)


def test_mined_lemmas_hold_on_every_reachable_state():
    system = system_of("two-phase-commit", "base", {"rms": 3})
    enc = Encoding(system)
    mined = mine(system, enc, None, Deadline(60))
    assert mined.candidates > len(mined.lemmas) > 0 and mined.sample_states == 288
    assert _inductive(enc, mined.lemmas)
    _holds_on_every_reachable_state(system, enc, mined.lemmas)


def test_lemmas_carried_to_more_pages_rename_arrays_and_references():
    cls = bundled("guest-assisted")
    target = build(cls, {"pages": 3, "slots": 1})
    sample = build(cls, sample_params(target))
    assert dict(sample.params)["pages"] == 2
    carrier = _Carrier(sample, target)
    # "slot 0's buffer is in page 1 and page 1 is not mapped" becomes one cube per page ...
    carried = carrier.carry((("buf[0]", 1, True), ("mapped[1]", 0, True)))
    assert carried == [(("buf[0]", p, True), (f"mapped[{p}]", 0, True)) for p in range(3)]
    # ... a null reference stays null (2 in the sample, 3 in the target), and two elements
    # are renamed injectively.
    assert carrier.carry((("buf[0]", 2, True),)) == [(("buf[0]", 3, True),)]
    pairs = carrier.carry((("dirty[0]", 1, True), ("synced[1]", 0, True)))
    assert len(pairs) == 6 and all(a[0][-2] != b[0][-2] for a, b in pairs)


@pytest.mark.slow
def test_lemmas_mined_at_two_pages_hold_at_three():
    cls = bundled("guest-assisted")
    system = build(cls, {"pages": 3, "slots": 1})
    enc = Encoding(system)
    mined = mine(system, enc, build(cls, sample_params(system)), Deadline(120))
    assert len(mined.lemmas) > 50
    assert _holds_on_every_reachable_state(system, enc, mined.lemmas) > 1000


def test_a_wrong_lemma_never_becomes_a_proof(monkeypatch):
    """Houdini replaced by one that keeps everything, a false lemma included: the certificate
    re-check refuses the proof, so the verdict is inconclusive, never holds."""
    real = lemmas_module.houdini
    system = system_of("peterson", "base")

    def trusting(enc, cands, deadline):
        false = z3.Not(enc.cur[0])  # flag[0] stays down: false once process 0 wants in
        return [*cands, false], 1

    monkeypatch.setattr(lemmas_module, "houdini", trusting)
    for engine in ("pdr", "kind"):  # PDR without blocking, which does not use the mined lemmas
        v = check_symbolic(system, engine, ["mutual-exclusion"], None, 60, block=False)["mutual-exclusion"]
        assert v.verdict != "holds" or not v.complete, engine
        assert v.verdict == "inconclusive", (engine, v.verdict, v.reason)
    monkeypatch.setattr(lemmas_module, "houdini", real)
    v = check_symbolic(system, "pdr", ["mutual-exclusion"], None, 60, block=False)["mutual-exclusion"]
    assert (v.verdict, v.completeness) == ("holds", "proved")


def test_without_mining_the_engines_still_prove_peterson():
    system = system_of("peterson", "base")
    for engine in ("pdr", "kind"):
        v = check_symbolic(system, engine, ["mutual-exclusion"], None, 60, mine_lemmas=False, block=False)
        assert (v["mutual-exclusion"].verdict, v["mutual-exclusion"].completeness) == ("holds", "proved")


@pytest.mark.slow
def test_pdr_proves_guest_assisted_completeness_with_mined_lemmas():
    cls = bundled("guest-assisted")
    system = build(cls, {"pages": 1})
    enc = Encoding(system)
    v = check_symbolic(system, "pdr", ["completeness"], None, 300, block=False)["completeness"]
    assert (v.verdict, v.completeness) == ("holds", "proved")
    assert v.extra["lemmas"] > 0
    cert = v.extra["certificate"].invariant.translate(enc.ctx)
    assert len(conjuncts(cert)) > v.extra["lemmas"] // 2
