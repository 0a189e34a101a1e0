"""Traces: an initial state and the steps from it, as data first.

A trace is JSON with a schema version and the identity of the model it belongs to (name,
variant, parameters, IR hash), so that a stale trace is refused with a clear message.
``steps[0]`` is the initial state (its ``action`` is null); ``loop`` is the index of the
state a lasso returns to, or null.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from typing import Any

from migcheck.models.errors import TraceError
from migcheck.models.ir import Instance, System

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Step:
    action: str | None  # None for the initial state
    params: tuple[tuple[str, int], ...]
    owner: str | None
    state: tuple[int, ...]

    @property
    def label(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.params)
        return f"{self.action}({args})" if args else str(self.action)


@dataclass(frozen=True)
class Trace:
    instance: Instance  # the checked model instance the trace belongs to
    property: str
    steps: tuple[Step, ...]
    loop: int | None = None

    model = property(lambda self: self.instance.model)
    variant = property(lambda self: self.instance.variant)
    params = property(lambda self: self.instance.params)
    ir_hash = property(lambda self: self.instance.ir_hash)

    def __len__(self) -> int:
        """The number of transitions (steps after the initial state)."""
        return len(self.steps) - 1

    def to_json(self, system: System) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "model": self.model,
            "variant": self.variant,
            "params": dict(self.params),
            "ir_hash": self.ir_hash,
            "property": self.property,
            "steps": [{"action": s.action, "params": dict(s.params), "owner": s.owner,
                       "state": system.layout.render(s.state)} for s in self.steps],
            "loop": self.loop,
        }


def trace_from_json(data: Any, system_for: Any) -> tuple[Trace, System]:
    """Read a trace object; ``system_for(model, variant, params)`` builds the model it names.

    Raises `TraceError` naming what is wrong: schema, model identity or a malformed state.
    """
    if not isinstance(data, dict):
        raise TraceError("trace: expected a JSON object")
    if data.get("schema") != SCHEMA_VERSION:
        raise TraceError(f"trace: schema version {data.get('schema')!r} is not supported "
                         f"(this migcheck reads version {SCHEMA_VERSION}); write the trace again")
    for key in ("model", "variant", "params", "ir_hash", "property", "steps"):
        if key not in data:
            raise TraceError(f"trace: missing key '{key}'")
    system = system_for(data["model"], data["variant"], data["params"])
    if system.ir_hash != data["ir_hash"]:
        raise TraceError(
            f"trace: written for another version of model '{data['model']}' (IR hash "
            f"{data['ir_hash']}, the model now has {system.ir_hash}); "
            "check the model again to get a new trace")
    steps = []
    if not isinstance(data["steps"], list) or not data["steps"]:
        raise TraceError("trace: 'steps' must be a non-empty list")
    for n, raw in enumerate(data["steps"]):
        if not isinstance(raw, dict) or "state" not in raw:
            raise TraceError(f"trace: step {n} is not an object with a 'state'")
        try:
            state = system.layout.parse(raw["state"])
        except ValueError as exc:
            raise TraceError(f"trace: step {n}: {exc}") from None
        params = raw.get("params") or {}
        if not isinstance(params, dict):
            raise TraceError(f"trace: step {n}: 'params' must be an object")
        steps.append(Step(raw.get("action"), tuple(params.items()), raw.get("owner"), state))
    loop = data.get("loop")
    if loop is not None and (not isinstance(loop, int) or not 0 <= loop < len(steps)):
        raise TraceError(f"trace: 'loop' = {loop!r} is not a step index")
    return Trace(system.instance, str(data["property"]), tuple(steps), loop), system


def write_json_atomic(path: str, payload: Any) -> None:
    """Write JSON to ``path`` through a temporary file and a rename, so no half file remains."""
    write_text_atomic(path, json.dumps(payload, indent=2) + "\n")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".migcheck-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; the result follows the umask
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
