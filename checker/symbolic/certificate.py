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

Each condition is asked one conjunct of its conclusion at a time (`Queries`), by the
checkers here and in the SMT-LIB file alike.
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

FORMAT = "migcheck-certificate-2"  # -2: one query per conjunct of a conclusion, guarded


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

    def queries(self) -> Queries:
        """How this condition is asked: each conjunct of its conclusion on its own. The one
        place of the split, for the checkers here and the SMT-LIB file alike."""
        parts = conjuncts(self.conclusion)
        guards = tuple(z3.Bool(f"{self.name}#{n}", self.conclusion.ctx) for n in range(len(parts)))
        negated = [z3.Implies(g, z3.Not(c)) for g, c in zip(guards, parts, strict=True)]
        return Queries((*self.hypotheses, *negated), guards)


@dataclass(frozen=True)
class Queries:
    """A condition asked one conjunct ``c_n`` of its conclusion at a time: ``assertions`` (the
    hypotheses, and ``guard_n => ~c_n`` for every n) go into a scope once, then each guard is
    assumed on its own and must give unsat. The guards are fresh ('#' is in no state
    symbol's name), so the n-th query is exactly ``hypotheses & ~c_n``: all unsat is exactly
    ``hypotheses => conclusion``.

    Why: a blocking proof's consecution at 16 pages, asked as one negated conjunction of
    thousands of clauses, took minutes on the API's QF_LIA solver; per conjunct, seconds.
    Guards assumed rather than a scope pushed per conjunct: the solver keeps what it learnt
    from the hypotheses from one query to the next (z3 reading the file of that proof: 3 s
    against 15 s, BENCHMARKS.md).
    """

    assertions: tuple[z3.BoolRef, ...]
    guards: tuple[z3.BoolRef, ...]


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
        why = alternation(cond.negation())
        if why:
            return CertificateCheck(False, cond.name, f"the {cond.name} condition leaves the decidable "
                                                      f"fragment: {why}")
    return _ask(z3.Solver(ctx=todo[0].conclusion.ctx), todo, Deadline(timeout), "a state (of some size)")


def conditions(system: System, cert: Certificate | EverySizeCertificate
               ) -> tuple[str | None, list[Condition]]:
    """The obligations that together prove ``cert``'s property (see the module docstring), and
    the SMT-LIB logic the checker's solver is configured for (None: z3's general one).

    Raises ValueError when the certificate belongs to another model or names unknown state.
    """
    if isinstance(cert, EverySizeCertificate):
        return None, cert.conditions()
    enc, todo = _obligations(system, cert)
    return enc.logic(), todo


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

    Each obligation is asked as the SMT-LIB file asks it (`Condition.queries`): its
    hypotheses asserted once in a scope (as assumptions, propagated again on every query,
    they took three times as long), then each conjunct of its conclusion on its own. An
    unknown answer or a timeout is not a pass. Cost: one query per conjunct of ``k + 3``
    conclusions over at most ``k`` steps.
    """
    try:
        enc, todo = _obligations(system, cert)
    except ValueError as exc:
        return CertificateCheck(False, "identity", str(exc))
    return _ask(enc.solver(), todo, Deadline(timeout), "a state (or path)")


def _ask(solver: z3.Solver, todo: list[Condition], deadline: Deadline, witness: str) -> CertificateCheck:
    """Every query of every condition in ``todo`` on ``solver``, within ``deadline`` for all of
    them together: valid when each answers unsat. ``witness`` says what a sat answer found."""
    for cond in todo:
        asked = cond.queries()
        solver.push()
        solver.add(*asked.assertions)
        for guard in asked.guards:
            try:
                result = deadline.check(solver, guard)
            except SolverUnknown as exc:
                return CertificateCheck(False, cond.name, f"no answer on the {cond.name} condition: {exc}")
            if result == z3.sat:
                return CertificateCheck(False, cond.name, f"the {cond.name} condition fails: z3 found "
                                                          f"{witness} that satisfies its negation")
        solver.pop()
    return CertificateCheck(True)


def certificate_smtlib(system: System, *certs: Certificate) -> str:
    """Certificates as one SMT-LIB 2 script that asks the queries `check_certificate` asks:
    every ``(check-sat-assuming ...)`` in it must answer unsat.

    Each condition is a ``(push 1)`` ... ``(pop 1)`` block of its `Condition.queries`: the
    hypotheses and the guarded negated conjuncts, then one ``check-sat-assuming`` per guard,
    each after an ``echo`` of the guard's name (``consecution#12``), so ``z3 FILE`` prints a
    name and ``unsat`` per query. Each certificate starts with ``(reset)`` and the logic
    its checker's solver is configured for.
    """
    lines = [f"; {FORMAT}",
             "; every check below must answer unsat: each asks one conjunct n of a condition's",
             "; conclusion under the condition's hypotheses, by assuming the guard |condition#n|,",
             "; and echoes that name first"]
    for cert in certs:
        lines += _smtlib_blocks(system, cert)
    return "\n".join(lines) + "\n"


def _smtlib_blocks(system: System, cert: Certificate | EverySizeCertificate) -> list[str]:
    params = " ".join(f"{k}={v}" for k, v in cert.params)
    ir = f" (IR {cert.ir_hash})" if isinstance(cert, Certificate) else ""
    every = f", for every {' and '.join(cert.sets)}" if isinstance(cert, EverySizeCertificate) else ""
    logic, todo = conditions(system, cert)
    lines = ["", f"; model {cert.model} [{cert.variant}] {params}{ir}",
             f"; property {cert.property}, proved by {cert.engine}{every}, {cert.k}-inductive invariant",
             "(reset)", "(set-option :print-success false)"]
    if logic:
        lines.append(f"(set-logic {logic})")
    for cond in todo:
        asked = cond.queries()
        solver = z3.Solver(ctx=cond.conclusion.ctx)
        solver.add(*asked.assertions)
        many = len(asked.guards)
        lines += ["", f"; condition: {cond.name}, {many} quer{'y' if many == 1 else 'ies'}", "(push 1)",
                  solver.sexpr().rstrip()]
        for guard in asked.guards:
            lines += [f'(echo "{guard}")', f"(check-sat-assuming ({guard.sexpr()}))"]
        lines.append("(pop 1)")
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
