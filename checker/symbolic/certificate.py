"""Certificates of unbounded proofs, and the small, independent checker that re-verifies
them on a fresh z3 solver before a proof may be reported as ``holds``.

A certificate is a state formula ``inv`` over the slot constants (``bme``, ``src[1]``) and a
depth ``k``. The checker derives from the system itself what must be shown (it trusts no
formula of the engine but ``inv``): the *claim* of the property (`goals.claim`: the
property's safe-state predicate and that no enabled action leaves a slot's domain), the
initial states and the slot domains ``D``. Its first condition re-derives the transition
relation: the slot-by-slot relation ``T`` the engines unroll must equal the relation written
action by action (guard, updates, ``v' = v`` for the rest: ``Encoding.trans_by_action``);
the other conditions then use ``T``. Each of these must be unsat:

- relation: ``D(x0) & D(x1) & ~(T(x0, a, x1) <=> T_by_action(x0, a, x1))``
- property: ``D(x0) & inv(x0) & ~claim(x0)``

and, for ``k = 1`` (PDR, and k-induction when it closes at 1: an inductive invariant):

- initiation: ``init(x0) & ~inv(x0)``
- consecution: ``D(x0) & inv(x0) & T(x0, x1) & D(x1) & ~inv(x1)``

or, for ``k > 1`` (k-induction), the k-step form, not converted to a 1-inductive invariant:

- base ``j`` for each ``j < k``: ``init(x0) & T(x0..xj) & D(x0..xj) & ~inv(xj)``
- step: ``inv(x0..x_{k-1}) & T(x0..xk) & D(x0..xk) & x0..xk pairwise distinct & ~inv(xk)``

Together these show that every reachable state satisfies ``inv`` (for ``k > 1``: a shortest
path to a first violating state is simple, and its last ``k`` states before the violation
satisfy ``inv``), hence the claim. The domain part of the claim makes the ``D(x1)``
hypothesis harmless: from a state where no enabled action escapes its domain, every
successor is in the domains.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import z3

from migcheck.models.errors import SolverUnknown
from migcheck.models.ir import Instance, System

from ..trace import write_text_atomic
from .encode import Encoding, Unroller, conj
from .epr import alternation
from .goals import claim, conjuncts
from .lift import FirstOrder
from .limits import Deadline

FORMAT = "migcheck-certificate-1"


@dataclass(frozen=True)
class Certificate:
    """The evidence of an unbounded proof of ``property``: ``invariant`` is ``k``-inductive."""

    instance: Instance  # the checked model instance the proof is of
    property: str
    engine: str
    invariant: z3.BoolRef
    k: int = 1

    model = property(lambda self: self.instance.model)
    variant = property(lambda self: self.instance.variant)
    params = property(lambda self: self.instance.params)
    ir_hash = property(lambda self: self.instance.ir_hash)

    @classmethod
    def of(cls, system: System, prop: str, engine: str, invariant: z3.BoolRef, k: int = 1
           ) -> Certificate:
        return cls(system.instance, prop, engine, invariant, k)


@dataclass(frozen=True)
class CertificateCheck:
    """The checker's answer: ``valid``, or the first condition that failed and why."""

    valid: bool
    failed: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Condition:
    """One proof obligation: ``hypotheses`` imply ``conclusion`` (so their conjunction with the
    negated conclusion must be unsat)."""

    name: str
    hypotheses: tuple[z3.BoolRef, ...]
    conclusion: z3.BoolRef

    def negation(self) -> z3.BoolRef:
        """The formula that must be unsat."""
        return conj([*self.hypotheses, z3.Not(self.conclusion)], self.conclusion.ctx)


@dataclass(frozen=True)
class EverySizeCertificate:
    """The evidence of a proof for every size of the ``sets`` given as ``any``: ``invariant``
    is a quantified formula over the first-order state (`lift`), 1-inductive. ``relift``
    traces and lifts the model afresh in the z3 context given, so the checker trusts nothing
    of the engine but the invariant."""

    model: str
    variant: str
    params: tuple[tuple[str, int | str], ...]
    sets: tuple[str, ...]
    property: str
    engine: str
    invariant: z3.BoolRef
    relift: Callable[[z3.Context], FirstOrder]
    k: int = 1

    def conditions(self) -> list[Condition]:
        """Initiation, consecution and property over the freshly lifted system; each negation
        must be unsat, and each stays in EPR (`epr.alternation`)."""
        fo = self.relift(z3.Context())
        sig = fo.sig
        inv = self.invariant.translate(sig.ctx)
        template = sig.state("")
        known = {str(c) for c in [*template.scalars.values(), *template.arrays.values()]}
        known |= {str(x) for pair in template.refs.values() for x in pair if x is not None}
        stray = sorted(set(_symbols(inv)) - known)
        if stray:
            raise ValueError(f"certificate invariant mentions {', '.join(stray)}, which are not state "
                             "symbols")
        prop = fo.system.property(self.property)
        if prop is None:
            raise ValueError(f"certificate names property '{self.property}', which the model lacks")
        st0, st1 = sig.state("@0"), sig.state("@1")
        at0, at1 = sig.at(inv, "@0"), sig.at(inv, "@1")
        d0, d1 = fo.domain(st0), fo.domain(st1)
        return [Condition("property", (d0, at0), fo.claim(prop, st0)),
                Condition("initiation", (fo.init(st0),), at0),
                Condition("consecution", (d0, at0, fo.trans(st0, st1), d1), at1)]


def _symbols(formula: z3.ExprRef) -> list[str]:
    """The names of the uninterpreted constants and functions a formula applies."""
    found, stack, visited = [], [formula], set()
    while stack:
        e = stack.pop()
        if e.get_id() in visited:
            continue
        visited.add(e.get_id())
        if z3.is_quantifier(e):
            stack.append(e.body())
        elif z3.is_app(e):
            if e.decl().kind() == z3.Z3_OP_UNINTERPRETED:
                found.append(e.decl().name())
            stack.extend(e.children())
    return found


def check_every_size_certificate(cert: EverySizeCertificate, timeout: float | None = None
                                 ) -> CertificateCheck:
    """Re-verify an `EverySizeCertificate` on a fresh solver: every condition unsat, and in the
    decidable fragment (an unknown answer or a condition outside it is not a pass)."""
    try:
        todo = cert.conditions()
    except ValueError as exc:
        return CertificateCheck(False, "identity", str(exc))
    for cond in todo:
        negation = cond.negation()
        why = alternation(negation)
        if why:
            return CertificateCheck(False, cond.name, f"the {cond.name} condition leaves the decidable "
                                                      f"fragment: {why}")
        solver = z3.Solver(ctx=negation.ctx)
        if timeout is not None:
            solver.set("timeout", max(1, int(timeout * 1000)))
        solver.add(negation)
        result = solver.check()
        if result == z3.sat:
            return CertificateCheck(False, cond.name, f"the {cond.name} condition fails: z3 found a "
                                                      "state (of some size) that satisfies its negation")
        if result != z3.unsat:
            return CertificateCheck(False, cond.name, f"z3 answered unknown on the {cond.name} "
                                                      f"condition ({solver.reason_unknown()})")
    return CertificateCheck(True)


def conditions(system: System, cert: Certificate | EverySizeCertificate) -> list[Condition]:
    """The obligations that together prove ``cert``'s property (see the module docstring).

    Raises ValueError when the certificate belongs to another model or names unknown state.
    """
    if isinstance(cert, EverySizeCertificate):
        return cert.conditions()
    return _obligations(system, cert)[1]


def _obligations(system: System, cert: Certificate) -> tuple[Encoding, list[Condition]]:
    if cert.ir_hash != system.ir_hash:
        raise ValueError(f"certificate for {cert.model} [{cert.variant}] (IR {cert.ir_hash}) does not "
                         f"belong to {system.model} [{system.variant}] (IR {system.ir_hash})")
    prop = system.property(cert.property)
    if prop is None:
        raise ValueError(f"certificate names property '{cert.property}', which the model lacks")
    if cert.k < 1:
        raise ValueError(f"certificate depth k = {cert.k}; it must be at least 1")
    enc = Encoding(system)  # fresh: a z3 context of its own, nothing of the engine's search
    inv = cert.invariant.translate(enc.ctx)
    known = {(str(v), v.sort()) for v in enc.cur}
    stray = sorted({str(c) for c in _leaves(inv) if (str(c), c.sort()) not in known})
    if stray:
        raise ValueError(f"certificate invariant mentions {', '.join(stray)}, which are not state slots")
    u = Unroller(enc)
    wanted = claim(enc, prop)

    def path(n: int) -> list[z3.BoolRef]:
        """``n`` transitions from step 0 and the domains of every step."""
        return [u.at(enc.domain, j) for j in range(n + 1)] + [u.at(enc.trans, j) for j in range(n)]

    out = [Condition("relation", (u.at(enc.domain, 0), u.at(enc.domain, 1)),
                     u.at(enc.trans == enc.trans_by_action, 0)),
           Condition("property", (u.at(enc.domain, 0), u.at(inv, 0)), u.at(wanted, 0))]
    if cert.k == 1:
        out.append(Condition("initiation", (u.at(enc.init, 0),), u.at(inv, 0)))
        out.append(Condition("consecution", (*path(1), u.at(inv, 0)), u.at(inv, 1)))
        return enc, out
    for j in range(cert.k):
        out.append(Condition(f"base {j}", (u.at(enc.init, 0), *path(j)), u.at(inv, j)))
    k = cert.k
    distinct = [u.simple_path(j) for j in range(1, k + 1)]
    out.append(Condition(f"{k}-step", (*path(k), *distinct, *[u.at(inv, j) for j in range(k)]),
                         u.at(inv, k)))
    return enc, out


def check_certificate(system: System, cert: Certificate, timeout: float | None = None
                      ) -> CertificateCheck:
    """Re-verify ``cert`` on a fresh z3 solver (see the module docstring for what is checked).

    Each obligation's hypotheses are asserted in a scope of their own, and its conclusion is
    asked one conjunct at a time, each under a literal: every conjunct must follow, which is
    the same obligation. A blocking proof's consecution at 16 pages then takes seconds: its
    negated conjunction of thousands of clauses, asked at once, took minutes; with the
    hypotheses as assumptions (propagated again on every query) the conjuncts took three
    times as long as in a scope. An unknown answer or a timeout is not a pass. Cost: one query per conjunct of
    ``k + 3`` conclusions over at most ``k`` steps.
    """
    try:
        enc, todo = _obligations(system, cert)
    except ValueError as exc:
        return CertificateCheck(False, "identity", str(exc))
    solver = enc.solver()
    deadline = Deadline(timeout)  # for all the queries together
    for cond in todo:
        solver.push()
        solver.add(*cond.hypotheses)
        for n, part in enumerate(conjuncts(cond.conclusion)):
            broken = enc.literal(f"{cond.name}#{n}")
            solver.add(z3.Implies(broken, z3.Not(part)))
            try:
                result = deadline.check(solver, broken)
            except SolverUnknown as exc:
                return CertificateCheck(False, cond.name, f"no answer on the {cond.name} condition: {exc}")
            if result == z3.sat:
                return CertificateCheck(False, cond.name, f"the {cond.name} condition fails: z3 found "
                                                          "a state (or path) that satisfies its negation")
        solver.pop()
    return CertificateCheck(True)


def certificate_smtlib(system: System, *certs: Certificate) -> str:
    """Certificates as one SMT-LIB 2 script: every ``(check-sat)`` in it must answer unsat.

    Each check is a self-contained ``(push 1)`` ... ``(pop 1)`` block that first echoes the
    name of its condition, so ``z3 FILE`` prints a name and ``unsat`` per condition.
    """
    lines = [f"; {FORMAT}",
             "; every check below must answer unsat; each echoes its condition's name first",
             "(set-option :print-success false)"]
    for cert in certs:
        lines += _smtlib_blocks(system, cert)
    return "\n".join(lines) + "\n"


def _smtlib_blocks(system: System, cert: Certificate | EverySizeCertificate) -> list[str]:
    params = " ".join(f"{k}={v}" for k, v in cert.params)
    ir = f" (IR {cert.ir_hash})" if isinstance(cert, Certificate) else ""
    every = f", for every {' and '.join(cert.sets)}" if isinstance(cert, EverySizeCertificate) else ""
    lines = ["", f"; model {cert.model} [{cert.variant}] {params}{ir}",
             f"; property {cert.property}, proved by {cert.engine}{every}, {cert.k}-inductive invariant"]
    for cond in conditions(system, cert):
        solver = z3.Solver(ctx=cond.conclusion.ctx)
        solver.add(cond.negation())
        lines += ["", f"; condition: {cond.name}", "(push 1)", solver.sexpr().rstrip(),
                  f'(echo "{cond.name}")', "(check-sat)", "(pop 1)"]
    return lines


def write_certificate(path: str, system: System, *certs: Certificate) -> None:
    """Write :func:`certificate_smtlib` of ``certs`` to ``path`` through a temporary file and a
    rename, so no half-written file remains. Raises ValueError for a certificate of another model."""
    write_text_atomic(path, certificate_smtlib(system, *certs))


def _leaves(formula: z3.ExprRef) -> list[z3.ExprRef]:
    """The uninterpreted symbols, bound variables and quantifiers a formula mentions."""
    found: list[z3.ExprRef] = []
    stack = [formula]
    visited: set[int] = set()
    while stack:
        e = stack.pop()
        if e.get_id() in visited:
            continue
        visited.add(e.get_id())
        if z3.is_var(e) or z3.is_quantifier(e):
            found.append(e)  # certificates are quantifier-free formulas over the slots
        elif z3.is_app(e):
            if e.decl().kind() == z3.Z3_OP_UNINTERPRETED:
                found.append(e)
            stack.extend(e.children())
    return found
