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

Before Spacer, the engine tries to strengthen the claim itself (`strengthen`): IC3's
blocking step, with the states of an explicit search of a small *sample* instance as the
generalisation oracle. Each counterexample to induction is blocked by a small cube that the
sample never shows, instantiated for every renaming of the symmetric elements it mentions.
When the claim and the blocked cubes are inductive together, they are the certificate
(``invariant_by = "blocking"``) and Spacer is not run. This is what scales with symmetric
index sets: the lemmas are found on the sample, so their number, not the reachable states,
grows with the instance.

When blocking fails and the sample's own explicit search shows a counterexample (or a
witness) of length ``n``, BMC on the checked instance to depth ``n`` is tried next: when the
sample's counterexample carries over, BMC finds a shortest one without Spacer, which may not
answer on large instances. Nothing is concluded from the sample: if BMC finds nothing that
deep, Spacer decides.

A witness asked only to judge whether a safety property holds vacuously (``vacuity``) matters
only if it is proved unreachable. When blocking fails to prove that and a smaller sample
reaches it, it is left undecided (inconclusive, saying so) rather than searched for on the
checked instance: BMC to the sample's length finds none when more elements need more steps,
and Spacer, which would search on, may not answer there (vfio-v2 at 3 devices and 8 pages).

Otherwise Spacer runs, with lemmas ``L`` mined from the model (`lemmas.mine`: clauses over
pairs of slots that a small explicit search never falsifies, carried over the symmetric index
sets, filtered by a Houdini fixpoint, so inductive) conjoined to both sides of the step
clause, which leaves the reachable states unchanged and spares Spacer from rediscovering
them; the certificate is then ``Inv & L``. When the claim's conjuncts themselves survive the
Houdini fixpoint, ``L`` alone is the certificate.

Spacer's sat means a counterexample exists; the engine then runs BMC on that property alone, which
gives a shortest trace (replayed through the interpreter) and tells a violation
from a step out of a domain. Unknown or the time limit gives ``inconclusive``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

import z3

from migcheck.models.errors import SolverUnknown
from migcheck.models.ir import PropertyIR, System

from ..explicit import explore
from ..trace import Trace
from ..verdict import INCONCLUSIVE, Verdict
from . import outcome
from .bmc import search
from .certificate import Certificate, check_certificate
from .encode import Encoding
from .goals import claim, conjuncts, selected, supported
from .lemmas import Mined, mine
from .limits import Deadline
from .strengthen import SAMPLE_STATES, Oracle, sample_oracle, strengthen

ENGINE = "pdr"
FALLBACK_DEPTH = 1000  # BMC depth cap after Spacer reports a counterexample


def pdr(system: System, properties: list[str] | None = None, timeout: float | None = None,
        depth: int | None = None, *, mine_lemmas: bool = True, sample: System | None = None,
        block: bool = True, vacuity: Collection[str] = ()) -> dict[str, Verdict]:
    """Prove or refute ``properties``: by blocking counterexamples to induction (``block``,
    default) and otherwise with Spacer; ``depth`` caps the BMC that extracts a counterexample
    Spacer reports (default 1000). Blocking generalises against an explicit search of
    ``sample`` (default: ``system`` itself); with ``mine_lemmas`` (default), lemmas mined from
    the same sample strengthen Spacer's step clause. Time spent on the sample counts against
    ``timeout``. The witnesses named in ``vacuity`` are asked only to judge vacuity: one the
    sample reaches is not searched for on ``system`` (inconclusive unless proved unreachable).

    >>> from migcheck.models import build
    >>> from migcheck.models.library import bundled
    >>> v = pdr(build(bundled("peterson")), ["mutual-exclusion"])["mutual-exclusion"]
    >>> v.verdict, v.complete, v.extra["certificate"].k, v.extra["invariant_by"]
    ('holds', True, 1, 'blocking')
    """
    return _Pdr(system, timeout, depth, mine_lemmas, sample, block, frozenset(vacuity)).run(properties)


class _Pdr:
    """One PDR call: the encoding, the sample's oracle and the mined lemmas, each made once and
    only when a property needs it."""

    def __init__(self, system: System, timeout: float | None, depth: int | None, mine_lemmas: bool,
                 sample: System | None, block: bool, vacuity: frozenset[str]):
        self.system, self.sample = system, system if sample is None else sample
        self.vacuity = vacuity
        self.deadline = Deadline(timeout)
        self.enc = Encoding(system)
        self.cap = FALLBACK_DEPTH if depth is None else depth
        self.mine_lemmas, self.block = mine_lemmas, block
        self._oracle: Oracle | None = None
        self._mined: Mined | bool | None = False  # False: not mined yet; None: mining ran out of time
        self._sample_verdicts: dict[str, Verdict] | None = None

    def run(self, properties: list[str] | None) -> dict[str, Verdict]:
        self.props = selected(self.system, properties)
        self.claims = [c for p in self.props if supported(p) for c in conjuncts(claim(self.enc, p))]
        return {p.name: self.decide(p) if supported(p) else outcome.unsupported(p, ENGINE)
                for p in self.props}

    def oracle(self) -> Oracle:
        if self._oracle is None:
            self._oracle = sample_oracle(self.sample, self.deadline)
        return self._oracle

    def mined(self) -> Mined | None:
        if self._mined is False:
            try:
                self._mined = mine(self.system, self.enc, None if self.sample is self.system else self.sample,
                                   self.deadline, self.claims) if self.mine_lemmas else None
            except SolverUnknown:
                self._mined = None  # out of time while mining: Spacer runs unaided and reports the limit
        return self._mined

    def blocking(self, prop: PropertyIR, wanted: z3.BoolRef) -> tuple[Verdict | None, str]:
        """A proof by blocking counterexamples to induction, or None and why there is none."""
        blocked = strengthen(self.system, self.enc, self.oracle(), conjuncts(wanted), [], self.deadline)
        if not blocked.proved:
            return None, f"blocking: {blocked.reason}"
        proof = self.enc.conj([*conjuncts(wanted), *blocked.lemmas])
        return _certified(self.system, prop, proof, self.deadline, by="blocking", ctis=blocked.ctis,
                          lemmas=len(blocked.lemmas), sample_states=self.oracle().states)

    def sample_path(self, prop: PropertyIR) -> Trace | None:
        """The sample's shortest counterexample (or witness) of ``prop``, if its explicit search
        (one for every property asked) shows one."""
        if self._sample_verdicts is None:
            wanted = [c for c in self.props if supported(c)]
            self._sample_verdicts = explore(self.sample, [c.name for c in wanted], max_states=SAMPLE_STATES,
                                            timeout=self.deadline.seconds_left()).verdicts
        shown = self._sample_verdicts[prop.name]
        return shown.trace if shown.trace is not None else shown.witness

    def only_for_vacuity(self, prop: PropertyIR) -> bool:
        """A witness asked only to judge vacuity that a sample smaller than the checked instance
        reaches: only a proof that it is unreachable would change a verdict."""
        return (prop.name in self.vacuity and self.sample is not self.system
                and self.sample_path(prop) is not None)

    def hinted(self, prop: PropertyIR) -> Verdict | None:
        """BMC to the length of the sample's shortest counterexample (or witness), when the
        sample's explicit search has one: a violation there is likely one here too, and BMC
        finds the shortest (replayed, as always) without Spacer. None when there is no hint or
        BMC finds nothing that deep; nothing is concluded from the sample itself."""
        path = self.sample_path(prop)
        if path is None:
            return None
        depth = min(len(path.steps) - 1, self.cap)
        found = search(self.system, [prop], depth, self.deadline, ENGINE, self.enc)[prop.name]
        if found.trace is None and found.witness is None:
            return None
        return replace(found, extra={**found.extra, "found_by": f"bmc to depth {depth}, the length of "
                                     "the sample's counterexample (blocking failed)"})

    def decide(self, prop: PropertyIR) -> Verdict:
        system, enc, deadline = self.system, self.enc, self.deadline
        deadline.mark()
        wanted = claim(enc, prop)
        why_not = ""
        if self.block:
            try:
                verdict, why_not = self.blocking(prop, wanted)
            except SolverUnknown as exc:  # Spacer gets what time is left, and says if none is
                verdict, why_not = None, f"blocking: {exc}"
            if verdict is not None:
                return verdict
        if self.only_for_vacuity(prop):  # not proved unreachable: it stays open
            st = outcome.stats(0, deadline.lap())
            return outcome.reached_in_sample(prop, ENGINE, self.sample, st, why_not)
        if why_not:  # blocking failed: a violation is likely, and the sample may show how deep
            found = self.hinted(prop)
            if found is not None:
                return found
        mined = self.mined()
        lemmas = [] if mined is None else list(mined.lemmas)  # survivors: jointly inductive
        note = {} if mined is None else {"lemmas": len(lemmas), "sample_states": mined.sample_states,
                                         "candidates": mined.candidates}
        if mined is not None and all(_kept(c, mined) for c in conjuncts(wanted)):
            return _reported(prop, deadline, *_certified(system, prop, enc.conj(lemmas), deadline,
                                                         by="lemmas", **note))
        try:
            answer, invariant = _spacer(enc, wanted, deadline, enc.conj(lemmas))
        except SolverUnknown as exc:
            reason = f"{exc}; {why_not}" if why_not else str(exc)
            return outcome.inconclusive(prop, ENGINE, reason, outcome.stats(0, deadline.lap()))
        if answer == z3.unsat:
            assert invariant is not None
            return _reported(prop, deadline, *_certified(system, prop, enc.conj([invariant, *lemmas]),
                                                         deadline, by="spacer", **note))
        # Spacer derived a violation: BMC finds a shortest one and classifies it.
        found = search(system, [prop], self.cap, deadline, ENGINE, enc)[prop.name]
        if found.trace is not None or found.witness is not None:  # a violation, witness or domain error
            return replace(found, extra={**found.extra, "found_by": "spacer; trace by bmc"})
        if found.verdict == INCONCLUSIVE and found.bound != self.cap:
            return found  # BMC ran out of time or z3 answered unknown; its reason says which
        return outcome.inconclusive(prop, ENGINE, f"Spacer reported a counterexample that BMC did not "
                                    f"reproduce up to depth {self.cap}",
                                    outcome.stats(self.cap, deadline.lap()), bound=self.cap)


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
               by: str = "spacer", **note: int) -> tuple[Verdict | None, str]:
    """``holds`` (proved) once the certificate re-checks; else None and why it did not."""
    cert = Certificate.of(system, prop.name, ENGINE, invariant, 1)
    check = check_certificate(system, cert, deadline.seconds_left())
    if not check.valid:
        whose = {"spacer": "Spacer's invariant", "lemmas": "the mined lemmas"}.get(by, "the blocked cubes")
        return None, f"{whose} did not re-check: {check.reason}"
    st = outcome.stats(0, deadline.lap())
    return outcome.proved(prop, ENGINE, st, certificate=cert, k=1, invariant_by=by, **note), ""


def _reported(prop: PropertyIR, deadline: Deadline, verdict: Verdict | None, why_not: str) -> Verdict:
    return verdict if verdict is not None else outcome.inconclusive(prop, ENGINE, why_not,
                                                                   outcome.stats(0, deadline.lap()))
