"""vfio-v2 on its emulator: counterexamples replay as concrete damage (bytes that differ at
the destination, or the forbidden event), and random runs of the emulator stay within the
model's behaviours (after every operation the abstraction is a successor of the one before)."""

from __future__ import annotations

import json
import random

import pytest

from migcheck.checker import interpret
from migcheck.checker.explicit import explore
from migcheck.emulator.bindings.vfio_v2 import BINDING, KINDS
from migcheck.emulator.schedule import operations
from migcheck.models.library import bundled
from migcheck.models.model import build
from migcheck.replay import replay, replay_file

VFIO = bundled("vfio-v2")
LOSSES = [(name, prop) for name, cls in VFIO.variants().items()
          for prop, verdict in cls.expect.items()
          if verdict == "violated" and prop in ("completeness", "dirty-report-complete")]
EVENTS = [(name, prop) for name, cls in VFIO.variants().items()
          for prop, verdict in cls.expect.items()
          if verdict == "violated" and prop in ("no-dma-when-stopped", "p2p-quiescence",
                                                 "arc-legality", "dest-order")]


def _replayed(name: str, prop: str, params: dict[str, int] | None = None):
    system = build(VFIO.variants()[name], params)
    verdict = explore(system, properties=[prop]).verdicts[prop]
    assert verdict.verdict == "violated"
    return replay(verdict.trace, system)


@pytest.mark.parametrize("name", ["harvest-before-stop", "no-iotlb-flush", "precopy-data-final"])
def test_a_lost_write_shows_as_bytes_that_differ_at_the_destination(name):
    report = _replayed(name, "completeness", {"devs": 1, "pages": 1})
    assert report.result == "confirmed"
    assert report.damage.pages or any("state differs at the destination" in o for o in report.observed)
    for page in report.damage.pages:
        assert page.source != page.destination


def test_a_p2p_write_into_a_stopped_device_changes_its_saved_state():
    report = _replayed("no-p2p-two-devices", "completeness", {"devs": 2, "pages": 1})
    assert report.result == "confirmed"
    assert any(o.startswith("device ") and "differs at the destination" in o for o in report.observed)


def test_an_illegal_arc_is_named_as_the_arc_the_kernel_refuses():
    report = _replayed("illegal-arc", "arc-legality", {"devs": 1, "pages": 1})
    assert report.observed == ("VFIO: device 0 STOP_COPY -> RUNNING_P2P (an arc the kernel's table "
                               "never takes)",)


def test_a_trace_file_replays_from_the_cli_path(tmp_path):
    system = build(VFIO.variants()["dest-run-before-load"], {"devs": 1, "pages": 1})
    trace = explore(system, properties=["dest-order"]).verdicts["dest-order"].trace
    path = tmp_path / "t.json"
    path.write_text(json.dumps(trace.to_json(system)))
    report = replay_file(str(path))
    assert report.result == "confirmed" and "guest RAM not loaded yet" in report.observed[0]


@pytest.mark.slow
@pytest.mark.parametrize("name, prop", LOSSES + EVENTS, ids=[f"{n}-{p}" for n, p in LOSSES + EVENTS])
def test_every_counterexample_at_the_default_instance_is_confirmed(name, prop):
    assert _replayed(name, prop).result == "confirmed"


@pytest.mark.parametrize("name", sorted(VFIO.variants()))
def test_random_emulator_runs_stay_within_the_model(name):
    cls = VFIO.variants()[name]
    system = build(cls, {"devs": 2, "pages": 2})
    rng = random.Random(name)
    for _ in range(6):
        m = BINDING.machine(cls, dict(system.params))
        state = system.layout.parse(BINDING.abstract(m))
        for _ in range(80):
            enabled = operations(m, KINDS)
            if not enabled:
                break
            op = rng.choice(enabled)
            op.run()
            after = system.layout.parse(BINDING.abstract(m))
            successors = {s for _, s in interpret.successors(system, state)}
            assert after in successors, f"{name}: {op.label} leaves the model's behaviours"
            state = after
