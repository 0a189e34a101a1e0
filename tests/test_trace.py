"""Traces as data: JSON round trip with the model's identity, and stale traces refused."""

from __future__ import annotations

import json

import pytest

from migcheck.checker.explicit import explore
from migcheck.checker.trace import trace_from_json, write_json_atomic
from migcheck.models import TraceError, build


def _system_for(model_cls):
    def system_for(model, variant, params):
        assert model == model_cls.name
        return build(model_cls.variants()[variant], params)
    return system_for


def test_json_round_trip_keeps_every_step(guest_assisted, tmp_path):
    system = build(guest_assisted.variants()["no-drain"])
    trace = explore(system, ["completeness"]).verdicts["completeness"].trace
    path = tmp_path / "t.json"
    write_json_atomic(str(path), trace.to_json(system))
    back, back_system = trace_from_json(json.loads(path.read_text()), _system_for(guest_assisted))
    assert back == trace and back_system.ir_hash == system.ir_hash
    assert [p.name for p in tmp_path.iterdir()] == ["t.json"]  # no temporary file left


def test_stale_or_foreign_traces_are_refused(guest_assisted):
    system = build(guest_assisted.variants()["no-drain"])
    data = explore(system, ["completeness"]).verdicts["completeness"].trace.to_json(system)
    system_for = _system_for(guest_assisted)
    with pytest.raises(TraceError, match="IR hash"):
        trace_from_json({**data, "ir_hash": "0" * 16}, system_for)
    with pytest.raises(TraceError, match="schema version 7 is not supported"):
        trace_from_json({**data, "schema": 7}, system_for)
    with pytest.raises(TraceError, match="missing key 'steps'"):
        trace_from_json({k: v for k, v in data.items() if k != "steps"}, system_for)
    bad_state = json.loads(json.dumps(data))
    bad_state["steps"][1]["state"]["phase"] = "flying"
    with pytest.raises(TraceError, match="step 1: 'phase': 'flying' is not one of"):
        trace_from_json(bad_state, system_for)
