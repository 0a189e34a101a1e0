"""Running what the CI configuration lists, with its expected verdicts in force.

Each check goes through `migcheck.runner.run`; a verdict the configuration expects for a
variant × property replaces the model's own expectation. The exit status is the one
``migcheck check`` gives, over all checks together.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from .. import render
from ..runner import Result, exit_status, run
from .config import CheckSpec, Config


@dataclass(frozen=True)
class CheckRun:
    spec: CheckSpec
    results: tuple[Result, ...]


def run_check(spec: CheckSpec, variants: list[str] | None = None,
              on_progress: Callable[[str, dict[str, Any]], None] | None = None) -> CheckRun:
    """Run one check (only ``variants`` of it, when given), with the configuration's expectations."""
    results = run(spec.model, variants=variants or list(spec.variants),
                  properties=list(spec.properties) if spec.properties else None, params=dict(spec.params),
                  engine=spec.engine, max_states=spec.max_states, timeout=spec.timeout, depth=spec.depth,
                  on_progress=on_progress)
    return CheckRun(spec, tuple(expecting(spec, r) for r in results))


def expecting(spec: CheckSpec, r: Result) -> Result:
    wanted = spec.expected(r.system.variant, r.verdict.property)
    return r if wanted is None else replace(r, expected=wanted)


def run_checks(config: Config, on_progress: Callable[[str, dict[str, Any]], None] | None = None,
               cluster: str | None = None) -> list[CheckRun]:
    """Every check in turn; with ``cluster`` (``local:N`` or a Dask scheduler's address), every
    check × variant as a task on the cluster's workers, gathered in the configuration's order."""
    if cluster is None:
        return [run_check(spec, on_progress=on_progress) for spec in config.checks]
    from ..checker.cluster import connect

    tasks = [(spec.number, v) for spec in config.checks for v in spec.variants]
    with connect(cluster) as connection:
        path = os.path.abspath(config.path)
        futures = connection.client.map(_run_on_worker, [path] * len(tasks), *zip(*tasks, strict=True),
                                        pure=False)
        answers = connection.client.gather(futures)
    by_check: dict[int, list[Result]] = {}
    for (number, _), results in zip(tasks, answers, strict=True):
        by_check.setdefault(number, []).extend(results)
    return [CheckRun(spec, tuple(by_check.get(spec.number, ()))) for spec in config.checks]


def _run_on_worker(path: str, number: int, variant: str) -> tuple[Result, ...]:
    """One check × variant, on a worker: it reads the configuration itself (so model files are
    imported there, from the same path: a running cluster needs the checkout on its machines)."""
    from .config import load_config

    spec = load_config(path).checks[number - 1]
    return run_check(spec, [variant]).results


def all_results(runs: list[CheckRun]) -> list[Result]:
    return [r for cr in runs for r in cr.results]


def summary_text(config: Config, runs: list[CheckRun]) -> tuple[str, int]:
    """What ``migcheck ci`` prints (a table per check, the traces of unexpected verdicts), and
    the exit status."""
    out = [f"migcheck ci: {config.path} ({len(config.checks)} check(s))"]
    for cr in runs:
        out += ["", f"check #{cr.spec.number}: {cr.spec.name}  (engine {cr.spec.engine})"]
        if cr.results:
            out.append(render.headers(list(cr.results)))
            out.append(render.table(list(cr.results)))
        for r in cr.results:
            if r.as_expected:
                continue
            if r.verdict.trace is not None and r.verdict.verdict == "violated":
                doc = next((p.doc for p in r.system.properties if p.name == r.verdict.property), "")
                out += ["", render.trace_text(r.verdict.trace, r.system, doc)]
            elif r.verdict.reason:
                out += ["", f"{r.system.variant}: {r.verdict.property}: {r.verdict.reason}"]
    results = all_results(runs)
    status = exit_status(results)
    bad = sum(not r.as_expected for r in results)
    out += ["", f"{len(results) - bad} of {len(results)} verdicts as expected"
            + ("" if status == 0 else f"; exit status {status}")]
    return "\n".join(out), status
