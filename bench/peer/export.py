"""A traced model instance written in Promela (for SPIN) and in Murphi (for Rumur).

Both are written from the IR, the way the native backend's C is, so the three checkers search
the same transition system: one variable per state slot with the slot's range, one guarded
command per action instance (a ``d_step`` in Promela, a rule in Murphi) whose updates read the
values before the step (through temporaries that are not part of the state), and the
invariants checked in every state reached. Identical distinct-state counts in the three tools
are the benchmark's check that this is so.

Operators are written by the operator table's ``promela`` and ``murphi`` columns. Murphi is
typed: slots are integer ranges, and booleans and integers are converted where an operator's
operands (the table's ``operands``) need the other kind.
"""

from __future__ import annotations

import re

from migcheck.models.ir import System
from migcheck.models.nodes import Const, Node, Op, Slot
from migcheck.models.operators import OPERATORS


def _names(system: System) -> list[str]:
    return [re.sub(r"\W", "_", s.name).strip("_") for s in system.layout.slots]


def _single_initial(system: System) -> tuple[int, ...]:
    if len(system.initial) != 1:
        raise ValueError(f"{system.model}: the peer models take one initial state, not {len(system.initial)}")
    return system.initial[0]


def _invariants(system: System, wanted: list[str] | None) -> list:
    return [p for p in system.properties if p.kind == "invariant" and (wanted is None or p.name in wanted)]


# ---------------------------------------------------------------- Promela


def promela_expr(node: Node, names: list[str]) -> str:
    if isinstance(node, Const):
        return str(node.value)
    if isinstance(node, Slot):
        return names[node.index]
    assert isinstance(node, Op)
    return OPERATORS[node.op].promela([promela_expr(a, names) for a in node.args])


def promela(system: System, invariants: list[str] | None = None) -> str:
    """One process looping over the action instances, each a ``d_step``; the loop is a valid end
    state (a state without successors is not an error here, as ``check_deadlock=False``)."""
    names = _names(system)
    init = _single_initial(system)
    lines = [f"/* {system.model} [{system.variant}] {dict(system.params)}: generated from the IR "
             f"{system.ir_hash} by bench/peer/export.py */"]
    for s, info in enumerate(system.layout.slots):
        d = info.domain
        kind = "bit" if (d.lo, d.hi) == (0, 1) else "byte" if d.lo >= 0 and d.hi < 256 else "short"
        lines.append(f"{kind} {names[s]} = {init[s]};")
        lines.append(f"hidden short n_{names[s]};")
    checks = [promela_expr(p.pred, names) for p in _invariants(system, invariants)]
    lines += ["", "active proctype step() {", "end:", "    do"]
    for act in system.actions:
        body = [f"n_{names[s]} = {promela_expr(n, names)}" for s, n in act.updates]
        body += [f"{names[s]} = n_{names[s]}" for s, _ in act.updates]
        body += [f"assert({c})" for c in checks]
        lines.append(f"    :: d_step {{ {promela_expr(act.guard, names)} -> {'; '.join(body)} }}"
                     f"  /* {act.label} */")
    lines += ["    od", "}"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- Murphi


def _kind(node: Node) -> str:
    """``bool`` or ``int``: how the node is written in Murphi before any conversion."""
    if isinstance(node, Const):
        return "bool" if node.is_bool else "int"
    if isinstance(node, Slot):
        return "int"
    return "bool" if OPERATORS[node.op].boolean else "int"


def murphi_expr(node: Node, names: list[str], want: str) -> str:
    """``node`` as a Murphi expression of kind ``want`` ("bool" or "int")."""
    if isinstance(node, Const):
        text = ("true" if node.value else "false") if want == "bool" else str(node.value)
        return text
    if isinstance(node, Slot):
        text = names[node.index]
    else:
        row = OPERATORS[node.op]
        kinds = ["bool", "int", "int"] if row.operands == "ite" else [row.operands] * len(node.args)
        text = row.murphi([murphi_expr(a, names, k) for a, k in zip(node.args, kinds, strict=True)])
    have = _kind(node)
    if have == want:
        return text
    return f"({text} != 0)" if want == "bool" else f"({text} ? 1 : 0)"


def murphi(system: System, invariants: list[str] | None = None) -> str:
    names = _names(system)
    init = _single_initial(system)
    ranges = [f"{s.domain.lo}..{s.domain.hi}" for s in system.layout.slots]
    lines = [f"-- {system.model} [{system.variant}] {dict(system.params)}: generated from the IR "
             f"{system.ir_hash} by bench/peer/export.py", "", "var"]
    lines += [f"  {names[s]} : {ranges[s]};" for s in range(len(names))]
    lines += ["", "startstate", "begin"]
    lines += [f"  {names[s]} := {init[s]};" for s in range(len(names))]
    lines += ["end;", ""]
    for act in system.actions:
        temps = "".join(f"  var n_{names[s]} : {ranges[s]};\n" for s, _ in act.updates)
        body = [f"  n_{names[s]} := {murphi_expr(n, names, 'int')};" for s, n in act.updates]
        body += [f"  {names[s]} := n_{names[s]};" for s, _ in act.updates]
        lines.append(f'rule "{act.label}" {murphi_expr(act.guard, names, "bool")} ==>')
        lines.append(temps + "begin")
        lines += body
        lines += ["end;", ""]
    for p in _invariants(system, invariants):
        lines.append(f'invariant "{p.name}" {murphi_expr(p.pred, names, "bool")};')
    return "\n".join(lines) + "\n"
