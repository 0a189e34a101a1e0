"""Symmetry reduction: fewer states, the same verdicts, concrete traces, and refusals."""

from __future__ import annotations

import pytest

from migcheck.checker import interpret
from migcheck.checker.explicit import explore
from migcheck.checker.symmetry import SymmetryRefused
from migcheck.models import Array, Bool, Enum, Index, Model, action, build, require
from migcheck.models.library import bundled
from migcheck.properties import eventually, invariant


def summary(result):
    return {k: (v.verdict, len(v.trace) if v.trace else None) for k, v in result.verdicts.items()}


@pytest.mark.parametrize("rms, reduced", [(3, 80), (4, 166), (5, 314)])
def test_two_phase_commit_reduces_with_identical_verdicts(two_phase_commit, rms, reduced):
    for cls in two_phase_commit.variants().values():
        system = build(cls, {"rms": rms})
        full, sym = explore(system), explore(system, symmetry=True)
        assert summary(full) == summary(sym)
        for v in sym.verdicts.values():
            for trace in (v.trace, v.witness):
                if trace is not None:
                    interpret.validate(system, trace)  # a concrete run, not canonical states
        if cls is two_phase_commit:
            assert sym.stats.states == reduced
            # One state per orbit: never fewer than states / rms! (the group's size).
            factorial = 1
            for k in range(2, rms + 1):
                factorial *= k
            assert full.stats.states / factorial <= sym.stats.states < full.stats.states


class Tokens(Model):
    """Processes that take a token; process 0 is special in the property."""

    name = "tokens"
    check_deadlock = False
    procs = Index("proc", default=3, allowed=range(2, 5), symmetric=True)
    has = Array(procs, Bool, init=False)
    mode = Enum("open", "closed", init="open")

    @action(owner="process")
    def take(s, i: procs):
        require((s.mode == "open") & ~s.has[i])
        s.has[i] = True

    @invariant
    def zero_waits(s):
        return ~s.has[0] | s.has[1]


def test_a_property_naming_one_element_is_refused():
    with pytest.raises(SymmetryRefused, match="property 'zero-waits' is not invariant under permuting procs"):
        explore(build(Tokens), symmetry=True)


def test_an_asymmetric_action_is_refused():
    class FirstIsFaster(Tokens):
        @action(owner="process")
        def take(s, i: Tokens.procs):
            require((s.mode == "open") & ~s.has[i] & (s.has[0] | (i == 0)))
            s.has[i] = True

        @invariant
        def zero_waits(s):
            return True

    with pytest.raises(SymmetryRefused, match=r"maps action take\(i=0\) to no action"):
        explore(build(FirstIsFaster), symmetry=True)


def test_cli_refuses_with_exit_2_and_reduces_two_phase_commit(capsys):
    from migcheck.cli import main

    assert main(["check", "guest-assisted", "--symmetry"]) == 2
    assert "no index set is declared symmetric" in capsys.readouterr().err
    assert main(["check", "two-phase-commit", "--set", "rms=4", "--variant", "base", "--symmetry"]) == 0
    assert "holds (exhaustive)     166" in capsys.readouterr().out


def test_models_without_symmetric_index_sets_and_liveness_are_refused():
    with pytest.raises(SymmetryRefused, match="no index set is declared symmetric"):
        explore(build(bundled("guest-assisted")), symmetry=True)

    class Live(Model):
        name = "live"
        procs = Index("proc", default=2, allowed=range(2, 3), symmetric=True)
        flag = Array(procs, Bool, init=False)

        @eventually
        def someone(s):
            return s.flag[0] | s.flag[1]

    with pytest.raises(SymmetryRefused, match="for safety properties"):
        explore(build(Live), symmetry=True)
