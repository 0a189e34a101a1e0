"""`migcheck check`'s first screen: one line per variant (outcome, broken properties, known bug or
not, description); the full matrix behind --matrix; each counterexample with its why line, its
decisive step marked and the command that replays it on the emulator."""

from __future__ import annotations

import re
import shlex
import textwrap

from migcheck.cli import main
from migcheck.explain import explain
from migcheck.models.library import bundled
from migcheck.render import summary, variant_lines
from migcheck.runner import run

LOSSY = textwrap.dedent('''
    from migcheck.models import Array, Bool, Index, Model, action, all_, final, implies, require, variant
    from migcheck.properties import invariant

    class Copy(Model):
        """Copies pages while the device may still write them."""
        name = "copy"
        pages = Index("page", default=1, allowed=range(1, 3))
        copied = Bool(init=False)
        bme = Bool(init=True)
        synced = Array(pages, Bool, init=False)

        @action(owner="hypervisor")
        def copy(s):
            require(~s.copied)
            s.copied = True
            for p in s.pages:
                s.synced[p] = True

        @action(owner="device")
        def dma_write(s, p: pages):
            require(s.bme & ~s.synced[p])
            s.bme = False

        @final
        def copied_is_the_end(s):
            return s.copied

        @invariant(loses_data=True)
        def completeness(s):
            return implies(s.copied, all_(s.synced[p] for p in s.pages))

        @invariant
        def bme_cleared_only_by_dma(s):
            return s.bme | ~s.copied | s.synced[0]

    @variant(Copy, expect={"completeness": "violated"})
    class Late(Copy):
        """The device writes after the copy."""
        @action(owner="device")
        def dma_write(s, p: Copy.pages):
            require(s.bme)
            s.bme = False
            s.synced[p] = False
''')


def lines_of(out: str) -> dict[str, str]:
    """The first screen's line of each variant, by variant name."""
    return {line.split()[0]: line for line in out.splitlines() if line and not line.startswith(" ")}


def test_one_line_per_variant_says_what_happens_and_whether_it_is_the_known_bug(capsys):
    assert main(["check", "two-phase-commit", "--set", "rms=3"]) == 0
    out = capsys.readouterr().out
    rows = lines_of(out)
    assert re.search(r"^base +safe +- +as expected +Lamport's TwoPhase", rows["base"])
    assert re.search(r"^commit-without-votes +unsafe +consistency +known bug +A broken transaction manager",
                     rows["commit-without-votes"])
    assert "variant  property" not in out  # the matrix is behind --matrix
    assert "--variant commit-without-votes --property consistency --set rms=3" in out  # how to see it


def test_the_matrix_is_behind_a_flag(capsys):
    assert main(["check", "two-phase-commit", "--set", "rms=3", "--matrix"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"commit-without-votes +consistency +violated \(3 steps\) +623", out)
    assert re.search(r"base +all-committed +holds \(witnessed\)", out)


def test_loses_data_and_unexpected_verdicts_are_named(tmp_path, capsys):
    path = tmp_path / "copy.py"
    path.write_text(LOSSY)
    assert main(["check", str(path)]) == 1  # bme-cleared-only-by-dma breaks in Late, unexpectedly
    rows = lines_of(capsys.readouterr().out)
    assert re.search(r"^base +safe +- +as expected", rows["base"])
    late = rows["late"]
    assert re.search(r"^late +loses data +completeness, bme-cleared-only-by-dma +UNEXPECTED: "
                     r"bme-cleared-only-by-dma violated \(expected holds\) +The device writes after", late)


def test_stalls_is_a_liveness_or_deadlock_violation(dining_philosophers):
    (naive,) = variant_lines(run(dining_philosophers, variants=["naive"]))
    assert (naive.outcome, naive.broken, naive.verdict) == ("stalls", ("no-starvation", "deadlock"),
                                                            "known bug")
    (ordered,) = variant_lines(run(dining_philosophers, variants=["ordered-forks"]))
    assert (ordered.outcome, ordered.broken, ordered.verdict) == ("safe", (), "as expected")


def test_lines_are_cut_to_the_terminal_width(two_phase_commit):
    results = run(two_phase_commit, params={"rms": 3})
    assert max(len(line) for line in summary(results).splitlines()) > 60
    cut = summary(results, width=60).splitlines()
    assert max(len(line) for line in cut) == 60 and cut[-1].endswith("…")


def test_a_counterexample_says_why_and_marks_the_decisive_step(capsys):
    assert main(["check", "guest-assisted", "--variant", "thread-order", "--property", "completeness"]) == 0
    out = capsys.readouterr().out
    # The VM resumed (the occasion: the witness reads phase) with page 0 stale (the fault).
    assert "  why: in state 17, phase = switched, synced[0] = False" in out
    (marked,) = [line for line in out.splitlines() if "<== decisive" in line]
    assert marked.startswith("State 12: [device] land_data(i=0, p=0)")
    assert marked.endswith("<== decisive: synced[0] = False from here on")


def test_the_printed_replay_command_replays_the_counterexample(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["check", "guest-assisted", "--variant", "unmap-unmarked", "--property", "completeness"]) == 0
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("Replay it on the emulator: ")]
    write, replay = line.removeprefix("Replay it on the emulator: ").split(" && ")
    assert main(shlex.split(write)[1:]) == 0
    assert main(shlex.split(replay)[1:]) == 0  # 0: the violation is confirmed on the emulator
    assert "CONFIRMED" in capsys.readouterr().out


def test_models_without_an_emulator_get_no_replay_command(capsys):
    assert main(["check", "peterson", "--variant", "turn-first"]) == 0
    assert "Replay it" not in capsys.readouterr().out


def test_why_of_an_action_property_names_the_state_before_the_step(guest_assisted):
    (r,) = run(guest_assisted, variants=["no-drain"], properties=["quiescence"])
    why = explain(r.system, r.verdict.trace)
    assert why.summary == "land_data(i=0, p=0) is taken while phase = stopped"
    assert why.decisive == len(r.verdict.trace)  # the final step breaks an action property


def test_why_of_a_lasso_names_what_the_loop_never_changes(guest_assisted):
    (r,) = run(guest_assisted, variants=["no-ack-timeout"], properties=["migration-ends"])
    trace = r.verdict.trace
    why = explain(r.system, trace)
    assert why.summary.startswith("phase = notified throughout the loop (states ")
    assert trace.steps[why.decisive].action == "notify_guest"
    assert all(s.state[why.why[0]] == trace.steps[trace.loop].state[why.why[0]]
               for s in trace.steps[trace.loop:])


def test_why_of_a_deadlock(dining_philosophers):
    (r,) = run(dining_philosophers, variants=["naive"], properties=["deadlock"])
    why = explain(r.system, r.verdict.trace)
    last = len(r.verdict.trace) + 1
    assert why.summary == f"no action is enabled in state {last}, and it is not a final state"


def test_loses_data_takes_only_a_boolean():
    from migcheck.models.errors import ModelDefinitionError
    from migcheck.properties import invariant

    try:
        invariant(loses_data="yes")
    except ModelDefinitionError as e:
        assert "give True or False" in str(e)
    else:
        raise AssertionError("loses_data='yes' was accepted")


def test_the_bundled_model_marks_its_data_properties():
    system = bundled("guest-assisted").variants()["disable-first"]
    from migcheck.models.model import build

    lost = sorted(p.name for p in build(system).properties if p.loses_data)
    assert lost == ["completeness", "dest-order", "dma-into-held-pages", "marking-preserves-data",
                    "rings-last"]
