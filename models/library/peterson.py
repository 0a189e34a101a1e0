"""Peterson's mutual exclusion for two processes, and a broken variant.

Each process raises its flag, gives the turn away, then waits until the other's flag is
down or the turn is its own. The broken variant gives the turn away before raising the flag,
which lets both processes into the critical section.
"""

from __future__ import annotations

from migcheck.models import Array, Bool, Enum, Index, Int, Model, action, require, variant
from migcheck.properties import invariant, leads_to, reachable


class Peterson(Model):
    """Peterson's algorithm for two processes."""

    name = "peterson"
    # Wanting the critical section is optional; every step after that is weakly fair.
    fairness = {"process": "weak", "request": "none"}

    procs = Index("proc", default=2, allowed=range(2, 3), doc="processes (the algorithm is for two)")

    flag = Array(procs, Bool, init=False)
    turn = Int(0, 1, init=0)
    pc = Array(procs, Enum("idle", "set_flag", "set_turn", "wait", "critical"), init="idle")

    @action(owner="process")
    def request(s, i: procs):
        require(s.pc[i] == "idle")
        s.pc[i] = "set_flag"

    @action(owner="process")
    def raise_flag(s, i: procs):
        require(s.pc[i] == "set_flag")
        s.flag[i] = True
        s.pc[i] = "set_turn"

    @action(owner="process")
    def give_turn(s, i: procs):
        require(s.pc[i] == "set_turn")
        s.turn = 1 - i
        s.pc[i] = "wait"

    @action(owner="process")
    def enter(s, i: procs):
        require((s.pc[i] == "wait") & (~s.flag[1 - i] | (s.turn == i)))
        s.pc[i] = "critical"

    @action(owner="process")
    def leave(s, i: procs):
        require(s.pc[i] == "critical")
        s.flag[i] = False
        s.pc[i] = "idle"

    @invariant
    def mutual_exclusion(s):
        """At most one process is in its critical section."""
        return ~((s.pc[0] == "critical") & (s.pc[1] == "critical"))

    @leads_to
    def starvation_free(s):
        """A process 0 that has asked for the critical section eventually enters it (under weak
        fairness: once the other process hands over the turn, entry stays enabled)."""
        return s.pc[0].isin("set_flag", "set_turn", "wait"), s.pc[0] == "critical"

    @reachable
    def someone_enters(s):
        """Some process reaches its critical section."""
        return (s.pc[0] == "critical") | (s.pc[1] == "critical")


@variant(Peterson, expect={"mutual-exclusion": "violated"})
class TurnFirst(Peterson):
    """Gives the turn away before raising the flag: both processes can enter."""

    @action(owner="process")
    def raise_flag(s, i: Peterson.procs):
        require(s.pc[i] == "set_flag")
        s.turn = 1 - i
        s.pc[i] = "set_turn"

    @action(owner="process")
    def give_turn(s, i: Peterson.procs):
        require(s.pc[i] == "set_turn")
        s.flag[i] = True
        s.pc[i] = "wait"
