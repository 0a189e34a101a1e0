"""The proof engines (k-induction, PDR) answer every model they accept, and say `vacuous`
where the explicit engine does: the sample they learn from respects the model's allowed sizes,
and a safety property whose witness they prove unreachable does not `hold`."""

from __future__ import annotations

import pytest

from migcheck import runner
from migcheck.models import Array, Bool, Index, Model, action, all_, require
from migcheck.properties import invariant, reachable


class LargeOnly(Model):
    """A copy over pages that only comes in sizes 3 to 5: a sample of 2 pages is no instance."""

    name = "large-only"
    check_deadlock = False
    pages = Index("page", default=3, allowed=range(3, 6), symmetric=True)
    copied = Bool(init=False)
    synced = Array(pages, Bool, init=False)

    @action(owner="hypervisor")
    def copy(s):
        require(~s.copied)
        s.copied = True
        for p in s.pages:
            s.synced[p] = True

    @invariant(witness="copy-happens")
    def complete(s):
        return ~s.copied | all_(s.synced[p] for p in s.pages)

    @reachable
    def copy_happens(s):
        return s.copied


@pytest.mark.parametrize("engine", ["kind", "pdr", "all"])
def test_the_sample_of_a_model_with_allowed_sizes_is_one_of_them(engine):
    results = runner.run(LargeOnly, params={"pages": 5}, engine=engine)
    assert {r.verdict.property: (r.verdict.verdict, r.verdict.complete) for r in results} == {
        "complete": ("holds", True), "copy-happens": ("holds", True)}
    assert runner.sample_of(LargeOnly, results[0].system).params == (("pages", 3),)


def test_bmc_builds_no_sample(monkeypatch):
    def refuse(*args):
        raise AssertionError("BMC asked for a sample")

    monkeypatch.setattr(runner, "sample_of", refuse)
    results = runner.run(LargeOnly, params={"pages": 4}, engine="bmc")
    assert [r.verdict.verdict for r in results] == ["holds", "holds"]


class NeverFires(Model):
    """``safe`` holds only because nothing arms the trigger: its witness is unreachable."""

    name = "never-fires"
    check_deadlock = False
    armed = Bool(init=False)
    fired = Bool(init=False)

    @action(owner="environment")
    def fire(s):
        require(s.armed & ~s.fired)
        s.fired = True

    @action(owner="environment")
    def disarm(s):
        s.armed = False

    @invariant(witness="fires")
    def safe(s):
        return ~s.fired | s.armed

    @reachable
    def fires(s):
        return s.fired


@pytest.mark.parametrize("engine", ["explicit", "kind", "pdr", "all"])
def test_a_property_whose_witness_is_proved_unreachable_is_vacuous(engine):
    (result,) = runner.run(NeverFires, properties=["safe"], engine=engine)
    assert result.verdict.verdict == "vacuous"
    assert result.verdict.reason == "its witness 'fires' is never reached"


def test_bmc_cannot_prove_a_witness_unreachable_so_it_keeps_its_bound():
    (result,) = runner.run(NeverFires, properties=["safe"], engine="bmc", depth=4)
    assert (result.verdict.verdict, result.verdict.bound) == ("holds", 4)


class NamesPageTwo(Model):
    """Declared symmetric, yet an action names page 2, which a 2-page sample does not have."""

    name = "names-page-two"
    check_deadlock = False
    pages = Index("page", default=3, allowed=range(1, 6), symmetric=True)
    copied = Bool(init=False)
    synced = Array(pages, Bool, init=False)

    @action(owner="hypervisor")
    def copy(s):
        require(~s.copied)
        s.copied = True
        for p in s.pages:
            s.synced[p] = True

    @action(owner="device")
    def spoil(s):
        require(s.copied)
        s.synced[2] = False

    @invariant
    def complete(s):
        return ~s.copied | all_(s.synced[p] for p in s.pages)


@pytest.mark.parametrize("engine", ["kind", "pdr"])
def test_a_model_that_cannot_be_cut_to_a_sample_is_still_answered(engine):
    (result,) = runner.run(NamesPageTwo, engine=engine)
    assert (result.verdict.verdict, len(result.verdict.trace)) == ("violated", 2)
