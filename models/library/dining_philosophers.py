"""Dining philosophers: the naive protocol deadlocks and starves; ordering the forks fixes both.

Philosopher i's forks are i (left) and i+1 mod n (right). The naive philosopher takes the
left fork first; with every philosopher holding a left fork nobody can eat. The fixed
protocol takes the lower-numbered fork first (resource ordering), so the last philosopher
reaches for the right fork first and the cycle of waiting cannot close.
"""

from __future__ import annotations

from migcheck.models import Array, Bool, Enum, Index, Model, action, require, variant
from migcheck.properties import invariant, leads_to


class DiningPhilosophers(Model):
    """Dining philosophers with forks taken lowest-numbered first (no deadlock, no starvation)."""

    name = "dining-philosophers"
    variant_name = "ordered-forks"
    naive = False

    # Taking a fork is enabled only while the neighbour is not holding it, so only strong
    # fairness promises a hungry philosopher a fork its neighbour keeps picking up again.
    # Getting hungry is optional: a philosopher may think forever.
    fairness = {"philosopher": "strong", "get_hungry": "none"}

    phils = Index("philosopher", default=3, allowed=range(2, 7))
    pc = Array(phils, Enum("thinking", "hungry", "one_fork", "eating"), init="thinking")
    held = Array(phils, Bool, init=False, doc="fork i is in someone's hand")

    def forks(s, i):
        """(first, second) fork of philosopher i."""
        left, right = i, (i + 1) % len(s.pc)
        if s.naive:
            return left, right
        return min(left, right), max(left, right)

    @action(owner="philosopher")
    def get_hungry(s, i: phils):
        require(s.pc[i] == "thinking")
        s.pc[i] = "hungry"

    @action(owner="philosopher")
    def take_first(s, i: phils):
        first, _ = DiningPhilosophers.forks(s, i)
        require((s.pc[i] == "hungry") & ~s.held[first])
        s.held[first] = True
        s.pc[i] = "one_fork"

    @action(owner="philosopher")
    def take_second(s, i: phils):
        _, second = DiningPhilosophers.forks(s, i)
        require((s.pc[i] == "one_fork") & ~s.held[second])
        s.held[second] = True
        s.pc[i] = "eating"

    @action(owner="philosopher")
    def put_down(s, i: phils):
        first, second = DiningPhilosophers.forks(s, i)
        require(s.pc[i] == "eating")
        s.held[first] = False
        s.held[second] = False
        s.pc[i] = "thinking"

    @invariant
    def neighbours_never_eat_together(s):
        """Two neighbours never eat at once (they share a fork)."""
        n = len(s.pc)
        result = True
        for i in range(n):
            result = result & ~((s.pc[i] == "eating") & (s.pc[(i + 1) % n] == "eating"))
        return result

    @leads_to
    def no_starvation(s):
        """A hungry philosopher 0 eventually eats (by symmetry, every philosopher)."""
        return s.pc[0] == "hungry", s.pc[0] == "eating"


@variant(DiningPhilosophers, expect={"deadlock": "violated", "no-starvation": "violated"})
class Naive(DiningPhilosophers):
    """Everyone takes the left fork first: all can hold one fork and wait forever."""

    naive = True
