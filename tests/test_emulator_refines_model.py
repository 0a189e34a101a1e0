"""The model is kept honest against the concrete emulator: random schedules of the emulator
(packets, posted writes landing in any order, the driver, CPU stores, the migrator) must
stay within the model's behaviours. After every emulator operation, the abstraction of the
new state must be a successor, in the model, of the abstraction of the old one.

One known imprecision of the model is allowed, and only where it arises (see
``stale_write_back_restores_the_copy``).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from functools import lru_cache

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from migcheck.checker import interpret
from migcheck.emulator.bindings.guest_assisted import machine_config, model_state
from migcheck.emulator.machine import Machine
from migcheck.emulator.schedule import Operation, operations
from migcheck.models.ir import System
from migcheck.models.library import bundled
from migcheck.models.model import build

GUEST_ASSISTED = bundled("guest-assisted")
VARIANTS = sorted(GUEST_ASSISTED.variants())
PARAMS = (  # (slots, pages, rounds, inflight)
    (2, 1, 1, 1),
    (2, 1, 2, 2),
    (2, 2, 1, 2),
    (3, 2, 2, 2),
    (4, 1, 1, 3),
    (2, 3, 1, 2),  # more pages than slots: a buffer may have a page to itself, or share one
)


@lru_cache(maxsize=None)
def system_of(variant: str, params: tuple[int, int, int, int]) -> System:
    slots, pages, rounds, inflight = params
    return build(GUEST_ASSISTED.variants()[variant],
                 {"slots": slots, "pages": pages, "rounds": rounds, "inflight": inflight})


def fresh_machine(variant: str, params: tuple[int, int, int, int]) -> tuple[Machine, System]:
    system = system_of(variant, params)
    return Machine(machine_config(GUEST_ASSISTED.variants()[variant], dict(system.params))), system


def abstract(m: Machine, system: System) -> tuple[int, ...]:
    return system.layout.parse(model_state(m))


def stale_write_back_restores_the_copy(system: System, label: str, touched: int | None,
                                       after: tuple[int, ...], allowed: set[tuple[int, ...]]) -> bool:
    """The model's ``touch_write_back`` says the page now differs from the destination
    (``synced[p]`` false) whenever a DMA write raced the touch. Concretely the stale bytes it
    writes back are the page's content from before that DMA write, which the destination
    holds if the page was copied before the write landed: the page is then really in sync.
    The model is pessimistic there (harmless: the write-back also sets ``dirty[p]``)."""
    if label != "driver.touch_write_back" or touched is None:
        return False
    synced = system.layout.var("synced")
    assert synced is not None
    slot = synced.base + touched
    for s in allowed:
        differ = [k for k in range(len(after)) if after[k] != s[k]]
        if differ == [slot] and after[slot] == 1 and s[slot] == 0:
            return True
    return False


# A random schedule picks an actor, then one of its operations: weighted so that runs often
# get through a migration instead of giving up at once (abort, timeout, block end it).
WEIGHTS = {"device": 4, "driver": 4, "migrator": 2, "environment": 1, "give_up": 1}
GIVE_UP = ("migrator.abort", "migrator.timeout", "migrator.block")


def _group(op: Operation) -> str:
    return "give_up" if op.label in GIVE_UP else op.actor


def pick(data: st.DataObject, m: Machine, patient: bool = False) -> Operation | None:
    """Draw the next emulator operation (None when nothing can happen). A patient schedule
    never aborts, times out or blocks a migration while anything else can happen."""
    ops = operations(m)
    if patient and any(_group(op) != "give_up" for op in ops):
        ops = [op for op in ops if _group(op) != "give_up"]
    if not ops:
        return None
    groups = sorted({_group(op) for op in ops})
    group = data.draw(st.sampled_from([g for g in groups for _ in range(WEIGHTS[g])]), label="actor")
    label = data.draw(st.sampled_from([op.label for op in ops if _group(op) == group]), label="operation")
    return next(op for op in ops if op.label == label)


def explain(system: System, before: tuple[int, ...], after: tuple[int, ...],
            allowed: list[tuple[int, tuple[int, ...]]]) -> str:
    names = [s.name for s in system.layout.slots]
    moved = {names[k]: (system.layout.slots[k].domain.render(before[k]),
                        system.layout.slots[k].domain.render(after[k]))
             for k in range(len(before)) if before[k] != after[k]}
    options = []
    for a_i, s in allowed:
        changes = {names[k]: system.layout.slots[k].domain.render(s[k])
                   for k in range(len(s)) if s[k] != before[k]}
        options.append(f"{system.actions[a_i].label} -> {changes}")
    return f"the emulator changed {moved}; the model allows only: " + "; ".join(options)


def refined_step(system: System, state: tuple[int, ...], m: Machine, op: Operation,
                 variant: str) -> tuple[tuple[int, ...], bool]:
    """Run ``op`` on ``m``; the new abstract state, and whether it took the one allowed
    imprecision. Fails unless the step is a transition of the model from ``state``."""
    touched = m.driver.touch.page if m.driver.touch is not None else None
    op.run()
    after = abstract(m, system)
    allowed = interpret.successors(system, state)
    targets = {s for _, s in allowed}
    if after in targets:
        return after, False
    if stale_write_back_restores_the_copy(system, op.label, touched, after, targets):
        return after, True
    raise AssertionError(f"[{variant}] emulator step {op.label} is no transition of the "
                         f"model: {explain(system, state, after, allowed)}")


def shared_page(m: Machine) -> bool:
    """Two slots' buffers are in one page now."""
    pages = [p for p in m.driver.buffer_page if p is not None]
    return len(set(pages)) < len(pages)


class EmulatorRefinesModel(RuleBasedStateMachine):
    """Each emulator operation maps to a transition (or a self-loop) the model allows."""

    @initialize(variant=st.sampled_from(VARIANTS), params=st.sampled_from(PARAMS), patient=st.booleans())
    def boot(self, variant: str, params: tuple[int, int, int, int], patient: bool) -> None:
        self.variant = variant
        self.patient = patient
        self.m, self.system = fresh_machine(variant, params)
        self.state = abstract(self.m, self.system)
        assert self.state in self.system.initial
        self.imprecisions = 0

    @rule(data=st.data())
    def step(self, data: st.DataObject) -> None:
        op = pick(data, self.m, self.patient)
        if op is None:
            return
        self.state, imprecise = refined_step(self.system, self.state, self.m, op, self.variant)
        self.imprecisions += imprecise
        if shared_page(self.m):
            event("two buffers in one page")

    @invariant()
    def the_emulator_can_always_do_something_until_it_ends(self) -> None:
        if not hasattr(self, "m"):
            return
        # something can always happen until the migration has ended and the driver is done
        # (the model's final states: nothing more need happen there)
        if not operations(self.m):
            assert self.m.migrator.phase in ("switched", "aborted", "blocked")
            assert self.m.driver.state in ("up", "foreign")


TestEmulatorRefinesModel = EmulatorRefinesModel.TestCase
TestEmulatorRefinesModel.settings = settings(max_examples=100, stateful_step_count=40, deadline=None,
                                             suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.slow
def test_emulator_refines_model_long_runs():
    run_state_machine_as_test(EmulatorRefinesModel, settings=settings(
        max_examples=3000, stateful_step_count=80, deadline=None,
        suppress_health_check=[HealthCheck.too_slow]))


def test_the_one_allowed_imprecision_is_real():
    """A raced plain touch writes back the page's content from before the DMA write. If the
    destination copied the page before that write landed, source and destination are equal
    again; the model still says ``synced[0]`` is false (and ``dirty[0]`` true, so the next
    copy settles it)."""
    m, system = fresh_machine("plain-touch", (2, 1, 1, 2))
    m.driver.opt_in()
    m.driver.probe()
    m.driver.refill()
    m.driver.refill()
    m.packet_arrives()
    m.land(0, "data")
    m.vf.write_back(0)
    m.land(0, "writeback")
    m.packet_arrives()
    m.migrator.start()  # the full copy: packet 1 in both memories, packet 2 still posted
    m.driver.clean(unmap=False)  # the plain touch reads page 0
    m.land(1, "data")  # packet 2 lands in the other half
    before = abstract(m, system)
    m.driver.touch_write_back()  # ... and is overwritten with the bytes read
    after = abstract(m, system)
    assert m.destination.page(0) == m.memory.ram.page(0)
    targets = {s for _, s in interpret.successors(system, before)}
    assert after not in targets
    assert stale_write_back_restores_the_copy(system, "driver.touch_write_back", 0, after, targets)


def walk(variant: str, params: tuple[int, int, int, int], seed: int,
         steps: int = 60) -> Iterator[tuple[Operation, list[int | None], Machine]]:
    """A seeded random schedule, each step checked as in the state machine above; yields
    each operation, the buffers' pages before it, and the machine just after it."""
    rng = random.Random(seed)
    m, system = fresh_machine(variant, params)
    state = abstract(m, system)
    for _ in range(steps):
        ops = operations(m)
        if not ops:
            return
        groups = sorted({_group(op) for op in ops})
        group = rng.choice([g for g in groups for _ in range(WEIGHTS[g])])
        op = rng.choice([op for op in ops if _group(op) == group])
        before = list(m.driver.buffer_page)
        state, _ = refined_step(system, state, m, op, variant)
        yield op, before, m


def test_random_schedules_use_the_freedom_of_page_choice():
    """The schedules explore what the model now allows: a fresh buffer in any page (not only
    the old fixed page ``i % pages``), two buffers sharing a page although there are more
    pages than slots, a slot taking another page after an unmap, a plain touch racing a DMA
    write into its page, and a cleaned buffer's page reused on its other half by the
    descriptor at next_to_alloc. Every step refines the model."""
    seen = set()
    for seed in range(60):
        variant = ("plain-touch", "disable-first", "unmap-unmarked")[seed % 3]
        last_page: dict[int, int] = {}
        for op, before, m in walk(variant, (2, 3, 1, 2), seed):
            if op.label.startswith("driver.refill"):
                slot = (m.driver.next_to_use - 1) % 2
                page = m.driver.buffer_page[slot]
                assert page is not None and op.label == f"driver.refill(page {page})"
                if page != slot % 3:
                    seen.add("placed elsewhere than i % pages")
                if before[slot] is None and last_page.get(slot, page) != page:
                    seen.add("another page after an unmap")
                last_page[slot] = page
            if shared_page(m):
                seen.add("two buffers in one of three pages")
            if m.journal.of_kind("stale_write"):
                seen.add("a stale write-back")
        for e in m.journal.of_kind("clean", "reuse"):
            moved = re.search(r"moved to descriptor (\d+) \(next_to_alloc\)", e.text)
            if moved and int(moved[1]) != e.slot:
                seen.add("a page reused by the next descriptor")
            if "offset flipped" in e.text:
                seen.add("a half page flipped")
    assert seen == {"placed elsewhere than i % pages", "another page after an unmap",
                    "two buffers in one of three pages", "a stale write-back",
                    "a page reused by the next descriptor", "a half page flipped"}


def run_labels(variant: str, params: tuple[int, int, int, int], labels: list[str]) -> Machine:
    """The emulator operations named, in order, each step checked to refine the model."""
    m, system = fresh_machine(variant, params)
    state = abstract(m, system)
    for label in labels:
        op = next((op for op in operations(m) if op.label == label), None)
        assert op is not None, f"{label} is not offered: {[op.label for op in operations(m)]}"
        state, _ = refined_step(system, state, m, op, variant)
    return m


RECEIVE = ["wire.packet", "dma.land(data, 0)", "vf.write_back(0)", "dma.land(writeback, 0)"]


def test_after_a_ring_reset_a_recycled_page_stays_when_next_to_alloc_holds_one():
    """A ring reset keeps each buffer where it was (ixgbevf would free them), so the page a
    clean reused at next_to_alloc still waits at descriptor 1 when descriptor 0 is cleaned
    again: next_to_alloc holds a page, and the recycled one stays with descriptor 0, as the
    model's recycle says."""
    m = run_labels("disable-first", (2, 1, 1, 1), [
        "driver.opt_in", "driver.probe", "driver.refill(page 0)", *RECEIVE, "driver.clean(recycle)",
        "migrator.start", "migrator.notify", "driver.handle_event", "migrator.timeout",
        "driver.error_detected", "driver.slot_reset", "driver.refill(page 0)", *RECEIVE,
        "driver.clean(recycle)"])
    first, second = (e.text for e in m.journal.of_kind("clean"))
    assert first.endswith("moved to descriptor 1 (next_to_alloc)")
    assert second.endswith("kept by descriptor 0 (next_to_alloc, descriptor 1, holds a page since the "
                           "ring reset)")
    assert m.driver.buffer_page == [0, 0] and m.driver.next_to_alloc == 1


def test_the_schedule_offers_every_page_to_a_fresh_buffer_and_only_its_own_to_a_recycled_one():
    m, _ = fresh_machine("disable-first", (2, 3, 1, 2))
    m.driver.opt_in()
    m.driver.probe()
    refills = [op.label for op in operations(m) if op.label.startswith("driver.refill")]
    assert refills == ["driver.refill(page 0)", "driver.refill(page 1)", "driver.refill(page 2)"]
    m.driver.refill(2)
    m.packet_arrives()
    m.land(0, "data")
    m.vf.write_back(0)
    m.land(0, "writeback")
    m.driver.clean(unmap=False)
    # ixgbevf_reuse_rx_page: page 2 moves to next_to_alloc (descriptor 1), on its other half
    assert m.driver.buffer_page == [None, 2] and m.driver.buffer_offset[1] == 0x800
    refills = [op.label for op in operations(m) if op.label.startswith("driver.refill")]
    assert refills == ["driver.refill(page 2)"]  # descriptor 1 reuses the page waiting there
    m.driver.refill(2)
    assert m.driver.descriptor(1).pkt_addr == m.layout.address(2, 0x800)
    refills = [op.label for op in operations(m) if op.label.startswith("driver.refill")]
    assert refills == ["driver.refill(page 0)", "driver.refill(page 1)", "driver.refill(page 2)"]
