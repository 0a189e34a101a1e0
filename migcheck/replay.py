"""`migcheck replay`: run a counterexample on the concrete emulator and show the damage.

Generic over the model: the trace's model name finds its binding
(`migcheck.emulator.bindings`), which says how the variant configures the emulator, how each
model action is performed on it, how its state reads as a model state and how each
property is observed concretely. Nothing here knows a model.

A trace written by ``migcheck check --trace-out`` is read (JSON, schema-checked, tied to its
model's name, variant, parameters and IR hash) and checked in the model before the emulator
is touched (`checker.counterexample`): its steps must be a run of the model that violates
the property it is labelled with. The emulator is built from the binding and driven step by
step; after every step the abstraction of the emulator's state must equal the trace's state,
or the replay stops with the step, the action and the variables that differ. At the end the
concrete damage is read off real bytes, and the property's observer names the concrete
events the property forbids.

The result is ``confirmed`` (exit 0) when the violation shows on the emulator and ``not
reproduced`` (exit 1) when a valid counterexample runs on the emulator but nothing of it
shows: the model and the emulator disagree. Bad input, a trace that is no counterexample,
and a replay that diverges from the trace (`ReplayDiverged`) raise a `TraceError` (exit 2).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from migcheck.checker.counterexample import check_counterexample
from migcheck.checker.trace import Step, Trace, trace_from_json
from migcheck.emulator.bindings import Binding, binding_for
from migcheck.emulator.damage import Damage
from migcheck.emulator.errors import StepRefused
from migcheck.models.errors import MigcheckError, TraceError, TraceMismatch
from migcheck.models.ir import System
from migcheck.models.library import BUNDLED, resolve
from migcheck.models.model import Model, build

from . import __version__

CONFIRMED, NOT_REPRODUCED = "confirmed", "not reproduced"
REFUSED, DIVERGED = "refused", "diverged"  # exit 2: not a counterexample; the emulator did not follow


class ReplayDiverged(TraceMismatch):
    """A valid counterexample that the emulator did not follow: a step it cannot take, or a
    state that reads differently from the trace's."""


# ---------------------------------------------------------------- the model a trace names


def variant_class(model: Any, variant: Any) -> type[Model]:
    """The bundled model class a trace names, if it has a binding to an emulator."""
    if not isinstance(model, str) or model not in BUNDLED:
        raise TraceError(f"trace: model {model!r} is not a bundled model "
                         f"(bundled: {', '.join(BUNDLED)})")
    binding_for(model)  # refuses a model without an emulator before anything is built
    variants = resolve(model).variants()
    if not isinstance(variant, str) or variant not in variants:
        raise TraceError(f"trace: model '{model}' has no variant {variant!r} "
                         f"(variants: {', '.join(variants)})")
    return variants[variant]


def system_for(model: Any, variant: Any, params: Any) -> System:
    """Build the model instance a trace names (for `trace_from_json`)."""
    cls = variant_class(model, variant)
    if not isinstance(params, dict):
        raise TraceError("trace: 'params' must be an object such as {\"pages\": 1}")
    try:
        return build(cls, params)
    except MigcheckError as exc:
        raise TraceError(f"trace: {exc}") from None


# ---------------------------------------------------------------- reading a trace


def load_trace(path: str) -> tuple[Trace, System]:
    """Read and check a trace file: JSON, schema, model identity, and every step against the
    model. Raises `TraceError` (or `TraceMismatch`) with one line naming the problem."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise TraceError(f"{path}: cannot read the trace: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise TraceError(f"{path}: not a JSON trace (not UTF-8 text)") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TraceError(f"{path}: not a JSON trace: {exc.msg} at line {exc.lineno} "
                         f"column {exc.colno}") from None
    except RecursionError:
        raise TraceError(f"{path}: not a JSON trace: values nested too deeply") from None
    except ValueError as exc:  # a number too long
        raise TraceError(f"{path}: not a JSON trace migcheck reads: {exc}") from None
    _check_shape(path, data)
    try:
        trace, system = trace_from_json(data, system_for)
        check_counterexample(system, trace)
    except TraceError as exc:
        raise type(exc)(f"{path}: {exc}") from None
    return trace, system


def _check_shape(path: str, data: Any) -> None:
    """What `trace_from_json` takes for granted: steps are objects with object states."""
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
        return  # trace_from_json names the problem
    if isinstance(data.get("loop"), bool):
        raise TraceError(f"{path}: trace: 'loop' = {data['loop']!r} is not a step index")
    if not isinstance(data.get("property"), str):
        raise TraceError(f"{path}: trace: 'property' must be a property's name (a string)")
    for n, raw in enumerate(data["steps"]):
        if not isinstance(raw, dict) or not isinstance(raw.get("state"), dict):
            raise TraceError(f"{path}: trace: step {n} is not an object with a 'state' object")
        if raw.get("params") is not None and not isinstance(raw["params"], dict):
            raise TraceError(f"{path}: trace: step {n}: 'params' must be an object")
        if not all(isinstance(k, str) for k in raw["state"]):
            raise TraceError(f"{path}: trace: step {n}: state keys must be variable names")


# ---------------------------------------------------------------- comparing states


def differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(variable, trace's value, emulator's value) for every element that differs."""
    out = []
    for name, want in expected.items():
        got = actual.get(name)
        if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
            out += [(f"{name}[{k}]", w, g) for k, (w, g) in enumerate(zip(want, got, strict=True)) if w != g]
        elif want != got:
            out.append((name, want, got))
    return out


def _check_state(n: int, step: Step, system: System, binding: Binding[Any, Any], m: Any,
                 did: tuple[str, ...] = ()) -> None:
    diffs = differences(system.layout.render(step.state), binding.abstract(m))
    if diffs:
        what = ", ".join(f"{name} (trace {w}, emulator {g})" for name, w, g in diffs)
        where = "the initial state" if n == 0 else f"step {n} {step.label}"
        done = f"; the emulator did: {'; '.join(did)}" if did else ""
        raise ReplayDiverged(f"replay diverged at {where}: the emulator's state differs from the "
                            f"trace's in {what}{done}")


# ---------------------------------------------------------------- the replay


@dataclass(frozen=True)
class StepRecord:
    """One replayed step: the model's action and what the emulator did for it."""

    number: int
    label: str
    owner: str
    emulator: tuple[str, ...]


@dataclass(frozen=True)
class ReplayReport:
    path: str
    trace: Trace
    system: System
    steps: tuple[StepRecord, ...]
    damage: Damage
    observed: tuple[str, ...]  # the concrete events that violate the trace's property
    settings: tuple[tuple[str, str], ...] = ()  # the emulator's settings (see `Binding.settings`)

    @property
    def result(self) -> str:
        return CONFIRMED if self.observed else NOT_REPRODUCED

    @property
    def exit_status(self) -> int:
        return 0 if self.observed else 1


def replay(trace: Trace, system: System, path: str = "", config: Any = None,
           settings: dict[str, str] | None = None) -> ReplayReport:
    """Drive a fresh emulator through ``trace`` (already validated against ``system``);
    ``settings`` makes the emulator's choices the model leaves open (``{"iommu": "mapped"}``);
    ``config`` replaces the emulator's configuration outright."""
    binding = binding_for(system.model)
    cls = variant_class(system.model, system.variant)
    chosen = binding.chosen(settings or {})
    if config is None:
        config = binding.configured(cls, dict(system.params), chosen)
    m = binding.boot(config)
    _check_state(0, trace.steps[0], system, binding, m)
    records = []
    for n, step in enumerate(trace.steps[1:], start=1):
        mark = len(binding.events(m))
        _perform(binding, m, n, step, "")
        did = tuple(binding.events(m)[mark:])
        _check_state(n, step, system, binding, m, did)
        records.append(StepRecord(n, step.label, step.owner or "", did))
    if trace.loop is not None and trace.loop < len(trace.steps) - 1:
        # a lasso's loop once more: the emulator must come round to the same states again
        for n in range(trace.loop + 1, len(trace.steps)):
            _perform(binding, m, n, trace.steps[n], " on the loop's second lap")
            _check_state(n, trace.steps[n], system, binding, m)
    damage = binding.assess(m)
    observed = tuple(binding.observe(trace.property, m, damage))
    return ReplayReport(path, trace, system, tuple(records), damage, observed, tuple(chosen.items()))


def _perform(binding: Binding[Any, Any], m: Any, n: int, step: Step, lap: str) -> None:
    try:
        binding.perform(m, str(step.action), dict(step.params))
    except StepRefused as exc:
        raise ReplayDiverged(f"replay diverged{lap} at step {n} {step.label}: the emulator cannot "
                            f"take it: {exc}") from None


def replay_file(path: str, settings: dict[str, str] | None = None) -> ReplayReport:
    trace, system = load_trace(path)
    return replay(trace, system, path, settings=settings)


# ---------------------------------------------------------------- renderings


def error_json(path: str, exc: MigcheckError) -> dict[str, Any]:
    """A replay that stopped with an error (exit 2), for ``--json``."""
    result = DIVERGED if isinstance(exc, ReplayDiverged) else REFUSED
    return {"migcheck": __version__, "trace": path, "result": result, "error": str(exc)}


def report_json(r: ReplayReport) -> dict[str, Any]:
    d = r.damage
    return {
        "migcheck": __version__,
        "trace": r.path,
        "model": r.system.model,
        "variant": r.system.variant,
        "params": dict(r.system.params),
        "ir_hash": r.system.ir_hash,
        "property": r.trace.property,
        "settings": dict(r.settings),
        "result": r.result,
        "observed": list(r.observed),
        "steps": [{"step": s.number, "action": s.label, "owner": s.owner, "emulator": list(s.emulator)}
                  for s in r.steps],
        "pages": [{"page": p.page, "role": p.role, "address": p.address,
                   "ranges": [list(x) for x in p.ranges], "differing": p.differing,
                   "offset": p.ranges[0][0], "excerpt_at": p.excerpt_at, "source": p.source.hex(" "),
                   "destination": p.destination.hex(" "), "last_copy": p.last_copy,
                   "causes": list(p.causes), "artificial": list(p.artificial)} for p in d.pages],
        "packets": [{"seq": p.seq, "slot": p.slot, "page": p.page, "offset": p.offset, "fate": p.fate,
                     "reason": p.reason, "expected": p.expected.hex(" "), "seen": p.seen.hex(" ")}
                    for p in d.packets],
        "stale_writes": [{"page": w.page, "role": w.role, "offset": w.offset, "length": w.length,
                          "landed": w.landed[:16].hex(" "), "written_back": w.written_back[:16].hex(" ")}
                         for w in d.stale_writes],
        "freed_writes": [{"page": w.page, "role": w.role, "offset": w.offset, "length": w.length,
                          "held": w.held[:16].hex(" "), "written": w.written[:16].hex(" "),
                          "cause": w.cause, "freed": w.freed} for w in d.freed_writes],
    }


def report_text(r: ReplayReport) -> str:
    s, d = r.system, r.damage
    params = " ".join(f"{k}={v}" for k, v in s.params)
    lines = [f"replay of {r.path or 'a trace'}: {s.model} [{s.variant}]  {params}  (IR {s.ir_hash})",
             *([f"emulator: {'  '.join(f'{k}={v}' for k, v in r.settings)}"] if r.settings else []),
             f"property {r.trace.property}: {len(r.steps)} steps; after each one the emulator's state, "
             "read through the abstraction, equals the trace's", ""]
    for st in r.steps:
        lines.append(f"Step {st.number}: [{st.owner}] {st.label}")
        lines += [f"    {t}" for t in st.emulator]
    lines.append("")
    if r.observed:
        lines.append(f"CONFIRMED: {r.trace.property} is violated on the emulator")
        lines += [f"  observed: {o}" for o in r.observed]
    else:
        lines.append(f"NOT REPRODUCED: the trace violates {r.trace.property} in the model and the "
                     "emulator followed every step of it, but showed nothing the property forbids: "
                     "the model and the emulator disagree")
    if d.pages:
        lines += ["", "Pages that differ at the destination after the switchover:"]
        for p in d.pages:
            spans = ", ".join(f"{a:#05x}" if b == a + 1 else f"{a:#05x}-{b - 1:#05x}"
                              for a, b in p.ranges[:4])
            more = f" and {len(p.ranges) - 4} more ranges" if len(p.ranges) > 4 else ""
            lines.append(f"  {p.role} (guest address {p.address:#x}): {p.differing} bytes differ at "
                         f"offsets {spans}{more}")
            lines.append(f"    at +{p.excerpt_at:#05x}  source      {p.source.hex(' ')}")
            lines.append(f"    at +{p.excerpt_at:#05x}  destination {p.destination.hex(' ')}  (stale)")
            lines.append(f"    last copied: {p.last_copy or 'never'}")
            lines += [f"    written after the page's last copy: {c}" for c in p.causes]
            lines += [f"    artificial: {a}" for a in p.artificial]
    if d.stale_writes:
        lines += ["", "Stale write-backs (a plain touch over a landed DMA write):"]
        for w in d.stale_writes:
            lines.append(f"  {w.role} +{w.offset:#05x}, {w.length} bytes")
            lines.append(f"    landed by DMA  {w.landed[:16].hex(' ')}")
            lines.append(f"    written back   {w.written_back[:16].hex(' ')}  (stale)")
    if d.freed_writes:
        lines += ["", "Corruption of freed pages (DMA into a page the driver does not hold):"]
        for f in d.freed_writes:
            lines.append(f"  {f.role} +{f.offset:#05x}, {f.length} bytes: {f.freed}")
            lines.append(f"    the page held  {f.held[:16].hex(' ')}")
            lines.append(f"    the VF wrote   {f.written[:16].hex(' ')}  ({f.cause})")
    if d.packets:
        lines += ["", "Packets (by sequence number):"]
        for p in d.packets:
            lines.append(f"  {p.label}: {p.fate.upper()}: {p.reason}")
            if p.expected:
                lines.append(f"      the VF wrote    {p.expected.hex(' ')}")
                lines.append(f"      the guest has   {p.seen.hex(' ')}")
    lines += ["", f"{r.result}; exit status {r.exit_status}"]
    return "\n".join(lines)
