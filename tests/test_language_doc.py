"""docs/language.md stays true: its example model loads and is checked with the verdicts it
declares, and the papercuts it documents behave as written."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from migcheck.cli import main
from migcheck.models.errors import MigcheckError, ModelDefinitionError
from migcheck.models.library import resolve
from migcheck.models.model import build
from migcheck.runner import coverage, run

DOC = (Path(__file__).parents[1] / "docs" / "language.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", DOC, re.S)


def load(tmp_path, source: str, name: str = "m.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return resolve(str(path))


def test_the_example_is_checked_as_its_variants_expect(tmp_path, capsys):
    path = tmp_path / "ring.py"
    path.write_text(BLOCKS[-1])
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"\nno-drain +loses data +completeness, nothing-after-switchover +known bug", out)


def test_the_import_line_imports_everything_the_page_names():
    exec(BLOCKS[0], {})


HEADER = """
    from migcheck.models import Bool, Int, Model, action, require, variant
    from migcheck.properties import invariant
"""


def test_a_helper_is_called_as_s_helper(tmp_path):
    model = load(tmp_path, HEADER + """
    class M(Model):
        name = "m"
        check_deadlock = False
        n = Int(0, 2, init=0)

        def below(s, k):
            return s.n < k

        @action(owner="driver")
        def step(s):
            require(s.below(2))
            s.n = s.n + 1

        @invariant
        def bounded(s):
            return s.below(3) & M.below(s, 3)
    """)
    (r,) = run(model)[:1]
    assert r.verdict.verdict == "holds" and r.verdict.stats.states == 3


def test_expect_in_a_variants_class_body_is_honoured(tmp_path):
    model = load(tmp_path, HEADER + """
    class M(Model):
        name = "m"
        check_deadlock = False
        x = Bool(init=False)

        @action(owner="driver")
        def set_x(s):
            s.x = True

        @invariant
        def never_x(s):
            return ~s.x

    @variant(M)
    class Named(M):
        \"\"\"Expects in its class body.\"\"\"
        expect = {"never-x": "violated"}
    """)
    assert build(model.variants()["named"]).expected("never-x") == "violated"


def test_expect_given_twice_is_refused(tmp_path):
    source = HEADER + """
    class M(Model):
        name = "m"
        x = Bool(init=False)

    @variant(M, expect={"deadlock": "violated"})
    class Twice(M):
        expect = {"deadlock": "violated"}
    """
    with pytest.raises(MigcheckError, match="given twice"):
        load(tmp_path, source)


def test_an_expect_naming_a_function_rather_than_its_property_says_how_names_are_made(tmp_path):
    model = load(tmp_path, HEADER + """
    class M(Model):
        name = "m"
        check_deadlock = False
        expect = {"P1": "violated"}
        x = Bool(init=False)

        @invariant
        def P1(s):
            return s.x
    """)
    with pytest.raises(ModelDefinitionError, match=r"kebab-case \('p1'\), or give @invariant\(name='P1'\)"):
        build(model)


def test_an_action_that_can_never_be_enabled_is_in_coverage(tmp_path, capsys):
    model = load(tmp_path, HEADER + """
    class M(Model):
        name = "m"
        check_deadlock = False
        NEVER = False
        x = Bool(init=False)

        @action(owner="driver")
        def set_x(s):
            s.x = True

        @action(owner="driver")
        def reset(s):
            require(s.NEVER)     # folds to false at load: no instance is traced
            s.x = False

        @invariant
        def anything(s):
            return s.x | ~s.x
    """)
    assert build(model).dead_actions == ("reset",)
    assert main(["check", str(tmp_path / "m.py")]) == 0
    out = capsys.readouterr().out
    assert "base: actions whose guard is false in every state (dropped at load): reset" in out
    assert coverage(run(model)) == [{"variant": "base", "never_enabled": [], "dropped_at_load": ["reset"],
                                     "witnesses_not_reached": []}]


def test_a_value_out_of_its_domain_is_an_error_with_the_run_not_a_violation(tmp_path, capsys):
    path = tmp_path / "over.py"
    path.write_text(textwrap.dedent(HEADER + """
    class Over(Model):
        name = "over"
        check_deadlock = False
        n = Int(0, 1, init=0)

        @action(owner="driver")
        def step(s):
            s.n = s.n + 1

        @invariant(name="P1")
        def p1(s):
            return s.n <= 1
    """))
    assert main(["check", str(path), "--property", "P1"]) == 2
    out = capsys.readouterr().out
    assert "P1: error in over [base]: action step sets n to 2, outside Int(0, 1)" in out
    assert "the run that leads there, 1 steps:" in out
    assert "P1 violated" not in out and "why:" not in out
