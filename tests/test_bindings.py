"""Every model with a binding to an emulator is covered by it, for every variant: each action
has an emulator operation, each property a concrete observer, and a fresh emulator reads as
an initial state of the model. A new action or property without an entry fails here, not in
a user's replay. Generic over `BINDINGS`: a new binding is tested by being registered.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from migcheck.emulator.bindings import BINDINGS, DEADLOCK, OBSERVED_KINDS, NoBinding, binding_for
from migcheck.emulator.schedule import kind
from migcheck.models.library import BUNDLED, bundled
from migcheck.models.model import build

ROOT = Path(__file__).parents[1]
CASES = [(model, variant) for model in sorted(BINDINGS) for variant in sorted(bundled(model).variants())]


def test_every_binding_is_of_a_bundled_model_and_says_so():
    for model in BINDINGS:
        assert model in BUNDLED, f"binding for {model!r}, which is no bundled model"
        assert binding_for(model).model == model


@pytest.mark.parametrize(("model", "variant"), CASES)
def test_every_action_and_property_has_an_entry(model, variant):
    binding = binding_for(model)
    system = build(bundled(model).variants()[variant])
    actions = sorted({a.name for a in system.actions})
    missing = [a for a in actions if a not in binding.actions]
    assert not missing, f"{model} [{variant}]: actions without an emulator operation: {missing}"
    for action in actions:  # names an operation kind of the binding's emulator
        try:
            kind(binding.actions[action].operation, binding.operations)
        except KeyError:
            pytest.fail(f"{model}: action {action} names no operation kind "
                        f"'{binding.actions[action].operation}'")
    wanted = [p.name for p in system.properties if p.kind in OBSERVED_KINDS]
    wanted += [DEADLOCK] if system.check_deadlock else []
    missing = [p for p in wanted if p not in binding.observers]
    assert not missing, f"{model} [{variant}]: properties without a concrete observer: {missing}"


@pytest.mark.parametrize("model", sorted(BINDINGS))
def test_no_entry_is_left_over(model):
    """An entry for an action or property no variant has is a stale name."""
    binding = binding_for(model)
    systems = [build(cls) for cls in bundled(model).variants().values()]
    actions = {a.name for s in systems for a in s.actions}
    props = {p.name for s in systems for p in s.properties if p.kind in OBSERVED_KINDS} | {DEADLOCK}
    assert sorted(set(binding.actions) - actions) == []
    assert sorted(set(binding.observers) - props) == []


@pytest.mark.parametrize(("model", "variant"), CASES)
def test_a_fresh_emulator_is_an_initial_state_of_the_model(model, variant):
    binding = binding_for(model)
    cls = bundled(model).variants()[variant]
    system = build(cls)
    m = binding.machine(cls, dict(system.params))
    assert system.layout.parse(binding.abstract(m)) in system.initial
    assert isinstance(binding.assess(m).any, bool) and list(binding.events(m)) is not None


def test_a_model_without_a_binding_is_refused_in_one_line():
    with pytest.raises(NoBinding, match=r"^model 'peterson' has no binding to an emulator"):
        binding_for("peterson")


def test_the_emulator_imports_nothing_from_the_checker():
    for path in sorted((ROOT / "emulator").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            level = node.level if isinstance(node, ast.ImportFrom) else 0
            for name in names:
                checker = name.startswith("migcheck.checker") or (level >= 2 and name.startswith("checker"))
                assert not checker, f"{path.relative_to(ROOT)} imports {name}"


def test_the_replay_names_no_model():
    """Replay is generic: no model's name outside the bindings."""
    for path in (ROOT / "migcheck" / "replay.py", ROOT / "migcheck" / "report" / "replay_outcome.py"):
        text = path.read_text()
        for model in BUNDLED:
            assert model not in text, f"{path.relative_to(ROOT)} names {model}"
