"""Two-phase commit: a port of Lamport's TwoPhase specification (TLA+ Examples).

The published state counts for this specification are 288 distinct states with 3 resource
managers and 8,832 with 5 (TLC; stateright's two-phase commit example agrees). The message
set ``msgs`` is a set of records in the TLA+ original; here it is one boolean per possible
message (Prepared from each RM, Commit, Abort), which is the same set.
"""

from __future__ import annotations

from migcheck.models import Array, Bool, Enum, Index, Model, action, all_, any_, require, variant
from migcheck.properties import invariant, reachable

RM_STATES = ("working", "prepared", "committed", "aborted")


class TwoPhaseCommit(Model):
    """Lamport's TwoPhase: a transaction manager and resource managers agree to commit or abort."""

    name = "two-phase-commit"
    check_deadlock = False  # TLC runs TwoPhase with deadlock checking off; done states stutter

    rms = Index("rm", default=3, allowed=range(1, 9), symmetric=True, doc="resource managers")

    rm_state = Array(rms, Enum(*RM_STATES), init="working")
    tm_state = Enum("init", "done", init="init")
    tm_prepared = Array(rms, Bool, init=False)
    msg_prepared = Array(rms, Bool, init=False, doc="[type |-> Prepared, rm |-> r] \\in msgs")
    msg_commit = Bool(init=False)
    msg_abort = Bool(init=False)

    @action(owner="tm")
    def tm_rcv_prepared(s, r: rms):
        require((s.tm_state == "init") & s.msg_prepared[r])
        s.tm_prepared[r] = True

    @action(owner="tm")
    def tm_commit(s):
        require((s.tm_state == "init") & all_(s.tm_prepared[r] for r in s.rms))
        s.tm_state = "done"
        s.msg_commit = True

    @action(owner="tm")
    def tm_abort(s):
        require(s.tm_state == "init")
        s.tm_state = "done"
        s.msg_abort = True

    @action(owner="rm")
    def rm_prepare(s, r: rms):
        require(s.rm_state[r] == "working")
        s.rm_state[r] = "prepared"
        s.msg_prepared[r] = True

    @action(owner="rm")
    def rm_choose_to_abort(s, r: rms):
        require(s.rm_state[r] == "working")
        s.rm_state[r] = "aborted"

    @action(owner="rm")
    def rm_rcv_commit_msg(s, r: rms):
        require(s.msg_commit)
        s.rm_state[r] = "committed"

    @action(owner="rm")
    def rm_rcv_abort_msg(s, r: rms):
        require(s.msg_abort)
        s.rm_state[r] = "aborted"

    @invariant
    def consistency(s):
        """No resource manager has committed while another has aborted (TCConsistent)."""
        return ~(any_(s.rm_state[r] == "aborted" for r in s.rms)
                 & any_(s.rm_state[r] == "committed" for r in s.rms))

    @reachable
    def all_committed(s):
        """Some run commits every resource manager."""
        return all_(s.rm_state[r] == "committed" for r in s.rms)



@variant(TwoPhaseCommit, expect={"consistency": "violated"})
class CommitWithoutVotes(TwoPhaseCommit):
    """A broken transaction manager that commits before every resource manager has prepared."""

    @action(owner="tm")
    def tm_commit(s):
        require(s.tm_state == "init")
        s.tm_state = "done"
        s.msg_commit = True
