"""The modelling language: tracing, IR, and definition errors caught when a model is built."""

from __future__ import annotations

import re

import pytest

from migcheck.checker.explicit import explore
from migcheck.models import (
    Array,
    Bool,
    Enum,
    Index,
    Int,
    Model,
    ModelDefinitionError,
    Param,
    ParameterError,
    Ref,
    action,
    build,
    ite,
    require,
    variant,
)
from migcheck.models.expr import Op
from migcheck.properties import invariant


class Counter(Model):
    """A counter over pages with a dynamic index."""

    name = "counter"
    pages = Index("page", default=3, allowed=range(1, 5))
    cur = Int(0, 2, init=0)
    ver = Array(pages, Int(0, 2), init=0)
    on = Bool(init=True)

    @action(owner="device")
    def bump(s, p: pages):
        require(s.on & (s.ver[p] < 2))
        s.ver[p] = s.ver[p] + 1

    @action(owner="driver")
    def point(s):
        require(s.cur < 2)
        s.cur = s.cur + 1

    @action(owner="driver")
    def bump_current(s):
        require(s.ver[s.cur] < 2)
        s.ver[s.cur] = s.ver[s.cur] + 1

    @invariant
    def bounded(s):
        return s.ver[0] <= 2


def test_actions_are_traced_once_per_parameter_instance():
    system = build(Counter)
    labels = [a.label for a in system.actions]
    assert labels == ["bump(p=0)", "bump(p=1)", "bump(p=2)", "point", "bump_current"]
    bump0 = system.actions[0]
    assert bump0.owner == "device"
    assert [i for i, _ in bump0.updates] == [system.layout.var("ver").base]


def test_dynamic_index_expands_to_every_element():
    system = build(Counter)
    act = system.actions[-1]
    assert len(act.updates) == 3  # ver[cur] = ... may write any element
    assert all(isinstance(n, Op) and n.op == "ite" for _, n in act.updates)
    # 4 choices of cur... explored exhaustively: 3 pages x 3 versions, cur 0..2
    assert explore(system).stats.states == 27 * 3


def test_ir_hash_is_stable_and_sensitive_to_parameters():
    assert build(Counter).ir_hash == build(Counter).ir_hash
    assert build(Counter, {"pages": 4}).ir_hash != build(Counter).ir_hash


def test_parameter_out_of_range_names_the_range():
    with pytest.raises(ParameterError, match=r"'pages' = 9 is outside its range; allowed 1\.\.4"):
        build(Counter, {"pages": 9})
    with pytest.raises(ParameterError, match="no parameter 'page'"):
        build(Counter, {"page": 2})


PAGES = Index("page", default=2, allowed=range(1, 4))


def _model_with(action_fn, **extra) -> type[Model]:
    pages = PAGES
    ns = {"name": "bad", "pages": pages, "bme": Bool(init=True),
          "ver": Array(pages, Int(0, 3), init=0), "act": action(action_fn, owner="driver"), **extra}
    return type("Bad", (Model,), ns)


def test_python_if_on_state_is_refused_with_the_fix():
    def act(s, p: PAGES):
        if s.bme:
            s.ver[p] = 1

    with pytest.raises(ModelDefinitionError,
                       match=r"action act\(p=0\): Python 'if', 'and', 'or' or 'not' on state "
                             r"variable 'bme'; use require\(...\) or ite\(...\)"):
        build(_model_with(act))


def test_python_and_or_not_on_state_are_refused():
    def use_and(s):
        require(s.bme and s.ver[0] == 1)

    def use_not(s):
        require(not s.bme)

    for fn in (use_and, use_not):
        with pytest.raises(ModelDefinitionError, match="on state variable 'bme'"):
            build(_model_with(fn))


def test_assigning_twice_is_refused():
    def act(s):
        s.bme = False
        s.bme = True

    with pytest.raises(ModelDefinitionError, match=r"action act\(\): assigns 'bme' twice; .*ite"):
        build(_model_with(act))


def test_unknown_variable_is_refused():
    def read(s):
        require(s.bus_master)

    def write(s):
        s.bus_master = True

    with pytest.raises(ModelDefinitionError, match="unknown variable 'bus_master'"):
        build(_model_with(read))
    with pytest.raises(ModelDefinitionError, match="assigns unknown variable 'bus_master'"):
        build(_model_with(write))


def test_value_outside_domain_is_refused():
    def act(s, p: PAGES):
        s.ver[p] = 7

    with pytest.raises(ModelDefinitionError,
                       match=r"action act\(p=0\): assigns 7 to 'ver\[0\]', outside its domain Int\(0, 3\)"):
        build(_model_with(act))


def test_index_out_of_range_is_refused():
    def act(s):
        s.ver[5] = 1

    with pytest.raises(ModelDefinitionError, match=r"index 5 out of range for 'ver' \(0\.\.1\)"):
        build(_model_with(act))


def test_enum_label_typo_is_refused():
    class Phases(Model):
        name = "phases"
        phase = Enum("precopy", "stopped", init="precopy")

        @action(owner="hypervisor")
        def stop(s):
            require(s.phase == "precopyy")
            s.phase = "stopped"

    with pytest.raises(ModelDefinitionError, match="'precopyy' is not a value of Enum"):
        build(Phases)


def test_missing_index_annotation_is_refused():
    def act(s, p):
        s.ver[p] = 1

    with pytest.raises(ModelDefinitionError, match="parameter 'p' needs an index-set annotation"):
        _model_with(act)


def test_runtime_domain_overflow_is_an_error_verdict_with_a_trace():
    class Overflow(Model):
        name = "overflow"
        n = Int(0, 2, init=0)

        @action(owner="environment")
        def inc(s):
            s.n = s.n + 1

        @invariant
        def small(s):
            return s.n <= 2

    result = explore(build(Overflow))
    v = result.verdicts["small"]
    assert v.verdict == "error"
    assert "sets n to 3, outside Int(0, 2)" in v.reason
    assert len(v.trace) == 2


def test_ite_and_variants_with_flags():
    class Flagged(Model):
        name = "flagged"
        strict = True
        x = Int(0, 3, init=0)

        @action(owner="environment")
        def step(s):
            require(s.x < 3)
            s.x = ite(s.x == 0, 2, s.x + 1) if s.strict else s.x + 1

        @invariant
        def never_one(s):
            return s.x != 1

    @variant(Flagged, expect={"never-one": "violated"})
    class Loose(Flagged):
        strict = False

    assert explore(build(Flagged)).verdicts["never-one"].verdict == "holds"
    loose = explore(build(Loose)).verdicts["never-one"]
    assert loose.verdict == "violated" and len(loose.trace) == 1
    assert build(Loose).expected("never-one") == "violated"


def test_an_action_whose_guard_can_never_hold_is_dropped_not_an_error():
    """With rounds = 0, ``round < rounds`` never holds, so ``round + 1`` never leaves Int(0, 0)."""

    class Rounds(Model):
        name = "rounds"
        check_deadlock = False
        rounds = Param(default=0, allowed=range(3))
        round = Int(0, "rounds", init=0)

        @action(owner="hypervisor")
        def precopy_round(s):
            require(s.round < s.rounds)
            s.round = s.round + 1

    assert [a.label for a in build(Rounds, {"rounds": 0}).actions] == []
    assert [a.label for a in build(Rounds, {"rounds": 2}).actions] == ["precopy_round"]


def test_references_compare_and_assign_but_do_not_order():
    class Pointers(Model):
        name = "pointers"
        pages = Index("page", default=2, allowed=range(1, 4))
        buf = Ref(pages, init=None)

        @action(owner="driver")
        def take(s, p: pages):
            require(s.buf.is_none())
            s.buf = p

    system = build(Pointers)
    assert system.layout.render(system.initial[0]) == {"buf": None}
    assert [a.label for a in system.actions] == ["take(p=0)", "take(p=1)"]
    assert explore(system).stats.states == 3

    class Ordered(Pointers):
        @action(owner="driver")
        def take(s, p: Pointers.pages):
            require(s.buf < p)
            s.buf = p

    with pytest.raises(ModelDefinitionError, match="'<' needs int operands, got Ref"):
        build(Ordered)

    class OutOfRange(Pointers):
        @action(owner="driver")
        def take(s, p: Pointers.pages):
            s.buf = 2

    with pytest.raises(ModelDefinitionError, match="2 is not a page"):
        build(OutOfRange)


class Switched(Model):
    """A variant switch, ``BUGGY``, used the wrong way in each of the actions below."""

    name = "switched"
    BUGGY = False
    x = Int(0, 3, init=0)
    b = Bool(init=False)

    @invariant
    def small(s):
        return s.x < 3


def _with_step(body) -> type[Model]:
    return type("Step", (Switched,), {"step": action(body, name="step")})


@pytest.mark.parametrize("body", [
    lambda s: require(-2),                       # ~True, computed before require sees it
    lambda s: require(1),                        # an int is not a boolean either
    lambda s: require(None),
    lambda s: setattr(s, "x", ite(-1, 1, 3)),    # ~False
    lambda s: require(s.b | -2),
    lambda s: require(-2 & s.b),
    lambda s: setattr(s, "b", -2),
    lambda s: setattr(s, "b", 1),
    lambda s: require(s.b == 1),
    lambda s: setattr(s, "x", ite(s.b, True, 2)),
    lambda s: setattr(s, "x", ite(s.b, 1, 2.5)),
])
def test_a_python_value_that_is_not_a_boolean_where_one_is_meant_is_refused(body):
    with pytest.raises(ModelDefinitionError, match=r"switched \[base\]: action step\(\): .*not a"):
        build(_with_step(body))


def test_all_any_and_implies_refuse_python_values_that_are_not_booleans():
    from migcheck.models import all_, any_, implies

    for fn in (lambda: all_([True, -2]), lambda: any_([False, -1]), lambda: implies(-2, False)):
        with pytest.raises(ModelDefinitionError, match="not a boolean"):
            fn()


def test_tilde_on_a_python_flag_is_refused_with_the_line_and_the_fix():
    class Inverted(Switched):
        @action
        def step(s):
            require(s.x == 0)
            s.x = ite(~s.BUGGY, 1, 3)               # ~False == -1: truthy, the wrong branch

    class InvertedIf(Switched):
        @action
        def step(s):
            require(s.x == 0)
            if ~s.BUGGY:                            # never reaches the IR: only the source shows it
                s.x = 3

    for model in (Inverted, InvertedIf):
        with pytest.raises(ModelDefinitionError,
                           match=r"action step: test_language\.py:\d+: '~s\.BUGGY' is integer inversion "
                                 r"of a Python bool \(~False == -1, which is truthy\); write 'not s\.BUGGY'"):
            build(model)


def test_is_none_on_a_state_variable_is_refused():
    class Pointers(Model):
        name = "pointers"
        pages = Index("page", default=2, allowed=range(1, 4))
        buf = Ref(pages, init=None)

        @action(owner="driver")
        def take(s, p: pages):
            require(s.buf is None)                  # always False while tracing
            s.buf = p

    with pytest.raises(ModelDefinitionError, match=r"action take: .*'is' on state variable 'buf'"):
        build(Pointers)


@pytest.mark.parametrize("make, message", [
    (lambda: Int(0, float("inf"), init=0), "bound inf, not an integer"),
    (lambda: Int(0, 2.5, init=0), "bound 2.5, not an integer"),
    (lambda: Int(False, True, init=0), "bound False, not an integer"),
    (lambda: Int(0, lambda p: 2.7, init=0), "a bound function returned 2.7, not an integer"),
])
def test_a_bound_that_is_not_an_integer_is_refused(make, message):
    model = type("Bounded", (Model,), {"name": "bounded", "x": make()})
    with pytest.raises(ModelDefinitionError, match=re.escape(message)):
        build(model)


def test_declarations_that_python_would_silently_reinterpret_are_refused():
    with pytest.raises(ModelDefinitionError, match=r"default=9 is not one of the allowed values \(1\.\.3\)"):
        Index("page", default=9, allowed=range(1, 4))
    with pytest.raises(ModelDefinitionError, match="non-empty range or tuple of integers"):
        Param(default=1, allowed=[1, 2.5])
    with pytest.raises(ModelDefinitionError, match="labels are strings"):
        Enum(0, 1, init=0)
    assert Param(default=4, allowed=range(2, 9, 2)).allowed == (2, 4, 6, 8)  # the step is kept
