"""Symmetry reduction: fewer states, the same verdicts, concrete traces, and refusals."""

from __future__ import annotations

import itertools

import pytest

from migcheck.checker import interpret
from migcheck.checker.explicit import explore
from migcheck.checker.symmetry import Renaming, Symmetry, SymmetryRefused
from migcheck.models import (
    Array,
    Bool,
    Enum,
    Index,
    Model,
    Ref,
    action,
    all_,
    any_,
    build,
    count,
    implies,
    require,
)
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

    assert main(["check", "peterson", "--symmetry"]) == 2
    assert "no index set is declared symmetric" in capsys.readouterr().err
    assert main(["check", "guest-assisted", "--symmetry"]) == 2  # its liveness properties
    err = capsys.readouterr().err
    assert "check migration-ends, network-recovers, event-answered without --symmetry" in err
    assert main(["check", "two-phase-commit", "--set", "rms=4", "--variant", "base", "--symmetry"]) == 0
    assert "holds (exhaustive)     166" in capsys.readouterr().out


def test_models_without_symmetric_index_sets_and_liveness_are_refused():
    with pytest.raises(SymmetryRefused, match="no index set is declared symmetric"):
        explore(build(bundled("peterson")), symmetry=True)

    class Live(Model):
        name = "live"
        procs = Index("proc", default=2, allowed=range(2, 3), symmetric=True)
        flag = Array(procs, Bool, init=False)

        @eventually
        def someone(s):
            return s.flag[0] | s.flag[1]

    with pytest.raises(SymmetryRefused, match="for safety properties"):
        explore(build(Live), symmetry=True)


# ---------------------------------------------------------------- references to symmetric elements


class Buffers(Model):
    """Slots (ordered) take buffers in pages (interchangeable); a page holds one buffer."""

    name = "buffers"
    check_deadlock = False
    pages = Index("page", default=3, allowed=range(1, 6), symmetric=True)
    slots = Index("slot", default=2, allowed=range(1, 4))
    buf = Array(slots, Ref(pages), init=None)
    used = Array(pages, Bool, init=False)
    dirty = Array(pages, Bool, init=False)

    @action(owner="driver")
    def take(s, i: slots, p: pages):
        require(s.buf[i].is_none() & ~s.used[p])
        s.buf[i] = p
        s.used[p] = True

    @action(owner="device")
    def write(s, i: slots, p: pages):
        require(s.buf[i] == p)
        s.dirty[p] = True

    @action(owner="driver")
    def give(s, i: slots, p: pages):
        require(s.buf[i] == p)
        s.buf[i] = None
        s.used[p] = False

    @invariant
    def one_buffer_a_page(s):
        return all_(implies(~s.buf[i].is_none(), s.buf[i] != s.buf[j])
                    for i in s.slots for j in s.slots if i < j)

    @invariant
    def clean(s):
        """Violated: a page gets written."""
        return ~any_(s.dirty[p] for p in s.pages)


def orbits(system, states, group):
    """The number of orbits among ``states`` under every permutation of ``group`` (brute force)."""
    return len({min(Renaming(group, perm).state(st) for perm in itertools.permutations(range(group.size)))
                for st in states})


@pytest.mark.parametrize("pages", [2, 3, 4])
def test_references_are_renamed_one_state_per_orbit(pages):
    system = build(Buffers, {"pages": pages})
    full, sym = explore(system), explore(system, symmetry=True)
    assert summary(full) == summary(sym)
    interpret.validate(system, sym.verdicts["clean"].trace)
    symmetry = Symmetry.of(system)
    states = [full.state(i) for i in range(len(full.states))]
    assert sym.stats.states == orbits(system, states, symmetry.groups[0]) < full.stats.states
    for st in states[:200]:  # the canonical form is in the orbit and the same for the whole orbit
        c = symmetry.canonical(st)
        perms = itertools.permutations(range(pages))
        images = {Renaming(symmetry.groups[0], perm).state(st) for perm in perms}
        assert c in images and {symmetry.canonical(o) for o in images} == {c}


def test_ordering_references_or_naming_an_element_is_refused():
    class Ordered(Buffers):
        @action(owner="driver")
        def take(s, i: Buffers.slots, p: Buffers.pages):
            require(s.buf[i].is_none() & ~s.used[p] & (s.buf[1] != 0))  # page 0 is special
            s.buf[i] = p
            s.used[p] = True

        @invariant
        def clean(s):
            return True

    with pytest.raises(SymmetryRefused, match=r"maps action take\(i=0, p=0\) to no action"):
        explore(build(Ordered), symmetry=True)

    class NamesPageZero(Buffers):
        @invariant
        def clean(s):
            return ~any_(s.buf[i] == 0 for i in s.slots)

    with pytest.raises(SymmetryRefused, match="property 'clean' is not invariant under permuting pages"):
        explore(build(NamesPageZero), symmetry=True)

    class PointersInPages(Buffers):
        next_page = Array(Buffers.pages, Ref(Buffers.pages), init=None)

    with pytest.raises(SymmetryRefused, match="'next_page' is an array over pages holding references"):
        explore(build(PointersInPages), symmetry=True)


@pytest.mark.parametrize("variant, pages, factor", [
    ("disable-first", 3, 4.5), ("thread-order", 2, 1.5), ("unmap-unmarked", 2, 1.5),
    pytest.param("plain-touch", 2, 1.5, marks=pytest.mark.slow)])
def test_guest_assisted_pages_are_interchangeable(guest_assisted, variant, pages, factor):
    """About pages! fewer states, the same verdicts, and concrete counterexamples."""
    system = build(guest_assisted.variants()[variant], {"pages": pages})
    safety = [p.name for p in system.properties if p.kind in ("invariant", "action", "reachable")]
    full, sym = explore(system, safety), explore(system, safety, symmetry=True)
    assert summary(full) == summary(sym)
    for v in sym.verdicts.values():
        for trace in (v.trace, v.witness):
            if trace is not None:
                interpret.validate(system, trace)
    assert full.stats.states / sym.stats.states > factor  # pages! bounds it
    # Canonical states enable only the instances on the pages sorted first; coverage counts orbits.
    assert sym.never_enabled == full.never_enabled


def test_guest_assisted_reduction_is_the_number_of_orbits(guest_assisted):
    """The canonical form is exact: one state per orbit, as a brute-force count over all
    permutations of the pages confirms (the reduction is below pages! only because many states
    are fixed by some permutations: pages no buffer has used look alike)."""
    system = build(guest_assisted, {"pages": 2, "rounds": 0})
    safety = [p.name for p in system.properties if p.kind in ("invariant", "action", "reachable")]
    full, sym = explore(system, safety), explore(system, safety, symmetry=True)
    states = [full.state(i) for i in range(len(full.states))]
    assert sym.stats.states == orbits(system, states, Symmetry.of(system, safety).groups[0])


class Counted(Model):
    """Guards and properties that count over a symmetric set: ``count`` builds a chain of
    additions, which a permutation reorders at the leaves, not at the nesting."""

    name = "counted"
    check_deadlock = False
    procs = Index("proc", default=3, allowed=range(2, 5), symmetric=True)
    has = Array(procs, Bool, init=False)

    @action(owner="process")
    def take(s, i: procs):
        require(~s.has[i] & (count(s.has[j] for j in s.procs) < 2))
        s.has[i] = True

    @invariant
    def at_most_two(s):
        return count(s.has[j] for j in s.procs) <= 2


@pytest.mark.parametrize("procs", [2, 3, 4])
def test_count_over_a_symmetric_set_is_symmetric(procs):
    system = build(Counted, {"procs": procs})
    full, sym = explore(system), explore(system, symmetry=True)
    assert summary(full) == summary(sym) == {"at-most-two": ("holds", None)}
    assert sym.stats.states == 3 < full.stats.states  # 0, 1 or 2 tokens taken
