"""The failover model: its counterexamples replay through the IR interpreter, its liveness
counterexamples are fair lassos, and its bugs are the ones the protocol reasoning predicts.

The verdicts themselves are pinned in models/library/manifest.json (tests/test_manifest.py).
"""

from __future__ import annotations

import json

import pytest

from migcheck.checker import interpret
from migcheck.checker.explicit import explore
from migcheck.cli import main
from migcheck.models import build
from migcheck.models.library import bundled
from migcheck.runner import run

FAILOVER = bundled("failover")
VARIANTS = FAILOVER.variants()


def violations(kinds: tuple[str, ...]) -> list[tuple[str, str]]:
    cases = []
    for vname, cls in VARIANTS.items():
        system = build(cls)
        for prop in system.properties:
            if prop.kind in kinds and system.expected(prop.name) == "violated" and prop.kind != "reachable":
                cases.append((vname, prop.name))
    return cases


def counterexample(variant: str, prop: str, params: dict | None = None):
    system = build(VARIANTS[variant], params)
    v = explore(system, [prop]).verdicts[prop]
    assert v.verdict == "violated"
    interpret.validate(system, v.trace)  # every step allowed, a lasso's loop fair
    return system, v.trace, [system.layout.render(s.state) for s in v.trace.steps]


LIVENESS = violations(("eventually", "leads_to"))
SAFETY = violations(("invariant", "action"))


def test_every_variant_breaks_something_and_the_base_nothing():
    assert not [p for v, p in LIVENESS + SAFETY if v == "standby"]
    assert {v for v, _ in LIVENESS + SAFETY} == set(VARIANTS) - {"standby"}


@pytest.mark.parametrize("variant, prop", LIVENESS)
def test_liveness_counterexamples_are_fair_lassos_that_never_reach_the_goal(variant, prop):
    system, trace, _ = counterexample(variant, prop)
    assert trace.loop is not None
    goal = next(p for p in system.properties if p.name == prop)
    holds = [bool(interpret.evaluate(goal.goal, s.state)) for s in trace.steps]
    if goal.kind == "leads_to":  # some p-state from which on q never holds
        assert any(interpret.evaluate(goal.pred, s.state) and not any(holds[i:])
                   for i, s in enumerate(trace.steps))
    else:
        assert not any(holds)


@pytest.mark.parametrize("variant, prop", SAFETY)
def test_safety_counterexamples_end_in_the_state_that_breaks_the_property(variant, prop):
    system, trace, _ = counterexample(variant, prop)
    prop_ir = next(p for p in system.properties if p.name == prop)
    if prop_ir.kind == "action":  # judged on each step, from the state before it
        def good(n: int) -> bool:
            a_i = interpret.find_action(system, trace.steps[n].action, trace.steps[n].params)
            return bool(interpret.evaluate(prop_ir.per_action[a_i], trace.steps[n - 1].state))
    else:
        def good(n: int) -> bool:
            return bool(interpret.evaluate(prop_ir.pred, trace.steps[n].state))
    last = len(trace.steps) - 1
    assert not good(last)
    assert all(good(n) for n in range(1 if prop_ir.kind == "action" else 0, last))


def test_without_waiting_the_vf_dmas_into_a_page_after_its_copy():
    _, trace, states = counterexample("no-wait-unplug", "completeness")
    copied = next(i for i, s in enumerate(states) if s["rx_synced"])
    dma = next(i for i, s in enumerate(states) if i > copied and not s["rx_synced"])
    assert trace.steps[dma].action == "rx_primary"
    before = states[dma - 1]
    assert before["slave"] == "primary" and before["src_vf"] in ("bound", "unplug_requested")
    assert states[-1]["phase"] == "switched"


def test_a_guest_that_never_ejects_stalls_a_wait_without_timeout():
    _, trace, states = counterexample("no-unplug-timeout", "wait-unplug-ends")
    assert states[trace.loop]["phase"] == "wait_unplug"
    assert states[trace.loop]["src_vf"] == "unplug_requested"  # the guest owes nothing: it never ejects


def test_without_replug_the_guest_stays_on_the_standby_for_good():
    _, trace, states = counterexample("no-replug-on-failure", "failback")
    loop = states[trace.loop]
    assert loop["phase"] in ("cancelled", "failed") and loop["src_vf"] == "absent"
    assert loop["slave"] == "standby"


def test_without_standby_the_eject_leaves_no_datapath():
    _, _, states = counterexample("unplug-without-standby", "loss-bounded")
    assert not states[-1]["standby"] and states[-1]["slave"] == "none"
    assert states[-1]["lost"] == 2


def test_a_standby_on_another_segment_loses_what_the_vf_segment_sends():
    _, _, states = counterexample("standby-other-l2", "loss-bounded")
    assert states[-1]["slave"] == "standby" and states[-1]["fdb"] == "source"


def test_an_early_destination_vf_gives_the_mac_two_hosts():
    _, _, states = counterexample("plug-dest-early", "no-duplicate-mac")
    assert states[-1]["dst_vf"] == "plugged" and states[-1]["phase"] in ("active", "stopcopy")


@pytest.mark.parametrize("pkts", [1, 3])
def test_the_base_loses_no_packet_at_all(pkts):
    # The bound's slack (one packet per datapath switch) is never used: net_failover drops
    # the primary in the eject's own step, and the switchover announces at once.
    system = build(FAILOVER, {"pkts": pkts, "loss_bound": 0})
    assert explore(system, ["loss-bounded"]).verdicts["loss-bounded"].verdict == "holds"


@pytest.mark.parametrize("variant", ["unplug-without-standby", "standby-other-l2"])
def test_the_loss_grows_with_the_packets_offered(variant):
    pkts = 4
    system = build(VARIANTS[variant], {"pkts": pkts, "loss_bound": pkts - 1})
    v = explore(system, ["loss-bounded"]).verdicts["loss-bounded"]
    assert v.verdict == "violated"
    assert system.layout.render(v.trace.steps[-1].state)["lost"] == pkts


def test_the_report_covers_every_variant_and_counterexample(tmp_path):
    assert main(["report", "failover", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert set(report["ir_hashes"]) == set(VARIANTS)
    assert {(v["variant"], v["property"]) for v in report["violations"]} == set(SAFETY + LIVENESS)
    assert {v["replay"]["result"] for v in report["violations"]} == {"confirmed"}
    # The charts draw the guest's lifeline (report.md lists known bugs in a line each; their
    # charts are in report.html and report.json).
    assert all("participant a_guest as guest" in v["mermaid"] for v in report["violations"])
    assert "### Known bugs, found again" in (tmp_path / "report.md").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_explicit_bmc_and_pdr_agree(variant):
    rows = run(FAILOVER, variants=[variant], engine="all")
    assert not [r.verdict.reason for r in rows if r.verdict.verdict == "error"]  # a disagreement
    assert all(r.as_expected for r in rows)
