"""`--engine all`: every safety verdict of the explicit engine is confirmed by a second engine
on the bundled models: a holds by a PDR proof, a counterexample or witness by BMC finding one
exactly as long.

The small models run by default; guest-assisted runs under `-m slow` (all ten variants: about
45 s of CPU, BENCHMARKS.md).
"""

from __future__ import annotations

import pytest

from migcheck.checker.verdict import Verdict
from migcheck.models.library import bundled
from migcheck.runner import exit_status, run

SMALL = ["two-phase-commit", "peterson", "dining-philosophers", "spinlock"]


def check_all(model: str, variant: str):
    rows = run(bundled(model), variants=[variant], engine="all")
    for r in rows:
        v: Verdict = r.verdict
        assert v.verdict != "error", v.reason  # an error here is a disagreement between engines
        if v.kind in ("invariant", "action", "reachable") and v.verdict != "inconclusive":
            engines = v.extra["engines"]
            shown = v.trace is not None or v.witness is not None
            assert "bmc" in engines if shown else "pdr" in engines, engines
            if shown:  # BMC found one exactly as long: the explicit engine's is shortest
                assert engines["bmc"] == engines["explicit"]
    return rows


@pytest.mark.parametrize("model, variant", [(m, v) for m in SMALL for v in bundled(m).variants()])
def test_engines_agree_on_small_models(model, variant):
    rows = check_all(model, variant)
    assert all(r.as_expected for r in rows)


def test_a_disagreement_is_an_error_naming_both_verdicts(monkeypatch):
    import migcheck.checker.symbolic as symbolic  # the runner imports it there when an engine runs

    real = symbolic.check_symbolic

    def lying_pdr(system, engine, props, depth, timeout, **options):
        verdicts = real(system, engine, props, depth, timeout, **options)
        if engine == "pdr" and "mutual-exclusion" in verdicts:
            from dataclasses import replace

            verdicts["mutual-exclusion"] = replace(verdicts["mutual-exclusion"], verdict="violated",
                                                   trace=None)
        return verdicts

    monkeypatch.setattr(symbolic, "check_symbolic", lying_pdr)
    rows = run(bundled("peterson"), variants=["base"], properties=["mutual-exclusion"], engine="all")
    v = rows[0].verdict
    assert v.verdict == "error"
    assert v.reason == "engines disagree on mutual-exclusion: explicit holds (exhaustive), pdr violated"
    assert exit_status(rows) == 2


@pytest.mark.slow
@pytest.mark.parametrize("variant", list(bundled("guest-assisted").variants()))
def test_engines_agree_on_guest_assisted(variant):
    check_all("guest-assisted", variant)
