"""The operator table is complete, and every backend's column means what ``evaluate`` means.

A new operator that lacks a column for some backend, or an IR node whose operator is not in the
table, fails here rather than at run time in one engine.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import fields
from pathlib import Path

import pytest

from migcheck.models.expr import mk
from migcheck.models.library import bundled
from migcheck.models.model import build
from migcheck.models.nodes import Const, Op
from migcheck.models.operators import OPERATORS, Operator, evaluate, source

MANIFEST = json.loads((Path(__file__).parents[1] / "models" / "library" / "manifest.json").read_text())
INSTANCES = [(model, entry["params"], variant)
             for model, entries in MANIFEST.items() for entry in entries for variant in entry["variants"]]

# Operand values to try: small integers and 0/1 booleans, including negatives.
VALUES = (-2, -1, 0, 1, 2, 3)


def operand_tuples(row: Operator):
    n = row.arity or 3  # variadic rows are tried with three operands
    if row.name == "ite" or (row.boolean and row.name in ("not", "and", "or")):
        yield from itertools.product((0, 1), repeat=n) if row.name != "ite" else (
            (c, a, b) for c in (0, 1) for a in VALUES for b in VALUES)
        return
    yield from itertools.product(VALUES, repeat=n)


def test_every_row_has_every_column():
    for name, row in OPERATORS.items():
        assert row.name == name
        for f in fields(Operator):
            if f.name not in ("arity", "unit"):  # None there: "two or more", "drops none"
                assert getattr(row, f.name) is not None, f"operator {name} has no {f.name}"
        for column in ("evaluate", "python", "c", "promela", "murphi", "z3", "show", "interval"):
            assert callable(getattr(row, column)), f"operator {name}: {column} is not a function"


def test_associative_rows_are_associative_and_their_unit_is_one():
    """Symmetry's normal form flattens these chains and drops the unit: both must be true."""
    values = range(-2, 3)
    for name, row in OPERATORS.items():
        if not row.associative:
            continue
        for a, b, c in itertools.product(values, repeat=3):
            assert row.evaluate(row.evaluate(a, b), c) == row.evaluate(a, row.evaluate(b, c)), name
        if row.unit is not None:
            assert all(row.evaluate(row.unit, a) == a == row.evaluate(a, row.unit) for a in values), name
    assert {n for n, r in OPERATORS.items() if r.associative} == {"and", "or", "add", "mul"}


def test_every_operator_in_the_bundled_ir_has_a_row():
    """Walk the IR of every bundled instance (guards, updates, properties, final predicate)."""
    seen: set[str] = set()
    for model, params, variant in INSTANCES:
        system = build(bundled(model).variants()[variant], params)
        nodes = [a.guard for a in system.actions] + [n for a in system.actions for _, n in a.updates]
        for p in system.properties:
            nodes += [n for n in (p.pred, p.goal, *p.per_action) if n is not None]
        if system.final is not None:
            nodes.append(system.final)
        stack = list(nodes)
        while stack:
            n = stack.pop()
            if isinstance(n, Op):
                seen.add(n.op)
                assert n.op in OPERATORS, f"{model}/{variant}: operator '{n.op}' has no row in the table"
                assert OPERATORS[n.op].arity in (None, len(n.args)), f"{n.op} with {len(n.args)} operands"
                stack.extend(n.args)
    assert seen <= set(OPERATORS)


def test_an_unknown_operator_is_refused_when_built():
    with pytest.raises(ValueError, match="unknown IR operator 'xor'"):
        mk("xor", Const(1), Const(0))


@pytest.mark.parametrize("name", list(OPERATORS))
def test_python_source_and_interval_agree_with_evaluate(name):
    row = OPERATORS[name]
    for vals in operand_tuples(row):
        node = Op(name, tuple(Const(v) for v in vals))
        want = evaluate(node, ())
        got = eval(source(node, "python"))
        assert int(got) == want, (name, vals)
        lo, hi = row.interval([(v, v) for v in vals])
        assert lo <= want <= hi, (name, vals)
        assert mk(name, *(Const(v) for v in vals)).value == want  # constant folding


@pytest.mark.parametrize("name", list(OPERATORS))
def test_z3_builder_agrees_with_evaluate(name):
    z3 = pytest.importorskip("z3")
    row = OPERATORS[name]
    ctx = z3.Context()
    for vals in operand_tuples(row):
        terms = [z3.BoolVal(bool(v), ctx) if name in ("not", "and", "or") or (name == "ite" and k == 0)
                 else z3.IntVal(v, ctx) for k, v in enumerate(vals)]
        got = z3.simplify(row.z3(z3, terms))
        value = int(z3.is_true(got)) if z3.is_bool(got) else got.as_long()
        assert value == row.evaluate(*vals), (name, vals)


def test_c_sources_agree_with_evaluate(tmp_path):
    """Every row's C column, compiled by the system compiler, on every operand tuple."""
    from migcheck.checker.native.build import find_compiler

    cc = find_compiler()
    if cc is None:
        pytest.skip("no C compiler")
    cases = [(name, vals) for name, row in OPERATORS.items() for vals in operand_tuples(row)]
    lines = ["#include <stdio.h>", "#include <stdint.h>", "int main(void) {"]
    for name, vals in cases:
        expr = source(Op(name, tuple(Const(v) for v in vals)), "c")
        lines.append(f'    printf("%lld\\n", (long long)(int64_t)({expr}));')
    lines += ["    return 0;", "}"]
    (tmp_path / "ops.c").write_text("\n".join(lines))
    import subprocess

    subprocess.run([cc, "-O0", "-o", str(tmp_path / "ops"), str(tmp_path / "ops.c")], check=True)
    out = subprocess.run([str(tmp_path / "ops")], check=True, capture_output=True, text=True).stdout.split()
    for (name, vals), got in zip(cases, out, strict=True):
        assert int(got) == OPERATORS[name].evaluate(*vals), (name, vals)
