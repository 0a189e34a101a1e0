"""Disable first (clear BME, drain, mark, acknowledge, then stop and copy) on the concrete
emulator: random schedules never lose or corrupt a packet, no touch writes stale bytes, and
when the VM switches over the destination holds every byte the source holds.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from test_emulator_refines_model import PARAMS, fresh_machine, pick

from migcheck.emulator.damage import assess
from migcheck.emulator.machine import Machine


class DisableFirstMigrations(RuleBasedStateMachine):
    @initialize(params=st.sampled_from(PARAMS), opt_in_first=st.booleans(), patient=st.booleans())
    def boot(self, params: tuple[int, int, int, int], opt_in_first: bool, patient: bool) -> None:
        self.m: Machine = fresh_machine("disable-first", params)[0]
        if opt_in_first:  # otherwise the driver may probe first and the migration is blocked
            self.m.driver.opt_in()
        self.patient = patient

    @rule(data=st.data())
    def step(self, data: st.DataObject) -> None:
        op = pick(data, self.m, self.patient)
        if op is None:
            return
        op.run()
        if op.label == "migrator.switchover":
            m = self.m
            differ = [m.layout.role(p) for p in range(m.layout.pages)
                      if m.destination.page(p) != m.memory.ram.page(p)]
            assert not differ, f"at the switchover the destination's {', '.join(differ)} differ(s)"

    @invariant()
    def no_packet_is_lost_or_corrupted(self) -> None:
        if not hasattr(self, "m"):
            return
        damage = assess(self.m)
        assert not damage.stale_writes
        assert not damage.harmed, [f"packet {p.seq}: {p.fate}: {p.reason}" for p in damage.harmed]
        assert not damage.pages

    @invariant()
    def the_guest_reads_packets_intact_and_in_order(self) -> None:
        if not hasattr(self, "m"):
            return
        seqs = [r.seq for r in self.m.stack.received if not r.handed_up_with_page]
        assert None not in seqs and seqs == sorted(seqs)


TestDisableFirstMigrations = DisableFirstMigrations.TestCase
TestDisableFirstMigrations.settings = settings(max_examples=100, stateful_step_count=40, deadline=None,
                                               suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.slow
def test_disable_first_long_runs():
    run_state_machine_as_test(DisableFirstMigrations, settings=settings(
        max_examples=3000, stateful_step_count=80, deadline=None,
        suppress_health_check=[HealthCheck.too_slow]))
