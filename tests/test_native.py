"""The native backend against the Python backend: everything the explicit engine reports.

Both backends must find the same states in the same order, with the same parent and action
for each (counterexamples are read from those), the same transitions and coverage, and the
same verdicts with the same traces; over every bundled model and variant (with symmetry where
the model declares it), and over randomly generated systems that use every IR operator.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from migcheck.checker.explicit import explore
from migcheck.checker.native.build import find_compiler
from migcheck.models.domains import Domain
from migcheck.models.expr import mk
from migcheck.models.ir import ActionIR, Layout, PropertyIR, SlotInfo, System, VarInfo, interval
from migcheck.models.library import bundled
from migcheck.models.model import build
from migcheck.models.nodes import Const, Slot
from migcheck.models.operators import OPERATORS

pytestmark = pytest.mark.skipif(find_compiler() is None, reason="no C compiler")

MANIFEST = json.loads((Path(__file__).parents[1] / "models" / "library" / "manifest.json").read_text())
INSTANCES = [(model, entry["params"], variant)
             for model, entries in MANIFEST.items() for entry in entries for variant in entry["variants"]]


def outcome(result) -> dict:
    """What a user or a later stage can see of an exploration."""
    return {
        "states": list(result.states), "parents": list(result.parents), "via": list(result.via),
        "stats": (result.stats.states, result.stats.transitions, result.stats.depth),
        "edges": None if result.edges is None else sorted(result.edges),
        "never_enabled": result.never_enabled,
        "verdicts": {name: (v.verdict, v.reason, v.complete,
                            v.trace, v.witness, v.stats.states)
                     for name, v in result.verdicts.items()},
    }


def same(system, **options) -> None:
    python = explore(system, backend="python", **options)
    native = explore(system, backend="native", **options)
    assert native.backend == "native"
    a, b = outcome(python), outcome(native)
    for key in a:
        assert a[key] == b[key], f"{system.model}/{system.variant} {options}: {key} differs"


@pytest.mark.slow
@pytest.mark.parametrize("model, params, variant", INSTANCES,
                         ids=[f"{m}-{'-'.join(f'{k}{v}' for k, v in p.items())}-{v}"
                              for m, p, v in INSTANCES])
def test_backends_agree_on_every_bundled_variant(model, params, variant):
    system = build(bundled(model).variants()[variant], params)
    same(system)
    if system.symmetric:
        safety = [p.name for p in system.properties if p.kind not in ("eventually", "leads_to")]
        same(system, properties=safety, symmetry=True)


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["disable-first", "unmap-unmarked"])
def test_backends_agree_on_symmetric_pages_with_references(variant):
    """Two pages, so the canonical form permutes them and renames the pages `buf` refers to."""
    system = build(bundled("guest-assisted").variants()[variant], {"slots": 2, "pages": 2})
    same(system, properties=[p.name for p in system.properties if p.kind not in ("eventually", "leads_to")],
         symmetry=True)


def test_backends_agree_on_two_phase_commit_with_symmetry_and_limits():
    system = build(bundled("two-phase-commit"), {"rms": 4})
    same(system)
    same(system, symmetry=True)
    same(system, max_states=1500)  # stopped by the same tick at the same state
    same(system, graph=True)


# ---------------------------------------------------------------- random systems

def random_node(rng: random.Random, slots: list[SlotInfo], boolean: bool, depth: int):
    """A random well-typed node over ``slots``: booleans from comparisons and connectives,
    integers from slots, constants, arithmetic and ite."""
    if depth == 0 or rng.random() < 0.25:
        pool = [k for k, s in enumerate(slots) if (s.domain.kind == "bool") == boolean]
        if pool and rng.random() < 0.8:
            return Slot(rng.choice(pool))
        return Const(rng.randint(0, 1), True) if boolean else Const(rng.randint(-1, 3))
    if boolean:
        op = rng.choice(["not", "and", "or", "eq", "ne", "lt", "le"])
        if op == "not":
            return mk("not", random_node(rng, slots, True, depth - 1))
        if op in ("and", "or"):
            return mk(op, *(random_node(rng, slots, True, depth - 1) for _ in range(rng.randint(2, 3))))
        return mk(op, random_node(rng, slots, False, depth - 1), random_node(rng, slots, False, depth - 1))
    op = rng.choice(["add", "sub", "mul", "ite"])
    if op == "ite":
        return mk("ite", random_node(rng, slots, True, depth - 1), random_node(rng, slots, False, depth - 1),
                  random_node(rng, slots, False, depth - 1))
    return mk(op, random_node(rng, slots, False, depth - 1), random_node(rng, slots, False, depth - 1))


def random_system(seed: int) -> System:
    rng = random.Random(seed)
    slots, variables = [], []
    for k in range(rng.randint(3, 7)):
        if rng.random() < 0.4:
            domain = Domain("bool", 0, 1)
        else:
            lo = rng.choice([0, 0, -2])
            domain = Domain("int", lo, lo + rng.randint(1, 5))
        slots.append(SlotInfo(f"x{k}", f"x{k}", None, domain))
        variables.append(VarInfo(f"x{k}", k, None, None, domain))
    layout = Layout(tuple(slots), tuple(variables))
    initial = tuple({tuple(rng.randint(s.domain.lo, s.domain.hi) for s in slots) for _ in range(2)})
    actions = []
    for a in range(rng.randint(3, 9)):
        updates = []
        for s in sorted(rng.sample(range(len(slots)), rng.randint(1, min(3, len(slots))))):
            node = random_node(rng, slots, slots[s].domain.kind == "bool", 2)
            d = slots[s].domain
            if d.kind == "bool" and not isinstance(node, Const) and rng.random() < 0.5:
                node = mk("not", Slot(s))
            elif d.kind == "int" and rng.random() < 0.8:  # mostly kept in range, so searches go deep
                fits = mk("and", mk("le", Const(d.lo), node), mk("le", node, Const(d.hi)))
                node = mk("ite", fits, node, Slot(s))
            updates.append((s, node))
        checks = tuple(s for s, n in updates if not (slots[s].domain.lo <= interval(n, layout)[0]
                                                     and interval(n, layout)[1] <= slots[s].domain.hi))
        guard = random_node(rng, slots, True, rng.choice([1, 1, 2]))
        actions.append(ActionIR(f"a{a}", (), "env", guard, tuple(updates), checks))
    properties = [PropertyIR("inv", "invariant", "", pred=random_node(rng, slots, True, 2), witness="seen"),
                  PropertyIR("seen", "reachable", "", pred=random_node(rng, slots, True, 2)),
                  PropertyIR("step", "action", "", per_action=tuple(random_node(rng, slots, True, 1)
                                                                    for _ in actions))]
    return System(f"random-{seed}", "base", (), layout, initial, tuple(actions), tuple(properties),
                  final=None, check_deadlock=rng.random() < 0.5)


def test_random_systems_use_every_operator():
    seen: set[str] = set()
    for seed in range(40):
        system = random_system(seed)
        stack = [a.guard for a in system.actions] + [n for a in system.actions for _, n in a.updates]
        while stack:
            n = stack.pop()
            if hasattr(n, "op"):
                seen.add(n.op)
                stack.extend(n.args)
    assert seen == set(OPERATORS)


@pytest.mark.parametrize("seed", [s if s < 10 else pytest.param(s, marks=pytest.mark.slow)
                                  for s in range(40)])
def test_backends_agree_on_random_systems(seed):
    system = random_system(seed)
    same(system)
    same(system, graph=True)
