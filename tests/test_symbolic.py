"""The symbolic engine against the explicit one: same successors on every reachable state,
shortest counterexamples of the same length, proofs whose certificates re-check, and the
certificate checker rejecting invariants that do not prove anything."""

from __future__ import annotations

import pytest
import z3

from migcheck.checker import interpret
from migcheck.checker.explicit import explore
from migcheck.checker.symbolic import Certificate, check_certificate, check_symbolic, write_certificate
from migcheck.checker.symbolic.encode import Encoding, conj
from migcheck.checker.symbolic.goals import conjuncts
from migcheck.checker.symbolic.outcome import read_state
from migcheck.models import Bool, Int, ModelNotFound, action, all_, build, implies, require
from migcheck.models.errors import UsageError
from migcheck.models.library import bundled
from migcheck.properties import action_property, invariant, reachable

CASES = [("two-phase-commit", "base", {"rms": 3}), ("two-phase-commit", "commit-without-votes", {"rms": 3}),
         ("peterson", "base", {}), ("peterson", "turn-first", {})]


def system_of(model: str, variant: str, params: dict | None = None):
    return build(bundled(model).variants()[variant], params or {})


# ---------------------------------------------------------------- the encoding


def _equal(variables, values):
    return conj([v == (bool(x) if z3.is_bool(v) else x) for v, x in zip(variables, values, strict=True)],
                variables[0].ctx)


def _z3_successors(enc: Encoding, solver: z3.Solver, state: tuple[int, ...]) -> set:
    """Every (action, next state) the transition relation allows from ``state``, by enumeration."""
    solver.push()
    solver.add(_equal(enc.cur, state))
    found = set()
    while solver.check() == z3.sat:
        model = solver.model()
        a_i = model.eval(enc.act, model_completion=True).as_long()
        nxt = read_state(model, enc.nxt)
        found.add((a_i, nxt))
        solver.add(z3.Or(enc.act != a_i, z3.Not(_equal(enc.nxt, nxt))))
    solver.pop()
    return found


def _same_successors(system, limit: int | None = None, part: tuple[int, int] = (0, 1)) -> int:
    """Checks the first ``limit`` reachable states (all: None), or of them the ``part`` (k, of
    K): every K-th from the k-th, so that K tests share a large model's states between them."""
    enc = Encoding(system)
    solver = z3.Solver(ctx=enc.ctx)
    solver.add(enc.trans, z3.substitute(enc.domain, *zip(enc.cur, enc.nxt, strict=True)))
    result = explore(system, graph=True)
    n = len(result.states) if limit is None else min(limit, len(result.states))
    for i in range(part[0], n, part[1]):
        state = result.state(i)
        assert _z3_successors(enc, solver, state) == set(interpret.successors(system, state)), \
            f"{system.model} [{system.variant}] state {i}: {system.layout.render(state)}"
    return len(range(part[0], n, part[1]))


@pytest.mark.parametrize("model, variant, params", [
    ("peterson", "base", {}), ("peterson", "turn-first", {}),
    ("two-phase-commit", "base", {"rms": 2}), ("two-phase-commit", "commit-without-votes", {"rms": 2})])
def test_encoding_has_the_interpreters_successors_on_every_reachable_state(model, variant, params):
    _same_successors(system_of(model, variant, params))


def test_encoding_has_the_interpreters_successors_where_updates_are_range_checked(guest_assisted):
    # The first states of guest-assisted already fire the handler steps whose hstep + 1 is checked.
    system = build(guest_assisted)
    assert any(a.checks for a in system.actions)
    assert _same_successors(system, limit=60) == 60


SHARES = 4  # guest-assisted's 64,884 states take about ten minutes: the parallel workers share them


@pytest.mark.slow
@pytest.mark.parametrize("model, variant, params, part", [
    *(pytest.param(*case, (0, 1), id=f"{case[0]}-{case[1]}") for case in CASES),
    *(pytest.param("guest-assisted", "disable-first", {}, (k, SHARES), id=f"guest-assisted-{k}-of-{SHARES}")
      for k in range(SHARES))])
def test_encoding_has_the_interpreters_successors_on_every_state_of_larger_models(model, variant, params,
                                                                                 part):
    _same_successors(system_of(model, variant, params), part=part)


def test_shares_of_the_states_cover_each_state_once():
    system = system_of("peterson", "base")
    every = _same_successors(system)
    assert sum(_same_successors(system, part=(k, 3)) for k in range(3)) == every > 3


def test_both_forms_of_the_transition_relation_are_equivalent():
    for name in ("peterson", "two-phase-commit", "guest-assisted"):
        for cls in bundled(name).variants().values():
            enc = Encoding(build(cls))
            solver = z3.Solver(ctx=enc.ctx)
            nxt_domain = z3.substitute(enc.domain, *zip(enc.cur, enc.nxt, strict=True))
            solver.add(enc.domain, nxt_domain, enc.trans != enc.trans_by_action)
            assert solver.check() == z3.unsat, f"{name} [{cls.variant_name}]"


def test_timed_variable_names_read_as_a_trace():
    v = check_symbolic(system_of("peterson", "turn-first"), "bmc", ["mutual-exclusion"], 8)
    assert v["mutual-exclusion"].verdict == "violated"
    assert [str(x) for x in Encoding(system_of("peterson", "base")).cur] == \
        ["flag[0]", "flag[1]", "turn", "pc[0]", "pc[1]"]


# ---------------------------------------------------------------- bounded model checking


@pytest.mark.parametrize("model, variant, params", CASES)
def test_bmc_counterexamples_and_witnesses_are_as_short_as_the_explicit_engines(model, variant, params):
    system = system_of(model, variant, params)
    expected = explore(system).verdicts
    got = check_symbolic(system, "bmc", None, 12)
    assert list(got) == [p.name for p in system.properties if p.kind in ("invariant", "action", "reachable")]
    for name, v in got.items():
        e = expected[name]
        assert v.engine == "bmc"
        if e.verdict == "violated":
            assert v.verdict == "violated" and v.complete
            assert len(v.trace) == len(e.trace), name
            interpret.validate(system, v.trace)
        elif e.witness is not None:
            assert v.verdict == "holds" and len(v.witness) == len(e.witness), name
            interpret.validate(system, v.witness)
        else:
            assert v.verdict == "holds" and not v.complete and v.bound == 12
            assert v.completeness == "bounded at depth 12"


def test_bmc_is_deterministic():
    system = system_of("two-phase-commit", "commit-without-votes", {"rms": 3})
    a = check_symbolic(system, "bmc", ["consistency"], 5)["consistency"]
    b = check_symbolic(system, "bmc", ["consistency"], 5)["consistency"]
    assert a.trace == b.trace


@pytest.mark.parametrize("variant", ["passthrough-only", "no-recovery",
                                     pytest.param("no-drain", marks=pytest.mark.slow),
                                     pytest.param("plain-touch", marks=pytest.mark.slow)])
def test_bmc_finds_the_guest_assisted_bugs_as_short_as_the_explicit_engine(guest_assisted, variant):
    system = build(guest_assisted.variants()[variant])
    expected = explore(system).verdicts
    wanted = [n for n, v in expected.items()
              if v.verdict == "violated" and v.trace is not None and v.kind in ("invariant", "action")]
    for name, v in check_symbolic(system, "bmc", wanted, 20).items():
        assert v.verdict == "violated" and len(v.trace) == len(expected[name].trace), name


# ---------------------------------------------------------------- proofs


@pytest.mark.parametrize("model, variant, params", CASES)
def test_pdr_proves_what_holds_and_refutes_what_does_not(model, variant, params):
    system = system_of(model, variant, params)
    expected = explore(system).verdicts
    for name, v in check_symbolic(system, "pdr", None, None, 60).items():
        e = expected[name]
        assert v.verdict == e.verdict, name
        if e.trace is not None:
            assert len(v.trace) == len(e.trace)
            interpret.validate(system, v.trace)
        elif e.witness is not None:
            assert len(v.witness) == len(e.witness)
        else:
            assert v.complete and v.completeness == "proved"
            cert = v.extra["certificate"]
            assert cert.k == 1 and cert.engine == "pdr"
            assert check_certificate(system, cert).valid


def test_k_induction_proves_peterson_and_its_certificate_rechecks():
    system = system_of("peterson", "base")
    v = check_symbolic(system, "kind", ["mutual-exclusion"], None, 60)["mutual-exclusion"]
    assert v.verdict == "holds" and v.complete
    cert = v.extra["certificate"]
    assert cert.k == v.extra["k"] > 1  # the property alone is not 1-inductive
    assert check_certificate(system, cert).valid


def test_k_induction_finds_the_shortest_violations():
    for model, variant, params in CASES[1::2]:
        system = system_of(model, variant, params)
        expected = explore(system).verdicts
        for name, v in check_symbolic(system, "kind", None, 10, 60).items():
            e = expected[name]
            if e.verdict == "violated":
                assert v.verdict == "violated" and len(v.trace) == len(e.trace)
                interpret.validate(system, v.trace)


def _two_phase_lemmas(two_phase_commit, rms: int):
    """TwoPhase's classic strengthening, written as invariants of a throwaway subclass."""

    class WithLemmas(two_phase_commit):
        @invariant
        def commit_after_votes(s):
            return implies(s.msg_commit, all_(s.tm_prepared[r] for r in s.rms))

        @invariant
        def votes_are_messages(s):
            return all_(implies(s.tm_prepared[r], s.msg_prepared[r]) for r in s.rms)

        @invariant
        def voters_left_working(s):
            return all_(implies(s.msg_prepared[r], s.rm_state[r] != "working") for r in s.rms)

        @invariant
        def one_decision(s):
            return ~(s.msg_commit & s.msg_abort) & implies(s.msg_commit | s.msg_abort, s.tm_state == "done")

        @invariant
        def committed_after_commit(s):
            return all_(implies(s.rm_state[r] == "committed", s.msg_commit) for r in s.rms)

        @invariant
        def aborted_alone_or_told(s):
            return all_(implies(s.rm_state[r] == "aborted", s.msg_abort | ~s.msg_prepared[r]) for r in s.rms)

    lemma_system = build(WithLemmas, {"rms": rms})
    base = {p.name for p in build(two_phase_commit, {"rms": rms}).properties}
    return [p.pred for p in lemma_system.properties if p.name not in base]


def test_k_induction_with_lemmas_proves_two_phase_commit_with_an_inductive_invariant(two_phase_commit):
    system = build(two_phase_commit, {"rms": 3})
    lemmas = _two_phase_lemmas(two_phase_commit, 3)
    v = check_symbolic(system, "kind", ["consistency"], None, 60, lemmas=lemmas)["consistency"]
    assert v.verdict == "holds" and v.complete
    assert v.extra["certificate"].k == 1
    assert check_certificate(system, v.extra["certificate"]).valid


def test_a_false_lemma_is_reported_not_trusted(two_phase_commit):
    system = build(two_phase_commit, {"rms": 3})
    tm_state = system.layout.var("tm_state").base
    from migcheck.models.expr import Const, Op, Slot

    wrong = Op("eq", (Slot(tm_state), Const(0)))  # "the TM never decides"
    v = check_symbolic(system, "kind", ["consistency"], None, 60, lemmas=[wrong])["consistency"]
    assert v.verdict == "inconclusive" and "lemma (tm_state = 0) is not an invariant" in v.reason
    interpret.validate(system, v.extra["lemma_trace"])


# ---------------------------------------------------------------- the certificate checker


def _peterson_certificate(system, invariant, k=1):
    return Certificate.of(system, "mutual-exclusion", "test", invariant, k)


def test_certificate_checker_rejects_invariants_that_prove_nothing():
    system = system_of("peterson", "base")
    enc = Encoding(system)
    pc0, pc1 = enc.cur[3], enc.cur[4]
    mutex = z3.Not(z3.And(pc0 == 4, pc1 == 4))
    cases = {
        "consecution": _peterson_certificate(system, mutex),  # true, but not inductive
        "property": _peterson_certificate(system, z3.BoolVal(True)),  # inductive, proves nothing
        "initiation": _peterson_certificate(system, z3.And(mutex, pc0 == 1)),  # excludes the start
        "2-step": _peterson_certificate(system, mutex, k=2),  # not 2-inductive either
    }
    for failed, cert in cases.items():
        check = check_certificate(system, cert)
        assert not check.valid and check.failed == failed, (failed, check)
    stray = check_certificate(system, _peterson_certificate(system, z3.Bool("ghost")))
    assert not stray.valid and "ghost" in stray.reason


def test_a_proof_of_the_correct_protocol_does_not_certify_the_broken_one():
    good, broken = system_of("peterson", "base"), system_of("peterson", "turn-first")
    cert = check_symbolic(good, "pdr", ["mutual-exclusion"])["mutual-exclusion"].extra["certificate"]
    assert check_certificate(good, cert).valid
    assert check_certificate(broken, cert).failed == "identity"
    relabelled = Certificate.of(broken, cert.property, cert.engine, cert.invariant, cert.k)
    assert not check_certificate(broken, relabelled).valid


def test_certificate_is_written_as_smtlib_that_z3_confirms(tmp_path, z3_answers):
    system = system_of("two-phase-commit", "base", {"rms": 3})
    cert = check_symbolic(system, "pdr", ["consistency"])["consistency"].extra["certificate"]
    out = tmp_path / "consistency.smt2"
    write_certificate(str(out), system, cert)
    assert [p.name for p in tmp_path.iterdir()] == ["consistency.smt2"]  # no temporary left over
    text = out.read_text()
    assert text.startswith("; migcheck-certificate-2\n; every check below must answer unsat")
    answers = z3_answers(out)
    invariant = len(conjuncts(cert.invariant))  # a query per conjunct of each conclusion
    assert invariant > 1 and text.count("(check-sat-assuming ") == len(answers) == 2 + 2 * invariant
    assert [name for name, _ in answers] == ["relation#0", "property#0",
                                             *(f"initiation#{n}" for n in range(invariant)),
                                             *(f"consecution#{n}" for n in range(invariant))]
    assert {answer for _, answer in answers} == {"unsat"}


def test_z3_reading_a_broken_certificate_answers_sat_where_the_checker_fails_it(tmp_path, z3_answers):
    """A lemma that is not inductive, one that excludes the initial state, an invariant that
    implies nothing and one that is not 2-inductive: the file's per-conjunct queries are the
    whole obligation, so z3 finds the hole in the condition the built-in checker names, and
    in the broken conjunct, not in the true one beside it."""
    system = system_of("peterson", "base")
    enc = Encoding(system)
    pc0, pc1 = enc.cur[3], enc.cur[4]
    mutex = z3.Not(z3.And(pc0 == 4, pc1 == 4))
    cases = {"consecution": (z3.And(pc0 >= 0, mutex), 1, ["consecution#1"]),
             "property": (z3.And(pc0 >= 0, pc1 >= 0), 1, None),  # which conjunct of the claim: z3's say
             "initiation": (z3.And(mutex, pc0 == 1), 1, ["initiation#1"]),
             "2-step": (mutex, 2, ["2-step#0"])}
    for failed, (inv, k, broken) in cases.items():
        cert = _peterson_certificate(system, inv, k)
        assert check_certificate(system, cert).failed == failed
        out = tmp_path / f"{failed}.smt2"
        write_certificate(str(out), system, cert)
        answers = z3_answers(out)
        assert {answer for _, answer in answers} == {"sat", "unsat"}, (failed, answers)
        refuted = [name for name, answer in answers if answer == "sat"]
        assert refuted[0].rsplit("#", 1)[0] == failed, (failed, refuted)  # the first, as the checker
        if broken is not None:
            assert [name for name in refuted if name.startswith(f"{failed}#")] == broken


# ---------------------------------------------------------------- errors, limits, scope


def _overflow_system():
    from migcheck.models import Model

    class Counter(Model):
        """A counter whose increment forgets its bound once armed."""

        name = "overflow"
        check_deadlock = False
        n = Int(0, 2, init=0)
        armed = Bool(init=False)
        done = Bool(init=False)

        @action
        def arm(s):
            require(~s.armed)
            s.armed = True

        @action
        def inc(s):
            require(s.armed)
            s.n = s.n + 1

        @invariant
        def small(s):
            return s.n <= 2

        @action_property
        def no_reset(s, act, t):
            return t.n >= s.n

        @reachable
        def finished(s):
            return s.done

    return build(Counter)


def test_an_update_out_of_its_domain_is_an_error_as_in_the_explicit_engine():
    system = _overflow_system()
    expected = explore(system).verdicts
    for engine in ("bmc", "kind", "pdr"):
        got = check_symbolic(system, engine, ["small", "no-reset"], 10)
        for name, v in got.items():
            assert v.verdict == "error" and v.reason == expected[name].reason, (engine, name)
            assert len(v.trace) == len(expected[name].trace)
    assert "sets n to 3, outside Int(0, 2)" in expected["small"].reason


def test_an_unreachable_witness_is_proved_unreachable_or_left_open():
    from migcheck.models import Model

    class Stuck(Model):
        name = "stuck"
        check_deadlock = False
        n = Int(0, 2, init=0)
        done = Bool(init=False)

        @action
        def inc(s):
            require(s.n < 2)
            s.n = s.n + 1

        @reachable
        def finished(s):
            return s.done

    system = build(Stuck)
    assert explore(system).verdicts["finished"].verdict == "violated"
    pdr = check_symbolic(system, "pdr", ["finished"])["finished"]
    kind = check_symbolic(system, "kind", ["finished"])["finished"]
    bmc = check_symbolic(system, "bmc", ["finished"], 4)["finished"]
    for v in (pdr, kind):
        assert v.verdict == "violated" and v.complete and "not witnessed" in v.reason
        assert check_certificate(system, v.extra["certificate"]).valid
    assert bmc.verdict == "inconclusive" and bmc.reason == "not witnessed up to depth 4"


@pytest.mark.parametrize("engine", ["bmc", "kind", "pdr"])
def test_a_time_limit_gives_inconclusive_never_holds(engine):
    v = check_symbolic(system_of("peterson", "base"), engine, ["mutual-exclusion"], 10, 1e-9)
    assert v["mutual-exclusion"].verdict == "inconclusive"
    assert "time limit reached" in v["mutual-exclusion"].reason


def test_deadlock_and_liveness_are_left_to_the_explicit_engine(peterson):
    system = build(peterson)
    liveness = [p.name for p in system.properties if p.kind in ("eventually", "leads_to")]
    default = check_symbolic(system, "bmc", None, 3)
    assert not set(liveness) & set(default) and "deadlock" not in default
    named = check_symbolic(system, "pdr", ["deadlock", *liveness])
    for v in named.values():
        assert v.verdict == "inconclusive" and "use --engine explicit" in v.reason


def test_bad_input_is_refused_with_a_clear_message():
    system = system_of("peterson", "base")
    with pytest.raises(UsageError, match="unknown symbolic engine 'ic3'"):
        check_symbolic(system, "ic3")
    with pytest.raises(ModelNotFound, match=r"no property 'mutex'.*mutual-exclusion"):
        check_symbolic(system, "bmc", ["mutex"])
    with pytest.raises(UsageError, match="depth"):
        check_symbolic(system, "bmc", None, -1)
