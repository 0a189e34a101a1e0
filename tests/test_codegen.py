"""The compiled search against a plain breadth-first search over the IR interpreter.

The generated code branches on shared slots, tests conjuncts lazily and builds successors by
adding constants; none of that may change which states are found, their numbering, or the
parent and action recorded for each (counterexamples are read from those).
"""

from __future__ import annotations

import pytest

from migcheck.checker import codegen, explicit, interpret
from migcheck.checker.explicit import explore
from migcheck.models import Array, Bool, Enum, Index, Int, Model, action, build, ite, require
from migcheck.models.library import bundled
from migcheck.properties import action_property, invariant, reachable


def plain_bfs(system):
    """States in breadth-first order, each with its parent index and the action that found it."""
    order = list(dict.fromkeys(system.initial))
    index = {s: k for k, s in enumerate(order)}
    parents, via = [-1] * len(order), [0] * len(order)
    i = 0
    while i < len(order):
        for a, nxt in interpret.successors(system, order[i]):
            if nxt not in index:
                index[nxt] = len(order)
                order.append(nxt)
                parents.append(i)
                via.append(a)
        i += 1
    return order, parents, via


class Shapes(Model):
    """Guards of the shapes the code generator treats specially, on purpose.

    A control enumeration tested by runs of consecutive actions (branching), a signed counter
    (a domain that does not start at 0), a counter too wide to be split into value tests, guards
    that read two slots, and a disjunction that folds to false inside some branches.
    """

    name = "shapes"
    mode = Enum("idle", "load", "run", "drain", "halt", init="idle")
    level = Int(-3, 3, init=0)
    wide = Int(0, 300, init=0)
    flag = Bool(init=False)
    spare = Bool(init=False)

    @action(owner="a")
    def load(s):
        require((s.mode == "idle") & ~s.flag)
        s.mode = "load"

    @action(owner="a")
    def idle_tick(s):
        require((s.mode == "idle") & (s.level > -3))
        s.level = s.level - 1

    @action(owner="a")
    def start(s):
        require(s.mode.isin("load", "drain") & (s.level < 3))
        s.mode = "run"
        s.level = s.level + 1

    @action(owner="a")
    def step(s):
        require((s.mode == "run") & (s.wide < 300) & ((s.level >= 0) | s.spare))
        s.wide = ite(s.wide < 2, s.wide + 150, s.wide + 1)

    @action(owner="a")
    def drain(s):
        require(s.mode.isin("run", "load") & (s.flag | (s.level == 2)))
        s.mode = "drain"
        s.flag = ~s.flag

    @action(owner="b")
    def toggle(s):
        require(((s.mode == "halt") & s.flag) | ((s.mode == "drain") & (s.level != 0)))
        s.spare = ~s.spare

    @action(owner="b")
    def halt(s):
        require(s.mode != "halt")
        s.mode = "halt"
        s.flag = True

    @action(owner="b")
    def reset(s):
        require((s.mode == "halt") & (s.wide > 150))
        s.mode = "idle"
        s.wide = 0
        s.level = 0

    @invariant(witness="wide-and-low")
    def bounded(s):
        return s.wide <= 300

    @action_property(witness="wide-and-low")
    def halting_sets_flag(before, act, after):
        return after.flag if act.name == "halt" else True

    @reachable
    def wide_and_low(s):
        return (s.wide > 150) & s.spare & (s.level != 0)


@pytest.mark.parametrize("model, params", [
    (Shapes, {}),
    (bundled("two-phase-commit"), {"rms": 3}),
    (bundled("peterson"), {}),
    (bundled("dining-philosophers"), {}),
    (bundled("spinlock"), {}),
    (bundled("guest-assisted").variants()["plain-touch"], {"slots": 1, "pages": 2}),
])
def test_states_parents_and_actions_are_those_of_a_plain_breadth_first_search(model, params):
    system = build(model, params)
    result = explore(system, properties=[])
    order, parents, via = plain_bfs(system)
    assert [result.state(i) for i in range(len(result.states))] == order
    assert list(result.parents) == parents
    assert list(result.via) == via


def test_properties_of_awkward_guards_are_decided_as_the_interpreter_sees_them():
    system = build(Shapes)
    result = explore(system)
    order, _, _ = plain_bfs(system)
    witness = system.property("wide-and-low")
    first = next(k for k, s in enumerate(order) if interpret.evaluate(witness.pred, s))
    v = result.verdicts["wide-and-low"]
    assert v.verdict == "holds" and v.witness.steps[-1].state == order[first]
    assert result.verdicts["bounded"].verdict == "holds"
    assert result.verdicts["halting-sets-flag"].verdict == "holds"


def test_the_search_is_compiled_once_however_many_properties_are_decided(monkeypatch):
    compiled = []
    real = codegen.compile_search

    def counting(*args):
        compiled.append(args[2])
        return real(*args)

    monkeypatch.setattr(explicit, "compile_search", counting)
    result = explore(build(bundled("guest-assisted")))
    witnesses = [n for n, v in result.verdicts.items() if v.kind == "reachable" and v.verdict == "holds"]
    assert len(witnesses) >= 5  # each was decided part way through the search
    assert len(compiled) == 1


class FoldsToNothing(Model):
    """A guard that only interval reasoning shows false: ``x < 0`` with ``x`` in 0..1.

    Both instances of ``mark`` test ``b``, so the search branches on it; inside ``b`` the rest
    of each guard folds to false and the branch has no action left.
    """

    name = "folds-to-nothing"
    pages = Index("page", default=2, allowed=range(1, 4))
    b = Bool(init=False)
    x = Int(0, 1, init=0)
    marked = Array(pages, Bool, init=False)

    @action
    def mark(s, p: pages):
        require((~s.b | (s.x < 0)) & s.b)
        s.marked[p] = True

    @action
    def flip(s):
        s.b = ~s.b

    @invariant
    def unmarked(s):
        return ~s.marked[0]


def test_a_branch_whose_guards_all_fold_to_false_still_compiles():
    system = build(FoldsToNothing)
    result = explore(system)
    order, parents, via = plain_bfs(system)
    assert [result.state(i) for i in range(len(result.states))] == order
    assert list(result.parents) == parents and list(result.via) == via
    assert result.verdicts["unmarked"].verdict == "holds"
