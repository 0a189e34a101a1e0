"""`migcheck replay`: run a counterexample on the concrete emulator and show the damage.

A trace written by ``migcheck check --trace-out`` is read (JSON, schema-checked, tied to its
model's name, variant, parameters and IR hash) and validated against the model. The
emulator is configured from the variant's flags and parameters and driven step by step;
after every step the abstraction of the emulator's state must equal the trace's state, or
the replay stops with the step, the action and the variables that differ (`TraceMismatch`).
A step's slot ``i`` and page ``p`` are passed on to the emulator: the driver puts a fresh
buffer in page ``p``, and the VF, the DMA engine and the driver's clean must find slot
``i``'s buffer in page ``p``, or the replay diverges there.
At the end the concrete damage is read off real bytes: the pages that differ between source
and destination, and the packets the guest lost or got corrupted; and, for properties that
are not about data, the concrete event the property forbids.

The result is ``confirmed`` (exit 0) when the violation shows on the emulator and ``not
reproduced`` (exit 1) when the trace runs but nothing of it shows. Bad input, and a replay
that diverges from the trace, raise a `TraceError` (exit 2).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from migcheck.checker import interpret
from migcheck.checker.trace import Step, Trace, trace_from_json
from migcheck.emulator.abstraction import guest_assisted_state
from migcheck.emulator.damage import Damage, assess
from migcheck.emulator.dma import DATA, WRITEBACK
from migcheck.emulator.driver import DriverConfig
from migcheck.emulator.errors import StepRefused
from migcheck.emulator.machine import Machine, MachineConfig
from migcheck.emulator.migrator import MigratorConfig
from migcheck.emulator.schedule import operations
from migcheck.models.errors import MigcheckError, TraceError, TraceMismatch
from migcheck.models.ir import System
from migcheck.models.library import BUNDLED, resolve
from migcheck.models.model import Model, build

from . import __version__

REPLAYABLE = "guest-assisted"  # the model the emulator implements
CONFIRMED, NOT_REPRODUCED = "confirmed", "not reproduced"


# ---------------------------------------------------------------- the model a trace names


def variant_class(model: Any, variant: Any) -> type[Model]:
    """The bundled model class a trace names; only guest-assisted has an emulator."""
    if not isinstance(model, str) or model not in BUNDLED:
        raise TraceError(f"trace: model {model!r} is not a bundled model; "
                         f"migcheck replay replays traces of {REPLAYABLE}")
    if model != REPLAYABLE:
        raise TraceError(f"trace: model '{model}' has no concrete emulator; "
                         f"migcheck replay replays traces of {REPLAYABLE}")
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


def machine_config(cls: type[Model], params: dict[str, int]) -> MachineConfig:
    """The emulator's configuration for a guest-assisted variant: its flags and parameters."""
    flags: Any = cls
    driver = DriverConfig(marks_dma_pages=flags.guest_assist, handler_steps=tuple(flags.handler_steps),
                          mark_rings=flags.mark_rings, unmap_marks=flags.unmap_marks,
                          plain_touch=flags.plain_touch, resets_on_abort=flags.resets_on_abort)
    migrator = MigratorConfig(rounds=params["rounds"], check_opt_in=flags.check_opt_in,
                              ack_timeout=flags.ack_timeout)
    return MachineConfig(slots=params["slots"], buffer_pages=params["pages"],
                         max_posted=params["inflight"], driver=driver, migrator=migrator)


# ---------------------------------------------------------------- reading a trace


def load_trace(path: str) -> tuple[Trace, System, type[Model]]:
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
    _check_shape(path, data)
    try:
        trace, system = trace_from_json(data, system_for)
        interpret.validate(system, trace)
    except TraceError as exc:
        raise type(exc)(f"{path}: {exc}") from None
    return trace, system, variant_class(trace.model, trace.variant)


def _check_shape(path: str, data: Any) -> None:
    """What `trace_from_json` takes for granted: steps are objects with object states."""
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
        return  # trace_from_json names the problem
    for n, raw in enumerate(data["steps"]):
        if not isinstance(raw, dict) or not isinstance(raw.get("state"), dict):
            raise TraceError(f"{path}: trace: step {n} is not an object with a 'state' object")
        if raw.get("params") is not None and not isinstance(raw["params"], dict):
            raise TraceError(f"{path}: trace: step {n}: 'params' must be an object")
        if not all(isinstance(k, str) for k in raw["state"]):
            raise TraceError(f"{path}: trace: step {n}: state keys must be variable names")


# ---------------------------------------------------------------- model actions as emulator calls


def _index(params: dict[str, int], name: str, count: int, what: str) -> int:
    """The step's parameter ``name``: an index below ``count`` into the emulator's ``what``."""
    value = params.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise StepRefused(f"the step gives no {what} '{name}' (an integer), but {value!r}")
    if not 0 <= value < count:
        raise StepRefused(f"{name}={value}: the emulator has no {what} {value} (it has {count}: "
                          f"0..{count - 1})")
    return value


def _slot(m: Machine, params: dict[str, int]) -> int:
    return _index(params, "i", m.layout.slots, "RX descriptor")


def _page(m: Machine, params: dict[str, int]) -> int:
    return _index(params, "p", m.layout.buffer_pages, "RX buffer page")


def _page_of_address(m: Machine, address: int) -> int | None:
    where = m.layout.locate(address)
    return where[0] if where is not None else None


def _buffer_in(m: Machine, slot: int, page: int) -> None:
    """The driver's buffer for ``slot`` must be in ``page``, as the step says."""
    held = m.driver.buffer_page[slot]
    if held != page:
        now = "has no buffer" if held is None else f"has its buffer in page {held}"
        raise StepRefused(f"driver: descriptor {slot} {now}, not in page {page}")


def _refill(m: Machine, p: dict[str, int]) -> None:
    slot, page = _slot(m, p), _page(m, p)
    nxt = m.driver.next_refill_slot()
    if nxt != slot:
        raise StepRefused(f"driver: refills in ring order: next_to_use is descriptor {nxt}")
    m.driver.refill(page)


def _clean(unmap: bool) -> Callable[[Machine, dict[str, int]], None]:
    def clean(m: Machine, p: dict[str, int]) -> None:
        slot, page = _slot(m, p), _page(m, p)
        nxt = m.driver.next_clean_slot()
        if nxt != slot:
            raise StepRefused(f"driver: cleans in ring order: next_to_clean is descriptor {nxt}")
        _buffer_in(m, slot, page)
        m.driver.clean(unmap)
    return clean


def _touch_write_back(m: Machine, p: dict[str, int]) -> None:
    slot, page = _slot(m, p), _page(m, p)
    t = m.driver.touch
    if t is not None and t.slot != slot:
        raise StepRefused(f"driver: the half-done touch belongs to the clean of descriptor {t.slot}")
    if t is not None and t.page != page:
        raise StepRefused(f"driver: the half-done touch is of page {t.page}, not page {page}")
    m.driver.touch_write_back()


def _rx_data(m: Machine, p: dict[str, int]) -> None:
    slot, page = _slot(m, p), _page(m, p)
    nxt = m.vf.next_descriptor()
    if nxt is not None and nxt != slot:
        raise StepRefused(f"VF: takes descriptors in ring order: the next one (RDH) is {nxt}")
    if nxt is not None:
        address = m.driver.descriptor(nxt).pkt_addr  # what the VF will read from the ring
        target = _page_of_address(m, address)
        if target != page:
            raise StepRefused(f"VF: descriptor {slot}'s buffer address {address:#x} is in "
                              f"{'no guest page' if target is None else f'page {target}'}, "
                              f"not page {page}")
    m.packet_arrives()


def _rx_writeback(m: Machine, p: dict[str, int]) -> None:
    m.vf.write_back(_slot(m, p))


def _land(purpose: str) -> Callable[[Machine, dict[str, int]], None]:
    def land(m: Machine, p: dict[str, int]) -> None:
        slot = _slot(m, p)
        if purpose == DATA:
            page = _page(m, p)
            index = m.vf.dma.find(slot, DATA)
            if index is not None:
                address = m.vf.dma.posted[index].iova
                target = _page_of_address(m, address)
                if target != page:
                    raise StepRefused(f"DMA engine: the posted data write for descriptor {slot} goes "
                                      f"to {address:#x}, in "
                                      f"{'no guest page' if target is None else f'page {target}'}, "
                                      f"not page {page}")
        m.land(slot, purpose)
    return land


def _call(fn: Callable[[Machine], Callable[[], object]]) -> Callable[[Machine, dict[str, int]], None]:
    def run(m: Machine, p: dict[str, int]) -> None:
        fn(m)()
    return run


ACTIONS: dict[str, Callable[[Machine, dict[str, int]], None]] = {
    # guest driver
    "opt_in_marking": _call(lambda m: m.driver.opt_in),
    "probe": _call(lambda m: m.driver.probe),
    "refill": _refill,
    "clean_unmap": _clean(unmap=True),
    "clean_recycle": _clean(unmap=False),
    "touch_write_back": _touch_write_back,
    "handle_event": _call(lambda m: m.driver.handle_event),
    "clear_bme": _call(lambda m: m.driver.clear_bus_master),
    "drain": _call(lambda m: m.driver.drain),
    "mark": _call(lambda m: m.driver.mark),
    "acknowledge": _call(lambda m: m.driver.acknowledge),
    "error_detected": _call(lambda m: m.driver.error_detected),
    "slot_reset": _call(lambda m: m.driver.slot_reset),
    "resume_without_reset": _call(lambda m: m.driver.resume_without_reset),
    # VF and its DMA engine
    "rx_data": _rx_data,
    "land_data": _land(DATA),
    "rx_writeback": _rx_writeback,
    "land_writeback": _land(WRITEBACK),
    # the guest CPU
    "cpu_write": _call(lambda m: m.vcpu.store),
    # the migrator
    "start_migration": _call(lambda m: m.migrator.start),
    "block_migration": _call(lambda m: m.migrator.block),
    "precopy_round": _call(lambda m: m.migrator.precopy_round),
    "notify_guest": _call(lambda m: m.migrator.notify),
    "stop_vcpu": _call(lambda m: m.migrator.stop_vcpu),
    "timeout": _call(lambda m: m.migrator.timeout),
    "stop_and_copy": _call(lambda m: m.migrator.stop_and_copy),
    "switchover": _call(lambda m: m.migrator.switchover),
    "abort": _call(lambda m: m.migrator.abort),
    "start_dest_device": _call(lambda m: m.migrator.start_destination_device),
}


def perform(m: Machine, action: str, params: dict[str, int]) -> None:
    """Do the model action ``action`` on the emulator; `StepRefused` if it cannot happen now."""
    if action not in ACTIONS:
        raise StepRefused(f"the emulator has no counterpart for action '{action}'")
    ACTIONS[action](m, params)


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


def _check_state(n: int, step: Step, system: System, m: Machine) -> None:
    diffs = differences(system.layout.render(step.state), guest_assisted_state(m))
    if diffs:
        what = ", ".join(f"{name} (trace {w}, emulator {g})" for name, w, g in diffs)
        where = "the initial state" if n == 0 else f"step {n} {step.label}"
        raise TraceMismatch(f"replay diverged at {where}: the emulator's state differs from the "
                            f"trace's in {what}")


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

    @property
    def result(self) -> str:
        return CONFIRMED if self.observed else NOT_REPRODUCED

    @property
    def exit_status(self) -> int:
        return 0 if self.observed else 1


def replay(trace: Trace, system: System, cls: type[Model], path: str = "",
           config: MachineConfig | None = None) -> ReplayReport:
    """Drive a fresh emulator through ``trace`` (already validated against ``system``);
    ``config`` replaces the emulator's configuration derived from the variant."""
    m = Machine(config or machine_config(cls, dict(system.params)))
    _check_state(0, trace.steps[0], system, m)
    records = []
    for n, step in enumerate(trace.steps[1:], start=1):
        mark = len(m.journal.events)
        try:
            perform(m, str(step.action), dict(step.params))
        except StepRefused as exc:
            raise TraceMismatch(f"replay diverged at step {n} {step.label}: the emulator cannot take "
                                f"it: {exc}") from None
        _check_state(n, step, system, m)
        did = tuple(e.text for e in m.journal.since(mark))
        records.append(StepRecord(n, step.label, step.owner or "", did))
    if trace.loop is not None and trace.loop < len(trace.steps) - 1:
        _second_lap(trace, system, m)
    damage = assess(m)
    observed = tuple(observe(trace.property, m, damage))
    return ReplayReport(path, trace, system, tuple(records), damage, observed)


def _second_lap(trace: Trace, system: System, m: Machine) -> None:
    """Run a lasso's loop once more: the emulator must come round to the same states again."""
    start = trace.loop
    assert start is not None
    for n in range(start + 1, len(trace.steps)):
        step = trace.steps[n]
        try:
            perform(m, str(step.action), dict(step.params))
        except StepRefused as exc:
            raise TraceMismatch(f"replay diverged on the loop's second lap at step {n} {step.label}: "
                                f"the emulator cannot take it: {exc}") from None
        _check_state(n, step, system, m)


def replay_file(path: str) -> ReplayReport:
    trace, system, cls = load_trace(path)
    return replay(trace, system, cls, path)


# ---------------------------------------------------------------- what each property forbids, concretely


def observe(prop: str, m: Machine, damage: Damage) -> list[str]:
    """The concrete events on ``m`` that the property ``prop`` forbids (empty: none seen)."""
    events = m.journal.events
    if prop == "completeness":
        if not damage.pages:
            return []
        names = ", ".join(f"{d.role} ({d.differing} bytes)" for d in damage.pages)
        return [f"after the switchover {len(damage.pages)} page(s) differ between source and "
                f"destination: {names}"]
    if prop == "marking-preserves-data":
        return [f"a plain touch wrote stale bytes over a landed DMA write: {w.role} +{w.offset:#05x}, "
                f"{w.length} bytes" for w in damage.stale_writes]
    if prop == "quiescence":
        seen = []
        for e in events:
            if e.kind in ("data_issue", "writeback_issue") and not e.context.bus_master:
                seen.append(f"{e.text}, with bus mastering off")
            elif e.kind in ("data_issue", "writeback_issue", "data_land", "writeback_land") and \
                    e.context.migration in ("stopped", "copied"):
                seen.append(f"{e.text}, while the vCPU was stopped for the final copy "
                            f"(migration phase {e.context.migration})")
        return seen
    if prop == "rings-last":
        ring = m.layout.ring_page
        if not m.switched_over or m.migrator.copied_quiet[ring]:
            return []
        last = [e for e in events if e.kind == "copy" and e.page == ring][-1]
        return [f"the ring page's last copy before the switchover was made with the VF not quiet: "
                f"{last.text}"]
    if prop == "opt-in":
        if m.migrator.started_with_opt_in is False:
            return ["the migration started although the driver never opted in to dirty marking "
                    "(bus mastering was already on)"]
        return []
    if prop == "recovery":
        rx = ("refill", "clean", "touch_read", "touch_write", "stale_write")
        seen = [f"{e.text}, while bus mastering was off (the VF cannot serve the ring)"
                for e in events if e.kind in rx and not e.context.bus_master]
        return seen + [e.text for e in events if e.kind == "dma_fault"]
    if prop == "dest-order":
        return [f"{e.text} before the switchover" for e in events
                if e.kind == "dest_device" and e.context.migration != "switched"]
    if prop in ("migration-ends", "network-recovers", "event-answered"):
        return _observe_liveness(prop, m)
    if prop == "deadlock":
        return [] if operations(m) else ["no operation of the emulated system can take place"]
    return []


ENDED = ("switched", "aborted", "blocked")


def _observe_liveness(prop: str, m: Machine) -> list[str]:
    """What a lasso leaves the emulator in, when it is what the liveness property forbids."""
    phase = m.migrator.phase
    if prop == "migration-ends" and phase not in ENDED:
        why = m.migrator.why_not_stop_vcpu() if phase == "notified" else f"phase {phase}"
        return [f"the migration never ends: the loop comes back with the migrator in phase {phase} "
                f"({why}) and nothing obliges it to move on"]
    if prop == "event-answered" and phase == "notified" and not m.channel.acked:
        return [f"the migration event is never answered: the driver stays {m.driver.state} and the "
                f"migrator has no timeout ({m.migrator.why_not_timeout()})"]
    if prop == "network-recovers" and phase in ENDED:
        works = m.migrator.destination_device if phase == "switched" else (
            m.driver.state == "up" and m.vf.config.bus_master)
        if not works:
            return [f"the migration ended (phase {phase}) but the guest's network stays dead: driver "
                    f"{m.driver.state}, Command register {m.vf.config.command:#06x}; a packet now: "
                    f"{m.vf.why_not_receive() or 'accepted'}"]
    return []


# ---------------------------------------------------------------- renderings


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
        "result": r.result,
        "observed": list(r.observed),
        "steps": [{"step": s.number, "action": s.label, "owner": s.owner, "emulator": list(s.emulator)}
                  for s in r.steps],
        "pages": [{"page": p.page, "role": p.role, "address": p.address,
                   "ranges": [list(x) for x in p.ranges], "differing": p.differing,
                   "offset": p.ranges[0][0], "excerpt_at": p.excerpt_at, "source": p.source.hex(" "),
                   "destination": p.destination.hex(" "), "causes": list(p.causes)} for p in d.pages],
        "packets": [{"seq": p.seq, "slot": p.slot, "page": p.page, "offset": p.offset, "fate": p.fate,
                     "reason": p.reason, "expected": p.expected.hex(" "), "seen": p.seen.hex(" ")}
                    for p in d.packets],
        "stale_writes": [{"page": w.page, "role": w.role, "offset": w.offset, "length": w.length,
                          "landed": w.landed[:16].hex(" "), "written_back": w.written_back[:16].hex(" ")}
                         for w in d.stale_writes],
    }


def report_text(r: ReplayReport) -> str:
    s, d = r.system, r.damage
    params = " ".join(f"{k}={v}" for k, v in s.params)
    lines = [f"replay of {r.path or 'a trace'}: {s.model} [{s.variant}]  {params}  (IR {s.ir_hash})",
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
        lines.append(f"NOT REPRODUCED: the trace ran on the emulator, but nothing that "
                     f"{r.trace.property} forbids was observed")
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
            lines += [f"    written after the page's last copy: {c}" for c in p.causes]
    if d.stale_writes:
        lines += ["", "Stale write-backs (a plain touch over a landed DMA write):"]
        for w in d.stale_writes:
            lines.append(f"  {w.role} +{w.offset:#05x}, {w.length} bytes")
            lines.append(f"    landed by DMA  {w.landed[:16].hex(' ')}")
            lines.append(f"    written back   {w.written_back[:16].hex(' ')}  (stale)")
    if d.packets:
        lines += ["", "Packets (by sequence number):"]
        for p in d.packets:
            lines.append(f"  packet {p.seq} (descriptor {p.slot}): {p.fate.upper()}: {p.reason}")
            if p.expected:
                lines.append(f"      the VF wrote    {p.expected.hex(' ')}")
                lines.append(f"      the guest has   {p.seen.hex(' ')}")
    lines += ["", f"{r.result}; exit status {r.exit_status}"]
    return "\n".join(lines)
