"""PDR (IC3) through z3's Spacer engine on constrained Horn clauses, for unbounded proofs of
invariants and action properties (and of "never" for reachable properties).

For a property with claim ``C`` (`goals.claim`: its safe-state predicate and no step out of
a domain) the engine asks Spacer for an interpretation of one predicate ``Inv`` over the
state slots satisfying::

    init(x)                                  => Inv(x)
    Inv(x) & D(x) & T(x, act, x') & D(x')     => Inv(x')
    Inv(x) & D(x) & ~C(x)                     => false

Unsat of the query (no derivation of ``false``) means the property holds; the
interpretation Spacer found for ``Inv`` is an inductive invariant, which is re-checked by
`certificate.check_certificate` on a fresh solver before ``holds`` (``complete=True``) is
reported.

Strengthening lemmas ``L`` mined from the model (`lemmas.mine`: clauses over pairs of slots
that a small explicit search never falsifies, carried over the symmetric index sets, filtered
by a Houdini fixpoint, so inductive) are conjoined to both sides of the step clause, which
leaves the reachable states unchanged and spares Spacer from rediscovering them; the
certificate is then ``Inv & L``. When the claim's conjuncts themselves survive the Houdini
fixpoint, ``L`` alone is the certificate and Spacer is not run.

Sat means a counterexample exists; the engine then runs BMC on that property alone, which
gives a shortest trace (replayed through the interpreter) and tells a violation
from a step out of a domain. Unknown or the time limit gives ``inconclusive``.
"""

from __future__ import annotations

from dataclasses import replace

import z3

from migcheck.models.errors import SolverUnknown
from migcheck.models.ir import PropertyIR, System

from ..verdict import INCONCLUSIVE, Verdict
from . import outcome
from .bmc import search
from .certificate import Certificate, check_certificate
from .encode import Encoding
from .goals import claim, conjuncts, selected, supported
from .lemmas import Mined, mine
from .limits import Deadline

ENGINE = "pdr"
FALLBACK_DEPTH = 1000  # BMC depth cap after Spacer reports a counterexample


def pdr(system: System, properties: list[str] | None = None, timeout: float | None = None,
        depth: int | None = None, *, mine_lemmas: bool = True, sample: System | None = None
        ) -> dict[str, Verdict]:
    """Prove or refute ``properties`` with Spacer; ``depth`` caps the BMC that extracts a
    counterexample Spacer reports (default 1000). With ``mine_lemmas`` (default), lemmas mined
    from an explicit search of ``sample`` (default: ``system`` itself; see `lemmas`) strengthen
    the step clause; the time spent mining counts against ``timeout``.

    >>> from migcheck.models import build
    >>> from migcheck.models.library import bundled
    >>> v = pdr(build(bundled("peterson")), ["mutual-exclusion"])["mutual-exclusion"]
    >>> v.verdict, v.complete, v.extra["certificate"].k
    ('holds', True, 1)
    """
    deadline = Deadline(timeout)
    enc = Encoding(system)
    cap = FALLBACK_DEPTH if depth is None else depth
    props = selected(system, properties)
    mined: Mined | None = None
    if mine_lemmas and any(supported(p) for p in props):
        claims = [c for p in props if supported(p) for c in conjuncts(claim(enc, p))]
        try:
            mined = mine(system, enc, sample, deadline, claims)
        except SolverUnknown:
            mined = None  # out of time while mining: Spacer runs unaided and reports the limit
    return {p.name: _decide(system, enc, p, cap, deadline, mined) if supported(p)
            else outcome.unsupported(p, ENGINE) for p in props}


def _decide(system: System, enc: Encoding, prop: PropertyIR, cap: int, deadline: Deadline,
            mined: Mined | None = None) -> Verdict:
    deadline.mark()
    wanted = claim(enc, prop)
    lemmas = [] if mined is None else list(mined.lemmas)  # survivors: jointly inductive
    note = {} if mined is None else {"lemmas": len(lemmas), "sample_states": mined.sample_states,
                                     "candidates": mined.candidates}
    if mined is not None and all(_kept(c, mined) for c in conjuncts(wanted)):
        return _certified(system, prop, enc.conj(lemmas), deadline, by="lemmas", **note)
    try:
        answer, invariant = _spacer(enc, wanted, deadline, enc.conj(lemmas))
    except SolverUnknown as exc:
        return outcome.inconclusive(prop, ENGINE, str(exc), outcome.stats(0, deadline.lap()))
    if answer == z3.unsat:
        assert invariant is not None
        return _certified(system, prop, enc.conj([invariant, *lemmas]), deadline, by="spacer", **note)
    # Spacer derived a violation: BMC finds a shortest one and classifies it.
    found = search(system, [prop], cap, deadline, ENGINE, enc)[prop.name]
    if found.trace is not None or found.witness is not None:  # a violation, witness or domain error
        return replace(found, extra={**found.extra, "found_by": "spacer; trace by bmc"})
    if found.verdict == INCONCLUSIVE and found.bound != cap:
        return found  # BMC ran out of time or z3 answered unknown; its reason says which
    return outcome.inconclusive(prop, ENGINE, f"Spacer reported a counterexample that BMC did not "
                                f"reproduce up to depth {cap}", outcome.stats(cap, deadline.lap()),
                                bound=cap)


def _kept(c: z3.BoolRef, mined: Mined) -> bool:
    return any(c.eq(k) for k in mined.lemmas)


def _spacer(enc: Encoding, wanted: z3.BoolRef, deadline: Deadline, lemmas: z3.BoolRef
            ) -> tuple[z3.CheckSatResult, z3.BoolRef | None]:
    """Run Spacer, with the invariant ``lemmas`` assumed in every step; returns unsat with the
    invariant found over ``enc.cur`` (without the lemmas), or sat with None."""
    fp = z3.Fixedpoint(ctx=enc.ctx)
    fp.set(engine="spacer")
    ms = deadline.remaining_ms()
    if ms is not None:
        fp.set(timeout=ms)
    inv = z3.Function("Inv", *[v.sort() for v in enc.cur], z3.BoolSort(enc.ctx))
    fp.register_relation(inv)
    fp.declare_var(*enc.cur, *enc.nxt, enc.act)
    domain_next = z3.substitute(enc.domain, *zip(enc.cur, enc.nxt, strict=True))
    lemmas_next = z3.substitute(lemmas, *zip(enc.cur, enc.nxt, strict=True))
    fp.rule(inv(*enc.cur), enc.init)
    fp.rule(inv(*enc.nxt), [inv(*enc.cur), enc.domain, lemmas, enc.trans, domain_next, lemmas_next])
    try:
        answer = fp.query(enc.conj([inv(*enc.cur), enc.domain, lemmas, z3.Not(wanted)]))
    except z3.Z3Exception as exc:  # Spacer raises "canceled" when its time limit runs out
        why = exc.value.decode() if isinstance(exc.value, bytes) else str(exc.value)
        raise SolverUnknown(deadline.explain(why)) from None
    if answer == z3.unknown:
        raise SolverUnknown(deadline.explain(fp.reason_unknown()))
    if answer == z3.sat:
        return answer, None
    cover = fp.get_cover_delta(-1, inv)  # Var(i) stands for the i-th argument of Inv
    return answer, z3.substitute_vars(cover, *enc.cur)


def _certified(system: System, prop: PropertyIR, invariant: z3.BoolRef, deadline: Deadline,
               by: str = "spacer", **note: int) -> Verdict:
    cert = Certificate.of(system, prop.name, ENGINE, invariant, 1)
    check = check_certificate(system, cert, deadline.seconds_left())
    st = outcome.stats(0, deadline.lap())
    if not check.valid:
        whose = "Spacer's invariant" if by == "spacer" else "the mined lemmas"
        return outcome.inconclusive(prop, ENGINE, f"{whose} did not re-check: {check.reason}", st)
    return outcome.proved(prop, ENGINE, st, certificate=cert, k=1, invariant_by=by, **note)
