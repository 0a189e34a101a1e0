"""The parallel explicit search against the sequential one: same states in the same order, same
parents and actions, same verdicts and counterexamples, on every bundled model's variants; and
the --workers option's bad values."""

from __future__ import annotations

import json

import pytest

from migcheck.checker import interpret
from migcheck.checker.explicit import explore
from migcheck.checker.parallel import WorkersRefused, explore_parallel
from migcheck.cli import main
from migcheck.models import Int, Model, action, build, require
from migcheck.models.library import bundled
from migcheck.properties import invariant, reachable

# Small parameters: every variant of every bundled model, liveness included.
SMALL = {"guest-assisted": {"slots": 1}, "two-phase-commit": {"rms": 3}, "peterson": {},
         "dining-philosophers": {"phils": 3}, "spinlock": {"procs": 2}}
CASES = [(name, variant) for name in SMALL for variant in bundled(name).variants()]


def summary(result) -> dict:
    """Everything an exploration reports, except the time it took."""
    verdicts = {n: (v.verdict, v.complete, v.reason, v.trace, v.witness, v.stats.states,
                    v.stats.transitions, v.stats.depth) for n, v in result.verdicts.items()}
    return {"states": list(result.states), "parents": list(result.parents), "via": list(result.via),
            "edges": result.edges, "never_enabled": result.never_enabled, "verdicts": verdicts}


def assert_same(sequential, parallel) -> None:
    a, b = summary(sequential), summary(parallel)
    for key in a:
        assert a[key] == b[key], key


@pytest.mark.parametrize("name, variant", CASES, ids=[f"{n}/{v}" for n, v in CASES])
def test_two_workers_give_what_the_sequential_search_gives(name, variant):
    system = build(bundled(name).variants()[variant], SMALL[name])
    # Small chunks, so that every level is cut into several tasks and merged from them.
    assert_same(explore(system), explore_parallel(system, workers=2, chunk_states=37))


def test_the_chunk_size_and_the_number_of_workers_change_nothing(two_phase_commit):
    system = build(two_phase_commit.variants()["commit-without-votes"], {"rms": 4})
    sequential = explore(system)
    for workers, chunk in ((1, None), (2, 1), (2, 1000), (3, 50)):
        assert_same(sequential, explore_parallel(system, workers=workers, chunk_states=chunk))


def test_default_task_sizes_mix_local_and_worker_levels(two_phase_commit):
    # rms=6: the first and last levels are under 2048 states (expanded by the coordinator), the
    # middle ones reach about 8,000 (cut into tasks for the workers).
    system = build(two_phase_commit, {"rms": 6})
    assert_same(explore(system), explore_parallel(system, workers=2))


def test_a_violated_property_gets_the_same_shortest_counterexample(two_phase_commit, peterson):
    broken = build(two_phase_commit.variants()["commit-without-votes"], {"rms": 3})
    v = explore_parallel(broken, ["consistency"], workers=2).verdicts["consistency"]
    assert v.verdict == "violated" and len(v.trace) == 3  # as test_explicit explains
    assert v.trace == explore(broken, ["consistency"]).verdicts["consistency"].trace
    interpret.validate(broken, v.trace)
    bad = build(peterson.variants()["turn-first"])
    v = explore_parallel(bad, ["mutual-exclusion"], workers=2, chunk_states=3).verdicts["mutual-exclusion"]
    assert v.verdict == "violated" and len(v.trace) == 8
    interpret.validate(bad, v.trace)


def test_guest_assisted_counterexamples_and_lassos_match(guest_assisted):
    for variant, prop in (("thread-order", "completeness"), ("no-ack-timeout", "migration-ends")):
        system = build(guest_assisted.variants()[variant])
        sequential = explore(system, [prop]).verdicts[prop]
        parallel = explore_parallel(system, [prop], workers=2).verdicts[prop]
        assert parallel.verdict == sequential.verdict == "violated"
        assert parallel.trace == sequential.trace


def test_state_limit_stops_at_the_same_state_as_the_sequential_search(guest_assisted):
    system = build(guest_assisted.variants()["disable-first"])
    sequential = explore(system, ["completeness"], max_states=5000)
    parallel = explore_parallel(system, ["completeness"], max_states=5000, workers=2, chunk_states=300)
    assert parallel.verdicts["completeness"].verdict == "inconclusive"
    assert_same(sequential, parallel)


class Overflow(Model):
    """A counter whose increment has no guard: the third step leaves the domain."""

    name = "overflow"
    n = Int(0, 2, init=0)
    m = Int(0, 3, init=0)

    @action(owner="environment")
    def inc(s):
        s.n = s.n + 1

    @action(owner="environment")
    def bump(s):
        require(s.m < 3)
        s.m = s.m + 1

    @invariant
    def m_small(s):
        return s.m < 1

    @reachable
    def two(s):
        return s.n == 2


def test_an_update_outside_its_domain_is_the_same_error():
    system = build(Overflow)
    sequential, parallel = explore(system), explore_parallel(system, workers=2, chunk_states=1)
    # Decided before the search met n = 3: the invariant (after one bump) and the witness; the
    # deadlock check was still open, so it is the error, at the state the bad update leaves.
    verdicts = {n: v.verdict for n, v in parallel.verdicts.items()}
    assert verdicts == {"m-small": "violated", "two": "holds", "deadlock": "error"}
    assert "sets n to 3, outside Int(0, 2)" in parallel.verdicts["deadlock"].reason
    assert_same(sequential, parallel)


class Wide(Model):
    """Two counters on either side of a 67-bit field: packed states need more than 64 bits."""

    name = "wide"
    a = Int(0, 3, init=0)
    pad = Int(0, 2**66, init=2**65)
    b = Int(0, 3, init=0)

    @action(owner="environment")
    def inc_a(s):
        require(s.a < 3)
        s.a = s.a + 1

    @action(owner="environment")
    def inc_b(s):
        require(s.b < 3)
        s.b = s.b + 1

    @invariant
    def not_both_full(s):
        return s.a + s.b < 6


def test_states_wider_than_64_bits_travel_as_ints():
    system = build(Wide)
    sequential = explore(system)
    assert max(sequential.states) >= 2**64  # the case being tested
    parallel = explore_parallel(system, workers=2, chunk_states=2)
    assert parallel.verdicts["not-both-full"].verdict == "violated"
    assert len(parallel.verdicts["not-both-full"].trace) == 6
    assert_same(sequential, parallel)


def test_symmetry_reduced_search_is_the_same(two_phase_commit):
    system = build(two_phase_commit.variants()["commit-without-votes"], {"rms": 4})
    sequential = explore(system, symmetry=True)
    parallel = explore_parallel(system, symmetry=True, workers=2, chunk_states=20)
    assert_same(sequential, parallel)
    interpret.validate(system, parallel.verdicts["consistency"].trace)  # mapped back to a concrete run


def test_symmetric_pages_in_spawned_workers(guest_assisted):
    # Spawned workers rebuild the checked symmetry (its canonical form is generated code).
    system = build(guest_assisted.variants()["thread-order"], {"pages": 2})
    safety = [p.name for p in system.properties if p.kind in ("invariant", "action", "reachable")]
    sequential = explore(system, safety, symmetry=True)
    parallel = explore_parallel(system, safety, symmetry=True, workers=2, chunk_states=500,
                                start_method="spawn")
    assert_same(sequential, parallel)
    assert parallel.verdicts["completeness"].verdict == "violated"
    interpret.validate(system, parallel.verdicts["completeness"].trace)


def test_the_model_reaches_spawned_workers_as_picklable_ir(two_phase_commit):
    system = build(two_phase_commit, {"rms": 3})
    assert_same(explore(system), explore_parallel(system, workers=2, start_method="spawn"))


@pytest.mark.parametrize("workers", [0, -1, 1.5, "2", True])
def test_bad_worker_counts_are_refused(two_phase_commit, workers):
    with pytest.raises(WorkersRefused):
        explore_parallel(build(two_phase_commit, {"rms": 2}), workers=workers)


def run_cli(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_workers_gives_the_same_json_as_the_sequential_search(capsys):
    argv = ("check", "two-phase-commit", "--set", "rms=3", "--json")
    outputs = []
    for extra in ((), ("--workers", "2")):
        status, out, _ = run_cli(capsys, *argv, *extra)
        assert status == 0
        rows = json.loads(out)["results"]
        for row in rows:
            del row["stats"]["seconds"], row["stats"]["peak_rss_mib"]
        outputs.append(rows)
    assert outputs[0] == outputs[1]
    assert outputs[1][0]["stats"]["states"] == 288


def test_cli_workers_prints_the_counterexample(capsys):
    status, out, _ = run_cli(capsys, "check", "two-phase-commit", "--variant", "commit-without-votes",
                             "--property", "consistency", "--workers", "2")
    assert status == 0  # the variant expects the violation
    assert "consistency  violated (3 steps)" in out and "tm_commit" in out


@pytest.mark.parametrize("argv, message", [
    (["--workers", "0"], "--workers 0: give at least 1 worker process"),
    (["--workers", "-1"], "--workers -1: give at least 1 worker process"),
    (["--workers", "two"], "--workers 'two' is not an integer"),
    (["--workers", "1.5"], "--workers '1.5' is not an integer"),
    (["--workers", "2", "--engine", "bmc"], "--engine bmc does not take it"),
    (["--workers", "2", "--engine", "all"], "--engine all does not take it"),
])
def test_cli_bad_workers_exit_2_with_one_line(capsys, argv, message):
    status, _, err = run_cli(capsys, "check", "peterson", *argv)
    assert status == 2
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
@pytest.mark.parametrize("variant", list(bundled("guest-assisted").variants()))
def test_guest_assisted_at_default_parameters(guest_assisted, variant):
    system = build(guest_assisted.variants()[variant])
    assert_same(explore(system), explore_parallel(system, workers=2))
