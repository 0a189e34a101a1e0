"""Proofs for every size of an `any` index set: what is proved holds in every state the
explicit search reaches at sizes 1 to 4, a wrong lemma costs a proof and never makes one,
certificates are SMT-LIB the z3 command line confirms, flawed variants give the shortest
counterexample at the smallest size, and models with no first-order form are refused."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import z3

from migcheck.checker import interpret
from migcheck.checker.explicit import explore
from migcheck.checker.symbolic import everysize, write_certificate
from migcheck.checker.symbolic.certificate import check_every_size_certificate
from migcheck.checker.symbolic.epr import alternation, holds_in
from migcheck.checker.symbolic.goals import conjuncts
from migcheck.checker.symbolic.lift import FirstOrder, LiftRefused
from migcheck.checker.symbolic.limits import Deadline
from migcheck.checker.symbolic.strengthen import Oracle, Strengthened, Strengthener, sample_oracle
from migcheck.cli import main
from migcheck.models import Array, Bool, Index, Int, Model, action, all_, build, count, require
from migcheck.models.library import bundled
from migcheck.properties import invariant


def guest(variant: str):
    cls = bundled("guest-assisted").variants()[variant]
    cache = {}

    def instance(sizes):
        key = tuple(sorted(sizes.items()))
        if key not in cache:
            cache[key] = build(cls, dict(sizes))
        return cache[key]

    return instance, {a.label: tuple(a.arg_indexes) for a in cls.actions().values()}


def every(variant: str, prop: str, timeout: float = 300):
    instance, arg_sets = guest(variant)
    return everysize.check_every_size(instance, ("pages",), arg_sets, [prop], timeout)[prop]


@pytest.mark.slow
@pytest.mark.parametrize("prop", ["completeness", "quiescence", "rings-last"])
def test_the_quantified_lemmas_hold_in_every_state_reached_at_sizes_1_to_4(prop):
    """Each lemma ``forall distinct p, q. ~cube(p, q)`` instantiated at 1 to 4 pages (every
    injective renaming) matches no state the explicit search reaches there."""
    instance, arg_sets = guest("disable-first")
    fo = FirstOrder(instance, ("pages",), arg_sets, [prop])
    deadline = Deadline(300)
    claim = fo.claim(fo.system.property(prop), fo.sig.state(""))
    blocked = Strengthener(everysize.QuantifiedFrame(fo), sample_oracle(instance({"pages": 2}), deadline),
                           deadline).run(conjuncts(claim), [])
    assert blocked.proved and blocked.cubes
    for pages in (1, 2, 3, 4):
        system = instance({"pages": pages})
        ex = explore(system, [prop], symmetry=True)  # one state per orbit; the lemmas are symmetric
        assert ex.verdicts[prop].verdict == "holds"
        reached = Oracle(system, [ex.state(i) for i in range(len(ex.states))])
        wrong = [c for c in blocked.cubes if len({e for lit in c if (e := lit.elem)}) <= pages
                 and reached.seen(c)]
        assert not wrong, f"{len(wrong)} lemmas fail at pages={pages}: {wrong[0]}"


@pytest.mark.slow
def test_disable_first_completeness_is_proved_for_every_pages_with_a_re_checked_certificate():
    answer = every("disable-first", "completeness")
    v = answer.verdict
    assert (v.verdict, v.completeness) == ("holds", "proved for every pages")
    assert v.extra["every"] == ("pages",) and v.extra["lemmas"] > 0


def test_a_wrong_lemma_costs_the_proof_and_never_makes_one(monkeypatch):
    """Blocking that 'proves' with a false lemma: the certificate fails to re-check, so the
    verdict is the counterexample search's, never holds."""
    def wrong(self, claims, lemmas):
        fo = self.frame.fo
        x = z3.Const("pages#0", fo.sig.sorts["pages"])
        synced = fo.sig.state("").arrays["synced"]
        return Strengthened([z3.ForAll([x], synced(x))], True)  # false in the initial state

    monkeypatch.setattr(Strengthener, "run", wrong)
    flawed = every("unmap-unmarked", "completeness").verdict
    assert flawed.verdict == "violated" and flawed.extra["found_at"] == {"pages": 1}
    sound = every("disable-first", "dest-order").verdict
    assert sound.verdict != "holds" and "did not re-check" in sound.reason


def test_a_flawed_variant_gives_the_shortest_counterexample_at_the_smallest_size():
    answer = every("unmap-unmarked", "completeness")
    v = answer.verdict
    assert v.verdict == "violated" and v.extra["found_at"] == {"pages": 1}
    assert dict(answer.system.params)["pages"] == 1
    shortest = explore(answer.system, ["completeness"]).verdicts["completeness"].trace
    assert len(v.trace) == len(shortest)
    interpret.validate(answer.system, v.trace)  # replays through the interpreter


def test_the_certificate_is_smtlib_the_z3_command_line_confirms(capsys, tmp_path, z3_answers):
    cert = tmp_path / "cert.smt2"
    status = main(["check", "--variant", "disable-first", "--property", "dest-order", "--property", "opt-in",
                   "--engine", "pdr", "--set", "pages=any", "--json", "--certificate-out", str(cert)])
    out = json.loads(capsys.readouterr().out)
    assert status == 0
    for row in out["results"]:
        assert row["params"]["pages"] == "any" and row["proof"]["for_every"] == ["pages"]
        assert row["completeness"] == "proved for every pages"
    answers = z3_answers(cert)
    text = cert.read_text()
    assert "(forall" in text and "(declare-sort pages 0)" in text
    assert text.count("(check-sat-assuming ") == len(answers) > 6  # a query per conjunct
    assert {answer for _, answer in answers} == {"unsat"}
    conditions = [name.rsplit("#", 1)[0] for name, _ in answers]
    assert [c for n, c in enumerate(conditions) if n == 0 or c != conditions[n - 1]] == \
        ["property", "initiation", "consecution"] * 2  # two certificates, in order


@pytest.mark.slow
def test_z3_reading_a_broken_every_size_certificate_answers_sat(tmp_path, z3_answers):
    """A proof's quantified invariant with a lemma added that the initial state breaks: the
    built-in checker and z3 reading the file both refute initiation, at that conjunct only."""
    cert = every("disable-first", "dest-order").verdict.extra["certificate"]
    fo = cert.relift(cert.invariant.ctx)
    x = z3.Const("pages#0", fo.sig.sorts["pages"])
    synced = fo.sig.state("").arrays["synced"]
    lemmas = conjuncts(cert.invariant)
    broken = replace(cert, invariant=z3.And(*lemmas, z3.ForAll([x], synced(x))))
    assert check_every_size_certificate(broken).failed == "initiation"
    out = tmp_path / "broken.smt2"
    write_certificate(str(out), fo.system, broken)
    answers = z3_answers(out)
    refuted = [name for name, answer in answers if answer == "sat"]
    assert {answer for _, answer in answers} == {"sat", "unsat"}
    assert [name for name in refuted if name.startswith("initiation#")] == [f"initiation#{len(lemmas)}"]
    assert refuted[0] == f"initiation#{len(lemmas)}"  # property holds: the claim is still implied


def test_the_cli_says_what_any_needs(capsys):
    assert main(["check", "--set", "pages=any"]) == 2
    assert "--engine pdr" in capsys.readouterr().err
    assert main(["check", "--set", "rounds=any", "--engine", "pdr"]) == 2
    assert "only an index set" in capsys.readouterr().err


class Counter(Model):
    """Pages counted: a sum over the pages has no first-order form."""

    name = "page-counter"
    pages = Index("page", default=2, allowed=range(1, 9), symmetric=True)
    used = Array(pages, Bool, init=False)
    full = Bool(init=False)

    @action
    def use(s, p: pages):
        require(~s.used[p])
        s.used[p] = True
        s.full = count(s.used[q] for q in s.pages) >= 2

    @invariant
    def sane(s):
        return all_(s.used[p] | ~s.full for p in s.pages)


class Bounded(Model):
    """A bound that grows with the number of pages: the model reads differently at each size."""

    name = "page-bounded"
    pages = Index("page", default=2, allowed=range(1, 9), symmetric=True)
    used = Array(pages, Bool, init=False)
    n = Int(0, "pages", init=0)

    @action
    def use(s, p: pages):
        require(~s.used[p] & (s.n < len(s.used)))
        s.used[p] = True
        s.n = s.n + 1

    @invariant
    def sane(s):
        return s.n >= 0


@pytest.mark.parametrize("model, words", [(Counter, "count or sum"), (Bounded, "reads differently")])
def test_a_model_without_a_first_order_form_is_refused_naming_why(model, words):
    arg_sets = {a.label: tuple(a.arg_indexes) for a in model.actions().values()}
    with pytest.raises(LiftRefused, match=words):
        FirstOrder(lambda sizes: build(model, sizes), ("pages",), arg_sets)


def test_the_fragment_check_and_the_finite_evaluation():
    ctx = z3.Context()
    page = z3.DeclareSort("page", ctx)
    f = z3.Function("f", page, page, z3.BoolSort(ctx))
    x, y = z3.Const("x", page), z3.Const("y", page)
    assert alternation(z3.ForAll([x], z3.Exists([y], f(x, y))))  # a Skolem function: outside EPR
    assert not alternation(z3.Exists([x], z3.ForAll([y], f(x, y))))
    assert not alternation(z3.Not(z3.ForAll([x], z3.Exists([y], f(x, y)))))  # negated: exists-forall
    s = z3.Solver(ctx=ctx)
    s.add(z3.Exists([x], z3.ForAll([y], f(x, y))), z3.Exists([y], z3.Not(f(y, y))))
    assert s.check() == z3.sat
    m = s.model()
    assert holds_in(m, z3.Exists([x], z3.ForAll([y], f(x, y))))
    assert not holds_in(m, z3.ForAll([x, y], f(x, y)))


def test_the_lifted_transition_has_exactly_the_interpreters_successors_at_two_pages():
    """From states the explicit engine reaches at two pages, the first-order relation over a
    universe of exactly two pages allows each successor the interpreter gives, and no other."""
    instance, arg_sets = guest("disable-first")
    fo = FirstOrder(instance, ("pages",), arg_sets)
    system = instance({"pages": 2})
    ex = explore(system, [], max_states=2000)
    sig = fo.sig
    st0, st1 = sig.state("@0"), sig.state("@1")
    solver = z3.Solver(ctx=sig.ctx)
    solver.add(fo.domain(st0), fo.trans(st0, st1), fo.domain(st1))
    elems = [z3.Const(f"e{j}", sig.sorts["pages"]) for j in range(2)]
    q = z3.Const("q", sig.sorts["pages"])
    solver.add(z3.Distinct(*elems), z3.ForAll([q], z3.Or(*[q == e for e in elems])))

    def pin(st, state):
        parts = []
        for i, s in enumerate(system.layout.slots):
            v = state[i]
            if s.var in st.arrays:
                y = st.arrays[s.var](elems[s.element])
                parts.append(y == (bool(v) if z3.is_bool(y) else v))
            elif s.name in st.refs:
                elem, null = st.refs[s.name]
                parts.append(null if v == s.domain.hi else z3.And(z3.Not(null), elem == elems[v]))
            else:
                c = st.scalars[s.name]
                parts.append(c == (bool(v) if z3.is_bool(c) else v))
        return z3.And(*parts)

    for k in range(0, len(ex.states), 97):
        state = ex.state(k)
        succ = {nxt for _, nxt in interpret.successors(system, state)}
        solver.push()
        solver.add(pin(st0, state))
        for nxt in succ:
            assert solver.check(pin(st1, nxt)) == z3.sat, (state, nxt)
        solver.add(*[z3.Not(pin(st1, nxt)) for nxt in succ])
        assert solver.check() == z3.unsat, state  # no successor the model lacks
        solver.pop()


def test_a_property_whose_witness_is_never_reached_at_any_size_is_vacuous():
    v = every("passthrough-only", "dest-order").verdict
    assert v.verdict == "vacuous" and "dest-device-runs" in v.reason


def test_qemu_order_completeness_is_proved_for_every_pages_and_devs():
    cls = bundled("vfio-v2").variants()["qemu-order"]
    arg_sets = {a.label: tuple(a.arg_indexes) for a in cls.actions().values()}
    answer = everysize.check_every_size(lambda sizes: build(cls, sizes=sizes), ("pages", "devs"), arg_sets,
                                        ["completeness"], 300)["completeness"]
    assert answer.verdict.completeness == "proved for every pages and devs"


def test_kind_proves_for_every_size_what_is_inductive_on_its_own():
    instance, arg_sets = guest("disable-first")
    answers = everysize.check_every_size(instance, ("pages",), arg_sets, ["dest-order"], 120, engine="kind")
    v = answers["dest-order"].verdict
    assert (v.engine, v.completeness) == ("kind", "proved for every pages")
    assert v.extra["certificate"].engine == "kind"
