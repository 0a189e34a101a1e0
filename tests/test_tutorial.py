"""docs/tutorial.md stays true: its whole model is checked with the verdicts the page states,
its counterexample is the one printed there, and every fragment is part of the whole model."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from migcheck.cli import main

TUTORIAL = (Path(__file__).parents[1] / "docs" / "tutorial.md").read_text()
BODY, WHOLE_SECTION = TUTORIAL.split("\n## The whole model\n")
WHOLE = re.search(r"```python\n(.*?)```", WHOLE_SECTION, re.S).group(1)


def blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


@pytest.fixture
def model_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "dirty_log.py"
    path.write_text(WHOLE)
    return path


def normalised(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.strip().splitlines()]


def test_the_first_screen_is_the_one_the_tutorial_shows(model_file, capsys):
    assert main(["check", str(model_file.name)]) == 0  # every verdict as the variants declare
    out = normalised(capsys.readouterr().out)
    shown = normalised(blocks(BODY, "text")[0])
    start = out.index(shown[0])
    assert out[start: start + len(shown)] == shown


def test_the_counterexample_is_the_one_the_tutorial_shows(model_file, capsys):
    command = next(line for block in blocks(BODY, "sh") for line in block.splitlines()
                   if "--variant base --property completeness" in line)
    assert main(shlex.split(command)[1:]) == 0
    out = capsys.readouterr().out
    assert blocks(BODY, "text")[1] in out


def test_every_fragment_is_part_of_the_whole_model():
    for fragment in blocks(BODY, "python"):
        for line in fragment.splitlines():
            if line.strip():
                assert line in WHOLE.splitlines(), f"not in the whole model: {line!r}"


def test_the_commands_of_step_8_run(model_file, capsys):
    section = BODY.split("## 8.")[1].split("\n## ")[0]
    for line in blocks(section, "sh")[0].splitlines():
        argv = shlex.split(line.split("  #")[0])
        assert main(argv[1:]) == 0, line
    capsys.readouterr()


def test_the_ci_example_passes(model_file, capsys):
    (model_file.parent / "pyproject.toml").write_text(blocks(BODY, "toml")[0])
    assert main(["ci"]) == 0
    capsys.readouterr()
