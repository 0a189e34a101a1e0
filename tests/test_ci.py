"""CI property checking: the configuration, `migcheck ci`, JUnit XML and SARIF 2.1.0."""

from __future__ import annotations

import inspect
import json
import os
import re
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
import sarif_pydantic
import xmlschema

from migcheck.ci import load_config
from migcheck.cli import main
from migcheck.models.library import bundled

ROOT = Path(__file__).parents[1]
DATA = Path(__file__).parent / "data"
JUNIT = xmlschema.XMLSchema(str(DATA / "junit.xsd"))
SARIF = json.loads((DATA / "sarif-2.1.0-subset.json").read_text())

FAST = """
[[check]]
model = "two-phase-commit"
set = { rms = 3 }

[[check]]
name = "guest-assisted, the thread's order"
model = "guest-assisted"
variants = ["thread-order"]
properties = ["completeness", "opt-in"]
"""

KNOWN_BAD_EXPECTED_TO_HOLD = """
[[check]]
model = "two-phase-commit"
set = { rms = 3 }

[check.expect.commit-without-votes]
consistency = "holds"
"""


def write(folder: Path, text: str, name: str = "migcheck.toml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def ci(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(["ci", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def valid_junit(path: Path) -> ET.Element:
    JUNIT.validate(str(path))
    return ET.parse(path).getroot()


def valid_sarif(path: Path) -> dict:
    log = json.loads(path.read_text())
    validator = jsonschema.Draft7Validator(SARIF, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(log), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])
    # A second, independent reading: sarif-pydantic's typed model of SARIF 2.1.0 (from PyPI).
    sarif_pydantic.Sarif.model_validate_json(path.read_text())
    return log


def test_the_schemas_are_usable():
    jsonschema.Draft7Validator.check_schema(SARIF)
    assert "subset" in SARIF["description"] and "NOT the official" in SARIF["description"]
    assert JUNIT.elements["testsuites"] is not None


def test_this_repositorys_configuration(monkeypatch):
    monkeypatch.chdir(ROOT)
    config = load_config()
    assert config.table == "tool.migcheck" and os.path.basename(config.path) == "pyproject.toml"
    ga, tpc = config.checks
    assert ga.model.name == "guest-assisted" and ga.engine == "explicit" and ga.properties is None
    assert ga.variants == tuple(ga.model.variants()) and len(ga.variants) >= 10
    assert dict(ga.params) == {}  # the configuration sets none: each variant runs at its own defaults
    assert tpc.model.name == "two-phase-commit" and dict(tpc.params) == {"rms": 3}
    assert tpc.expected("commit-without-votes", "consistency") == "violated"


@pytest.mark.slow
def test_this_repositorys_configuration_passes(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(ROOT)
    junit, sarif = tmp_path / "j.xml", tmp_path / "s.sarif"
    status, out, _ = ci(capsys, "--junit", str(junit), "--sarif", str(sarif))
    assert status == 0, out
    suites = valid_junit(junit)
    assert suites.get("failures") == "0" and suites.get("errors") == "0"
    assert valid_sarif(sarif)["runs"][0]["results"] == []


def test_each_variant_keeps_its_own_default_parameters(tmp_path, capsys):
    """first-page-mark spans two pages by default; a check that sets nothing else must not run
    it at the model's span = 1, where its bug cannot happen."""
    config = write(tmp_path, """
        [[check]]
        model = "guest-assisted"
        variants = ["disable-first", "first-page-mark"]
        properties = ["completeness"]
        """)
    junit = tmp_path / "j.xml"
    status, out, err = ci(capsys, "--config", str(config), "--junit", str(junit))
    assert status == 0, out + err
    assert "first-page-mark: span=2  (its own defaults" in out
    facts = {p.get("name"): p.get("value") for p in valid_junit(junit).iter("property")}
    assert "span=1" in facts["params.disable-first"] and "span=2" in facts["params.first-page-mark"]


def test_all_as_expected_exits_0_with_valid_junit_and_sarif(tmp_path, capsys):
    config = write(tmp_path, FAST)
    junit, sarif = tmp_path / "j.xml", tmp_path / "s.sarif"
    status, out, err = ci(capsys, "--config", str(config), "--junit", str(junit), "--sarif", str(sarif))
    assert status == 0, out + err
    assert "6 of 6 verdicts as expected" in out
    suites = valid_junit(junit)
    assert [s.get("name") for s in suites] == ["two-phase-commit rms=3", "guest-assisted, the thread's order"]
    cases = [(c.get("classname"), c.get("name")) for c in suites.iter("testcase")]
    assert ("two-phase-commit.commit-without-votes", "consistency") in cases
    assert ("guest-assisted.thread-order", "completeness") in cases and len(cases) == 6
    assert suites.get("tests") == "6" and suites.get("failures") == "0"
    known = next(c for c in suites.iter("testcase") if c.get("classname") == "guest-assisted.thread-order"
                 and c.get("name") == "completeness")
    assert known.find("failure") is None and "State 1: initial state" in known.find("system-out").text
    log = valid_sarif(sarif)
    assert log["runs"][0]["results"] == [] and log["runs"][0]["invocations"][0]["exitCode"] == 0


def test_a_known_bad_variant_expected_to_hold_fails_the_build(tmp_path, capsys):
    config = write(tmp_path, KNOWN_BAD_EXPECTED_TO_HOLD)
    junit, sarif = tmp_path / "j.xml", tmp_path / "s.sarif"
    status, out, _ = ci(capsys, "--config", str(config), "--junit", str(junit), "--sarif", str(sarif))
    assert status == 1
    assert "UNEXPECTED (expected holds)" in out and "State 4: [rm] rm_rcv_commit_msg(r=1)" in out

    suites = valid_junit(junit)
    assert suites.get("failures") == "1"
    failure = next(suites.iter("failure"))
    assert failure.get("type") == "unexpected-verdict"
    assert "State 2: [tm] tm_commit" in failure.text and "expected holds" in failure.get("message")

    log = valid_sarif(sarif)
    (result,) = log["runs"][0]["results"]
    assert result["ruleId"] == "two-phase-commit/consistency" and result["level"] == "error"
    where = result["locations"][0]["physicalLocation"]
    source = Path(inspect.getsourcefile(bundled("two-phase-commit"))).resolve()  # installed or not
    assert where["artifactLocation"]["uri"] == source.as_uri()  # not below the config's folder
    line = source.read_text().splitlines()[where["region"]["startLine"] - 1]
    assert line.strip() == "def consistency(s):"
    related = {loc["message"]["text"]: loc for loc in result["relatedLocations"]}
    assert related["check #1 in the CI configuration"]["physicalLocation"]["artifactLocation"] == {
        "uri": "migcheck.toml", "uriBaseId": "SRCROOT"}
    variant = related["variant commit-without-votes"]["physicalLocation"]
    assert source.read_text().splitlines()[variant["region"]["startLine"] - 1].startswith("class ")
    steps = result["codeFlows"][0]["threadFlows"][0]["locations"]
    assert [s["location"]["message"]["text"].split(":")[0] for s in steps] == [
        "State 2", "State 3", "State 4"]


def test_sarif_points_into_the_checkout_a_bundled_model_was_installed_from(tmp_path, capsys):
    """Run from migcheck's own checkout, a bundled model (imported from site-packages or the
    package folder) is annotated at its file in the checkout, relative to SRCROOT."""
    source = Path(inspect.getsourcefile(bundled("two-phase-commit"))).resolve()
    copy = tmp_path / "models" / "library" / source.name
    copy.parent.mkdir(parents=True)
    copy.write_bytes(source.read_bytes())
    config = write(tmp_path, KNOWN_BAD_EXPECTED_TO_HOLD)
    sarif = tmp_path / "s.sarif"
    assert ci(capsys, "--config", str(config), "--sarif", str(sarif))[0] == 1
    log = valid_sarif(sarif)
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["informationUri"].startswith("https://")
    (result,) = log["runs"][0]["results"]
    where = result["locations"][0]["physicalLocation"]["artifactLocation"]
    assert where == {"uri": f"models/library/{source.name}", "uriBaseId": "SRCROOT"}
    copy.write_text(copy.read_text() + "# changed\n")  # another file: no longer the model's source
    assert ci(capsys, "--config", str(config), "--sarif", str(sarif))[0] == 1
    (result,) = valid_sarif(sarif)["runs"][0]["results"]
    assert result["locations"][0]["physicalLocation"]["artifactLocation"] == {"uri": source.as_uri()}


def test_a_bug_no_longer_found_fails_the_build(tmp_path, capsys):
    config = write(tmp_path, """
        [[check]]
        model = "two-phase-commit"
        set = { rms = 3 }
        variants = ["base"]
        expect = { base = { consistency = "violated" } }
        """)
    sarif = tmp_path / "s.sarif"
    status, out, _ = ci(capsys, "--config", str(config), "--sarif", str(sarif))
    assert status == 1 and "UNEXPECTED (expected violated)" in out
    (result,) = valid_sarif(sarif)["runs"][0]["results"]
    assert "the configuration expects violated" in result["message"]["text"]


def test_a_model_file_of_the_project_is_pointed_at_relative_to_the_configuration(tmp_path, capsys):
    readme = (ROOT / "README.md").read_text()
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "copy.py").write_text(re.search(r"```python\n(.*?)```", readme, re.S).group(1))
    write(tmp_path, """
        [tool.other]
        x = 1

        [[tool.migcheck.check]]
        model = "models/copy.py"
        """, "pyproject.toml")
    sarif = tmp_path / "s.sarif"
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        status, out, _ = ci(capsys, "--sarif", str(sarif))
    finally:
        os.chdir(cwd)
    assert status == 1 and "completeness  violated (2 steps)" in out
    (result,) = valid_sarif(sarif)["runs"][0]["results"]
    where = result["locations"][0]["physicalLocation"]
    assert where["artifactLocation"] == {"uri": "models/copy.py", "uriBaseId": "SRCROOT"}
    line = (tmp_path / "models" / "copy.py").read_text().splitlines()[where["region"]["startLine"] - 1]
    assert line.strip() == "def completeness(s):"
    last = result["relatedLocations"][-1]
    assert last["message"]["text"] == "action dma_write"


def test_inconclusive_is_an_error_and_exit_2(tmp_path, capsys):
    config = write(tmp_path, """
        [[check]]
        model = "guest-assisted"
        variants = ["disable-first"]
        properties = ["completeness"]
        max-states = 50
        """)
    junit = tmp_path / "j.xml"
    status, _, _ = ci(capsys, "--config", str(config), "--junit", str(junit))
    assert status == 2
    suites = valid_junit(junit)
    assert suites.get("errors") == "1" and next(suites.iter("error")).get("type") == "inconclusive"


def test_default_configuration_is_found_in_the_working_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, _, err = ci(capsys)
    assert status == 2 and "no configuration in" in err and "[tool.migcheck]" in err
    write(tmp_path, "[project]\nname = 'x'\n", "pyproject.toml")  # no [tool.migcheck]: migcheck.toml
    write(tmp_path, FAST)
    status, out, _ = ci(capsys)
    assert status == 0 and "migcheck ci: migcheck.toml" in out


BAD = [
    ("bogus = 1\n", "unknown key 'bogus' (allowed: check)"),
    ("[[check]]\nmodel = 'nope'\n", "key 'model': unknown model 'nope' (bundled models: guest-assisted"),
    ("[[check]]\nmodel = 3\n", "key 'model': required: a bundled model's name"),
    ("[[check]]\nmodel = 'peterson'\nvarients = ['base']\n",
     "unknown key 'varients' (allowed: name, model, variants, properties, set, engine, expect"),
    ("[[check]]\nmodel = 'peterson'\nvariants = ['basic']\n",
     "key 'variants': unknown variant 'basic' (variants: base, turn-first)"),
    ("[[check]]\nmodel = 'peterson'\nvariants = 'base'\n",
     "key 'variants': must be a non-empty list of names"),
    ("[[check]]\nmodel = 'peterson'\nproperties = ['safety']\n",
     "key 'properties': unknown property 'safety' (properties: mutual-exclusion"),
    ("[[check]]\nmodel = 'two-phase-commit'\nset = { rms = '3' }\n",
     "key 'set.rms': must be an integer, not a string; allowed 1..8"),
    ("[[check]]\nmodel = 'two-phase-commit'\nset = { rms = 30 }\n", "key 'set.rms': parameter 'rms' = 30"),
    ("[[check]]\nmodel = 'two-phase-commit'\nset = { pages = 2 }\n",
     "key 'set.pages': unknown parameter (parameters: rms)"),
    ("[[check]]\nmodel = 'peterson'\nengine = 'spin'\n",
     "key 'engine': 'spin' is not an engine (engines: explicit, bmc, kind, pdr, all)"),
    ("[[check]]\nmodel = 'peterson'\nexpect = { base = { mutual-exclusion = 'fails' } }\n",
     "key 'expect.base.mutual-exclusion': 'fails' is not a verdict one can expect (allowed: holds, "
     "violated, vacuous)"),
    ("[[check]]\nmodel = 'peterson'\nexpect = { basic = { mutual-exclusion = 'holds' } }\n",
     "key 'expect.basic': unknown variant"),
    ("[[check]]\nmodel = 'peterson'\ntimeout = 'soon'\n", "key 'timeout': must be a number of seconds"),
    ("[[check]]\nmodel = 'peterson'\ndepth = 3\n", "key 'depth': bounds the bmc and kind engines"),
    ("check = 3\n", "'check' must be an array of tables"),
    ("[[check]\n", "not valid TOML"),
]


@pytest.mark.parametrize("body, message", BAD, ids=[m.split(":")[0][:40] for _, m in BAD])
def test_bad_configuration_is_one_line_naming_the_file_and_key(tmp_path, capsys, body, message):
    config = write(tmp_path, body)
    status, out, err = ci(capsys, "--config", str(config))
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"migcheck: error: {config}")
    assert message in err


def test_bad_configuration_in_pyproject_names_the_table_and_line(tmp_path, capsys):
    config = write(tmp_path, """
        [project]
        name = "x"

        [[tool.migcheck.check]]
        model = "peterson"

        [[tool.migcheck.check]]
        model = "peterson"
        variants = ["nope"]
        """, "pyproject.toml")
    status, _, err = ci(capsys, "--config", str(config))
    assert status == 2
    assert (f"{config}:8: [[tool.migcheck.check]] #2 (model 'peterson'), key 'variants': "
            "unknown variant 'nope'") in err


def test_unwritable_outputs_are_refused_before_checking(tmp_path, capsys):
    config = write(tmp_path, FAST)
    status, _, err = ci(capsys, "--config", str(config), "--junit", str(tmp_path / "missing" / "j.xml"))
    assert status == 2 and "--junit" in err
