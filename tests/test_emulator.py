"""The emulator's parts behave as the hardware and software they stand for: the dirty log
sees CPU writes only, posted writes land when and in the order the caller says, BME stops
new DMA but not posted writes, FLR invalidates the ring, the descriptor layout is
ixgbevf's, and a plain touch really overwrites a write that lands between its two halves.
"""

from __future__ import annotations

import struct
from itertools import pairwise

import pytest

from migcheck.emulator import DriverConfig, Machine, MachineConfig, MigratorConfig, StepRefused
from migcheck.emulator.bindings.guest_assisted import model_state
from migcheck.emulator.damage import assess, page_differences
from migcheck.emulator.descriptors import (
    STATUS_DD,
    RxDescriptor,
    artificial,
    read_format,
    tx_read_format,
    tx_writeback_format,
    writeback_format,
)
from migcheck.emulator.dma import DATA, WRITEBACK
from migcheck.emulator.layout import GuestLayout
from migcheck.emulator.memory import GuestMemory
from migcheck.emulator.packets import FRAME_LEN, Packet, Wire, parse
from migcheck.emulator.pci import COMMAND_BUS_MASTER


def up(config: MachineConfig | None = None, opt_in: bool = True) -> Machine:
    m = Machine(config)
    if opt_in:
        m.driver.opt_in()
    m.driver.probe()
    return m


def held_packets(m: Machine) -> list[int | None]:
    """The sequence numbers in the half pages the guest's stack holds, not read yet."""
    return [parse(m.memory.ram.read(h.page, h.offset, h.length)) for h in m.stack.held]


def receive_one(m: Machine) -> int:
    m.driver.refill()
    return deliver(m)


def deliver(m: Machine) -> int:
    """A packet into the next published descriptor, its data and write-back landed."""
    slot = m.packet_arrives()
    m.land(slot, DATA)
    m.vf.write_back(slot)
    m.land(slot, WRITEBACK)
    return slot


def test_dirty_log_sees_cpu_writes_and_not_dma():
    mem = GuestMemory(3)
    mem.dma_write(0, 0, b"dma")
    mem.cpu_write(1, 8, b"cpu")
    mem.cpu_touch(2)
    assert mem.ram.read(0, 0, 3) == b"dma" and mem.ram.read(1, 8, 3) == b"cpu"
    assert mem.dirty_log.harvest() == [1, 2]
    assert mem.dirty_log.harvest() == []


def test_atomic_touch_changes_no_data():
    mem = GuestMemory(1)
    before = mem.ram.page(0)
    mem.cpu_touch(0, 100)
    assert mem.ram.page(0) == before and mem.dirty_log.is_dirty(0)


def test_half_page_buffers_as_ixgbevf_whatever_page_holds_them():
    layout = GuestLayout(slots=2, buffer_pages=1)
    assert layout.buffer_size == 2048 and [layout.buffer_offset(i) for i in range(2)] == [0, 2048]
    layout = GuestLayout(slots=2, buffer_pages=3)  # the page is the driver's choice, not the offset
    assert layout.buffer_size == 2048 and [layout.buffer_offset(i) for i in range(2)] == [0, 2048]
    layout = GuestLayout(slots=3, buffer_pages=1)  # no two buffers overlap
    assert [layout.buffer_offset(i) for i in range(3)] == [0, 1024, 2048]
    for slots in range(1, 9):  # any slots may share a page: every buffer has its own part of it
        layout = GuestLayout(slots, 1)
        parts = [(layout.buffer_offset(i), layout.buffer_offset(i) + layout.buffer_size)
                 for i in range(slots)]
        assert parts[-1][1] <= 4096 and FRAME_LEN <= layout.buffer_size
        assert all(a[1] <= b[0] for a, b in pairwise(parts))
        assert 4096 % layout.buffer_size == 0


def test_a_refill_puts_a_fresh_buffer_in_the_page_it_is_given_and_a_full_ring_recycles_in_place():
    m = up(MachineConfig(slots=2, buffer_pages=3))
    assert m.driver.refill_pages() == [0, 1, 2]
    with pytest.raises(StepRefused, match="no RX buffer page 3"):
        m.driver.refill(3)
    m.driver.refill(2)
    assert m.driver.buffer_page == [2, None] and m.iommu.is_mapped(2) and not m.iommu.is_mapped(0)
    assert m.driver.descriptor(0).pkt_addr == m.layout.address(2, 0)
    m.driver.refill(2)  # two buffers in one page, in its two halves
    assert m.driver.descriptor(1).pkt_addr == m.layout.address(2, 2048)
    m.packet_arrives()
    m.land(0, DATA)
    assert parse(m.memory.ram.read(2, 0, FRAME_LEN)) == 1
    m.vf.write_back(0)
    m.land(0, WRITEBACK)
    m.driver.clean(unmap=False)  # the ring was full: next_to_alloc is descriptor 0 itself
    assert "moved to descriptor 0 (next_to_alloc)" in m.journal.of_kind("clean")[-1].text
    assert m.driver.buffer_page == [2, 2] and m.driver.refill_pages() == [2]
    with pytest.raises(StepRefused, match="holds recycled page 2, which its refill reuses; it cannot take"):
        m.driver.refill(0)
    m.driver.refill(2)


def test_an_unmap_forgets_the_page_and_follows_the_actual_placement():
    m = up(MachineConfig(slots=2, buffer_pages=2))
    m.driver.refill(1)
    m.driver.refill(0)  # slot 1 in page 0: slot 0's page 1 holds no other buffer
    receive_one_landed = m.packet_arrives()
    m.land(receive_one_landed, DATA)
    m.vf.write_back(0)
    m.land(0, WRITEBACK)
    m.driver.clean(unmap=True)  # allowed although slot 1 is published: it is in another page
    assert m.driver.buffer_page == [None, 0] and not m.iommu.is_mapped(1) and m.iommu.is_mapped(0)
    assert m.driver.refill_pages() == [0, 1]
    m.driver.refill(0)  # afresh, now beside slot 1's buffer
    assert m.driver.buffer_page == [0, 0] and m.driver.descriptor(0).pkt_addr == m.layout.address(0, 0)
    m.packet_arrives()
    m.land(1, DATA)
    m.vf.write_back(1)
    m.land(1, WRITEBACK)
    with pytest.raises(StepRefused, match="page 0 also holds the buffer of descriptor 0"):
        m.driver.clean(unmap=True)
    m.driver.clean(unmap=False)
    assert held_packets(m) == [1, 2]  # the skb of each holds its half page


def test_descriptor_formats_follow_the_advanced_rx_layout():
    raw = read_format(0x100800, 7)
    assert len(raw) == 16 and struct.unpack("<Q", raw[:8])[0] == 0x100800
    assert not RxDescriptor(raw).dd
    wb = RxDescriptor(writeback_format(96, 0xDEADBEEF))
    assert wb.dd and wb.status & STATUS_DD and wb.length == 96 and wb.rss == 0xDEADBEEF
    assert struct.unpack("<I", wb.raw[8:12])[0] & 1 == 1  # DD: bit 0 of status_error


def test_the_tx_write_back_sets_dd_where_the_advanced_tx_layout_has_it():
    raw = tx_writeback_format(3)
    assert struct.unpack("<I", raw[12:16])[0] & STATUS_DD  # wb.status, at byte 12
    assert tx_read_format(3)[8:] == bytes(8)


def test_the_damage_names_the_bytes_the_emulator_invents():
    """A refill after the ring page's last copy: its pkt_addr is a real difference, its refill
    count (bytes 12-15 of descriptor 1) is marked artificial; an RX write-back has none."""
    m = up()
    m.driver.refill()
    ring = m.layout.ring_page
    m.destination.load_page(ring, m.memory.ram.page(ring))
    m.driver.refill()
    (diff,) = [d for d in page_differences(m) if d.page == ring]
    assert diff.ranges[0][0] >= 16 and diff.ranges[-1][1] <= 32
    assert len(diff.artificial) == 1 and diff.artificial[0].startswith("+0x01c-0x01f (descriptor 1): ")
    assert artificial("rx", writeback_format(96, 1)) is None
    assert artificial("rx", read_format(0x100000, 1))[:2] == (12, 16)


def test_packets_carry_a_sequence_number_and_a_checksum():
    frame = Wire().next_packet().frame()
    assert len(frame) == FRAME_LEN and parse(frame) == 1
    assert parse(frame[:21] + b"\x02" + frame[22:]) is None  # one bit of the sequence number
    assert parse(frame[:40] + bytes([frame[40] ^ 0x10]) + frame[41:]) is None
    assert Packet(1).checksum != Packet(2).checksum


def test_posted_writes_land_when_and_in_the_order_the_caller_says():
    m = up(MachineConfig(slots=3, max_posted=2))
    m.driver.refill()
    m.driver.refill()
    m.driver.refill()
    m.packet_arrives()
    m.packet_arrives()
    assert [w.seq for w in m.vf.dma.posted] == [1, 2]
    page, offset = m.driver.buffer_of(1)
    assert parse(m.memory.ram.read(page, offset, FRAME_LEN)) is None  # nothing landed yet
    m.land(1, DATA)  # the second write lands first
    assert parse(m.memory.ram.read(page, offset, FRAME_LEN)) == 2
    assert not m.memory.dirty_log.is_dirty(page)
    m.packet_arrives()  # the second buffer write is still posted: two in flight now
    with pytest.raises(StepRefused, match="2 posted writes in flight"):
        m.vf.write_back(1)


def test_clearing_bme_stops_new_dma_but_not_posted_writes():
    m = up()
    m.driver.refill()
    m.packet_arrives()
    m.vf.config.clear_bus_master()
    assert m.vf.config.command & COMMAND_BUS_MASTER == 0
    m.land(0, DATA)  # already issued: it still lands
    with pytest.raises(StepRefused, match="bus mastering is off"):
        m.vf.write_back(0)
    m.driver.refill()
    with pytest.raises(StepRefused, match="bus mastering is off"):
        m.packet_arrives()


def test_the_vf_uses_only_published_descriptors_in_ring_order():
    m = up()
    with pytest.raises(StepRefused, match="RDH == RDT"):
        m.packet_arrives()
    m.driver.refill()
    assert m.vf.next_descriptor() == 0 and m.packet_arrives() == 0
    with pytest.raises(StepRefused, match="RDH == RDT"):
        m.packet_arrives()
    m.driver.refill()
    m.land(0, DATA)
    assert m.packet_arrives() == 1


def test_a_ring_of_n_descriptors_holds_n_buffers():
    m = up(MachineConfig(slots=2, max_posted=2))
    m.driver.refill()
    m.driver.refill()
    assert m.packet_arrives() == 0 and m.packet_arrives() == 1


def test_rx_clean_polls_dd_and_hands_the_packet_up():
    m = up()
    slot = receive_one(m)
    m.driver.clean(unmap=False)
    assert m.stack.received == [] and held_packets(m) == [1]  # build_skb: the skb holds the half page
    assert not m.driver.published[slot]
    assert m.memory.dirty_log.is_dirty(0)  # the atomic touch of dma_sync


def test_a_reused_page_flips_to_its_other_half_and_moves_to_next_to_alloc():
    """ixgbevf_reuse_rx_page: the stack keeps the half it was handed, the page goes to the
    descriptor at next_to_alloc on its other half, and the VF writes there."""
    m = up(MachineConfig(slots=2, buffer_pages=2))
    m.driver.refill(1)  # descriptor 0 in page 1 +0x000
    deliver(m)
    m.driver.clean(unmap=False)
    assert "page 1 reused (offset flipped +0x000 -> +0x800), moved to descriptor 1 (next_to_alloc)" in \
        m.journal.of_kind("clean")[-1].text
    assert m.driver.buffer_page == [None, 1] and m.driver.buffer_offset[1] == 0x800
    assert m.driver.refill_pages() == [1]
    m.driver.refill(1)
    assert m.driver.descriptor(1).pkt_addr == m.layout.address(1, 0x800)
    slot = m.packet_arrives()
    m.land(slot, DATA)
    assert parse(m.memory.ram.read(1, 0x800, FRAME_LEN)) == 2
    assert held_packets(m) == [1]  # the stack's half is untouched
    m.vf.write_back(slot)
    m.land(slot, WRITEBACK)
    m.driver.clean(unmap=False)  # back to the first half, to descriptor 0 (next_to_alloc again)
    assert m.driver.buffer_page == [1, None] and m.driver.buffer_offset[0] == 0
    m.driver.refill(1)  # reusing the first half: the stack is done with packet 1 first
    assert [r.seq for r in m.stack.received] == [1] and held_packets(m) == [2]


def test_a_half_another_descriptor_holds_is_not_flipped_into():
    m = up(MachineConfig(slots=2, buffer_pages=1))
    m.driver.refill(0)
    m.driver.refill(0)  # both descriptors in page 0, at +0x000 and +0x800
    deliver(m)
    m.driver.clean(unmap=False)
    assert m.driver.buffer_page == [0, 0] and m.driver.buffer_offset == [0, 0x800]
    said = m.journal.of_kind("clean")[-1].text
    assert "its other part +0x800 is descriptor 1's, so it stays at +0x000" in said


def test_unmap_hands_the_page_up_and_the_stack_reads_it_later():
    m = up()
    receive_one(m)
    m.driver.clean(unmap=True)
    assert m.stack.received == [] and len(m.stack.held) == 1
    assert not m.iommu.is_mapped(0)
    assert m.driver.refill() == 1  # another buffer: the held packet stays unread
    assert m.stack.received == []
    assert m.driver.refill() == 0  # its buffer again: the stack is done with it first
    assert [r.seq for r in m.stack.received] == [1]


def test_unmap_is_refused_while_the_page_holds_another_published_buffer():
    m = up()
    receive_one(m)
    m.driver.refill()
    with pytest.raises(StepRefused, match="cannot be unmapped"):
        m.driver.clean(unmap=True)


def test_a_plain_touch_really_overwrites_a_write_landing_between_its_halves():
    m = up(MachineConfig(driver=DriverConfig(plain_touch=True)), opt_in=False)
    m.driver.refill()
    m.driver.refill()
    receive_one_landed = m.packet_arrives()
    m.land(receive_one_landed, DATA)
    m.vf.write_back(0)
    m.land(0, WRITEBACK)
    m.driver.clean(unmap=False)  # the touch reads page 0
    assert model_state(m)["touch"] == ["read", "none"]  # begun by cleaning slot 0
    m.packet_arrives()
    m.land(1, DATA)  # packet 2 lands in the other half of page 0
    assert model_state(m)["touch"] == ["raced", "none"]
    m.driver.touch_write_back()
    page, offset = m.driver.buffer_of(1)
    assert (page, offset) == (0, 2048)
    assert parse(m.memory.ram.read(page, offset, FRAME_LEN)) is None  # packet 2 is gone
    damage = assess(m)
    assert damage.stale_writes and damage.stale_writes[0].offset == 2048
    assert [(p.seq, p.fate) for p in damage.harmed] == [(2, "lost")]


def test_an_atomic_touch_loses_nothing():
    m = up(MachineConfig(slots=2, max_posted=2))
    m.driver.refill()
    m.driver.refill()
    m.packet_arrives()
    m.land(0, DATA)
    m.vf.write_back(0)
    m.land(0, WRITEBACK)
    m.packet_arrives()
    m.driver.clean(unmap=False)
    m.land(1, DATA)
    assert not assess(m).any


def test_flr_clears_bme_and_invalidates_the_ring():
    m = up()
    receive_one(m)
    m.vf.function_level_reset()
    assert not m.vf.config.bus_master and m.vf.ring_base is None and m.vf.next_descriptor() is None


def test_the_event_handler_runs_its_steps_in_the_configured_order_only():
    m = up(MachineConfig(driver=DriverConfig(handler_steps=("mark", "clear_bme", "drain", "ack"))))
    m.migrator.start()
    m.migrator.notify()
    m.driver.handle_event()
    with pytest.raises(StepRefused, match="next step is mark"):
        m.driver.clear_bus_master()
    m.driver.mark()
    m.driver.clear_bus_master()
    m.driver.drain()
    m.driver.acknowledge()
    assert m.channel.acked and m.driver.state == "acked"


def test_drain_waits_for_posted_writes():
    m = up()
    m.driver.refill()
    m.packet_arrives()
    m.migrator.start()
    m.migrator.notify()
    m.driver.handle_event()
    m.driver.clear_bus_master()
    with pytest.raises(StepRefused, match=r"drain waits: the register read .* behind the 1 posted write"):
        m.driver.drain()
    m.land(0, DATA)
    m.driver.drain()


def test_migration_needs_opt_in_and_blocks_without_it():
    m = up(opt_in=False)
    with pytest.raises(StepRefused, match="did not opt in"):
        m.migrator.start()
    m.migrator.block()
    assert m.migrator.phase == "blocked"
    loose = up(MachineConfig(migrator=MigratorConfig(check_opt_in=False)), opt_in=False)
    loose.migrator.start()
    assert loose.migrator.started_with_opt_in == "none"


def test_disable_first_migration_moves_every_byte():
    m = up()
    receive_one(m)
    m.driver.refill()
    m.packet_arrives()
    m.migrator.start()
    m.driver.xmit()  # a CPU write to the TX ring page: logged
    m.migrator.precopy_round()
    m.migrator.notify()
    m.driver.handle_event()
    m.driver.clear_bus_master()
    m.land(1, DATA)
    m.driver.drain()
    m.driver.mark()
    m.driver.acknowledge()
    m.migrator.stop_vcpu()
    assert m.vcpu.why_not_run() == "guest: the vCPU is stopped"
    m.migrator.stop_and_copy()
    m.migrator.switchover()
    assert all(m.destination.page(p) == m.memory.ram.page(p) for p in range(m.layout.pages))
    damage = assess(m)
    assert not damage.any
    assert [p.fate for p in damage.packets] == ["pending", "dropped"]


def test_abort_then_recovery_restores_the_ring():
    m = up()
    m.driver.refill()
    m.migrator.start()
    m.migrator.notify()
    m.driver.handle_event()
    m.driver.clear_bus_master()
    m.migrator.timeout()
    assert m.vcpu.running and m.channel.aborted
    m.driver.error_detected()
    m.driver.slot_reset()
    assert m.vf.config.bus_master and m.driver.state == "up"
    receive_one(m)
    m.driver.clean(unmap=False)
    assert held_packets(m) == [1]


def test_switchover_stops_the_source():
    m = up(MachineConfig(driver=DriverConfig(marks_dma_pages=False),
                         migrator=MigratorConfig(check_opt_in=False)), opt_in=False)
    m.driver.refill()
    m.packet_arrives()
    m.migrator.start()
    m.migrator.stop_vcpu()
    m.migrator.stop_and_copy()
    m.migrator.switchover()
    with pytest.raises(StepRefused, match="source machine is stopped"):
        m.land(0, DATA)
    assert [(p.seq, p.fate) for p in assess(m).packets] == [(1, "lost")]


def test_the_docstring_examples_run():
    import doctest

    import migcheck.emulator
    import migcheck.emulator.layout

    assert doctest.testmod(migcheck.emulator).failed == 0
    assert doctest.testmod(migcheck.emulator.layout).attempted == 1
    assert doctest.testmod(migcheck.emulator.layout).failed == 0
