"""A test-and-set spin lock: mutual exclusion holds; starvation freedom needs strong fairness.

A process waiting for the lock can acquire it only while the lock is free. Under weak
fairness the other process may release and re-take the lock forever, so the waiter is
enabled infinitely often but never continuously, and weak fairness does not force it in.
Under strong fairness it must get in. (Peterson's algorithm, by contrast, is starvation-free
under weak fairness: once the other process hands over the turn, entry stays enabled.)
"""

from __future__ import annotations

from migcheck.models import Array, Bool, Enum, Index, Model, action, require, variant
from migcheck.properties import invariant, leads_to


class SpinLock(Model):
    """A test-and-set spin lock with weakly fair processes: a waiter can starve."""

    name = "spinlock"
    variant_name = "weakly-fair"
    fairness = {"process": "weak", "request": "none"}
    expect = {"starvation-free": "violated"}

    procs = Index("process", default=2, allowed=range(2, 5))
    locked = Bool(init=False)
    pc = Array(procs, Enum("idle", "waiting", "critical"), init="idle")

    @action(owner="process")
    def request(s, i: procs):
        require(s.pc[i] == "idle")
        s.pc[i] = "waiting"

    @action(owner="process")
    def acquire(s, i: procs):
        require((s.pc[i] == "waiting") & ~s.locked)
        s.locked = True
        s.pc[i] = "critical"

    @action(owner="process")
    def release(s, i: procs):
        require(s.pc[i] == "critical")
        s.locked = False
        s.pc[i] = "idle"

    @invariant
    def mutual_exclusion(s):
        """At most one process holds the lock."""
        return ~((s.pc[0] == "critical") & (s.pc[1] == "critical"))

    @leads_to
    def starvation_free(s):
        """A waiting process 0 eventually enters (by symmetry, every process)."""
        return s.pc[0] == "waiting", s.pc[0] == "critical"



@variant(SpinLock)
class StronglyFair(SpinLock):
    """The same lock with strongly fair processes: every waiter gets in."""

    fairness = {"process": "strong", "request": "none"}
