"""The cluster search (`checker/cluster.py`, on Dask distributed) against the sequential one:
the same verdicts, state counts, depths and counterexamples on every bundled model's variants,
with the partitions expanding natively (C) and as compiled Python; joining a running scheduler;
Ctrl-C; the --cluster option's refusals."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("distributed", reason="the cluster extra: pip install 'migcheck[cluster]'")

from migcheck.checker.cluster import ClusterRefused, connect, explore_cluster
from migcheck.checker.explicit import Limits, explore
from migcheck.checker.liveness import LIVENESS
from migcheck.cli import main
from migcheck.models import Int, Model, action, build, require
from migcheck.models.library import BUNDLED, bundled
from migcheck.properties import invariant, reachable

# Small instances, so that every variant of every bundled model runs in well under a second.
SMALL = {"guest-assisted": {"slots": 1}, "two-phase-commit": {"rms": 3}, "peterson": {},
         "dining-philosophers": {"phils": 3}, "spinlock": {"procs": 2},
         "vfio-v2": {"devs": 1, "pages": 1, "rounds": 1}, "failover": {"pkts": 1, "loss_bound": 1}}
SLOW = {"vfio-v2"}  # 2-4 s a variant even at its smallest: checked with the slow tests (CI runs them)
CASES = [pytest.param(name, variant, id=f"{name}/{variant}", marks=[pytest.mark.slow] if name in SLOW else [])
         for name in BUNDLED for variant in bundled(name).variants()]
BACKENDS = pytest.mark.parametrize("backend", ["native", "python"])  # the partitions' expansion


@pytest.fixture(scope="module")
def local2():
    with connect("local:2") as connection:
        yield connection


def summary(result) -> dict:
    """What both searches must agree on: counts, depth, coverage, verdicts and their traces."""
    return {"states": result.stats.states, "depth": result.stats.depth, "never": result.never_enabled,
            "verdicts": {n: (v.verdict, v.complete, v.reason, v.trace, v.witness)
                         for n, v in result.verdicts.items()}}


def safety(system) -> list[str]:
    return [p.name for p in system.properties if p.kind not in LIVENESS] + \
        (["deadlock"] if system.check_deadlock else [])


def test_every_bundled_model_is_covered():
    assert set(SMALL) == set(BUNDLED), "give the new model a small instance in SMALL"


@BACKENDS
@pytest.mark.parametrize("name, variant", CASES)
def test_two_workers_give_what_the_sequential_search_gives(local2, name, variant, backend):
    system = build(bundled(name).variants()[variant], SMALL.get(name, {}))
    wanted = safety(system)
    sequential = explore(system, wanted, backend="python")
    cluster = explore_cluster(system, local2, wanted, backend=backend)
    assert cluster.backend.endswith(f"{backend})")
    assert summary(cluster) == summary(sequential)
    assert sum(w["states"] for w in cluster.workers) == sequential.stats.states
    assert all(w["states"] > 0 for w in cluster.workers)  # the hash spreads states over both


@BACKENDS
def test_symmetry_reduced_search_is_the_same(local2, backend):
    system = build(bundled("two-phase-commit").variants()["commit-without-votes"], {"rms": 4})
    sequential = explore(system, symmetry=True, backend="python")
    cluster = explore_cluster(system, local2, symmetry=True, backend=backend)
    assert cluster.verdicts["consistency"].verdict == "violated"
    assert summary(cluster) == summary(sequential)


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


@BACKENDS
def test_an_update_outside_its_domain_is_the_same_error(local2, backend):
    system = build(Overflow)
    sequential, cluster = explore(system, backend="python"), explore_cluster(system, local2, backend=backend)
    verdicts = {n: v.verdict for n, v in cluster.verdicts.items()}
    assert verdicts == {"m-small": "violated", "two": "holds", "deadlock": "error"}
    assert "sets n to 3, outside Int(0, 2)" in cluster.verdicts["deadlock"].reason
    assert summary(cluster) == summary(sequential)


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


@BACKENDS
def test_states_wider_than_64_bits_travel_whole(local2, backend):
    system = build(Wide)
    sequential, cluster = explore(system, backend="python"), explore_cluster(system, local2, backend=backend)
    assert max(sequential.states) >= 2**64  # the case being tested
    assert len(cluster.verdicts["not-both-full"].trace) == 6
    assert summary(cluster) == summary(sequential)


def test_liveness_is_refused_in_one_line(local2):
    system = build(bundled("guest-assisted"), {"slots": 1})
    with pytest.raises(ClusterRefused, match="does not check liveness"):
        explore_cluster(system, local2)


def test_liveness_is_refused_before_a_cluster_starts_with_the_safety_properties_to_name(capsys, monkeypatch):
    from migcheck.checker import cluster

    monkeypatch.setattr(cluster, "connect", lambda spec: pytest.fail("a cluster was started"))
    assert main(["check", "guest-assisted", "--variant", "disable-first", "--cluster", "local:2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not check liveness" in err, err
    named = err.split("name the others: ")[1].split()
    assert named[::2] == ["--property"] * (len(named) // 2)
    system = build(bundled("guest-assisted").variants()["disable-first"])
    assert set(named[1::2]) == set(safety(system)), "every safety property and deadlock, no liveness"


def test_bad_cluster_values_are_refused_in_one_line(capsys):
    for value, said in (("local:x", "give local:N"), ("local:0", "at least 1 worker")):
        assert main(["check", "two-phase-commit", "--cluster", value]) == 2
        err = capsys.readouterr().err
        assert said in err and err.count("\n") == 1, err
    with pytest.raises(ClusterRefused, match="no Dask scheduler reachable"), connect("tcp://127.0.0.1:9", 1):
        pass
    assert main(["check", "two-phase-commit", "--cluster", "local:2", "--engine", "bmc"]) == 2
    assert "--cluster spreads the explicit search" in capsys.readouterr().err


def _start(*argv: str) -> subprocess.Popen:
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


@pytest.mark.slow
def test_joining_a_running_scheduler_gives_the_same_answers(tmp_path, capsys):
    """A scheduler and two workers started as a user would (the dask command), then --cluster ADDRESS."""
    dask = shutil.which("dask", path=os.path.dirname(sys.executable)) or shutil.which("dask")
    assert dask, "the cluster extra installs the dask command"
    address = "tcp://127.0.0.1:8797"
    procs = [_start(dask, "scheduler", "--host", "127.0.0.1", "--port", "8797", "--no-dashboard")]
    try:
        procs += [_start(dask, "worker", address, "--nthreads", "1", "--no-dashboard") for _ in range(2)]
        argv = ["check", "two-phase-commit", "--set", "rms=4", "--json"]
        from distributed import Client

        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        assert main(argv + ["--cluster", address]) == main(argv + ["--backend", "python"])
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(timeout=30)


@pytest.mark.slow
def test_ctrl_c_stops_the_workers_and_exits_promptly(tmp_path):
    """SIGINT to the whole process group, as a terminal sends it: no traceback, no hang, the
    table saying what was interrupted, and no worker process left behind."""
    # millions of states: minutes of search even on an idle machine (2PC at rms=8 can end in 20 s)
    cmd = [sys.executable, "-P", "-m", "migcheck", "check", "guest-assisted", "--variant", "disable-first",
           "--property", "completeness", "--set", "pages=4", "--set", "slots=3", "--cluster", "local:2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    time.sleep(20)  # the cluster is up and the search under way (it needs minutes)
    assert proc.poll() is None, proc.communicate()
    os.killpg(proc.pid, signal.SIGINT)
    sent = time.time()
    out, err = proc.communicate(timeout=30)
    assert time.time() - sent < 15, "Ctrl-C did not stop the run promptly"
    assert "Traceback" not in out + err, err
    assert proc.returncode == 2 and "interrupted (Ctrl-C)" in out, out + err
    deadline = time.time() + 15  # processes the workers' shutdown leaves may take a moment to exit
    while (left := _group(proc.pid)) and time.time() < deadline:
        time.sleep(0.5)
    assert not left, f"processes left behind: {left}"


@pytest.mark.slow
def test_ctrl_c_keeps_the_verdicts_decided_so_far(local2, monkeypatch):
    """Ctrl-C (here raised from the progress callback) after level 5: the violation found at a
    shallower level stands, with the sequential search's counterexample; the rest (the witness
    of all-committed is 8 steps deep) is inconclusive. A progress event at every level, so that
    the interrupt comes at level 5 however fast the machine is."""
    monkeypatch.setattr(Limits, "report_every", 0.0)
    system = build(bundled("two-phase-commit").variants()["commit-without-votes"], {"rms": 7})

    def interrupt(info):
        if info.get("depth", 0) >= 5:
            raise KeyboardInterrupt

    cluster = explore_cluster(system, local2, on_progress=interrupt)
    assert cluster.interrupted
    sequential = explore(system, backend="python")
    assert cluster.verdicts["consistency"].trace == sequential.verdicts["consistency"].trace
    assert cluster.verdicts["all-committed"].verdict == "inconclusive"
    assert cluster.stats.states < sequential.stats.states


def test_a_second_local_cluster_says_nothing_of_ports(local2):
    """With a cluster already on this machine (``local2`` holds the scheduler's HTTP port 8787,
    or another did before it), a second one takes other ports without a word on stderr."""
    cmd = [sys.executable, "-P", "-m", "migcheck", "check", "two-phase-commit", "--set", "rms=3",
           "--cluster", "local:1"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == "", done.stderr


@pytest.mark.slow
def test_a_worker_lost_mid_search_ends_the_run_in_one_line(tmp_path):
    """A worker killed during the search (out of memory, say): its peer stops at once (its link
    closed without a last message) and the run ends in one line, exit 2, no traceback."""
    cmd = [sys.executable, "-P", "-m", "migcheck", "check", "guest-assisted", "--variant", "disable-first",
           "--property", "completeness", "--set", "pages=4", "--set", "slots=3", "--cluster", "local:2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        time.sleep(20)  # the cluster is up and the search under way (it needs minutes)
        assert proc.poll() is None, proc.communicate()
        workers = [line.split()[0] for line in _group(proc.pid) if "spawn_main" in line]
        assert workers, _group(proc.pid)
        os.kill(int(workers[-1]), signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 2 and "Traceback" not in out + err, out + err
    assert len(err.strip().splitlines()) == 1 and "bug in migcheck" not in err, err
    assert re.search(r"worker was lost|link closed before its last message", err), err


def _group(pgid: int) -> list[str]:
    ps = subprocess.run(["pgrep", "-a", "-g", str(pgid)], capture_output=True, text=True).stdout
    return ps.splitlines()


def test_ci_spreads_its_matrix_over_the_cluster(tmp_path, capsys):
    config = tmp_path / "migcheck.toml"
    config.write_text('[[check]]\nmodel = "two-phase-commit"\nset = { rms = 3 }\n\n'
                      '[[check]]\nmodel = "spinlock"\nset = { procs = 2 }\n'
                      'properties = ["mutual-exclusion"]\n')
    here = main(["ci", "--config", str(config)])
    alone = capsys.readouterr().out
    assert main(["ci", "--config", str(config), "--cluster", "local:2"]) == here
    spread = capsys.readouterr().out
    def untimed(text: str) -> str:
        return re.sub(r"\d+\.\d+", "#", text)  # seconds differ from run to run

    assert untimed(spread) == untimed(alone)
    assert "commit-without-votes" in spread and "mutual-exclusion" in spread


RANGES = [("guest-assisted", "disable-first"), ("two-phase-commit", "commit-without-votes"),
          ("guest-assisted", "free-before-disable"), ("spinlock", "weakly-fair")]


@BACKENDS
@pytest.mark.parametrize("case", [*(f"{n}/{v}" for n, v in RANGES), *(f"random/{seed}" for seed in range(6))])
def test_ranking_by_ranges_gives_what_the_sequential_search_gives(local2, monkeypatch, case, backend):
    """With more partitions than `EVERY_KEY`, partition q places the keys of range q: forced here
    on two, on bundled variants and random systems (domain errors: their cut goes through the
    ranges)."""
    from test_native import random_system

    import migcheck.checker.cluster as cluster

    monkeypatch.setattr(cluster, "EVERY_KEY", 1)
    name, variant = case.split("/")
    system = (random_system(int(variant)) if name == "random"
              else build(bundled(name).variants()[variant], SMALL.get(name, {})))
    wanted = safety(system) if name != "random" else None
    assert summary(explore_cluster(system, local2, wanted, backend=backend)) == \
        summary(explore(system, wanted, backend="python"))


@pytest.mark.parametrize("seed", range(24))
def test_random_systems_give_what_the_sequential_search_gives(local2, seed):
    """Random systems (tests/test_native.py's generator: every operator, updates outside their
    domain, action properties, deadlocks) on two native partitions."""
    from test_native import random_system

    system = random_system(seed)
    sequential = explore(system, backend="python")
    assert summary(explore_cluster(system, local2, backend="native")) == summary(sequential)


def test_keys_and_ranks_travel_squeezed_and_come_back_whole():
    import numpy as np

    from migcheck.checker.cluster import squeeze, unsqueeze

    for values, kind in (([], "u1"), ([7], "u1"), ([3, 4, 259], "u1"), ([3, 4, 260], "u2"),
                         ([0, 256, 70_000], "u4"), ([-5, 2**40], "i8"), ([1, 2**16 + 1], "u4"),
                         ([1, 2**16], "u2"), ([5, 3, 9], "i8")):
        packed = squeeze(np.array(values, dtype=np.int64))
        assert packed[2] == kind
        assert unsqueeze(packed).tolist() == values


def test_one_worker_gives_what_the_sequential_search_gives():
    system = build(bundled("two-phase-commit").variants()["commit-without-votes"], {"rms": 4})
    with connect("local:1") as one:
        cluster = explore_cluster(system, one)
    assert summary(cluster) == summary(explore(system, backend="python"))
    assert [w["states"] for w in cluster.workers] == [cluster.stats.states]


def _break_compiler(cache: str) -> None:
    """In a worker: a build cache of its own, and a C compiler that fails."""
    os.environ.update({"CC": shutil.which("false") or "false", "MIGCHECK_CACHE": cache})


@pytest.mark.slow
def test_workers_without_a_compiler_fall_back_to_python_partitions(tmp_path):
    """Workers that cannot build the native partition (as on another machine without a working C
    compiler): ``auto`` says so in one note and runs Python partitions, with the same result;
    ``native`` is refused in one line."""
    from migcheck.checker.native.build import NativeUnavailable

    system = build(bundled("two-phase-commit").variants()["commit-without-votes"], {"rms": 3})
    notes: list[str] = []
    with connect("local:2") as bare:
        bare.client.run(_break_compiler, str(tmp_path / "cache"))
        cluster = explore_cluster(system, bare, on_progress=lambda i: notes.append(i.get("note", "")))
        assert cluster.backend.endswith("python)")
        assert any("a worker cannot build its native partition" in note for note in notes), notes
        assert summary(cluster) == summary(explore(system, backend="python"))
        with pytest.raises(NativeUnavailable, match=r"^--backend native: a worker cannot build"):
            explore_cluster(system, bare, backend="native")


def test_keys_are_placed_at_their_position_in_the_union_of_the_runs():
    """A range's keys from every partition are placed among each other: by the C merge of the
    native partitions and by NumPy for the Python ones; empty runs and a single run included."""
    import numpy as np

    from migcheck.checker.cluster import positions_in_union
    from migcheck.checker.codegen import Active
    from migcheck.checker.native.partition import NativePartition, source_of

    system = build(bundled("spinlock").variants()["weakly-fair"], {"procs": 2})
    checks = Active((), (), (), False, False)
    native = NativePartition(system, source_of(system, None, checks), checks, 0, 1, 0)
    rng = np.random.default_rng(7)
    for parts in (1, 2, 3, 9, 40):
        union = rng.choice(10**6, size=rng.integers(0, 600), replace=False)
        owner = rng.integers(0, parts, size=len(union))
        runs = [np.sort(union[owner == p]).astype(np.int64) for p in range(parts)]
        order = {int(k): r for r, k in enumerate(np.sort(union))}
        expected = [[order[int(k)] for k in run] for run in runs]
        assert [p.tolist() for p in positions_in_union(runs)] == expected
        assert [p.tolist() for p in native.positions(runs)] == expected
        for which in range(parts):
            assert native.positions(runs, which)[which].tolist() == expected[which]


def test_the_owner_of_many_states_is_the_owner_of_each():
    """`partitioning._owners` (NumPy, for the sample) computes `owner_of` (the Python
    partitions'), for states wider than 64 bits too."""
    import random

    from migcheck.checker.partitioning import _halves, _owners, owner_of

    rng = random.Random(3)
    states = [rng.getrandbits(rng.choice((12, 64, 100))) for _ in range(400)]
    for mask in ((1 << 128) - 1, 0xFFF0, (1 << 100) - 1 - (0xFF << 70)):
        for parts in (2, 3, 7):
            each = [owner_of(x, mask, parts) for x in states]
            assert _owners(_halves(states), mask, parts).tolist() == each
    owners = [owner_of(x, (1 << 128) - 1, 3) for x in states]
    assert all(owners.count(d) > 100 for d in range(3))  # spread evenly


def test_the_owner_hash_leaves_out_the_fields_most_transitions_change():
    """guest-assisted: most transitions move the hypervisor's phase or the driver's state, so two
    partitions hash neither (those successors stay with their parent), while the levels still
    spread: the pages' fields stay. One partition hashes everything."""
    from migcheck.checker.codegen import Packing
    from migcheck.checker.partitioning import owner_mask

    system = build(bundled("guest-assisted").variants()["disable-first"], {"pages": 2})
    packing = Packing.of(system.layout)
    field = {slot.name: ((1 << w) - 1) << o
             for slot, o, w in zip(system.layout.slots, packing.offsets, packing.widths, strict=True)}
    mask = owner_mask(system, 2)
    assert not mask & field["phase"] and not mask & field["drv"]
    assert mask & field["mapped[0]"] and mask & field["mapped[1]"]
    assert owner_mask(system, 1) == (1 << packing.bits) - 1


@pytest.fixture
def threads():
    """A running cluster whose workers share one process (Dask's LocalCluster(processes=False),
    as a notebook starts one); this module is theirs too, so a test can patch what they run.
    Closed after each test: its client is the default one while it lives, and `local2`'s actors
    would call through it."""
    from distributed import Client, LocalCluster

    from migcheck.checker.cluster import Connection

    one_process = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
    with one_process as cluster, Client(cluster) as client:
        yield Connection(client, tuple(sorted(client.scheduler_info()["workers"])), cluster.scheduler_address)


@pytest.mark.parametrize("direct", [True, False], ids=["links", "dask-messages"])
def test_workers_that_are_threads_of_one_process_give_the_same_answers(threads, monkeypatch, direct):
    """The partitions reach each other there too: by their links, or by their proxies (made
    on the worker that calls; see `Partition.meet`)."""
    from migcheck.checker import cluster as module

    monkeypatch.setattr(module, "_PEER_WAIT", 20.0)  # fail, not hang
    system = build(bundled("two-phase-commit").variants()["commit-without-votes"], {"rms": 4})
    threaded = explore_cluster(system, threads, direct=direct)
    assert summary(threaded) == summary(explore(system, backend="python"))
    assert all(w["states"] > 0 for w in threaded.workers)


@pytest.mark.parametrize("name, variant", [c for c in CASES if c.values[0] not in SLOW])
def test_dask_messages_give_what_the_links_give(local2, name, variant):
    """Where a worker's transport is not plain TCP, the levels' messages go as actor calls."""
    system = build(bundled(name).variants()[variant], SMALL.get(name, {}))
    wanted = safety(system)
    assert summary(explore_cluster(system, local2, wanted, backend="native", direct=False)) == \
        summary(explore(system, wanted, backend="python"))


def test_a_broken_link_stops_the_search_in_one_line_instead_of_waiting(threads, monkeypatch):
    """A partition that cannot take a peer's message (here its handler fails, as when a peer
    dies) stops at once with the reason, instead of waiting an hour for what never comes."""
    from migcheck.checker import cluster as module

    taken = module.Partition._handle

    def failing(self, kind, *message):
        if kind == "deliver" and message[0] == 2:
            raise RuntimeError("lost")
        taken(self, kind, *message)

    monkeypatch.setattr(module.Partition, "_handle", failing)
    monkeypatch.setattr(module, "_PEER_WAIT", 20.0)  # (else its own message, after the wait)
    system = build(bundled("two-phase-commit").variants()["commit-without-votes"], {"rms": 4})
    broken = (r"^level 2: (partition \d stopped: level 2: )?"  # (from the peer that heard why)
              r"handling a message from partition \d: RuntimeError: lost$")
    with pytest.raises(ClusterRefused, match=broken):
        explore_cluster(system, threads)


def test_partitions_that_cannot_link_use_dask_messages(threads, monkeypatch):
    """Workers that cannot open each other's ports (a firewall) fall back to Dask's messages,
    with a note, and give the same answers."""
    from migcheck.checker import links

    def refused(self, *args, **kwargs):
        raise ConnectionRefusedError("refused here")

    monkeypatch.setattr(links.Links, "join", refused)
    system = build(bundled("two-phase-commit").variants()["commit-without-votes"], {"rms": 4})
    notes = []
    result = explore_cluster(system, threads, on_progress=lambda e: notes.append(e.get("note")))
    assert summary(result) == summary(explore(system, backend="python"))
    assert any(n and "could not link to each other (refused here)" in n for n in notes), notes


def test_link_hosts_follow_the_workers_transport():
    from migcheck.checker.links import link_host

    assert link_host("tcp://10.1.2.3:40123") == "10.1.2.3"
    assert link_host("tcp://[fe80::1]:40123") == "fe80::1"
    assert link_host("inproc://10.1.2.3/1234/5") == "127.0.0.1"
    assert link_host("tls://10.1.2.3:40123") is None and link_host("ucx://10.1.2.3:40123") is None


def test_links_take_only_connections_that_start_with_the_secret():
    """Something that reaches a partition's port during the join is closed, not taken as a
    peer; the peers' messages then come in the order sent, and a last message closes a link."""
    import socket
    import threading

    from migcheck.checker.links import Links

    ends = [Links("127.0.0.1") for _ in range(2)]
    addresses = [e.address for e in ends]
    stray = socket.create_connection(addresses[1])
    stray.sendall(b"x" * 16 + (0).to_bytes(8, "little"))
    got: list = []
    joins = [threading.Thread(target=e.join, args=(i, addresses, b"s" * 16, lambda *m: got.append(m),
                                                   lambda: None, 10)) for i, e in enumerate(ends)]
    for t in joins:
        t.start()
    for t in joins:
        t.join(15)
    assert stray.recv(1) == b""  # closed by the partition
    for k in range(3):
        ends[0].send(1, "deliver", k, b"states")
    ends[0].close()
    ends[1].close()
    for t in ends[1].threads:
        t.join(10)
    assert got == [("deliver", k, b"states") for k in range(3)]
    assert ends[0].failure is None and ends[1].failure is None
