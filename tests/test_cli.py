"""The `migcheck` command as a user runs it: outputs, exit statuses and bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import pytest

from migcheck.cli import main


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_two_phase_commit_json_reports_288_states_and_holds(capsys):
    status, out, _ = run(capsys, "check", "two-phase-commit", "--set", "rms=3", "--json",
                         "--variant", "base")
    data = json.loads(out)
    assert status == 0
    assert set(data) >= {"migcheck", "results"}
    row = next(r for r in data["results"] if r["property"] == "consistency")
    assert row["verdict"] == "holds" and row["stats"]["states"] == 288
    assert set(row) >= {"model", "variant", "params", "property", "kind", "verdict", "expected",
                        "engine", "complete", "bound", "stats", "trace"}
    assert set(row["stats"]) >= {"states", "transitions", "depth", "seconds"}


def test_pdr_proves_completeness_beyond_its_sample_and_says_how(capsys, tmp_path):
    cert = tmp_path / "cert.smt2"
    status, out, _ = run(capsys, "check", "--variant", "disable-first", "--property", "completeness",
                         "--engine", "pdr", "--set", "pages=3", "--json", "--certificate-out", str(cert))
    row = json.loads(out)["results"][0]
    assert status == 0 and (row["verdict"], row["completeness"]) == ("holds", "proved")
    assert row["proof"]["invariant_by"] == "blocking" and row["proof"]["k"] == 1
    assert row["proof"]["lemmas"] >= row["proof"]["ctis"] > 0
    assert row["proof"]["sample_states"] == 211_394  # pages = 2, up to symmetry
    assert "synced[2]" in cert.read_text()


def test_broken_variant_json_has_the_shortest_trace(capsys):
    status, out, _ = run(capsys, "check", "two-phase-commit", "--variant", "commit-without-votes",
                         "--property", "consistency", "--json")
    row = json.loads(out)["results"][0]
    assert status == 0  # violated, as the variant expects
    assert row["verdict"] == "violated" and row["expected"] == "violated"
    steps = row["trace"]["steps"]
    assert steps[0]["action"] is None and len(steps) == 4 and row["trace"]["loop"] is None
    assert set(steps[1]) == {"action", "params", "owner", "state"}


def test_default_check_is_guest_assisted_all_variants_as_expected(capsys):
    status, out, _ = run(capsys, "check")
    assert status == 0
    for variant in ("disable-first", "thread-order", "no-drain", "passthrough-only", "no-ack-timeout"):
        assert variant in out
    assert "UNEXPECTED" not in out


def test_thread_order_counterexample_is_printed_as_numbered_steps(capsys):
    status, out, _ = run(capsys, "check", "guest-assisted", "--variant", "thread-order",
                         "--property", "completeness")
    assert status == 0
    assert "completeness violated in guest-assisted [thread-order]" in out
    assert "State 1: initial state" in out
    assert "[driver] mark" in out and "[device] land_data(i=0, p=0)" in out
    assert "synced[0] = False   (was True)" in out


def test_unexpected_violation_exits_1_and_prints_the_trace(tmp_path, capsys):
    model = tmp_path / "lossy.py"
    model.write_text(textwrap.dedent('''
        from migcheck.models import Bool, Model, action, require
        from migcheck.properties import invariant

        class Lossy(Model):
            """A page that a device writes after it was copied."""
            name = "lossy"
            check_deadlock = False
            copied = Bool(init=False)
            stale = Bool(init=False)

            @action(owner="hypervisor")
            def copy(s):
                require(~s.copied)
                s.copied = True

            @action(owner="device")
            def dma_write(s):
                s.stale = s.copied

            @invariant
            def fresh(s):
                return ~s.stale
    '''))
    status, out, _ = run(capsys, "check", str(model))
    assert status == 1
    assert "UNEXPECTED" in out and "State 3: [device] dma_write" in out


def test_trace_out_writes_a_trace_file(tmp_path, capsys):
    path = tmp_path / "t.json"
    status, _, _ = run(capsys, "check", "guest-assisted", "--variant", "unmap-unmarked",
                         "--property", "completeness", "--trace-out", str(path))
    assert status == 0
    data = json.loads(path.read_text())
    assert data["schema"] == 1 and data["model"] == "guest-assisted"
    assert data["variant"] == "unmap-unmarked" and data["property"] == "completeness"
    assert data["ir_hash"] and data["params"]["pages"] == 1


def test_list_shows_models_variants_properties_parameters(capsys):
    status, out, _ = run(capsys, "list")
    assert status == 0
    for text in ("guest-assisted", "two-phase-commit", "peterson", "thread-order",
                 "marking-preserves-data", "rms = 3"):
        assert text in out
    status, out, _ = run(capsys, "list", "peterson", "--json")
    assert json.loads(out)["models"][0]["variants"][1]["name"] == "turn-first"


def test_limit_exits_2_as_inconclusive(capsys):
    status, out, _ = run(capsys, "check", "guest-assisted", "--variant", "disable-first",
                         "--max-states", "1000")
    assert status == 2
    assert "inconclusive: state limit reached" in out


BAD_INPUT = [
    (["check", "no-such-model"], "unknown model 'no-such-model'"),
    (["check", "peterson", "--variant", "nope"], "has no variant 'nope' (variants: base, turn-first)"),
    (["check", "peterson", "--property", "nope"], "has no property 'nope'"),
    (["check", "peterson", "--set", "threads=2"], "has no parameter 'threads'"),
    (["check", "two-phase-commit", "--set", "rms=99"], "'rms' = 99 is outside its range; allowed 1..8"),
    (["check", "two-phase-commit", "--set", "rms=three"], "'three' is not an integer"),
    (["check", "two-phase-commit", "--set", "rms"], "write NAME=VALUE"),
    (["check", "missing.py"], "model file 'missing.py' does not exist"),
    (["check", "peterson", "--trace-out", "/nonexistent-dir/t.json"], "cannot write there"),
]


@pytest.mark.parametrize("argv, message", BAD_INPUT, ids=[a[1] for a, _ in BAD_INPUT])
def test_bad_input_exits_2_with_one_clear_line(capsys, argv, message):
    status, _, err = run(capsys, *argv)
    assert status == 2
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("source, message", [
    ("x = (", "does not load: SyntaxError"),
    ("import no_such_module_here", "does not load: ModuleNotFoundError"),
    ("X = 1", "defines no model"),
    ("from migcheck.models import Model, Bool, action\n"
     "class M(Model):\n    name = 'm'\n    b = Bool(init=True)\n"
     "    @action(owner='driver')\n    def a(s):\n        if s.b:\n            s.b = False\n",
     "Python 'if', 'and', 'or' or 'not' on state variable 'b'"),
])
def test_bad_model_files_exit_2(tmp_path, capsys, source, message):
    path = tmp_path / "model.py"
    path.write_text(source)
    status, _, err = run(capsys, "check", str(path))
    assert status == 2 and message in err and "Traceback" not in err


def test_console_script_runs(tmp_path):
    assert shutil.which("migcheck"), "install migcheck (pip install -e .) to get the console script"
    proc = subprocess.run(["migcheck", "check", "two-phase-commit", "--set", "rms=3", "--json"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["results"][0]["stats"]["states"] == 288


def test_module_entry_point(tmp_path):
    # Run from another folder: the source tree's migcheck/ must not shadow the install.
    proc = subprocess.run([sys.executable, "-m", "migcheck", "list", "--json"], capture_output=True,
                          text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "guest-assisted" in proc.stdout
