"""The README's Reports and CI sections and docs/ci.md stay true: their examples run."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from migcheck.ci import load_config
from migcheck.cli import main

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()
DOCS = (ROOT / "docs" / "ci.md").read_text()


def section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start: end if end > 0 else len(text)]


def blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


def commands(block: str) -> list[list[str]]:
    """The command lines of a shell block, without comments."""
    return [shlex.split(line.split("  #")[0]) for line in block.splitlines() if line.strip()]


def test_readme_report_examples_write_reports(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (first, second) = commands(blocks(section(README, "Reports"), "sh")[0])
    assert first[:2] == ["migcheck", "report"] and second[:2] == ["migcheck", "report"]
    for argv in (first, second):
        assert main(argv[1:]) == 0
    capsys.readouterr()
    assert (tmp_path / "report" / "report.html").exists() and (tmp_path / "report-2pc" / "report.md").exists()


@pytest.mark.parametrize("where, text", [("README", section(README, "CI")), ("docs/ci.md", DOCS)],
                         ids=["README", "docs"])
def test_toml_examples_are_valid_configurations(tmp_path, where, text):
    for n, block in enumerate(blocks(text, "toml")):
        path = tmp_path / f"{n}" / "pyproject.toml"
        path.parent.mkdir()
        path.write_text(block)
        config = load_config(str(path))
        assert config.checks, f"{where}: toml block {n}"


def test_docs_error_example_is_what_migcheck_says(tmp_path, monkeypatch, capsys):
    shown = next(line for line in DOCS.splitlines() if line.startswith("migcheck: error:"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "migcheck.toml").write_text('[[check]]\nmodel = "two-phase-commit"\nvariants = ["basic"]\n')
    assert main(["ci"]) == 2
    assert capsys.readouterr().err.strip() == shown


def test_docs_workflows_run_migcheck_ci_and_publish_its_junit_file():
    github, gitlab = (yaml.safe_load(b) for b in blocks(DOCS, "yaml"))
    steps = github["jobs"]["properties"]["steps"]
    run = next(s["run"] for s in steps if "migcheck ci" in s.get("run", ""))
    argv = shlex.split(run)
    junit, sarif = argv[argv.index("--junit") + 1], argv[argv.index("--sarif") + 1]
    published = next(s for s in steps if "junit" in s.get("uses", ""))
    assert published["with"]["report_paths"] == junit and published["if"] == "always()"
    uploaded = next(s for s in steps if "upload-sarif" in s.get("uses", ""))
    assert uploaded["with"]["sarif_file"] == sarif
    assert github["permissions"]["security-events"] == "write"

    job = gitlab["migcheck"]
    line = next(s for s in job["script"] if s.startswith("migcheck ci"))
    argv = shlex.split(line)
    assert job["artifacts"]["reports"]["junit"] == argv[argv.index("--junit") + 1]
    assert job["artifacts"]["when"] == "always"


def test_docs_commands_are_commands_migcheck_has():
    from migcheck.cli import _parser

    parser = _parser()
    for block in blocks(DOCS, "sh") + blocks(section(README, "CI"), "sh"):
        for argv in commands(block):
            if argv[0] == "migcheck":
                args = parser.parse_args(argv[1:])
                assert args.command in ("ci", "report")


@pytest.mark.slow
def test_the_ci_commands_in_the_docs_pass_on_this_repository(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(ROOT)
    for block in blocks(DOCS, "yaml"):
        for line in re.findall(r"migcheck ci [^\n]*", block):
            argv = shlex.split(line)
            for flag in ("--junit", "--sarif"):
                argv[argv.index(flag) + 1] = str(tmp_path / argv[argv.index(flag) + 1])
            assert main(argv[1:]) == 0, capsys.readouterr().out
