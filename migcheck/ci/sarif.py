"""SARIF 2.1.0 for a CI run: one result per verdict that is not the expected one.

A result points at the line of the property's definition in the model file (the variant's
class for ``deadlock``), with the variant's class, the configuration's check and the last
step's action as related locations; a counterexample is also a code flow whose steps point
at the definitions of the actions taken. Rules are the properties, ``model/property``.
URIs are relative to the configuration's folder (``SRCROOT``, the checkout) when the file
lies there, or was installed from there (a bundled model run from site-packages in
migcheck's own checkout); absolute otherwise.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .. import __version__, render
from ..runner import Result, exit_status
from .checks import CheckRun, all_results
from .config import CheckSpec, Config
from .source import SourceLine, action_line, property_line, variant_line

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
ROOT = "SRCROOT"
PACKAGE_PAGE = "https://pypi.org/project/migcheck/"  # when the metadata names no address


def _location(where: SourceLine, root: str, text: str = "") -> dict[str, Any]:
    path = Path(where.path).resolve()
    inside = _in_checkout(path, Path(root).resolve())
    if inside is not None:
        artifact = {"uri": quote(inside.as_posix()), "uriBaseId": ROOT}
    else:
        artifact = {"uri": path.as_uri()}
    loc: dict[str, Any] = {"physicalLocation": {"artifactLocation": artifact,
                                                "region": {"startLine": where.line}}}
    loc["message"] = {"text": text or where.what}
    return loc


def _in_checkout(path: Path, root: Path) -> Path | None:
    """``path`` relative to ``root``, the checkout: directly when it lies below, else the file
    in the checkout that it was installed from (a bundled model in site-packages, say
    ``migcheck/models/library/x.py``, found as ``models/library/x.py`` with the same bytes),
    so that code review can annotate it. None when the checkout has no such file."""
    try:
        return path.relative_to(root)
    except ValueError:
        pass
    parts = path.parts
    try:
        data = path.read_bytes()
    except OSError:
        return None
    for k in range(1, len(parts)):
        candidate = root.joinpath(*parts[-k:])
        if candidate.is_file() and candidate.read_bytes() == data:
            return candidate.relative_to(root)
    return None


def information_uri() -> str:
    """Where to read about migcheck: the project's documentation address in its package metadata."""
    from importlib.metadata import PackageNotFoundError, metadata

    try:
        urls = metadata("migcheck").get_all("Project-URL") or []
    except PackageNotFoundError:
        urls = []
    by_label = dict(u.split(", ", 1) for u in urls if ", " in u)
    return by_label.get("Documentation") or by_label.get("Homepage") or PACKAGE_PAGE


def _fallback(spec: CheckSpec, config: Config) -> SourceLine:
    """The model's file at line 1, or the configuration's check: something to point at."""
    path = spec.source or inspect.getsourcefile(spec.model) or ""
    if path:
        return SourceLine(path, 1, f"model {spec.model.name}")
    return SourceLine(config.path, spec.line or 1, f"check #{spec.number}")


def _message(r: Result) -> str:
    v = r.verdict
    what = f"{r.system.model} [{r.system.variant}] " + " ".join(f"{k}={val}" for k, val in r.system.params)
    if v.verdict == "violated" and v.trace is not None:
        body = f"{v.property} is violated after {len(v.trace)} steps"
    elif v.verdict in ("inconclusive", "error"):
        body = f"{v.property} is {v.verdict}: {v.reason}"
    else:
        body = f"{v.property}: {render.verdict_text(r).split('  UNEXPECTED')[0]}"
    return f"{what}: {body}, but the configuration expects {r.expected} (engine {v.engine})."


def _result(r: Result, spec: CheckSpec, config: Config, rule_index: int) -> dict[str, Any]:
    cls = spec.model.variants()[r.system.variant]
    v = r.verdict
    primary = property_line(cls, v.property) or variant_line(cls) or _fallback(spec, config)
    related = []
    for where in (variant_line(cls),
                  SourceLine(config.path, spec.line, f"check #{spec.number} in the CI configuration")
                  if spec.line else None,
                  action_line(cls, v.trace.steps[-1].action or "") if v.trace is not None else None):
        if where is not None:
            related.append({"id": len(related) + 1, **_location(where, config.root)})
    level = "warning" if v.verdict == "inconclusive" else "error"
    result: dict[str, Any] = {
        "ruleId": f"{r.system.model}/{v.property}",
        "ruleIndex": rule_index,
        "level": level,
        "message": {"text": _message(r)},
        "locations": [_location(primary, config.root)],
        "properties": {"model": r.system.model, "variant": r.system.variant, "params": dict(r.system.params),
                       "verdict": v.verdict, "expected": r.expected, "engine": v.engine,
                       "ir_hash": r.system.ir_hash},
    }
    if related:
        result["relatedLocations"] = related
    if v.trace is not None and v.verdict == "violated":
        result["codeFlows"] = [{"message": {"text": f"counterexample to {v.property}"},
                                "threadFlows": [{"locations": _flow(r, cls, config, primary)}]}]
    return result


def _flow(r: Result, cls: Any, config: Config, fallback: SourceLine) -> list[dict[str, Any]]:
    trace = r.verdict.trace
    assert trace is not None
    layout = r.system.layout
    steps = []
    prev = trace.steps[0].state
    for n, step in enumerate(trace.steps[1:], start=2):
        changed = ", ".join(f"{layout.slots[i].name} = {layout.slots[i].domain.render(step.state[i])}"
                            for i in range(len(step.state)) if step.state[i] != prev[i])
        where = action_line(cls, step.action or "") or fallback
        text = f"State {n}: [{step.owner}] {step.label}" + (f": {changed}" if changed else "")
        steps.append({"location": _location(where, config.root, text)})
        prev = step.state
    return steps


def sarif_log(config: Config, runs: list[CheckRun]) -> dict[str, Any]:
    """The SARIF log: one run of migcheck over every check."""
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    results = []
    for cr in runs:
        for r in cr.results:
            if r.as_expected:
                continue
            rule = f"{r.system.model}/{r.verdict.property}"
            if rule not in index:
                index[rule] = len(rules)
                doc = next((p.doc for p in r.system.properties if p.name == r.verdict.property), "")
                rules.append({"id": rule, "name": r.verdict.property,
                              "shortDescription": {"text": doc or f"{r.verdict.property} ({r.verdict.kind})"},
                              "properties": {"kind": r.verdict.kind}})
            results.append(_result(r, cr.spec, config, index[rule]))
    root_uri = Path(config.root).resolve().as_uri() + "/"
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "migcheck", "version": __version__, "semanticVersion": __version__,
                                "informationUri": information_uri(), "rules": rules}},
            "originalUriBaseIds": {ROOT: {"uri": root_uri}},
            "invocations": [{"executionSuccessful": True, "exitCode": exit_status(all_results(runs)),
                             "workingDirectory": {"uri": Path(os.getcwd()).resolve().as_uri() + "/"}}],
            "results": results,
        }],
    }
