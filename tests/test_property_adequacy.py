"""Every safety property of every bundled model can fail: some variant violates it.

A property that no variant can break may hold only because the model cannot express the
bug (as ``dest-order`` once did in guest-assisted, where nothing loaded RAM at the
destination). Such a property is a defect of the model set, not a success, unless it is
listed below with the reason no variant breaks it. The variants' expectations are the
evidence: `test_manifest` checks that each is what the checker finds.
"""

from __future__ import annotations

import pytest

from migcheck.models.library import BUNDLED, bundled
from migcheck.models.model import build

SAFETY = ("invariant", "action")
UNBREAKABLE = {  # (model, property) -> why no variant violates it
    ("spinlock", "mutual-exclusion"): "the model is about fairness: its variants differ only in how "
                                      "fair the processes are, and test-and-set is atomic in both",
    ("dining-philosophers", "neighbours-never-eat-together"):
        "the variants differ in the order forks are taken; a fork is held by one philosopher in both",
}


def safety_properties(model: str) -> list[str]:
    return [p.name for p in build(bundled(model)).properties if p.kind in SAFETY]


@pytest.mark.parametrize("model", list(BUNDLED))
def test_every_safety_property_is_violated_by_some_variant(model):
    variants = bundled(model).variants().values()
    never = [p for p in safety_properties(model)
             if not any(v.expect.get(p) == "violated" for v in variants) and (model, p) not in UNBREAKABLE]
    assert not never, f"{model}: no variant violates {', '.join(never)}; add a flawed variant or list it"


def test_the_listed_exceptions_are_real():
    for model, prop in UNBREAKABLE:
        assert prop in safety_properties(model), (model, prop)
        assert not any(v.expect.get(prop) == "violated" for v in bundled(model).variants().values())
