"""The pinned manifest: every bundled variant's verdicts and distinct-state count.

CI fails when a known bug stops being found, a verdict changes, or a pinned count drifts.
The verdicts were worked out from the protocol (see the variants' docstrings), and the
model's own ``expect`` declarations must say the same.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from migcheck.checker.explicit import explore
from migcheck.models.library import bundled
from migcheck.models.model import build

MANIFEST = json.loads((Path(__file__).parents[1] / "models" / "library" / "manifest.json").read_text())
SLOW_STATES = 50_000  # a pinned exploration this large takes seconds: run it with -m slow
CASES = [pytest.param(model, {**entry["params"], **pinned.get("params", {})}, variant, pinned,
                      marks=[pytest.mark.slow] if pinned["states"] > SLOW_STATES else [],
                      id=f"{model}-{'-'.join(f'{k}{v}' for k, v in entry['params'].items())}-{variant}")
         for model, entries in MANIFEST.items()
         for entry in entries
         for variant, pinned in entry["variants"].items()]


@pytest.mark.parametrize("model, params, variant, pinned", CASES)
def test_pinned_verdicts_and_state_counts(model, params, variant, pinned):
    cls = bundled(model).variants()[variant]
    system = build(cls, params)
    result = explore(system)
    assert result.stats.states == pinned["states"]
    assert {k: v.verdict for k, v in result.verdicts.items()} == pinned["verdicts"]
    assert {k: system.expected(k) for k in pinned["verdicts"]} == pinned["verdicts"]


def test_manifest_covers_every_bundled_variant():
    for model, entries in MANIFEST.items():
        assert set(entries[0]["variants"]) == set(bundled(model).variants())


def test_the_first_entry_pins_what_the_default_check_runs():
    """`migcheck check` builds each variant with its own defaults (``first-page-mark`` spans
    two pages); a variant's ``params`` in the manifest are exactly where they differ."""
    for model, entries in MANIFEST.items():
        for variant, pinned in entries[0]["variants"].items():
            defaults = dict(build(bundled(model).variants()[variant]).params)
            assert defaults == {**entries[0]["params"], **pinned.get("params", {})}, (model, variant)
