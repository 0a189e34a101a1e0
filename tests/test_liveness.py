"""Liveness under fairness: known answers, stuttering, and lassos that replay fairly."""

from __future__ import annotations

from dataclasses import replace

import pytest

from migcheck.checker import interpret
from migcheck.checker.explicit import explore
from migcheck.models import Bool, Model, TraceMismatch, action, build, require
from migcheck.models.library import bundled
from migcheck.properties import eventually


class Spinner(Model):
    """A process that may spin in place (a step that changes nothing) before it finishes."""

    name = "spinner"
    check_deadlock = False
    done = Bool(init=False)

    @action(owner="worker")
    def spin(s):
        require(~s.done)
        s.done = s.done  # a stuttering step: nothing changes

    @action(owner="worker")
    def finish(s):
        require(~s.done)
        s.done = True

    @eventually
    def finishes(s):
        return s.done


def verdict(cls, prop):
    system = build(cls)
    v = explore(system, [prop]).verdicts[prop]
    if v.trace is not None:
        interpret.validate(system, v.trace)
    return v


def test_stuttering_is_no_counterexample_when_the_way_out_is_fair():
    class Fair(Spinner):
        fairness = {"finish": "weak"}

    assert verdict(Fair, "finishes").verdict == "holds"


def test_without_fairness_stuttering_forever_is_a_counterexample():
    v = verdict(Spinner, "finishes")
    assert v.verdict == "violated"
    assert v.trace.loop == 0 and len(v.trace) == 0  # stays in the initial state forever


def test_a_fair_spin_does_not_excuse_an_unfair_exit():
    class SpinFair(Spinner):
        fairness = {"spin": "weak"}

    v = verdict(SpinFair, "finishes")
    assert v.verdict == "violated"
    assert [s.action for s in v.trace.steps[1:]] == ["spin"]  # the loop spins


def test_weak_fairness_lets_a_spin_lock_waiter_starve_and_strong_does_not():
    # The waiter's acquire is enabled only while the lock is free: infinitely often, never
    # continuously. Weak fairness says nothing then; strong fairness forces the entry.
    lock = bundled("spinlock")
    weak = verdict(lock, "starvation-free")
    assert weak.verdict == "violated"
    steps = [s.label for s in weak.trace.steps[weak.trace.loop + 1:]]
    assert "acquire(i=1)" in steps and "acquire(i=0)" not in steps
    assert verdict(lock.variants()["strongly-fair"], "starvation-free").verdict == "holds"


def test_peterson_is_starvation_free_under_weak_fairness():
    assert verdict(bundled("peterson"), "starvation-free").verdict == "holds"


def test_dining_philosophers_naive_deadlocks_and_starves_ordered_does_neither():
    model = bundled("dining-philosophers")
    naive = model.variants()["naive"]
    assert verdict(naive, "deadlock").verdict == "violated"
    starve = verdict(naive, "no-starvation")
    assert starve.verdict == "violated"
    last = starve.trace.steps[-1].state
    system = build(naive)
    assert all(system.layout.render(last)["held"])  # every fork held: nobody can move
    assert verdict(model, "deadlock").verdict == "holds"
    assert verdict(model, "no-starvation").verdict == "holds"


@pytest.mark.parametrize("variant, prop", [("no-ack-timeout", "migration-ends"),
                                           ("no-ack-timeout", "event-answered"),
                                           ("no-recovery", "network-recovers")])
def test_guest_assisted_liveness_bugs_are_fair_lassos(variant, prop):
    cls = bundled("guest-assisted").variants()[variant]
    v = verdict(cls, prop)
    assert v.verdict == "violated" and v.trace.loop is not None
    loop_state = build(cls).layout.render(v.trace.steps[v.trace.loop].state)
    if variant == "no-ack-timeout":
        assert loop_state["phase"] == "notified"  # the hypervisor waits forever
    else:
        assert loop_state["phase"] == "aborted" and not loop_state["bme"]


def test_disable_first_satisfies_every_liveness_property_under_weak_fairness():
    cls = bundled("guest-assisted")
    for prop in ("migration-ends", "network-recovers", "event-answered"):
        assert verdict(cls, prop).verdict == "holds", prop


def test_an_unfair_loop_is_refused_by_the_validator():
    lock = bundled("spinlock")
    system = build(lock.variants()["strongly-fair"])
    weak_trace = verdict(lock, "starvation-free").trace
    # The same states and steps, judged under strong fairness, neglect acquire(i=0).
    forged = replace(weak_trace, instance=system.instance)
    with pytest.raises(TraceMismatch, match=r"unfair to acquire\(i=0\) \(strong fairness\)"):
        interpret.validate(system, forged)


def test_components_are_networkx_strongly_connected_components():
    """The liveness check's own Tarjan (it spares `check` importing networkx) on random graphs."""
    import random
    from types import SimpleNamespace

    import networkx as nx

    from migcheck.checker.liveness import _components

    rng = random.Random(7)
    for _ in range(200):
        n = rng.randint(1, 12)
        out = [[(0, rng.randrange(n)) for _ in range(rng.randint(0, 3))] for _ in range(n)]
        nodes = set(rng.sample(range(n), rng.randint(1, n)))
        g = nx.DiGraph()
        g.add_nodes_from(nodes)
        g.add_edges_from((i, j) for i in nodes for _, j in out[i] if j in nodes)
        ours = sorted(sorted(c) for c in _components(nodes, SimpleNamespace(out=out)))
        assert ours == sorted(sorted(c) for c in nx.strongly_connected_components(g))
