"""The migration property library: a small model declares its facts once and gets
completeness, quiescence and dest-order; each property is found violated by the mistake it
is about, and holds (with its witness reached) when the protocol is right."""

from __future__ import annotations

import pytest

from migcheck.checker.explicit import explore
from migcheck.models import (
    Array,
    Bool,
    Enum,
    Index,
    Model,
    ModelDefinitionError,
    action,
    build,
    final,
    require,
    variant,
)
from migcheck.properties.migration import Migration


class Copy(Model):
    """Clear BME, drain the posted write, copy every page, switch over, start the device."""

    name = "library-copy"
    pages = Index("page", default=2, allowed=range(1, 4), symmetric=True)

    device_honours_bme = True
    drain_first = True
    dest_waits = True

    phase = Enum("running", "quiesced", "copied", "switched", init="running")
    bme = Bool(init=True)
    inflight = Bool(init=False)
    synced = Array(pages, Bool, init=False)
    dest_runs = Bool(init=False)
    ram_loaded = Bool(init=False)

    @action(owner="device")
    def dma_issue(s):
        require(~s.inflight & (s.phase != "switched") & (s.bme if s.device_honours_bme else True))
        s.inflight = True

    @action(owner="device")
    def dma_land(s, p: pages):
        require(s.inflight)
        s.inflight = False
        s.synced[p] = False

    @action(owner="hypervisor")
    def quiesce(s):
        require((s.phase == "running") & (~s.inflight if s.drain_first else True))
        s.bme = False
        s.phase = "quiesced"

    @action(owner="hypervisor")
    def copy(s):
        require(s.phase == "quiesced")
        s.phase = "copied"
        for p in s.pages:
            s.synced[p] = True

    @action(owner="hypervisor")
    def switchover(s):
        require(s.phase == "copied")
        s.phase = "switched"

    @action(owner="hypervisor")
    def load_ram(s):
        require((s.phase == "switched") & ~s.ram_loaded)
        s.ram_loaded = True

    @action(owner="hypervisor")
    def start_dest(s):
        require(((s.phase == "switched") & (s.ram_loaded if s.dest_waits else True)) & ~s.dest_runs)
        s.dest_runs = True

    @final
    def done(s):
        return s.dest_runs & s.ram_loaded

    migration = Migration(
        switched=lambda s: s.phase == "switched",
        synced=lambda s: [s.synced[p] for p in s.pages],
        issues_dma=lambda act: act.name == "dma_issue",
        stopped=lambda s, act: ~s.bme,
        lands=lambda act: act.name == "dma_land",
        relied_quiet=lambda s, act: s.phase.isin("copied", "switched"),
        dest_runs=lambda s: [(s.dest_runs, s.ram_loaded)],
    )
    completeness = migration.completeness(witness="switchover-happens")
    quiescence = migration.quiescence(witness="switchover-happens")
    dest_order = migration.dest_order(witness="switchover-happens")
    switchover_happens = migration.switchover()


@variant(Copy, expect={"completeness": "violated", "quiescence": "violated"})
class NoDrain(Copy):
    """BME cleared with a write in flight: it lands after the copy."""

    drain_first = False


@variant(Copy, expect={"quiescence": "violated", "completeness": "violated"})
class IgnoresBme(Copy):
    """The device issues DMA with BME clear."""

    device_honours_bme = False


@variant(Copy, expect={"dest-order": "violated"})
class DestEarly(Copy):
    """The destination device starts before guest RAM is loaded."""

    dest_waits = False


@pytest.mark.parametrize("name", list(Copy.variants()))
def test_library_properties_find_each_mistake(name):
    system = build(Copy.variants()[name])
    result = explore(system)
    got = {k: v.verdict for k, v in result.verdicts.items()}
    assert got == {k: system.expected(k) for k in got}, got


def test_library_properties_read_as_declared():
    props = {p.name: p for p in build(Copy).properties}
    assert [props[n].kind for n in ("completeness", "quiescence", "dest-order", "switchover-happens")] \
        == ["invariant", "action", "invariant", "reachable"]
    assert props["completeness"].witness == "switchover-happens"
    assert props["completeness"].doc.startswith("P1:")


def test_quiescence_needs_its_facts():
    with pytest.raises(ModelDefinitionError, match="neither issues_dma nor lands"):
        Migration(switched=lambda s: True, synced=lambda s: []).quiescence()
    with pytest.raises(ModelDefinitionError, match="issues_dma with stopped"):
        Migration(switched=lambda s: True, synced=lambda s: [],
                  issues_dma=lambda act: True).quiescence()
    with pytest.raises(ModelDefinitionError, match="dest_runs"):
        Migration(switched=lambda s: True, synced=lambda s: []).dest_order()
