"""`migcheck replay`: every counterexample of a data-loss property is shown as real damage on
the emulator (pages, offsets, stale bytes, lost packets); properties not about data show
the concrete event they forbid; bad input exits 2 with one line.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import pytest

from migcheck.checker import interpret
from migcheck.checker.explicit import explore
from migcheck.checker.trace import Step, Trace, write_json_atomic
from migcheck.cli import main
from migcheck.emulator.bindings import BINDINGS, OBSERVED_KINDS
from migcheck.emulator.bindings.guest_assisted import BINDING, machine_config
from migcheck.models.errors import TraceMismatch
from migcheck.models.library import bundled
from migcheck.models.model import build
from migcheck.replay import replay

DATA_LOSS = {  # variant -> its data-loss property (its shortest counterexample loses a packet)
    "thread-order": "completeness",
    "no-drain": "completeness",
    "unmap-unmarked": "completeness",
    "no-opt-in": "completeness",
    "passthrough-only": "completeness",
    "plain-touch": "marking-preserves-data",
    "thread-order-no-drain": "completeness",
    "new-map-unmarked": "completeness",
    "first-page-mark": "completeness",
    "bme-signal": "completeness",
    "bitmap-unmap-unmarked": "completeness",
}
NOT_ABOUT_DATA = {  # (variant, property) -> what the replay must say it observed
    ("no-drain", "quiescence"): "while the vCPU was stopped",
    ("passthrough-only", "quiescence"): "while the vCPU was stopped",
    ("thread-order", "rings-last"): "ring page's last copy",
    ("rings-unmarked", "rings-last"): "ring page's last copy",
    ("rings-unmarked", "completeness"): "TX descriptor ring page",
    ("no-opt-in", "opt-in"): "never opted in",
    ("late-opt-in-accepted", "opt-in"): "after it had enabled bus mastering",
    ("dest-runs-early", "dest-order"): "before the final copy is loaded there",
    ("thread-order-no-drain", "quiescence"): "while the vCPU was stopped",
    ("bme-signal", "quiescence"): "while the vCPU was stopped",
    ("no-recovery", "recovery"): "while bus mastering was off",
    ("no-recovery", "network-recovers"): "network stays dead",
    ("free-before-disable", "dma-into-held-pages"): "freed by: free RX buffer page 0: dma_unmap",
}


def counterexample(guest_assisted, variant: str, prop: str):
    system = build(guest_assisted.variants()[variant])
    verdict = explore(system, [prop]).verdicts[prop]
    assert verdict.verdict == "violated", (variant, prop)
    return verdict.trace, system


def trace_file(tmp_path, guest_assisted, variant: str, prop: str) -> str:
    trace, system = counterexample(guest_assisted, variant, prop)
    path = tmp_path / f"{variant}-{prop}.json"
    write_json_atomic(str(path), trace.to_json(system))
    return str(path)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_thread_order_check_then_replay_shows_the_stale_page_and_the_lost_packet(tmp_path, capsys):
    path = str(tmp_path / "t.json")
    status, _, _ = run(capsys, "check", "guest-assisted", "--variant", "thread-order",
                       "--property", "completeness", "--trace-out", path)
    assert status == 0
    status, out, err = run(capsys, "replay", path)
    assert status == 0 and err == ""
    assert "CONFIRMED: completeness is violated on the emulator" in out
    assert "RX buffer page 0 (guest address 0x100000): 96 bytes differ at offsets 0x000-0x05f" in out
    assert "source      02 00 00 00 00 01" in out  # the packet's frame at the source
    assert "destination a5 a5 a5 a5" in out and "(stale)" in out  # the boot contents, stale
    assert "packet 1 (descriptor 0): LOST" in out
    assert "[device] land_data(i=0, p=0)" in out and "not logged" in out


@pytest.mark.parametrize("variant", sorted(DATA_LOSS))
def test_every_data_loss_counterexample_is_real_data_loss(tmp_path, capsys, guest_assisted, variant):
    prop = DATA_LOSS[variant]
    status, out, _ = run(capsys, "replay", trace_file(tmp_path, guest_assisted, variant, prop), "--json")
    report = json.loads(out)
    assert status == 0 and report["result"] == "confirmed" and report["observed"]
    lost = [p for p in report["packets"] if p["fate"] in ("lost", "corrupted")]
    assert lost, f"{variant}: no packet lost"
    assert all(p["expected"] and p["seen"] and p["expected"] != p["seen"] for p in lost)
    if prop == "completeness":
        assert report["pages"], f"{variant}: no page differs"
        page = report["pages"][0]
        assert page["source"] != page["destination"] and page["differing"] > 0
        assert page["causes"], "the write after the last copy is named"
    else:
        assert report["stale_writes"] and report["stale_writes"][0]["landed"] != \
            report["stale_writes"][0]["written_back"]


CONFIRMABLE = [(model, variant, prop) for model in sorted(BINDINGS)
               for variant, cls in sorted(bundled(model).variants().items())
               for prop, verdict in sorted(cls.expect.items())
               if verdict == "violated" and build(cls).property(prop) is not None
               and build(cls).property(prop).kind in OBSERVED_KINDS]


@pytest.mark.slow  # about 2 minutes of searches in all (vfio-v2's take up to 10 s each)
@pytest.mark.parametrize(("model", "variant", "prop"), CONFIRMABLE)
def test_every_counterexample_of_a_model_with_a_binding_is_confirmed(tmp_path, capsys, model, variant,
                                                                    prop):
    system = build(bundled(model).variants()[variant])
    path = str(tmp_path / "t.json")
    write_json_atomic(path, explore(system, [prop]).verdicts[prop].trace.to_json(system))
    status, out, err = run(capsys, "replay", path, "--json")
    report = json.loads(out)
    assert status == 0 and err == "" and report["result"] == "confirmed", report["observed"]
    assert report["observed"] and not any("None" in o for o in report["observed"])


def test_the_damage_names_its_true_cause(guest_assisted):
    """Causes are read off what happened on the emulator: a BME that was never cleared is not
    said to be cleared; the page's last copy is the one the journal shows."""
    def run_of(variant, prop):
        trace, system = counterexample(guest_assisted, variant, prop)
        return replay(trace, system)

    passthrough = run_of("passthrough-only", "completeness").damage
    assert "the source stopped at the switchover first; bus mastering was never cleared" in \
        passthrough.harmed[0].reason
    assert "cleared first" not in passthrough.harmed[0].reason
    thread = run_of("thread-order", "completeness").damage
    assert "bus mastering had been cleared before its data landed (clear BME: Command register := " \
        "0x0002" in thread.harmed[0].reason
    assert thread.pages[0].last_copy == "pre-copy round 1: copy RX buffer page 0 (VF not quiet: BME " \
        "clear, 1 posted)"
    assert thread.pages[0].causes == ("packet 1 data lands at IOVA 0x100000 (page 0 +0x000, 96 bytes; "
                                      "not logged)",)
    answered = run_of("no-ack-timeout", "event-answered").observed
    assert answered == ("the migration event is never answered: each lap of the loop comes back to the "
                        "driver in state up with the event unacknowledged; migrator: it waits for the "
                        "acknowledgement without a timeout",)
    assert "it never opted in" in run_of("no-opt-in", "opt-in").observed[0]


def test_the_damage_is_where_the_variant_says(guest_assisted):
    def damage(variant):
        trace, system = counterexample(guest_assisted, variant, DATA_LOSS[variant])
        return replay(trace, system).damage

    trace, system = counterexample(guest_assisted, "rings-unmarked", "completeness")
    rings = replay(trace, system).damage  # the shortest loss: a TX completion (DD) the destination lacks
    assert [p.role for p in rings.pages] == ["TX descriptor ring page"]
    assert "TX descriptor write-back lands" in rings.pages[0].causes[0]
    jumbo = damage("first-page-mark")
    assert [p.role for p in jumbo.pages] == ["RX buffer page 0 (4 KiB page 2 of 2)"]
    assert "jumbo frame" in jumbo.harmed[0].reason
    unmap = damage("unmap-unmarked")
    assert "handed up with its page" in unmap.harmed[0].reason
    touch = damage("plain-touch")
    assert touch.pages == () and touch.stale_writes[0].offset == 0x800
    assert [(p.seq, p.fate) for p in touch.harmed] == [(2, "lost")]


@pytest.mark.parametrize(("variant", "prop"), sorted(NOT_ABOUT_DATA))
def test_properties_not_about_data_show_the_forbidden_event(guest_assisted, variant, prop):
    trace, system = counterexample(guest_assisted, variant, prop)
    report = replay(trace, system)
    assert report.result == "confirmed" and report.exit_status == 0
    assert any(NOT_ABOUT_DATA[(variant, prop)] in o for o in report.observed), report.observed


def test_exit_1_is_a_valid_counterexample_the_emulator_does_not_show(tmp_path, capsys, guest_assisted,
                                                                      monkeypatch):
    """The one case for exit 1: the trace violates its property in the model, the emulator
    follows every step, and its observer sees nothing the property forbids (here an observer
    made blind, standing in for an emulator that disagrees with the model)."""
    blind = replace(BINDING, observers={**BINDING.observers, "completeness": lambda m, damage: []})
    monkeypatch.setattr("migcheck.replay.binding_for", lambda model: blind)
    status, out, err = run(capsys, "replay", trace_file(tmp_path, guest_assisted, "thread-order",
                                                        "completeness"))
    assert status == 1 and err == ""
    assert "NOT REPRODUCED: the trace violates completeness in the model" in out
    assert "the model and the emulator disagree" in out and "not reproduced; exit status 1" in out


def test_a_binding_without_the_property_s_observer_is_an_error(tmp_path, capsys, guest_assisted,
                                                              monkeypatch):
    """A binding outside the coverage test (a user's own) that misses an observer: exit 2 and
    one line, never a silent "not reproduced"."""
    partial = replace(BINDING, observers={k: v for k, v in BINDING.observers.items() if k != "completeness"})
    monkeypatch.setattr("migcheck.replay.binding_for", lambda model: partial)
    status, out, err = run(capsys, "replay", trace_file(tmp_path, guest_assisted, "thread-order",
                                                        "completeness"))
    assert status == 2 and out == "" and err.count("\n") == 1
    assert "has no observer for property 'completeness'" in err


def test_json_report_has_the_documented_keys(tmp_path, capsys, guest_assisted):
    status, out, _ = run(capsys, "replay", trace_file(tmp_path, guest_assisted, "no-drain", "quiescence"),
                         "--json")
    report = json.loads(out)
    assert status == 0
    assert set(report) == {"migcheck", "trace", "model", "variant", "params", "ir_hash", "property",
                           "settings", "result", "observed", "steps", "pages", "packets", "stale_writes",
                           "freed_writes"}
    assert report["steps"][0] == {"step": 1, "action": "opt_in_marking", "owner": "driver",
                                  "emulator": ["driver tells the hypervisor it marks DMA pages"]}


# ---------------------------------------------------------------- divergence: model vs emulator


def handmade(guest_assisted, variant: str, plan: list, params: dict | None = None,
             prop: str = "completeness") -> tuple:
    """A trace the model allows, step by step: names, (name, i) for slot actions, or
    (name, i, p) for those that name the page of the slot's buffer too."""
    system = build(guest_assisted.variants()[variant], params)
    state = system.initial[0]
    steps = [Step(None, (), None, state)]
    for item in plan:
        name, args = (item, ()) if isinstance(item, str) else (item[0], item[1:])
        step_params = tuple(zip("ip", args, strict=False))
        a_i = interpret.find_action(system, name, step_params)
        assert interpret.enabled(system, a_i, state), item
        state = interpret.successor(system, a_i, state)
        steps.append(Step(name, step_params, system.actions[a_i].owner, state))
    return Trace(system.instance, prop, tuple(steps)), system


def test_a_replay_that_diverges_names_the_step_and_why(tmp_path, capsys, guest_assisted):
    # The model says a raced plain touch always leaves the page different from its copy; here
    # the stale bytes written back are exactly the bytes the destination copied, so the
    # emulator's page is in sync while the model's is not.
    plan = ["opt_in_marking", "probe", ("refill", 0, 0), ("refill", 1, 0), ("rx_data", 0, 0),
            ("land_data", 0, 0), ("rx_writeback", 0), ("land_writeback", 0), "start_migration",
            ("clean_recycle", 0, 0), ("rx_data", 1, 0), ("land_data", 1, 0), ("touch_write_back", 0, 0)]
    trace, system = handmade(guest_assisted, "plain-touch", plan, prop="marking-preserves-data")
    path = tmp_path / "restored.json"
    write_json_atomic(str(path), trace.to_json(system))
    status, out, err = run(capsys, "replay", str(path))
    assert status == 2 and out == ""
    assert err.count("\n") == 1
    assert "replay diverged at step 13 touch_write_back(i=0, p=0)" in err and "synced[0]" in err
    status, out, err = run(capsys, "replay", str(path), "--json")
    report = json.loads(out)
    assert status == 2 and report["result"] == "diverged" and "synced[0]" in report["error"]
    assert err.count("\n") == 1 and report["error"] in err


# A plain touch in a page the driver chose: slot 0's first buffer in page 1 is unmapped,
# its next one goes in page 2 beside slot 1's; the touch of page 2 (cleaning slot 1)
# writes back stale bytes over slot 0's packet, which landed in between.
MOVED_AND_SHARED = ["opt_in_marking", "probe", ("refill", 0, 1), ("refill", 1, 2), ("rx_data", 0, 1),
                    ("land_data", 0, 1), ("rx_writeback", 0), ("land_writeback", 0),
                    ("clean_unmap", 0, 1), ("refill", 0, 2), ("rx_data", 1, 2), ("land_data", 1, 2),
                    ("rx_writeback", 1), ("land_writeback", 1), ("clean_recycle", 1, 2),
                    ("rx_data", 0, 2), ("land_data", 0, 2), ("touch_write_back", 1, 2)]


def test_buffers_go_in_the_pages_the_trace_chooses(tmp_path, capsys, guest_assisted):
    trace, system = handmade(guest_assisted, "plain-touch", MOVED_AND_SHARED,
                             {"pages": 3, "inflight": 2}, prop="marking-preserves-data")
    assert system.layout.render(trace.steps[-1].state)["buf"] == [2, 2]
    path = tmp_path / "moved.json"
    write_json_atomic(str(path), trace.to_json(system))
    status, out, err = run(capsys, "replay", str(path), "--json")
    report = json.loads(out)
    assert status == 0 and err == "" and report["result"] == "confirmed"
    steps = {s["action"]: s["emulator"] for s in report["steps"]}
    assert steps["refill(i=0, p=1)"][0].startswith("refill descriptor 0: buffer 0x101000 (page 1 +0x000), "
                                                    "status cleared, refill count ")
    assert steps["refill(i=0, p=2)"][0].startswith("refill descriptor 0: buffer 0x102000 (page 2 +0x000), "
                                                    "status cleared, refill count ")
    assert any("page 1 unmapped" in t for t in steps["clean_unmap(i=0, p=1)"])
    assert [(w["role"], w["offset"]) for w in report["stale_writes"]] == [("RX buffer page 2", 0)]
    assert [(p["seq"], p["slot"], p["page"], p["fate"]) for p in report["packets"]
            if p["fate"] in ("lost", "corrupted")] == [(3, 0, 2, "lost")]


def test_a_page_choice_the_emulator_cannot_follow_is_a_divergence(tmp_path, capsys, guest_assisted,
                                                                 monkeypatch):
    """The emulator checks each step's page itself (traces given to `replay` directly are not
    checked against the model): the step, the page and where the buffer really is are named."""
    trace, system = handmade(guest_assisted, "plain-touch", MOVED_AND_SHARED,
                             {"pages": 3, "inflight": 2}, prop="marking-preserves-data")

    def with_params(n: int, params: tuple) -> Trace:
        steps = list(trace.steps)
        steps[n] = replace(steps[n], params=params)
        return replace(trace, steps=tuple(steps))

    cases = {
        3: ((("i", 0), ("p", 7)), r"refill\(i=0, p=7\): .*p=7: the emulator has no RX buffer page 7 "
                                  r"\(it has 3: 0..2\)"),
        5: ((("i", 0), ("p", 2)), r"rx_data\(i=0, p=2\): .*VF: descriptor 0's buffer address 0x101000 "
                                  r"is in page 1, not page 2"),
        6: ((("i", 0), ("p", 0)), r"land_data\(i=0, p=0\): .*DMA engine: the posted data write for "
                                  r"descriptor 0 goes to 0x101000, in page 1, not page 0"),
        9: ((("i", 0), ("p", 2)), r"clean_unmap\(i=0, p=2\): .*driver: descriptor 0 has its buffer in "
                                  r"page 1, not in page 2"),
        10: ((("i", 0), ("p", 1)), r"refill\(i=0, p=1\): .*emulator's state differs from the trace's "
                                   r"in buf\[0\] \(trace 2, emulator 1\), mapped\[1\] \(trace False, "
                                   r"emulator True\); the emulator did: refill descriptor 0: buffer "
                                   r"0x101000 \(page 1 \+0x000\).*"),
        15: ((("i", 1), ("p", 0)), r"clean_recycle\(i=1, p=0\): .*driver: descriptor 1 has its buffer "
                                   r"in page 2, not in page 0"),
        18: ((("i", 1), ("p", 1)), r"touch_write_back\(i=1, p=1\): .*driver: the half-done touch is of "
                                   r"page 2, not page 1"),
        17: ((("i", 0),), r"land_data\(i=0\): .*the step gives no RX buffer page 'p' \(an integer\), "
                          r"but None"),
        16: ((("i", 0), ("p", True)), r"rx_data\(i=0, p=True\): .*the step gives no RX buffer page 'p' "
                                      r"\(an integer\), but True"),
    }
    for n, (params, message) in cases.items():
        with pytest.raises(TraceMismatch, match=rf"^replay diverged at step {n} {message}$"):
            replay(with_params(n, params), system)
    # Through the command line, with the model's check of the trace out of the way: exit 2
    # and one line, no traceback.
    data = with_params(5, (("i", 0), ("p", 2))).to_json(system)
    path = tmp_path / "elsewhere.json"
    write_json_atomic(str(path), data)
    monkeypatch.setattr("migcheck.replay.check_counterexample", lambda system, trace: None)
    status, out, err = run(capsys, "replay", str(path))
    assert status == 2 and out == "" and err.count("\n") == 1, err
    assert "step 5 rx_data(i=0, p=2)" in err and "is in page 1, not page 2" in err
    assert "Traceback" not in err


def test_a_one_word_plain_touch_does_not_lose_the_write_in_the_other_half(guest_assisted):
    """The model's race is page-wide: exact for a touch that rewrites the whole page, not for
    one that rewrites a word the DMA write does not cover."""
    trace, system = counterexample(guest_assisted, "plain-touch", "marking-preserves-data")
    cls = guest_assisted.variants()["plain-touch"]
    config = machine_config(cls, dict(system.params))
    word = replace(config, driver=replace(config.driver, touch_span="word"))
    with pytest.raises(TraceMismatch, match=r"step 10 land_data\(i=1, p=0\).* touch\[0\] \(trace raced, "
                       r"emulator read\)"):
        replay(trace, system, config=word)


# ---------------------------------------------------------------- bad input: exit 2, one line


@lru_cache(maxsize=None)
def _found(variant: str, prop: str) -> str:
    system = build(bundled("guest-assisted").variants()[variant])
    verdict = explore(system, [prop]).verdicts[prop]
    assert verdict.verdict == "violated", (variant, prop)
    return json.dumps(verdict.trace.to_json(system))


def found(variant: str, prop: str) -> dict:
    """A counterexample the checker finds, as JSON data (a fresh copy to edit)."""
    return json.loads(_found(variant, prop))


def edited(edit, variant: str = "thread-order", prop: str = "completeness") -> str:
    data = found(variant, prop)
    edit(data)
    return json.dumps(data)


def cut(n: int, **changes) -> Callable[[dict], None]:
    def edit(d: dict) -> None:
        d["steps"] = d["steps"][:n]
        d.update(changes)
    return edit


def _drop_step(n: int) -> Callable[[dict], None]:
    return lambda d: d["steps"].pop(n)


def _other_model() -> str:
    system = build(bundled("peterson").variants()["turn-first"])
    trace = explore(system, ["mutual-exclusion"]).verdicts["mutual-exclusion"].trace
    return json.dumps(trace.to_json(system))


# The thread-order completeness trace: 16 steps; step 3 is refill(i=0, p=0) by the driver,
# step 5 start_migration, the switchover is step 16. The no-ack-timeout lasso loops back to
# step 11; the no-recovery lasso of network-recovers is notified at step 8, aborts at step 9
# and ends stuttering (driver up, BME clear).
BAD: dict[str, tuple[Callable[[], str], str]] = {  # case -> (the file's text, what the line says)
    # not a trace
    "not json": (lambda: "{not json", "not a JSON trace: Expecting property name"),
    "truncated": (lambda: _found("thread-order", "completeness")[:700], "not a JSON trace"),
    "number too long": (lambda: '{"schema": ' + "9" * 5000 + "}", "not a JSON trace migcheck reads"),
    "not an object": (lambda: "[1, 2]", "trace: expected a JSON object"),
    "schema": (lambda: edited(lambda d: d.update(schema=99)), "schema version 99 is not supported"),
    "no steps": (lambda: edited(lambda d: d.update(steps=[])), "'steps' must be a non-empty list"),
    "state not an object": (lambda: edited(lambda d: d["steps"][1].update(state=[1])),
                            "step 1 is not an object with a 'state' object"),
    "loop a boolean": (lambda: edited(lambda d: d.update(loop=True)), "'loop' = True is not a step index"),
    # another model, variant or version
    "unknown model": (lambda: edited(lambda d: d.update(model="no-such-model")),
                      "model 'no-such-model' is not a bundled model"),
    "a model without a binding": (_other_model, "model 'peterson' has no binding to an emulator"),
    "unknown variant": (lambda: edited(lambda d: d.update(variant="no-such-variant")),
                        "has no variant 'no-such-variant'"),
    "other parameters": (lambda: edited(lambda d: d["params"].update(pages=2)), "written for another "
                         "version"),
    "bad parameter": (lambda: edited(lambda d: d["params"].update(pages=99)), "pages"),
    "ir hash": (lambda: edited(lambda d: d.update(ir_hash="0000000000000000")), "IR hash 0000000000000000"),
    # an edited step
    "edited action name": (lambda: edited(lambda d: d["steps"][1].update(action="reboot")),
                           "step 1: no action reboot"),
    "another action": (lambda: edited(lambda d: d["steps"][3].update(action="land_data", owner="device")),
                       "step 3 land_data(i=0, p=0) is not enabled"),
    "edited parameter": (lambda: edited(lambda d: d["steps"][3]["params"].update(i=1)),
                         "step 3 refill(i=1, p=0) is not enabled"),
    "parameter out of range": (lambda: edited(lambda d: d["steps"][3]["params"].update(p=5)),
                               "step 3: no action refill{'i': 0, 'p': 5}"),
    "parameter not an integer": (lambda: edited(lambda d: d["steps"][3]["params"].update(p="0")),
                                 "step 3: no action refill{'i': 0, 'p': '0'}"),
    "parameter missing": (lambda: edited(lambda d: d["steps"][3]["params"].pop("p")),
                          "step 3: no action refill{'i': 0}"),
    "edited owner": (lambda: edited(lambda d: d["steps"][3].update(owner="device")),
                     "step 3 refill(i=0, p=0): the model's refill is done by driver, not 'device'"),
    "edited state": (lambda: edited(lambda d: d["steps"][5]["state"].update(tx_ring_dirty=True)),
                     "step 5 start_migration leads to another state (differs in tx_ring_dirty)"),
    "bad state value": (lambda: edited(lambda d: d["steps"][1]["state"].update(phase="flying")), "phase"),
    "a step left out": (lambda: edited(_drop_step(4)), "step 4 start_migration leads to another state"),
    "an action on step 0": (lambda: edited(lambda d: d["steps"][0].update(action="probe")),
                            "step 0 is the initial state"),
    # not a violation of the property it names
    "cut short": (lambda: edited(cut(12)), "completeness holds in the last state (step 11): the trace "
                  "does not violate it"),
    "relabelled invariant": (lambda: edited(lambda d: d.update(property="opt-in")),
                             "opt-in holds in the last state (step 16)"),
    "relabelled action property": (lambda: edited(lambda d: d.update(property="quiescence")),
                                   "quiescence holds on the last step (16 switchover)"),
    "relabelled eventually, no loop": (lambda: edited(cut(12, property="migration-ends")),
                                       "migration-ends is a liveness property (eventually)"),
    "relabelled leads-to, no loop": (lambda: edited(cut(12, property="event-answered")),
                                     "event-answered is a liveness property (leads_to)"),
    "a lasso without its loop": (lambda: edited(lambda d: d.update(loop=None), "no-ack-timeout",
                                                "migration-ends"), "this trace has no loop"),
    "relabelled eventually, with a loop": (
        lambda: edited(lambda d: d.update(property="migration-ends"), "no-recovery", "network-recovers"),
        "the run reaches migration-ends's goal at step 9"),
    "relabelled leads-to, with a loop": (
        lambda: edited(lambda d: d.update(property="event-answered"), "no-recovery", "network-recovers"),
        "after the run satisfies event-answered's condition (step 8) it reaches the goal (step 9)"),
    "an invariant with a loop": (lambda: edited(lambda d: d.update(loop=16)),
                                 "completeness is an invariant property, but the trace ends in a loop"),
    "an unfair stutter": (lambda: edited(cut(12, property="migration-ends", loop=11)),
                          "the loop is unfair to"),
    "an unfair loop": (lambda: edited(_tx_loop), "the loop is unfair to refill(i=0, p=0) (weak fairness): "
                       "enabled in every state of the loop but never taken"),
    "a loop that does not close": (lambda: edited(lambda d: d.update(loop=3), "no-ack-timeout",
                                                  "migration-ends"), "the last state is not state 3"),
    "a witness": (lambda: edited(lambda d: d.update(property="switchover-happens")),
                  "switchover-happens is a reachable property (a witness)"),
    "unknown property": (lambda: edited(lambda d: d.update(property="no-such-property")),
                         "has no property 'no-such-property' (properties: completeness,"),
    "property not a name": (lambda: edited(lambda d: d.update(property=["completeness"])),
                            "'property' must be a property's name"),
}


def _tx_loop(d: dict) -> None:
    """The guest sends frame after frame before any migration starts: a loop that neglects
    the RX refill (and start_migration), which the driver (the hypervisor) is weakly fair to."""
    from migcheck.models.library import bundled

    system = build(bundled("guest-assisted").variants()[d["variant"]], d["params"])
    state = system.initial[0]
    steps = [d["steps"][0]]
    plan = ["opt_in_marking", "probe", "xmit", "tx_writeback", "land_tx_writeback",
            "xmit", "tx_writeback", "land_tx_writeback"]
    for name in plan:
        a = interpret.find_action(system, name, ())
        state = interpret.successor(system, a, state)
        steps.append({"action": name, "params": {}, "owner": system.actions[a].owner,
                      "state": system.layout.render(state)})
    d.update(steps=steps, loop=5, property="migration-ends")


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, case):
    text, says = BAD[case]
    path = tmp_path / "bad.json"
    path.write_text(text())
    status, out, err = run(capsys, "replay", str(path))
    assert status == 2, err
    assert out == "" and err.count("\n") == 1 and err.startswith(f"migcheck: error: {path}: "), err
    assert says in err, err
    assert "Traceback" not in err and "internal error" not in err
    status, out, err2 = run(capsys, "replay", str(path), "--json")
    report = json.loads(out)
    assert status == 2 and err2 == err
    assert report["result"] == "refused" and report["error"] in err and report["trace"] == str(path)


def test_a_missing_file_exits_2_with_one_line(tmp_path, capsys):
    status, _, err = run(capsys, "replay", str(tmp_path / "nowhere.json"))
    assert status == 2 and err.count("\n") == 1 and "cannot read the trace" in err


def test_the_installed_command_replays_without_a_traceback(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": 1, "model": "guest-assisted"')
    # From another folder: the source tree's migcheck/ must not shadow the installed package.
    proc = subprocess.run([sys.executable, "-m", "migcheck", "replay", str(bad)], capture_output=True,
                          text=True, check=False, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "not a JSON trace" in proc.stderr


def test_the_readme_replay_section_is_true(tmp_path, capsys, monkeypatch):
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("## Replaying a counterexample", 1)[1].split("\n## ", 1)[0]
    fenced = section.split("```")  # text, block, text, block, ...
    commands, shown = fenced[1].removeprefix("sh\n"), fenced[3]
    monkeypatch.chdir(tmp_path)
    outputs = []
    for line in commands.strip().splitlines():
        argv = shlex.split(line.split("#")[0])
        assert argv[0] == "migcheck"
        status, out, _ = run(capsys, *argv[1:])
        assert status == 0, line
        outputs.append(out)
    for line in shown.splitlines():
        if line.startswith("  packet"):
            line = line.split("; ...")[0]  # wrapped in the README
        assert line.strip().rstrip(". ") in outputs[1], line
    assert json.loads(outputs[2])["result"] == "confirmed"


def _expected_violations():
    from migcheck.models.library import bundled

    ga = bundled("guest-assisted")
    for name, cls in ga.variants().items():
        kinds = {p.name: p.kind for p in build(cls).properties}
        for prop, verdict in cls.expect.items():
            if verdict == "violated" and kinds.get(prop) != "reachable":
                yield name, prop


@pytest.mark.slow
@pytest.mark.parametrize(("variant", "prop"), sorted(_expected_violations()))
def test_every_expected_violation_replays_confirmed(guest_assisted, variant, prop):
    """Every violation a guest-assisted variant expects is shown on the emulator, and what
    the replay observed names the property's concrete event (never an empty CONFIRMED)."""
    trace, system = counterexample(guest_assisted, variant, prop)
    report = replay(trace, system)
    assert report.result == "confirmed" and report.exit_status == 0, (variant, prop, report.observed)
    assert report.observed, (variant, prop)
