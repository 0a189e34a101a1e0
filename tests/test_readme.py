"""The README stays true: its test command is what CI runs, and its example model works."""

from __future__ import annotations

import re
from pathlib import Path

from migcheck.cli import main

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()


def test_ci_runs_the_readmes_test_command():
    blocks = re.findall(r"```sh\n(.*?)```", README, re.S)
    test_command = blocks[1].strip()
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_ci_runs_every_test_ruff_and_the_repositorys_own_checks():
    test_command = re.findall(r"```sh\n(.*?)```", README, re.S)[1]
    assert "-m 'slow or not slow'" in test_command  # the slow tests too: CI runs every test
    run = (ROOT / ".ci" / "run").read_text()
    assert "\nruff check .\n" in run and "\nmigcheck ci " in run


def test_example_model_finds_the_loss_it_promises(tmp_path, capsys):
    source = re.search(r"```python\n(.*?)```", README, re.S).group(1)
    path = tmp_path / "copy.py"
    path.write_text(source)
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    assert re.search(r"\nbase +loses data +completeness +UNEXPECTED: completeness violated", out)
    assert "completeness violated in copy [base] after 2 steps" in out
    assert "why: in state 3, copied = True, synced[0] = False" in out
    assert "State 2: [hypervisor] stop_and_copy" in out and "State 3: [device] dma_write(p=0)" in out
