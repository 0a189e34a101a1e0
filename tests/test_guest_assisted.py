"""The guest-assisted model: the bugs DOMAIN.md names are found, as shortest counterexamples
with the interleavings the thread argues about."""

from __future__ import annotations

from migcheck.checker import interpret
from migcheck.checker.explicit import explore
from migcheck.checker.trace import Step, Trace
from migcheck.models import all_, implies
from migcheck.models.model import build
from migcheck.properties import invariant

MUTATION_FINDS = {  # DOMAIN.md's bug scenarios: variant -> the property it must violate
    "thread-order": "completeness",
    "no-drain": "quiescence",
    "rings-unmarked": "completeness",
    "plain-touch": "marking-preserves-data",
    "unmap-unmarked": "completeness",
    "no-opt-in": "opt-in",
    "no-recovery": "recovery",
}


def labels(trace):
    return [s.action for s in trace.steps[1:]]


def test_disable_first_satisfies_every_safety_property(guest_assisted):
    result = explore(build(guest_assisted))
    for name, v in result.verdicts.items():
        assert v.verdict == "holds", name
        assert v.complete


def test_every_mutation_violates_its_property_with_a_valid_trace(guest_assisted):
    for variant, prop in MUTATION_FINDS.items():
        system = build(guest_assisted.variants()[variant])
        v = explore(system, [prop]).verdicts[prop]
        assert v.verdict == "violated", variant
        interpret.validate(system, v.trace)


def test_thread_order_loses_a_write_that_lands_between_mark_and_quiescence(guest_assisted):
    system = build(guest_assisted.variants()["thread-order"])
    trace = explore(system, ["completeness"]).verdicts["completeness"].trace
    steps = labels(trace)
    mark, land, copy = steps.index("mark"), steps.index("land_data"), steps.index("precopy_round")
    # The page is marked, copied by a pre-copy round, then a DMA write lands in it before
    # the driver has drained the device: the final copy no longer sees the page.
    assert mark < copy < land < steps.index("drain") < steps.index("stop_and_copy")


def test_the_threads_own_interleaving_is_a_counterexample(guest_assisted):
    """Replay, by hand, the interleaving DOMAIN.md describes: the write lands after the mark
    and before BME is cleared."""
    system = build(guest_assisted.variants()["thread-order"])
    plan = ["opt_in_marking", "probe", ("refill", 0, 0), "start_migration", "notify_guest",
            "handle_event", "mark", "precopy_round", ("rx_data", 0, 0), ("land_data", 0, 0), "clear_bme",
            "drain", "acknowledge", "stop_vcpu", "stop_and_copy", "switchover"]
    state = system.initial[0]
    steps = [Step(None, (), None, state)]
    for item in plan:  # a name, or (name, slot i, page p of its buffer)
        name, params = (item[0], (("i", item[1]), ("p", item[2]))) if isinstance(item, tuple) else (item, ())
        a_i = interpret.find_action(system, name, params)
        assert interpret.enabled(system, a_i, state), name
        state = interpret.successor(system, a_i, state)
        steps.append(Step(name, params, system.actions[a_i].owner, state))
    trace = Trace(system.instance, "completeness", tuple(steps))
    interpret.validate(system, trace)
    completeness = system.property("completeness").pred
    assert not interpret.evaluate(completeness, state)
    # The same schedule under disable-first cannot happen: BME is cleared before the mark.
    fixed = build(guest_assisted)
    assert not interpret.enabled(fixed, interpret.find_action(fixed, "mark", ()),
                                 trace.steps[6].state)


def test_plain_touch_needs_two_buffers_in_one_page(guest_assisted):
    # Buffers used to sit in fixed pages (slot i in page i % pages), so with a page per slot
    # nothing could land in a page mid-touch and the property held only vacuously. Now a
    # refill may put a fresh buffer in any page, so two buffers can share a page whatever
    # ``pages`` is, and the race is found with spare pages too. What the race still needs is
    # a second buffer: the counterexample's touch and the DMA write it destroys are in one
    # page, and with one slot there is no second buffer to race with.
    plain = guest_assisted.variants()["plain-touch"]
    for pages in (1, 2):
        system = build(plain, {"slots": 2, "pages": pages})
        verdict = explore(system, ["marking-preserves-data"]).verdicts["marking-preserves-data"]
        assert verdict.verdict == "violated", pages
        last = system.layout.render(verdict.trace.steps[-1].state)
        step = verdict.trace.steps[-1]
        assert step.action == "touch_write_back" and last["lost"]
        touched, page = dict(step.params)["i"], dict(step.params)["p"]
        other = 1 - touched  # the slot whose landed write the stale write-back destroyed
        assert last["buf"][touched] == last["buf"][other] == page
        landed = [s for s in verdict.trace.steps if s.action == "land_data"]
        assert dict(landed[-1].params) == {"i": other, "p": page}
    alone = explore(build(plain, {"slots": 1, "pages": 2}),
                    ["marking-preserves-data"]).verdicts["marking-preserves-data"]
    # A single buffer: nothing lands in its page while it is being cleaned, and the witness
    # (a touch beside an in-flight write into the same page) is never reached.
    assert alone.verdict == "vacuous"


def test_counterexamples_are_shortest_and_stable_across_parameters(guest_assisted):
    unmap = guest_assisted.variants()["unmap-unmarked"]
    small = explore(build(unmap), ["completeness"]).verdicts["completeness"]
    bigger = explore(build(unmap, {"rounds": 2}), ["completeness"]).verdicts["completeness"]
    # More rounds add behaviours but cannot shorten the shortest loss of an unmapped page.
    assert len(bigger.trace) <= len(small.trace)
    assert "clean_unmap" in labels(small.trace)


def test_a_half_done_plain_touch_keeps_its_buffer(guest_assisted):
    """The emulator refuses to clean (unmap) a slot whose plain touch is half done; the model
    once allowed it, reaching ``lost`` by a path no driver takes and writing the stale bytes
    of one page into another. A touch now holds its slot, in ring order, until written back."""

    class Checked(guest_assisted.variants()["plain-touch"]):
        @invariant
        def touch_holds_its_buffer(s):
            return all_(implies(s.touch[i] != "none", (s.slot[i] == "done") & ~s.buf[i].is_none()
                                & (s.next_to_clean == i)) for i in s.slots)

    result = explore(build(Checked, {"pages": 2}), ["touch-holds-its-buffer"])
    assert result.verdicts["touch-holds-its-buffer"].verdict == "holds"


def verdict_of(guest_assisted, variant, prop, params=None):
    system = build(guest_assisted.variants()[variant], params or {})
    return explore(system, [prop]).verdicts[prop]


def test_thread_order_loses_a_page_only_with_a_precopy_round_during_the_wait(guest_assisted):
    assert verdict_of(guest_assisted, "thread-order", "completeness").verdict == "violated"
    assert verdict_of(guest_assisted, "thread-order", "completeness", {"rounds": 0}).verdict == "holds"
    assert verdict_of(guest_assisted, "thread-order-frozen", "completeness", {"rounds": 2}).verdict == "holds"


def test_lans_order_without_a_drain_loses_a_posted_write_even_without_rounds(guest_assisted):
    v = verdict_of(guest_assisted, "thread-order-no-drain", "completeness", {"rounds": 0})
    assert v.verdict == "violated"
    steps = labels(v.trace)
    # the write was posted before BME was cleared and lands after the final copy
    assert steps.index("rx_data") < steps.index("clear_bme") < steps.index("stop_and_copy") \
        < steps.index("land_data")


def test_marking_every_page_of_a_large_buffer_holds(guest_assisted):
    assert verdict_of(guest_assisted, "disable-first", "completeness", {"span": 2}).verdict == "holds"
    first = verdict_of(guest_assisted, "first-page-mark", "completeness")
    assert first.verdict == "violated" and dict(build(
        guest_assisted.variants()["first-page-mark"]).params)["span"] == 2


def test_a_new_mapping_after_the_mark_is_the_loss(guest_assisted):
    v = verdict_of(guest_assisted, "new-map-unmarked", "completeness")
    steps = labels(v.trace)
    assert steps.index("mark") < steps.index("refill") < steps.index("rx_data") < steps.index("clear_bme")


def test_every_variant_names_its_own_source(guest_assisted):
    for name, cls in guest_assisted.variants().items():
        assert "source" in vars(cls) and cls.source, name
