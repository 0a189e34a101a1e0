"""The proof engines (k-induction, PDR) answer every model they accept, and say `vacuous`
where the explicit engine does: the sample they learn from respects the model's allowed sizes,
and a safety property whose witness they prove unreachable does not `hold`. A witness asked
only for that is not searched for by PDR beyond what the sample shows."""

from __future__ import annotations

import pytest

from migcheck import runner
from migcheck.checker.symbolic import kinduction as kind_engine
from migcheck.checker.symbolic import pdr as pdr_engine
from migcheck.models import Array, Bool, Index, Model, action, all_, require
from migcheck.models.library import bundled
from migcheck.properties import invariant, reachable
from migcheck.render import verdict_text
from migcheck.report.matrix import completeness


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
    assert verdict_text(result) == "holds (bounded at depth 4; witness 'fires' undecided)"
    assert result.verdict.reason == "its witness 'fires' is not decided: not witnessed up to depth 4"


class CopyEach(Model):
    """Pages copied one at a time, then the switch-over: the witness takes a step per page, so
    at 4 pages it is longer than the one the 2-page sample shows."""

    name = "copy-each"
    check_deadlock = False
    pages = Index("page", default=4, allowed=range(1, 9), symmetric=True)
    copied = Array(pages, Bool, init=False)
    switched = Bool(init=False)

    @action(owner="hypervisor")
    def copy(s, p: pages):
        require(~s.copied[p])
        s.copied[p] = True

    @action(owner="hypervisor")
    def switch(s):
        require(~s.switched & all_(s.copied[p] for p in s.pages))
        s.switched = True

    @invariant(witness="switchover")
    def complete(s):
        return ~s.switched | all_(s.copied[p] for p in s.pages)

    @reachable
    def switchover(s):
        return s.switched


@pytest.fixture
def searches(monkeypatch) -> list[str]:
    """The searches PDR runs on the checked instance past blocking: BMC, Spacer."""
    ran: list[str] = []

    def counted(name, run):
        def wrapper(*args, **kwargs):
            ran.append(name)
            return run(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(pdr_engine, "search", counted("bmc", pdr_engine.search))
    monkeypatch.setattr(pdr_engine, "_spacer", counted("spacer", pdr_engine._spacer))
    return ran


def test_a_witness_asked_only_for_vacuity_is_not_searched_for_beyond_the_sample(searches):
    # Blocking proves `complete`; it cannot prove the reachable witness unreachable. Searching
    # for the witness at 4 pages took BMC to the sample's 3 steps (too few), then Spacer: what
    # never ended on vfio-v2 at 3 devices and 8 pages. Only a proof of unreachability would
    # change the verdict (to vacuous), so the witness is left open, and the verdict says so.
    (result,) = runner.run(CopyEach, properties=["complete"], engine="pdr")
    v = result.verdict
    assert (v.verdict, v.complete, v.extra["invariant_by"]) == ("holds", True, "blocking")
    assert searches == []
    assert verdict_text(result) == "holds (proved; witness 'switchover' undecided)"
    assert completeness(result) == "proved with certificate; witness 'switchover' undecided"  # reports
    assert v.reason.startswith("its witness 'switchover' is not decided: reached in the sample (pages=2), "
                               "not searched for at this size")


def test_a_witness_asked_for_itself_is_still_searched_for(searches):
    complete, switchover = runner.run(CopyEach, properties=["complete", "switchover"], engine="pdr")
    assert (complete.verdict.verdict, complete.verdict.reason) == ("holds", "")
    assert verdict_text(complete) == "holds (proved)"
    assert (switchover.verdict.verdict, len(switchover.verdict.witness)) == ("holds", 5)
    assert "spacer" in searches


@pytest.fixture
def inductions(monkeypatch) -> list[str]:
    """The properties k-induction runs its base and step queries for."""
    ran: list[str] = []

    def counted(system, enc, prop, *args, **kwargs):
        ran.append(prop.name)
        return prove(system, enc, prop, *args, **kwargs)

    prove = kind_engine._prove
    monkeypatch.setattr(kind_engine, "_prove", counted)
    return ran


def test_k_induction_leaves_a_witness_asked_only_for_vacuity_to_the_sample(inductions):
    # As PDR: the base case would search for the reachable witness, a step a page, to max_k
    # (vfio-v2 at 2 devices and 3 pages: 37 s), for nothing a verdict could use.
    (result,) = runner.run(CopyEach, properties=["complete"], engine="kind")
    v = result.verdict
    assert (v.verdict, v.complete) == ("holds", True)
    assert inductions == ["complete"]
    assert verdict_text(result) == "holds (proved; witness 'switchover' undecided)"
    assert v.reason.startswith("its witness 'switchover' is not decided: reached in the sample (pages=2), "
                               "not searched for at this size")


def test_k_induction_still_searches_for_a_witness_asked_for_itself(inductions):
    complete, switchover = runner.run(CopyEach, properties=["complete", "switchover"], engine="kind")
    assert (complete.verdict.verdict, complete.verdict.reason) == ("holds", "")
    assert (switchover.verdict.verdict, len(switchover.verdict.witness)) == ("holds", 5)
    assert sorted(inductions) == ["complete", "switchover"]


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


def test_vfio_v2_completeness_at_three_devices_needs_no_search_for_its_witness(monkeypatch):
    # The sample has 2 devices; a switch-over of 3 takes longer than its witness. PDR used to
    # search for it here (BMC, then Spacer) and did not answer within minutes (BENCHMARKS.md).
    def refuse(*args, **kwargs):
        raise AssertionError("PDR searched the checked instance past blocking")

    monkeypatch.setattr(pdr_engine, "search", refuse)
    monkeypatch.setattr(pdr_engine, "_spacer", refuse)
    (result,) = runner.run(bundled("vfio-v2"), variants=["qemu-order"], properties=["completeness"],
                           params={"devs": 3, "pages": 2}, engine="pdr")
    v = result.verdict
    assert (v.verdict, v.complete, v.extra["invariant_by"]) == ("holds", True, "blocking")
    assert v.extra["witness_undecided"] == "switchover-happens"
