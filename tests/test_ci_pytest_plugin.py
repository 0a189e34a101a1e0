"""The pytest plugin: `pytest --migcheck` runs the CI configuration as test items, and without
the option it does nothing. Each test runs pytest in a fresh folder, the way a project would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

CONFIG = """
[[check]]
model = "two-phase-commit"
set = { rms = 3 }

[check.expect.commit-without-votes]
consistency = "holds"
"""


def pytest_in(folder: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=folder,
                          capture_output=True, text=True, timeout=120, env=env, check=False)


def test_migcheck_items_pass_and_fail_by_expected_verdict(tmp_path):
    (tmp_path / "migcheck.toml").write_text(CONFIG)
    done = pytest_in(tmp_path, "--migcheck", "-v")
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "migcheck.toml::two-phase-commit rms=3::base::consistency PASSED" in out
    assert "migcheck.toml::two-phase-commit rms=3::commit-without-votes::consistency FAILED" in out
    assert "1 failed, 3 passed" in out
    assert "UNEXPECTED (expected holds)" in out and "State 4: [rm] rm_rcv_commit_msg(r=1)" in out


def test_items_are_selected_like_any_test(tmp_path):
    (tmp_path / "migcheck.toml").write_text(CONFIG)
    (tmp_path / "test_other.py").write_text("def test_other():\n    pass\n")
    done = pytest_in(tmp_path, "--migcheck", "-m", "migcheck", "-k", "base")
    assert done.returncode == 0 and "2 passed, 3 deselected" in done.stdout, done.stdout


def test_a_config_in_pyproject_and_a_junit_report(tmp_path):
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent("""
        [[tool.migcheck.check]]
        model = "peterson"
        variants = ["turn-first"]
        properties = ["mutual-exclusion"]
        """))
    done = pytest_in(tmp_path, "--migcheck", "--junitxml=j.xml")
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout
    assert 'name="mutual-exclusion"' in (tmp_path / "j.xml").read_text()


def test_a_failed_item_runs_again_by_its_node_id(tmp_path):
    (tmp_path / "migcheck.toml").write_text(CONFIG)
    node = "migcheck.toml::two-phase-commit rms=3::commit-without-votes::consistency"
    done = pytest_in(tmp_path, "--migcheck", "-v", node)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{node} FAILED" in done.stdout and "1 failed in" in done.stdout
    assert "passed" not in done.stdout.splitlines()[-1]  # that item alone, not the whole configuration
    passing = "migcheck.toml::two-phase-commit rms=3::base::all-committed"
    done = pytest_in(tmp_path, "--migcheck", passing)
    assert done.returncode == 0 and "1 passed in" in done.stdout, done.stdout


def test_under_xdist_a_variants_items_stay_on_one_worker(tmp_path):
    (tmp_path / "migcheck.toml").write_text(CONFIG)
    done = pytest_in(tmp_path, "--migcheck", "-n", "2", "-v")
    assert done.returncode == 1, done.stdout + done.stderr
    workers: dict[str, set[str]] = {}
    for line in done.stdout.splitlines():
        found = re.search(r"\[(gw\d)\] .*(PASSED|FAILED) migcheck.toml::two-phase-commit rms=3::"
                          r"([\w-]+)::", line)
        if found:
            workers.setdefault(found.group(3), set()).add(found.group(1))
    assert set(workers) == {"base", "commit-without-votes"}, done.stdout
    assert all(len(w) == 1 for w in workers.values()), workers


def test_without_the_option_the_plugin_does_nothing(tmp_path):
    (tmp_path / "migcheck.toml").write_text(CONFIG)
    done = pytest_in(tmp_path)
    assert done.returncode == 5 and "no tests ran" in done.stdout, done.stdout  # nothing collected


def test_a_bad_configuration_is_a_usage_error(tmp_path):
    (tmp_path / "migcheck.toml").write_text("[[check]]\nmodel = 'peterson'\nvariants = ['basic']\n")
    done = pytest_in(tmp_path, "--migcheck")
    assert done.returncode == 4
    assert "key 'variants': unknown variant 'basic' (variants: base, turn-first)" in done.stderr
    assert "Traceback" not in done.stderr


def test_loading_the_plugin_imports_nothing_of_migcheck():
    code = ("import sys, migcheck.pytest_plugin; "
            "print(sorted(m for m in sys.modules if m.startswith('migcheck') or m == 'z3'))")
    done = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['migcheck', 'migcheck.pytest_plugin']"


def test_the_plugin_is_registered_for_pytest():
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="pytest11") if e.name == "migcheck"]
    assert ep.value == "migcheck.pytest_plugin"
