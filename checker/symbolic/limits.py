"""Time limits and z3's answers: one deadline per check, and unknown turned into an error
that the engines report as an ``inconclusive`` verdict with its reason."""

from __future__ import annotations

import time

import z3

from migcheck.models.errors import SolverUnknown


class Deadline:
    """The time left for a whole symbolic check (``timeout`` seconds, or none)."""

    def __init__(self, timeout: float | None):
        if timeout is not None and timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout!r}")
        self.timeout = timeout
        self.started = time.perf_counter()
        self.lap_started = self.started

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def mark(self) -> None:
        """Start timing the next property (engines that decide properties one by one)."""
        self.lap_started = time.perf_counter()

    def lap(self) -> float:
        """Seconds since :meth:`mark` (or since the start): what one verdict's statistics show."""
        return time.perf_counter() - self.lap_started

    def seconds_left(self) -> float | None:
        """Seconds left (at least a millisecond), or None without a limit; never raises."""
        if self.timeout is None:
            return None
        return max(0.001, self.timeout - self.elapsed())

    def remaining_ms(self) -> int | None:
        """Milliseconds left (at least 1), or None without a limit; raises when none are left."""
        if self.timeout is None:
            return None
        left = self.timeout - self.elapsed()
        if left <= 0:
            raise SolverUnknown(self.reason())
        return max(1, int(left * 1000))

    def reason(self) -> str:
        return f"time limit reached ({self.timeout:g} s, --timeout)"

    def check(self, solver: z3.Solver, *assumptions: z3.BoolRef) -> z3.CheckSatResult:
        """``solver.check(*assumptions)`` within the deadline; sat or unsat, else `SolverUnknown`."""
        ms = self.remaining_ms()
        solver.set("timeout", ms if ms is not None else 4294967295)
        result = _check_assuming(solver, assumptions)
        if result == z3.unknown:
            raise SolverUnknown(self.explain(solver.reason_unknown()))
        return result

    def explain(self, why: str) -> str:
        """The reason of an unknown answer, in the words the verdicts use."""
        if why in ("timeout", "canceled") and self.timeout is not None:
            return self.reason()
        return f"z3 answered unknown ({why})"


def _check_assuming(solver: z3.Solver, assumptions: tuple[z3.BoolRef, ...]) -> z3.CheckSatResult:
    """``solver.check(*assumptions)`` without z3's per-assumption cast: blocking passes hundreds
    of selector literals (Booleans already) to each of thousands of checks, and the cast's sort
    comparisons cost five times the solving."""
    if not assumptions:
        return solver.check()
    array = (z3.Ast * len(assumptions))(*(a.as_ast() for a in assumptions))
    return z3.CheckSatResult(z3.Z3_solver_check_assumptions(solver.ctx.ref(), solver.solver,
                                                            len(assumptions), array))
