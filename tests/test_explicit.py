"""The explicit engine against published state counts, shortest counterexamples, limits,
determinism, and the IR interpreter (an independent reading of the same IR)."""

from __future__ import annotations

import pytest

from migcheck.checker import interpret
from migcheck.checker.explicit import explore
from migcheck.models import Bool, Int, Model, action, build, require
from migcheck.properties import invariant, reachable


@pytest.mark.parametrize("rms, states", [(3, 288), (5, 8832)])
def test_two_phase_commit_matches_published_state_counts(two_phase_commit, rms, states):
    # 288 (rms=3) and 8,832 (rms=5) are the counts TLC and stateright publish for TwoPhase.
    result = explore(build(two_phase_commit, {"rms": rms}))
    assert result.stats.states == states
    assert result.verdicts["consistency"].verdict == "holds"
    assert result.verdicts["consistency"].complete


def test_broken_transaction_manager_gives_a_shortest_counterexample(two_phase_commit):
    broken = two_phase_commit.variants()["commit-without-votes"]
    v = explore(build(broken, {"rms": 3})).verdicts["consistency"]
    assert v.verdict == "violated"
    # One RM aborts on its own, the TM commits without votes, another RM receives Commit:
    # no run with an aborted and a committed RM is shorter than these three steps.
    assert len(v.trace) == 3
    assert sorted(s.action for s in v.trace.steps[1:]) == ["rm_choose_to_abort", "rm_rcv_commit_msg",
                                                           "tm_commit"]


def test_peterson_holds_and_broken_variant_is_violated_in_eight_steps(peterson):
    ok = explore(build(peterson))
    assert ok.verdicts["mutual-exclusion"].verdict == "holds"
    assert ok.verdicts["deadlock"].verdict == "holds"
    bad = explore(build(peterson.variants()["turn-first"])).verdicts["mutual-exclusion"]
    # Each process needs request, raise_flag (sets turn), give_turn (raises the flag) and
    # enter: four steps each, so eight is the least for both to be critical.
    assert bad.verdict == "violated" and len(bad.trace) == 8


def test_same_model_same_states_same_counterexample(guest_assisted):
    thread = guest_assisted.variants()["thread-order"]
    a = explore(build(thread))
    b = explore(build(thread))
    assert a.states == b.states
    assert a.verdicts["completeness"].trace == b.verdicts["completeness"].trace


def test_compiled_search_agrees_with_the_interpreter_on_every_reachable_state(peterson, two_phase_commit,
                                                                                guest_assisted):
    for model, params in ((peterson, {}), (two_phase_commit, {"rms": 2}),
                          (guest_assisted.variants()["plain-touch"], {})):
        system = build(model, params)
        result = explore(system, graph=True)
        g = result.graph()
        for i in range(len(result.states)):
            state = result.state(i)
            expected = {(system.actions[a].label, nxt) for a, nxt in interpret.successors(system, state)}
            got = set()
            for _, j, data in g.out_edges(i, data=True):
                for label in data["actions"]:
                    got.add((label, result.state(j)))
            assert got == expected, f"{system.model} state {i}"


def test_graph_has_action_labels_and_transition_count(two_phase_commit):
    result = explore(build(two_phase_commit, {"rms": 3}), graph=True)
    g = result.graph()
    assert g.number_of_nodes() == 288
    assert sum(len(d["actions"]) for _, _, d in g.edges(data=True)) == result.stats.transitions
    assert any(d["action"] == "tm_commit" for _, _, d in g.edges(data=True))


def test_limits_give_inconclusive_never_holds(guest_assisted):
    result = explore(build(guest_assisted), ["completeness"], max_states=2000)
    v = result.verdicts["completeness"]
    assert v.verdict == "inconclusive" and not v.complete
    assert "--max-states 2000" in v.reason
    timed = explore(build(guest_assisted), ["completeness"], timeout=1e-9).verdicts["completeness"]
    assert timed.verdict in ("inconclusive",) and "time limit" in timed.reason


class Stuck(Model):
    """A counter that stops at 2; a final state only when marked so."""

    name = "stuck"
    n = Int(0, 2, init=0)
    done = Bool(init=False)

    @action(owner="environment")
    def inc(s):
        require(s.n < 2)
        s.n = s.n + 1

    @invariant
    def small(s):
        return s.n <= 2

    @reachable
    def three(s):
        return s.n == 2


def test_deadlock_is_found_with_a_shortest_trace():
    v = explore(build(Stuck)).verdicts["deadlock"]
    assert v.verdict == "violated" and len(v.trace) == 2


def test_unreached_witness_is_reported_not_witnessed():
    class Never(Stuck):
        @reachable
        def three(s):
            return s.done

    v = explore(build(Never)).verdicts["three"]
    assert v.verdict == "violated" and "not witnessed" in v.reason


def test_every_counterexample_replays_through_the_interpreter(guest_assisted, two_phase_commit, peterson):
    for model in (guest_assisted, two_phase_commit, peterson):
        for cls in model.variants().values():
            system = build(cls)
            for v in explore(system).verdicts.values():
                for trace in (v.trace, v.witness):
                    if trace is not None:
                        interpret.validate(system, trace)
