"""A DMA write into a page the driver has freed: the IOMMU setting (the whole guest RAM
mapped, as in 2015 without a vIOMMU, or only the driver's mappings), the variants that free
the RX buffers before and after disabling the queue, and the replay's report of the
corruption with the bytes.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from migcheck.checker.explicit import explore
from migcheck.checker.trace import write_json_atomic
from migcheck.cli import main
from migcheck.emulator.driver import DriverConfig
from migcheck.emulator.iommu import MAPPED, WHOLE_RAM, Iommu
from migcheck.emulator.layout import GuestLayout
from migcheck.emulator.machine import Machine, MachineConfig
from migcheck.emulator.packets import Packet
from migcheck.models.library import bundled
from migcheck.models.model import build

GUEST_ASSISTED = bundled("guest-assisted")
FREE_FIRST = ("release", "clear_bme", "drain", "mark", "ack")


def trace_file(tmp_path, variant: str, prop: str, model: str = "guest-assisted") -> str:
    system = build(bundled(model).variants()[variant])
    verdict = explore(system, [prop]).verdicts[prop]
    assert verdict.verdict == "violated", (variant, prop)
    path = str(tmp_path / f"{variant}-{prop}.json")
    write_json_atomic(path, verdict.trace.to_json(system))
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


# ---------------------------------------------------------------- the IOMMU on its own


@pytest.mark.parametrize(("setting", "reaches"), [(WHOLE_RAM, True), (MAPPED, False)])
def test_an_unmapped_page_is_reachable_only_with_the_whole_ram_mapped(setting, reaches):
    iommu = Iommu(GuestLayout(2, 2), setting)
    iova = iommu.map(0)
    iommu.unmap(0)
    assert (iommu.translate(iova, 96) is not None) == reaches
    assert not iommu.is_mapped(0)  # the driver's bookkeeping is kept either way
    assert iommu.translate(iommu.layout.address(iommu.layout.pages), 1) is None  # beyond guest RAM


def test_an_unknown_iommu_setting_is_refused():
    with pytest.raises(ValueError, match="one of whole-ram, mapped"):
        Iommu(GuestLayout(2, 1), "none")


def freed_buffer_machine(setting: str) -> Machine:
    """A driver that frees its RX buffer while the VF holds its descriptor, and a packet
    whose data write is posted to it."""
    m = Machine(MachineConfig(iommu=setting, driver=DriverConfig(handler_steps=FREE_FIRST)))
    m.driver.opt_in()
    m.driver.probe()
    m.driver.refill(0)
    m.vf.receive(Packet(7))
    m.migrator.start()
    m.migrator.notify()
    m.driver.handle_event()
    m.driver.release()
    assert not m.iommu.is_mapped(0) and m.driver.published[0]
    return m


def test_with_the_whole_ram_mapped_a_stale_descriptor_corrupts_the_freed_page():
    m = freed_buffer_machine(WHOLE_RAM)
    held = m.memory.ram.read(0, 0, 16)
    m.land(0, "data")
    [freed] = m.journal.of_kind("freed_write")
    assert freed.page == 0 and freed.before[:16] == held and freed.after == Packet(7).frame()
    assert m.memory.ram.read(0, 0, len(freed.after)) == freed.after


def test_with_a_viommu_the_write_faults_and_the_freed_page_keeps_its_bytes():
    m = freed_buffer_machine(MAPPED)
    held = m.memory.ram.page(0)
    m.land(0, "data")
    assert m.memory.ram.page(0) == held
    assert not m.journal.of_kind("freed_write")
    assert "IOMMU fault" in m.journal.of_kind("dma_fault")[0].text


def test_the_rx_path_stops_once_the_buffers_are_freed():
    m = freed_buffer_machine(WHOLE_RAM)
    assert "freed the RX buffers" in (m.driver.why_not_refill() or "")


# ---------------------------------------------------------------- the variants


def test_freeing_before_the_disable_is_found_and_freeing_after_it_is_not():
    first = build(GUEST_ASSISTED.variants()["free-before-disable"])
    after = build(GUEST_ASSISTED.variants()["teardown"])
    props = ["dma-into-held-pages", "completeness", "quiescence"]
    found = {p: v.verdict for p, v in explore(first, props).verdicts.items()}
    assert found == {"dma-into-held-pages": "violated", "completeness": "violated", "quiescence": "holds"}
    assert found["dma-into-held-pages"] == GUEST_ASSISTED.variants()["free-before-disable"].expect[
        "dma-into-held-pages"]
    held = explore(after, props).verdicts
    assert all(v.verdict == "holds" for v in held.values()), held


# ---------------------------------------------------------------- the replay


def test_the_replay_names_the_freed_page_and_its_bytes(tmp_path, capsys):
    path = trace_file(tmp_path, "free-before-disable", "dma-into-held-pages")
    status, out, err = run(capsys, "replay", path, "--json")
    report = json.loads(out)
    assert status == 0 and err == "" and report["result"] == "confirmed"
    assert report["settings"] == {"iommu": "whole-ram"}  # the default
    [freed] = report["freed_writes"]
    assert freed["role"] == "RX buffer page 0" and freed["length"] == 96
    assert freed["held"] == "a5 " * 15 + "a5"  # the freed page's bytes before the write
    assert freed["written"] == Packet(1).frame()[:16].hex(" ")
    assert "free RX buffer page 0: dma_unmap" in freed["freed"] and "packet 1 data lands" in freed["cause"]
    [observed] = report["observed"]
    assert "RX buffer page 0 +0x000: held a5 a5" in observed and "freed by: free RX buffer page 0" in observed
    [packet] = report["packets"]
    assert packet["fate"] == "dropped" and "freed its buffer" in packet["reason"]
    status, text, _ = run(capsys, "replay", path)
    assert status == 0 and "Corruption of freed pages (DMA into a page the driver does not hold):" in text
    assert "emulator: iommu=whole-ram" in text


def test_the_completeness_loss_is_the_freed_page_written_after_its_last_copy(tmp_path, capsys):
    status, out, _ = run(capsys, "replay", trace_file(tmp_path, "free-before-disable", "completeness"),
                         "--json", "--iommu", "whole-ram")
    report = json.loads(out)
    assert status == 0 and report["result"] == "confirmed"
    [page] = report["pages"]
    assert page["role"] == "RX buffer page 0" and page["causes"][0].startswith("packet 1 data lands")
    assert report["freed_writes"][0]["page"] == page["page"]


def test_with_a_viommu_the_replay_stops_at_the_fault(tmp_path, capsys):
    path = trace_file(tmp_path, "free-before-disable", "dma-into-held-pages")
    status, out, err = run(capsys, "replay", path, "--iommu", "mapped")
    assert status == 2 and out == "" and len(err.splitlines()) == 1
    assert "replay diverged at step 9 land_data(i=0, p=0)" in err
    assert "IOMMU fault: packet 1 data to IOVA 0x100000 is not mapped; the write is dropped" in err


@pytest.mark.parametrize(("args", "message"), [
    (("--iommu", "none"), "migcheck: error: --iommu 'none': one of whole-ram, mapped"),
    (("--iommu", ""), "migcheck: error: --iommu '': one of whole-ram, mapped"),
])
def test_a_bad_iommu_setting_exits_2_with_one_line(tmp_path, capsys, args, message):
    path = trace_file(tmp_path, "free-before-disable", "dma-into-held-pages")
    status, out, err = run(capsys, "replay", path, *args)
    assert status == 2 and out == "" and err == message + "\n"


def test_a_model_whose_emulator_has_no_iommu_setting_refuses_it(tmp_path, capsys):
    path = trace_file(tmp_path, "no-wait-unplug", "completeness", model="failover")
    status, _, err = run(capsys, "replay", path, "--iommu", "mapped")
    assert status == 2 and err == ("migcheck: error: --iommu: the emulator of model 'failover' has no "
                                   "such setting (its settings: none)\n")


def test_the_readme_freed_page_example_is_true(tmp_path, capsys, monkeypatch):
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("`--iommu` says what the VF can reach.", 1)[1].split("A `failover` trace", 1)[0]
    fenced = section.split("```")
    commands, shown, after = fenced[1].removeprefix("sh\n"), fenced[3], " ".join(fenced[4].split())
    monkeypatch.chdir(tmp_path)
    results = []
    for line in commands.strip().splitlines():
        argv = shlex.split(line.split("#")[0])
        results.append(run(capsys, *argv[1:]))
    assert [status for status, _, _ in results] == [0, 0, 2]
    for line in shown.strip().splitlines():
        assert line.strip() in results[1][1], line
    quoted = after.split("`replay diverged", 1)[1].split("`", 1)[0]
    assert "replay diverged" + quoted in results[2][2]
