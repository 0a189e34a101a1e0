"""Input that once ended a command silently or with an internal error: a model file that
exits, prints or fails while imported or traced, non-finite limits, JSON nested too deeply,
and a report that fails after its folder was made. Each is bad input: exit 2, one line."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import pytest

from migcheck.cli import main
from migcheck.models.errors import UsageError
from migcheck.models.library import bundled
from migcheck.runner import run

MODEL = textwrap.dedent("""
    from migcheck.models import Bool, Model, action
    from migcheck.properties import invariant
    {prelude}
    class Flip(Model):
        name = "flip"
        b = Bool(init=False)

        @action
        def flip(s):
            {in_action}
            s.b = ~s.b

        @invariant
        def never_set(s):
            return ~s.b
""")


def model_file(tmp_path, prelude: str = "", in_action: str = "pass") -> str:
    path = tmp_path / "flip.py"
    path.write_text(MODEL.format(prelude=prelude, in_action=in_action))
    return str(path)


def one_line(err: str) -> bool:
    return "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("prelude, message", [
    ("import sys; sys.exit(0)", "calls exit(0) when imported"),
    ("raise SystemExit(3)", "calls exit(3) when imported"),
    ("import os; os._exit(0)", "ends the process when imported (exit status 0)"),
    ("print('hello')", "writes output when imported ('hello')"),
    ("import os; os.write(1, b'raw')", "writes output when imported ('raw')"),
    ("import sys; sys.stderr.write('note')", "writes output when imported ('note')"),
    ("import atexit; atexit.register(print)", "registers an exit handler when imported"),
    ("1 / 0", "does not load: ZeroDivisionError"),
])
def test_a_model_file_whose_import_does_more_than_define_models_is_refused(tmp_path, prelude, message):
    argv = [sys.executable, "-P", "-m", "migcheck", "check", model_file(tmp_path, prelude), "--json"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout
    assert proc.stdout == "" and message in proc.stderr and one_line(proc.stderr)


def test_ci_fails_on_a_model_file_that_exits_when_imported(tmp_path):
    model_file(tmp_path, "import sys; sys.exit(0)")
    (tmp_path / "migcheck.toml").write_text('[[check]]\nmodel = "flip.py"\n')
    proc = subprocess.run([sys.executable, "-m", "migcheck", "ci"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 2 and "calls exit(0) when imported" in proc.stderr


def test_an_action_that_exits_while_traced_is_a_definition_error(tmp_path, capsys):
    status = main(["check", model_file(tmp_path, in_action="import sys; sys.exit(0)")])
    err = capsys.readouterr().err
    assert status == 2 and "action flip(): SystemExit: 0" in err and one_line(err)


def test_json_stays_one_object_when_an_action_prints_while_traced(tmp_path, capsys):
    status = main(["check", model_file(tmp_path, in_action="print('tracing flip')"), "--json"])
    out, err = capsys.readouterr()
    assert status == 1  # never-set is violated: b is set in one step
    assert json.loads(out)["results"][0]["verdict"] == "violated"
    assert "tracing flip" in err


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400"])
def test_a_timeout_that_is_not_a_finite_number_is_refused(capsys, value):
    with pytest.raises(SystemExit) as stop:
        main(["check", "peterson", f"--timeout={value}"])
    assert stop.value.code == 2
    assert f"'{value}' is not a number of seconds" in capsys.readouterr().err


def test_json_and_toml_nested_too_deeply_are_bad_input(tmp_path, capsys):
    trace = tmp_path / "deep.json"
    trace.write_text("[" * 100_000 + "]" * 100_000)
    assert main(["replay", str(trace)]) == 2
    err = capsys.readouterr().err
    assert "not a JSON trace: values nested too deeply" in err and one_line(err)
    config = tmp_path / "migcheck.toml"
    config.write_text("x = " + "[" * 100_000 + "]" * 100_000)
    assert main(["ci", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "values nested too deeply" in err and one_line(err)


def test_a_report_that_fails_leaves_no_folder_behind(tmp_path, capsys):
    out = tmp_path / "reports" / "r1"
    assert main(["report", "peterson", "--variant", "nope", "--out", str(out)]) == 2
    assert "has no variant 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize(("options", "message"), [
    ({"engine": "ic3"}, "unknown engine 'ic3'"),
    ({"depth": 3}, "--depth bounds the bmc and kind engines; engine 'explicit' does not take it"),
    ({"engine": "pdr", "symmetry": True}, "--symmetry reduces the explicit search"),
    ({"backend": "gpu"}, "unknown backend 'gpu'"),
])
def test_the_runner_refuses_options_that_do_not_fit_before_any_search(options, message):
    """The options are validated in one place, `runner.run`, whatever front door calls it."""
    with pytest.raises(UsageError, match=re.escape(message)):
        run(bundled("peterson"), **options)
