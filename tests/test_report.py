"""Design verification reports: contents, charts, state graphs, files and the CLI."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from migcheck.cli import main
from migcheck.models.library import resolve
from migcheck.report import build_report, report_html, report_json, report_markdown, write_report
from migcheck.report.markdown import BUDGET
from migcheck.report.sequence import chart
from migcheck.report.sequence_mermaid import chart_mermaid
from migcheck.report.state_graph import picture, state_graph
from migcheck.runner import run

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def thread_order(guest_assisted):
    return build_report(guest_assisted, variants=["thread-order"], properties=["completeness"],
                        command="migcheck report guest-assisted --variant thread-order --out r")


@pytest.fixture(scope="module")
def two_phase(two_phase_commit):
    return build_report(two_phase_commit, params={"rms": 3}, command="migcheck report two-phase-commit")


def test_the_chart_has_a_lifeline_per_owner_and_a_message_per_step(thread_order):
    v = thread_order.violations[0]
    c = v.chart
    trace = v.result.verdict.trace
    assert c.lifelines[:3] == ("driver", "device", "hypervisor") and "environment" in c.lifelines
    assert [m.label for m in c.messages] == [s.label for s in trace.steps[1:]]
    assert [m.state for m in c.messages] == list(range(2, len(trace.steps) + 1))
    by_label = {m.label: m for m in c.messages}
    # The migration event concerns the driver; a refill lets the device receive into the slot.
    assert by_label["notify_guest"].actor == "hypervisor" and "driver" in by_label["notify_guest"].targets
    assert "device" in by_label["refill(i=0, p=0)"].targets
    # Clearing BME touches the device, the one actor that watches BME, even in thread-order where
    # the data write is already posted and the device has nothing else to do just then.
    assert by_label["clear_bme"].targets == ("device",)
    # The phase every actor watches makes no arrow by itself; the switchover's arrow goes to the
    # driver alone, which finds the destination's VF fresh (BME clear) and must rebuild it.
    assert by_label["switchover"].targets == ("driver",)
    assert any(ch.variable == "bme" and ch.after == "False" for ch in by_label["clear_bme"].changes)
    assert "driver" in by_label["land_data(i=0, p=0)"].targets  # the landing lets the drain finish
    assert c.messages[-1].last and not any(m.last for m in c.messages[:-1])


def test_a_step_that_concerns_no_one_else_is_a_box_on_its_own_lifeline(two_phase):
    c = two_phase.violations[0].chart
    abort = next(m for m in c.messages if m.label.startswith("rm_choose_to_abort"))
    assert abort.targets == ()
    commit = next(m for m in c.messages if m.label == "tm_commit")
    assert commit.targets == ("rm",)  # the commit message lets the resource managers commit


def test_mermaid_is_a_sequence_diagram_with_a_loop_for_a_lasso():
    from migcheck.models.library import bundled

    r = next(r for r in run(bundled("spinlock"), variants=["weakly-fair"], properties=["starvation-free"])
             if r.verdict.trace is not None)
    text = chart_mermaid(chart(r.verdict.trace, r.system))
    assert text.startswith("sequenceDiagram\n")
    assert "    loop " in text and "\n    end\n" in text
    assert re.search(r"participant a_\w+ as ", text)
    assert "✗ starvation-free violated" in text


def test_mermaid_text_escapes_what_its_parser_reads(thread_order):
    from migcheck.report.sequence_mermaid import _safe

    assert _safe("a;b #c <d>") == "a#59;b #35;c #lt;d#gt;"


def test_guest_assisted_counterexamples_are_replayed_with_their_damage(thread_order):
    rp = thread_order.violations[0].replay
    assert rp.result == "confirmed"
    assert any("RX buffer page" in d and "bytes differ" in d for d in rp.damage)
    assert "CONFIRMED" in rp.text


def test_other_models_say_replay_is_not_available(two_phase):
    rp = two_phase.violations[0].replay
    assert rp.result == "not available" and "replay is not available" in rp.summary


def test_the_matrix_says_how_complete_each_verdict_is(two_phase, thread_order):
    m = two_phase.matrix
    assert m.variants == ("base", "commit-without-votes")
    assert m.at("base", "consistency").completeness == "exhaustive"
    assert m.at("base", "all-committed").completeness == "witnessed"
    assert m.at("commit-without-votes", "consistency").steps == 3
    assert m.row_states("base") == 288
    assert thread_order.matrix.at("thread-order", "completeness").verdict == "violated"


def test_engine_all_says_which_engines_agree(two_phase_commit):
    r = build_report(two_phase_commit, params={"rms": 2}, engine="all", graph_limit=0)
    cell = r.matrix.at("base", "consistency")
    assert cell.completeness == "exhaustive; pdr agrees"  # a holds is confirmed by a proof
    assert dict(cell.engines).keys() == {"explicit", "pdr"}
    assert "pdr agrees" in report_html(r)


def test_bounded_and_proved_verdicts_say_so(two_phase_commit):
    bounded = build_report(two_phase_commit, variants=["base"], properties=["consistency"], params={"rms": 2},
                           engine="bmc", depth=3, graph_limit=0)
    assert bounded.matrix.at("base", "consistency").completeness == "bounded at k=3"
    proved = build_report(two_phase_commit, variants=["base"], properties=["consistency"], params={"rms": 2},
                          engine="pdr", graph_limit=0)
    assert proved.matrix.at("base", "consistency").completeness == "proved with certificate"


def test_vacuity_and_dead_actions_are_reported(guest_assisted):
    r = build_report(guest_assisted, variants=["passthrough-only"], graph_limit=0)
    gaps = {c["variant"]: c for c in r.gaps}
    assert "dest-device-runs" in gaps["passthrough-only"]["witnesses_not_reached"]
    assert r.matrix.at("passthrough-only", "dest-order").verdict == "vacuous"
    md = report_markdown(r)
    assert "witnesses never reached (vacuity warning)" in md and "dest-device-runs" in md
    assert "witnesses never reached" in report_html(r)


def test_state_graph_marks_the_counterexample_path(peterson):
    r = run(peterson, variants=["turn-first"], properties=["mutual-exclusion"])[0]
    trace = r.verdict.trace
    g = state_graph(r.system, 300, trace)
    assert g is not None and len(g.nodes) == r.verdict.stats.states
    assert len(g.path) == len(trace.steps) and g.path[0] in g.initial
    assert g.layers[g.path[-1]] == len(trace)  # breadth-first: the path is a shortest one
    assert len(g.path_edges) == len(trace) and g.highlighted == "mutual-exclusion"


def test_without_graphviz_the_graph_is_drawn_as_breadth_first_layers(peterson, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    r = run(peterson, variants=["turn-first"], properties=["mutual-exclusion"])[0]
    pic = picture(r.system, 300, r.verdict.trace)
    assert pic.layout == "breadth-first layers" and pic.highlighted == "mutual-exclusion"
    assert pic.svg.startswith("<svg") and pic.svg.count("<circle") == pic.states
    assert pic.svg.count('stroke="#c62828" stroke-width="2.2"') == len(r.verdict.trace)


def test_with_graphviz_the_graph_is_drawn_by_dot(graphviz_dot, peterson):
    r = run(peterson, variants=["turn-first"], properties=["mutual-exclusion"])[0]
    pic = picture(r.system, 300, r.verdict.trace)
    assert pic.layout == "graphviz dot" and pic.svg.startswith("<svg") and "<?xml" not in pic.svg
    assert pic.svg.count('class="node"') == pic.states and "#c62828" in pic.svg


def test_large_state_graphs_are_not_drawn(guest_assisted):
    r = build_report(guest_assisted, variants=["disable-first"], properties=["opt-in"], graph_limit=50)
    g = r.graphs[0]
    assert not g.svg and "more than the 50" in g.note


def test_html_is_self_contained(two_phase):
    html = report_html(two_phase)
    assert html.startswith("<!DOCTYPE html>") and "Content-Security-Policy" in html
    assert "<script" not in html
    assert not re.search(r"""(src|href)\s*=\s*["'](https?:)?//""", html)  # nothing to fetch
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 1
    assert 'class="graph"' in html  # base has 288 states: drawn
    assert two_phase.command in html and two_phase.systems[0].ir_hash in html


def test_markdown_holds_the_variants_the_known_bugs_the_matrix_and_the_command(two_phase):
    md = report_markdown(two_phase)
    assert "### Unexpected" not in md  # everything is as expected
    assert re.search(r"\| \*\*commit-without-votes\*\* \| unsafe \| consistency \| known bug \|", md)
    assert ("- **commit-without-votes** `consistency`: violated in 3 steps; why: in state 4, "
            "rm_state[0] = aborted, rm_state[1] = committed; decisive: state 4, "
            "`rm_rcv_commit_msg(r=1)`") in md
    assert "<details><summary>Variants × properties</summary>" in md
    assert "| variant | consistency | all-committed | states | seconds |" in md
    assert "```sh\nmigcheck report two-phase-commit\n```" in md
    assert len(md) < BUDGET


def test_markdown_leads_with_the_unexpected_and_keeps_within_its_budget(tmp_path):
    source = re.search(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    (tmp_path / "copy.py").write_text(source)
    r = build_report(resolve(str(tmp_path / "copy.py")), graph_limit=0)
    md = report_markdown(r)
    assert md.index("### ❌ Unexpected") < md.index("### Variants")
    assert "- **base**: `completeness` violated (2 steps)  UNEXPECTED (expected holds)" in md
    assert "```mermaid\nsequenceDiagram" in md and "State 3: [device] dma_write(p=0)" in md
    small = len(report_markdown(r, budget=10)) + 200
    md = report_markdown(r, budget=small)
    assert "1 more, left out to keep this comment short, are in `report.html`: base: completeness" in md
    assert len(md) <= small


@pytest.mark.slow
def test_the_bundled_models_markdown_fits_a_pull_request_comment(guest_assisted):
    """Every variant of guest-assisted: 21 counterexamples, far below GitHub's 65,536 characters."""
    r = build_report(guest_assisted, graph_limit=0)
    md = report_markdown(r)
    assert len(md) < BUDGET < 65_536 // 2
    assert all(f"- **{v.variant}** `{v.property_name}`: violated in" in md for v in r.violations)
    assert md.count("Not drawn") == 1  # one sentence for the graphs too large to draw


def test_json_has_everything_to_reproduce(two_phase):
    data = report_json(two_phase)
    assert data["command"] == "migcheck report two-phase-commit" and data["params"] == {"rms": 3}
    assert data["ir_hashes"]["base"] == two_phase.systems[0].ir_hash
    v = data["violations"][0]
    assert v["variant"] == "commit-without-votes" and v["mermaid"].startswith("sequenceDiagram")
    assert v["replay"]["result"] == "not available"
    assert [g["drawn"] for g in data["graphs"]] == [True, False]
    json.dumps(data)


def test_cli_writes_the_three_files(tmp_path, capsys):
    out = tmp_path / "r"
    status = main(["report", "two-phase-commit", "--set", "rms=3", "--out", str(out)])
    printed = capsys.readouterr().out
    assert status == 0
    assert sorted(os.listdir(out)) == ["report.html", "report.json", "report.md"]
    assert f"written: {out / 'report.html'}" in printed
    data = json.loads((out / "report.json").read_text())
    assert data["command"] == f"migcheck report two-phase-commit --set rms=3 --engine explicit --out {out}"


def test_report_files_follow_the_umask(tmp_path, two_phase):
    old = os.umask(0o022)
    try:
        paths = write_report(two_phase, str(tmp_path / "r"))
    finally:
        os.umask(old)
    assert [os.stat(p).st_mode & 0o777 for p in paths] == [0o644] * 3


def test_cli_exit_status_is_checks(tmp_path, capsys):
    # A known-bad variant that violates as expected: 0. Its bug under a base model: the
    # report is written and the status says a verdict is unexpected.
    assert main(["report", "peterson", "--variant", "turn-first", "--out", str(tmp_path / "a")]) == 0
    capsys.readouterr()


def test_cli_refuses_a_file_as_out(tmp_path, capsys):
    target = tmp_path / "taken"
    target.write_text("x")
    assert main(["report", "peterson", "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out" in err and "Traceback" not in err


def test_an_interrupted_write_leaves_no_half_written_report(tmp_path, two_phase, monkeypatch):
    from migcheck.report import document

    def interrupted(report):
        raise KeyboardInterrupt

    monkeypatch.setattr(document, "report_markdown", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_report(two_phase, str(tmp_path / "r"))
    assert os.listdir(tmp_path / "r") == []  # every text is made before any file is written


def test_a_failing_write_leaves_no_temporary_file(tmp_path, two_phase, monkeypatch):
    from migcheck.checker import trace as trace_module

    real = os.replace

    def replace_fails(src, dst):
        if str(dst).endswith("report.json"):
            raise OSError("disk full")
        return real(src, dst)

    monkeypatch.setattr(trace_module.os, "replace", replace_fails)
    with pytest.raises(OSError):
        write_report(two_phase, str(tmp_path / "r"))
    left = os.listdir(tmp_path / "r")
    assert "report.json" not in left and not [n for n in left if n.endswith(".tmp")]


def test_cli_symmetry_is_passed_on_and_kept_in_the_command(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["report", "two-phase-commit", "--set", "rms=3", "--symmetry", "--out", str(out)]) == 0
    capsys.readouterr()
    data = json.loads((out / "report.json").read_text())
    assert "--symmetry" in data["command"]
    assert data["matrix"]["cells"][0]["states"] < 288  # the reduced search
    assert data["graphs"][0]["states"] == 288  # the picture is of the whole graph
