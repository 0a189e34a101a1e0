"""`check_counterexample`: a trace is accepted only as a run of the model that violates the
property it is labelled with. Every counterexample the engine finds in the bundled models is
accepted (invariants, action properties, deadlock, eventually, leads_to), every witness is
refused, and a run that does not violate its label is refused with the reason. (The models
with a binding to an emulator are covered by tests/test_replay.py, whose replay of every
counterexample checks it first.)
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import pytest

from migcheck.checker.counterexample import check_counterexample
from migcheck.checker.explicit import explore
from migcheck.checker.trace import Trace
from migcheck.emulator.bindings import BINDINGS
from migcheck.models.errors import TraceError
from migcheck.models.ir import System
from migcheck.models.library import BUNDLED, bundled
from migcheck.models.model import build

EXPECTED = [(model, variant, prop) for model in sorted(set(BUNDLED) - set(BINDINGS))
            for variant, cls in sorted(bundled(model).variants().items())
            for prop, verdict in cls.expect.items() if verdict == "violated"]


@lru_cache(maxsize=None)
def found(model: str, variant: str, prop: str) -> tuple[System, Trace | None, Trace | None]:
    system = build(bundled(model).variants()[variant])
    verdict = explore(system, [prop]).verdicts[prop]
    return system, verdict.trace, verdict.witness


@pytest.mark.parametrize(("model", "variant", "prop"), EXPECTED)
def test_every_counterexample_the_engine_finds_is_accepted(model, variant, prop):
    system, trace, _ = found(model, variant, prop)
    kind = system.property(prop).kind if system.property(prop) else "deadlock"
    if kind == "reachable":  # "violated" means never witnessed: there is no trace
        assert trace is None
        return
    assert trace is not None
    check_counterexample(system, trace)


def test_a_witness_is_refused():
    system, _, witness = found("guest-assisted", "disable-first", "switchover-happens")
    assert witness is not None and witness.property == "switchover-happens"
    with pytest.raises(TraceError, match=r"^trace: switchover-happens is a reachable property \(a "
                       r"witness\)"):
        check_counterexample(system, witness)


def test_a_deadlock_that_is_not_one_is_refused():
    system, trace, _ = found("dining-philosophers", "naive", "deadlock")
    assert trace is not None
    with pytest.raises(TraceError, match=r"the last state \(step \d+\) is no deadlock: .* can take place"):
        check_counterexample(system, replace(trace, steps=trace.steps[:-1]))


def test_a_spinlock_lasso_relabelled_or_cut_is_refused():
    system, trace, _ = found("spinlock", "weakly-fair", "starvation-free")
    assert trace is not None and trace.loop is not None
    with pytest.raises(TraceError, match="this trace has no loop"):
        check_counterexample(system, replace(trace, loop=None))
    with pytest.raises(TraceError, match="only liveness counterexamples do"):
        check_counterexample(system, replace(trace, property="mutual-exclusion"))
