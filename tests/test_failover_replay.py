"""The failover model on the emulator: every counterexample replays CONFIRMED with the concrete
event its property forbids; the emulator follows the model along a path to every reachable
state of every variant (its abstraction equals the model's state after each step), and on
those paths no safety observer sees anything the variant does not break; and random runs of
the emulator stay within the model's behaviours.
"""

from __future__ import annotations

import random

import pytest

from migcheck.checker import interpret
from migcheck.checker.explicit import explore
from migcheck.cli import main
from migcheck.emulator.bindings.failover import BINDING
from migcheck.emulator.failover_machine import KINDS, FailoverMachine
from migcheck.emulator.schedule import operations
from migcheck.models import build
from migcheck.models.library import bundled
from migcheck.replay import CONFIRMED, replay

VARIANTS = bundled("failover").variants()
VIOLATIONS = [(v, p.name) for v, cls in VARIANTS.items() for p in build(cls).properties
              if p.kind != "reachable" and build(cls).expected(p.name) == "violated"]


def counterexample(variant: str, prop: str):
    system = build(VARIANTS[variant])
    return explore(system, [prop]).verdicts[prop].trace, system


@pytest.mark.parametrize("variant, prop", VIOLATIONS)
def test_every_counterexample_replays_confirmed(variant, prop):
    trace, system = counterexample(variant, prop)
    report = replay(trace, system)
    assert report.result == CONFIRMED, report.observed


def test_without_wait_unplug_the_vf_dma_lands_after_the_pages_last_copy():
    trace, system = counterexample("no-wait-unplug", "completeness")
    report = replay(trace, system)
    stale = next(p for p in report.damage.pages if p.role == "RX buffer page 0")
    assert stale.destination != stale.source and "not logged" in stale.causes[0]
    lost = [p for p in report.damage.packets if p.fate == "lost"]
    assert lost and lost[0].slot >= 0  # taken by an RX descriptor of the source VF
    assert lost[0].expected == stale.source and lost[0].seen == stale.destination


@pytest.mark.parametrize("variant", ["unplug-without-standby", "standby-other-l2"])
def test_lost_packets_are_named_by_sequence_number(variant):
    trace, system = counterexample(variant, "loss-bounded")
    report = replay(trace, system)
    assert [p.seq for p in report.damage.packets if p.fate == "lost"] == [1, 2]
    assert report.observed[0] == "2 packets lost (the bound is 1):"


def test_an_early_destination_vf_is_a_second_live_datapath():
    trace, system = counterexample("plug-dest-early", "no-duplicate-mac")
    observed = replay(trace, system).observed
    assert "two live datapaths for one MAC" in observed[0] and "phase active" in observed[0]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_the_emulator_follows_the_model_to_every_reachable_state(variant):
    system = build(VARIANTS[variant])
    result = explore(system, [])
    safety = [p.name for p in system.properties if p.kind in ("invariant", "action")
              and system.expected(p.name) == "holds"]
    for i in range(len(result.states)):
        trace = result.path(i, "deadlock")
        replay(trace, system)  # TraceMismatch if the emulator's state differs after any step
        m = FailoverMachine(BINDING.configure(VARIANTS[variant], dict(system.params)))
        for step in trace.steps[1:]:
            BINDING.perform(m, str(step.action), dict(step.params))
        for prop in safety:
            assert BINDING.observe(prop, m, m.assess()) == [], (variant, prop, trace.steps)


def test_replay_cli_on_a_failover_trace(tmp_path, capsys):
    path = tmp_path / "t.json"
    assert main(["check", "failover", "--variant", "standby-other-l2", "--property", "loss-bounded",
                 "--trace-out", str(path)]) == 0
    capsys.readouterr()
    assert main(["replay", str(path)]) == 0
    out = capsys.readouterr().out
    assert "CONFIRMED: loss-bounded is violated on the emulator" in out
    assert "  packet 2: LOST: the switch sent it to the source" in out


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_random_emulator_runs_stay_within_the_models_behaviours(variant):
    system = build(VARIANTS[variant])
    layout = system.layout
    rng = random.Random(variant)
    for _ in range(40):
        m = FailoverMachine(BINDING.configure(VARIANTS[variant], dict(system.params)))
        before = layout.parse(BINDING.abstract(m))
        assert before in system.initial
        for _ in range(14):
            ops = operations(m, KINDS)
            if not ops:
                break
            op = rng.choice(ops)
            op.run()
            after = layout.parse(BINDING.abstract(m))
            steps = {s for _, s in interpret.successors(system, before)}
            assert after in steps, f"{variant}: {op.label} leads to a state the model does not allow"
            before = after
