"""Running checks: a model's variants × properties through an engine, compared with the
verdicts each variant expects. The CLI, reports and CI all go through here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Any

from migcheck.checker.explicit import BACKENDS, DEADLOCK, explore
from migcheck.checker.symbolic import ENGINES as SYMBOLIC
from migcheck.checker.trace import Trace
from migcheck.checker.verdict import ERROR, HOLDS, INCONCLUSIVE, VACUOUS, VIOLATED, Stats, Verdict
from migcheck.models.domains import Index
from migcheck.models.errors import ModelDefinitionError, ModelNotFound, ParameterError, UsageError
from migcheck.models.ir import System
from migcheck.models.model import Model, build

from .budget import INTERRUPTED, Budget, Stopped

ENGINES = ("explicit", "bmc", "kind", "pdr", "all")
CROSS_CHECK = ("bmc", "pdr")  # what --engine all runs beside the explicit engine (see cross_check)


@dataclass(frozen=True)
class Result:
    """One row: a property of one variant, its verdict and the verdict the variant expects."""

    system: System
    verdict: Verdict
    expected: str
    never_enabled: tuple[str, ...] = ()  # the variant's action instances no reachable state enables
    any_sets: tuple[str, ...] = ()  # index sets checked for every size (--set pages=any)

    @property
    def params(self) -> dict[str, int | str]:
        """The parameters as asked: ``any`` for the sets checked for every size."""
        return {**dict(self.system.params), **{k: "any" for k in self.any_sets}}

    @property
    def as_expected(self) -> bool:
        return self.verdict.verdict == self.expected

    @property
    def unexpected_violation(self) -> bool:
        return self.verdict.verdict == VIOLATED and self.expected != VIOLATED


def select_variants(model: type[Model], names: list[str] | None) -> list[type[Model]]:
    variants = model.variants()
    if not names:
        return list(variants.values())
    chosen = []
    for n in names:
        if n not in variants:
            raise ModelNotFound(f"model '{model.name}' has no variant '{n}' "
                                f"(variants: {', '.join(variants)})")
        chosen.append(variants[n])
    return chosen


def property_names(system: System) -> list[str]:
    names = [p.name for p in system.properties]
    return [*names, DEADLOCK] if system.check_deadlock else names


def check_properties_exist(systems: list[System], wanted: list[str] | None) -> None:
    if not wanted:
        return
    known: list[str] = []
    for s in systems:
        known += [n for n in property_names(s) if n not in known]
    for w in wanted:
        if w not in known:
            raise ModelNotFound(f"model '{systems[0].model}' has no property '{w}' "
                                f"(properties: {', '.join(known)})")


DEPTH_ENGINES = ("bmc", "kind")  # the engines a depth bound applies to


def depth_of(engine: str) -> str:
    """Why a depth bound does not fit ``engine`` (said by `run` and by a CI configuration)."""
    return f"bounds the {' and '.join(DEPTH_ENGINES)} engines; engine '{engine}' does not take it"


def run(model: type[Model], *, variants: list[str] | None = None, properties: list[str] | None = None,
        params: dict[str, Any] | None = None, engine: str = "explicit", max_states: int | None = None,
        timeout: float | None = None, depth: int | None = None, symmetry: bool = False,
        cluster: str | None = None, backend: str = "auto",
        on_progress: Callable[[str, dict[str, Any]], None] | None = None) -> list[Result]:
    """Check every selected variant; raise a `MigcheckError` for bad input before any search.

    ``engine`` is explicit (default), one of the symbolic engines bmc, kind, pdr (safety and
    witnesses only; ``depth`` bounds bmc and k-induction), or ``all``: the explicit engine, then
    BMC to the explicit search's depth and PDR on the same properties; a disagreement turns the
    row into an ``error`` naming both verdicts. ``cluster`` (``local:N`` or a Dask scheduler's
    address) runs the explicit search on a cluster (`checker/cluster.py`; same verdicts,
    states and counterexamples).
    ``backend`` runs the explicit search as compiled Python, as C (``native``) or ``auto``
    (`checker.explicit.BACKENDS`); all give the same states, verdicts and counterexamples.

    ``timeout`` bounds the whole run, every variant and engine together; Ctrl-C stops it
    (`budget`). Either way the verdicts decided so far are kept; what is open is
    ``inconclusive`` (with the depth the search covered), and variants not reached are
    ``inconclusive`` as "not checked". ``on_progress(variant, info)`` gets the engine's events
    with ``variant_number`` and ``variants`` added.
    """
    if engine not in ENGINES:
        raise UsageError(f"unknown engine '{engine}' (engines: {', '.join(ENGINES)})")
    if depth is not None and engine not in DEPTH_ENGINES:
        raise UsageError(f"--depth {depth_of(engine)}")
    if symmetry and engine in SYMBOLIC:
        raise UsageError(f"--symmetry reduces the explicit search; --engine {engine} does not take it")
    if cluster is not None and engine != "explicit":
        raise UsageError(f"--cluster spreads the explicit search over a cluster; --engine {engine} "
                         "does not take it (use --engine explicit)")
    if backend not in BACKENDS:
        raise UsageError(f"unknown backend '{backend}' (backends: {', '.join(BACKENDS)})")
    classes = select_variants(model, variants)
    every = any_sets(model, params)
    if every:
        return _run_every_size(model, classes, every, properties, params or {}, engine, timeout, on_progress)
    systems = [build(v, params) for v in classes]
    check_properties_exist(systems, properties)
    with contextlib.ExitStack() as stack:
        connection = None
        if cluster is not None:
            from migcheck.checker.cluster import connect, refuse_liveness

            for system in systems:  # before any worker starts
                refuse_liveness(system, _wanted(system, properties))
            connection = stack.enter_context(connect(cluster))
        return _run_systems(classes, systems, properties, engine, max_states, timeout, depth, symmetry,
                            connection, backend, on_progress)


def _wanted(system: System, properties: list[str] | None) -> list[str] | None:
    """The properties asked for that this variant has (None: all of them)."""
    return [p for p in properties if p in property_names(system)] if properties else None


def _run_systems(classes: list[type[Model]], systems: list[System], properties: list[str] | None,
                 engine: str, max_states: int | None, timeout: float | None, depth: int | None,
                 symmetry: bool, connection: Any, backend: str,
                 on_progress: Callable[[str, dict[str, Any]], None] | None) -> list[Result]:
    todo = []
    for cls, system in zip(classes, systems, strict=True):
        wanted = _wanted(system, properties)
        if wanted is None or wanted:
            todo.append((cls, system, wanted))
    budget = Budget(timeout)
    results: list[Result] = []
    with budget.enforced():
        for number, (cls, system, wanted) in enumerate(todo, start=1):
            why = budget.stop_reason()
            if why:  # the whole run's time is up, or Ctrl-C: say so for every verdict not sought
                results += not_checked(system, wanted, engine, why)
                continue

            def tell(info: dict[str, Any], v: str = system.variant, k: int = number) -> None:
                if info.get("phase") == "liveness":  # nothing polls there: Ctrl-C interrupts at once
                    budget.polled = False
                if on_progress is not None:
                    on_progress(v, {**info, "variant_number": k, "variants": len(todo)})

            tell({"note": "starting"})
            try:
                with budget.variant():
                    results += _check_variant(cls, system, wanted, engine=engine, max_states=max_states,
                                              depth=depth, symmetry=symmetry, connection=connection,
                                              backend=backend, budget=budget, tell=tell)
            except KeyboardInterrupt as stopped:  # a stop where nothing could keep the variant's work
                budget.interrupted = budget.interrupted or not isinstance(stopped, Stopped)
                results += not_checked(system, wanted, engine, budget.stop_reason() or INTERRUPTED)
    return results


def _check_variant(cls: type[Model], system: System, wanted: list[str] | None, *, engine: str,
                   max_states: int | None, depth: int | None, symmetry: bool, connection: Any,
                   backend: str, budget: Budget, tell: Callable[[dict[str, Any]], None]) -> list[Result]:
    """One variant through the engine, within what is left of the run's budget."""
    if engine in SYMBOLIC:
        tell({"note": f"{engine} running"})
        from migcheck.checker.symbolic import check_symbolic  # loads z3

        sample = sample_of(cls, system) if engine != "bmc" else None  # BMC learns nothing from one
        symbolic = check_symbolic(system, engine, wanted, depth, _left(budget), sample=sample)
        return [Result(system, v, system.expected(n)) for n, v in symbolic.items()]
    if connection is not None:  # the cluster search takes Ctrl-C itself (exploration.interrupted)
        from migcheck.checker.cluster import explore_cluster

        exploration = explore_cluster(system, connection, wanted, max_states=max_states,
                                      timeout=budget.remaining(), symmetry=symmetry, on_progress=tell,
                                      backend=backend)
        if exploration.interrupted:
            budget.interrupted = True
    else:
        with budget.polled_search():
            exploration = explore(system, wanted, max_states=max_states, symmetry=symmetry,
                                  on_progress=tell, backend=backend, stop=budget.stop_reason)
    verdicts = exploration.verdicts
    if engine == "all" and budget.stop_reason() is None:
        tell({"note": "explicit search done; bmc and pdr cross-checking"})
        verdicts = cross_check(system, verdicts, _left(budget), sample_of(cls, system))
    never = tuple(exploration.never_enabled)
    return [Result(system, verdict, system.expected(name), never) for name, verdict in verdicts.items()]


def _left(budget: Budget) -> float | None:
    """The time left for an engine that takes a timeout (positive, as they require)."""
    left = budget.remaining()
    return None if left is None else max(left, 0.001)


def not_checked(system: System, wanted: list[str] | None, engine: str, why: str) -> list[Result]:
    """Inconclusive rows for a variant the run stopped before: each property, with the reason."""
    kinds = {p.name: p.kind for p in system.properties} | {DEADLOCK: DEADLOCK}
    names = wanted if wanted is not None else property_names(system)
    return [Result(system, Verdict(n, kinds[n], INCONCLUSIVE, engine, False, Stats(0, 0, 0, 0.0),
                                   reason=f"not checked: {why}"), system.expected(n))
            for n in names]


ANY = "any"


def any_sets(model: type[Model], params: dict[str, Any] | None) -> tuple[str, ...]:
    """The index sets given as ``any`` (``--set pages=any``); ParameterError for a parameter
    that is not an index set."""
    named = tuple(k for k, v in (params or {}).items() if isinstance(v, str) and v.strip().lower() == ANY)
    declared = model.parameters()
    for k in named:
        if k in declared and not isinstance(declared[k], Index):
            raise ParameterError(f"--set {k}=any: '{k}' is a plain parameter; only an index set may be "
                                 "'any' (checked for every size)")
    return named


def _run_every_size(model: type[Model], classes: list[type[Model]], sets: tuple[str, ...],
                    properties: list[str] | None, params: dict[str, Any], engine: str,
                    timeout: float | None, on_progress: Callable[[str, dict[str, Any]], None] | None
                    ) -> list[Result]:
    """Every selected variant for every size of ``sets`` (`checker/symbolic/everysize.py`)."""
    from migcheck.checker.symbolic.everysize import check_every_size  # loads z3
    if engine not in ("pdr", "kind"):
        raise UsageError(f"--set {sets[0]}=any is checked for every size by --engine pdr (or kind); "
                         f"--engine {engine} checks one size (give a number, e.g. --set {sets[0]}=4)")
    fixed = {k: v for k, v in params.items() if k not in sets}
    results: list[Result] = []
    for cls in classes:
        cache: dict[tuple[tuple[str, int], ...], System] = {}

        def instance(sizes: dict[str, int], cls: type[Model] = cls,
                     cache: dict[tuple[tuple[str, int], ...], System] = cache) -> System:
            key = tuple(sorted(sizes.items()))
            if key not in cache:
                cache[key] = build(cls, fixed, sizes=sizes)
            return cache[key]

        probe = instance({k: 1 for k in sets})
        check_properties_exist([probe], properties)
        wanted = [p for p in properties if p in property_names(probe)] if properties else None
        if properties and not wanted:
            continue
        arg_sets = {a.label: tuple(a.arg_indexes) for a in cls.actions().values()}
        if on_progress:
            on_progress(probe.variant, {"note": f"{engine} for every {' and '.join(sets)}"})
        for name, answer in check_every_size(instance, sets, arg_sets, wanted, timeout, engine).items():
            results.append(Result(answer.system, answer.verdict, answer.system.expected(name), any_sets=sets))
    return results


def sample_of(cls: type[Model], system: System) -> System | None:
    """The smaller instance whose explicit search the proof engines mine for lemmas: each
    symmetric index set cut down (`lemmas.sample_params`); None when ``system`` is that small,
    or when the model cannot be cut (it names an element the cut removes: the engines then
    learn from ``system`` itself)."""
    from migcheck.checker.symbolic.lemmas import sample_params  # loads z3

    params = sample_params(system, {k: p.allowed for k, p in cls.parameters().items()})
    if params == dict(system.params):
        return None
    try:
        return build(cls, params)
    except ModelDefinitionError:
        return None


def cross_check(system: System, verdicts: dict[str, Verdict], timeout: float | None,
                sample: System | None = None) -> dict[str, Verdict]:
    """Confirm each safety verdict of the explicit engine with a second engine, and compare.

    What needs confirming decides the engine: a property that holds (or a witness never
    reached) by a PDR proof; a counterexample (or a witness) by BMC to its length, which must
    find one exactly as long (BMC searches depth by depth, so none shorter exists either). BMC's
    unsat queries up to the whole explicit depth are run only where PDR gives no answer.
    What the explicit search left open (a limit stopped it) is not cross-checked: any answer
    agrees with an open one, so it would cost time, unbounded by --max-states, for nothing.
    """
    safety = [n for n, v in verdicts.items() if v.kind in ("invariant", "action", "reachable")
              and v.verdict != INCONCLUSIVE]
    if not safety:
        return verdicts
    from migcheck.checker.symbolic import check_symbolic  # loads z3

    def path(v: Verdict) -> Trace | None:
        return v.trace if v.trace is not None else v.witness

    shown = [n for n in safety if path(verdicts[n]) is not None]
    unproved = [n for n in safety if n not in shown]
    others: dict[str, dict[str, Verdict]] = {n: {} for n in safety}
    if unproved:
        for n, v in check_symbolic(system, "pdr", unproved, None, timeout, sample=sample).items():
            others[n]["pdr"] = v
    bounded = [n for n in unproved if others[n]["pdr"].verdict == INCONCLUSIVE]
    depth = max(v.stats.depth for v in verdicts.values())
    for names, k in ((shown, max((len(path(verdicts[n])) for n in shown), default=0)), (bounded, depth)):
        if names:
            for n, v in check_symbolic(system, "bmc", names, k, timeout).items():
                others[n]["bmc"] = v
    out = dict(verdicts)
    for name in safety:
        mine, theirs = verdicts[name], others[name]
        seen = {"explicit": _summary(mine)} | {e: _summary(v) for e, v in sorted(theirs.items())}
        clash = next((e for e, v in sorted(theirs.items()) if not _agree(mine, v)), None)
        extra = {**mine.extra, "engines": seen}
        if clash is None:
            out[name] = replace(mine, engine="all", extra=extra)
        else:
            out[name] = replace(mine, verdict=ERROR, engine="all", extra=extra, reason=(
                f"engines disagree on {name}: explicit {seen['explicit']}, {clash} {seen[clash]}"))
    return out


def _summary(v: Verdict) -> str:
    if v.verdict == VIOLATED and v.trace is not None:
        return f"violated ({len(v.trace)} steps)"
    if v.verdict == HOLDS and v.witness is not None:
        return f"holds (witnessed in {len(v.witness)} steps)"
    return v.verdict if v.verdict != HOLDS else f"holds ({v.completeness})"


def _agree(explicit: Verdict, other: Verdict) -> bool:
    """Consistent answers: equal verdicts (and equal shortest lengths), or an inconclusive side.

    A vacuous explicit verdict agrees with a symbolic ``holds`` that did not decide the witness
    (BMC never proves it unreachable).
    """
    if INCONCLUSIVE in (explicit.verdict, other.verdict):
        return True
    mine = HOLDS if explicit.verdict == VACUOUS and other.verdict == HOLDS else explicit.verdict
    if mine != other.verdict:
        return False
    if mine == VIOLATED and explicit.trace is not None and other.trace is not None:
        return len(explicit.trace) == len(other.trace)
    if explicit.witness is not None and other.witness is not None:  # both shortest
        return len(explicit.witness) == len(other.witness)
    return True


def coverage(results: list[Result]) -> list[dict[str, Any]]:
    """Per variant: action instances the search never found enabled, actions whose guard is
    false whatever the state (dropped when the model loads: often switched off by a variant's
    flag, or a guard that contradicts itself), and witnesses never reached."""
    out: dict[str, dict[str, Any]] = {}
    for r in results:
        entry = out.setdefault(r.system.variant, {"variant": r.system.variant,
                                                  "never_enabled": list(r.never_enabled),
                                                  "dropped_at_load": list(r.system.dead_actions),
                                                  "witnesses_not_reached": []})
        if r.verdict.kind == "reachable" and r.verdict.verdict == VIOLATED:
            entry["witnesses_not_reached"].append(r.verdict.property)
    return list(out.values())


def strict_failures(results: list[Result]) -> bool:
    """--strict: an action never enabled, or a witness never reached that the variant does not
    declare as expected to be unreachable, fails the check."""
    return any(r.never_enabled for r in results) or any(
        r.verdict.kind == "reachable" and r.verdict.verdict == VIOLATED and r.expected != VIOLATED
        for r in results)


class ExitStatus(IntEnum):
    """migcheck's exit status (as pytest's ``ExitCode``)."""

    AS_EXPECTED = 0  # every verdict as expected
    UNEXPECTED = 1  # a property violated unexpectedly, or a verdict differs from the expected one
    UNDECIDED = 2  # an inconclusive or error verdict; also bad input (a one-line message)


def exit_status(results: list[Result]) -> ExitStatus:
    """`ExitStatus.UNEXPECTED` for an unexpected violation or an expected bug not found;
    `ExitStatus.UNDECIDED` for an inconclusive or error verdict (and nothing that earns 1)."""
    if any(r.unexpected_violation for r in results):
        return ExitStatus.UNEXPECTED
    if any(r.verdict.verdict in (INCONCLUSIVE, ERROR) for r in results):
        return ExitStatus.UNDECIDED
    if any(not r.as_expected for r in results):
        return ExitStatus.UNEXPECTED
    return ExitStatus.AS_EXPECTED


__all__ = ["ENGINES", "HOLDS", "VIOLATED", "ExitStatus", "Result", "exit_status", "run"]
