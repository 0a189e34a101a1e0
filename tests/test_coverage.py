"""Coverage and vacuity: dead actions, unreached witnesses, and --strict."""

from __future__ import annotations

import json
import textwrap

from migcheck.checker.explicit import explore
from migcheck.cli import main
from migcheck.models.library import bundled
from migcheck.models.model import build

DEAD_ACTION_MODEL = textwrap.dedent('''
    from migcheck.models import Bool, Model, action, require
    from migcheck.properties import invariant, reachable

    class Dead(Model):
        """A device whose reset path can never run."""
        name = "dead"
        check_deadlock = False
        bme = Bool(init=True)
        reset_done = Bool(init=False)

        @action(owner="driver")
        def clear_bme(s):
            s.bme = False

        @action(owner="device")
        def reset(s):
            require(s.bme & ~s.bme)  # a guard that can never hold
            s.reset_done = True

        @invariant(witness="reset-happens")
        def reset_keeps_bme_clear(s):
            return ~(s.reset_done & s.bme)

        @reachable
        def reset_happens(s):
            return s.reset_done
''')


def test_strict_fails_on_a_dead_action_and_reports_vacuity(tmp_path, capsys):
    path = tmp_path / "dead.py"
    path.write_text(DEAD_ACTION_MODEL)
    assert main(["check", str(path), "--json"]) == 1  # vacuous is not the holds it expects
    data = json.loads(capsys.readouterr().out)
    row = next(r for r in data["results"] if r["property"] == "reset-keeps-bme-clear")
    assert row["verdict"] == "vacuous"
    assert data["coverage"] == [{"variant": "base", "never_enabled": ["reset"], "dropped_at_load": [],
                                 "witnesses_not_reached": ["reset-happens"]}]
    assert main(["check", str(path), "--strict", "--property", "reset-happens"]) == 1
    out = capsys.readouterr().out
    assert "actions never enabled: reset" in out


def test_strict_passes_on_the_bundled_model(capsys):
    # passthrough-only's unreached witnesses are declared as expected, so they do not fail.
    assert main(["check", "--strict"]) == 0
    assert "witnesses never reached: dma-in-flight-at-quiesce" in capsys.readouterr().out


def test_selecting_a_property_still_checks_its_witness():
    cls = bundled("guest-assisted").variants()["passthrough-only"]
    result = explore(build(cls), ["dest-order"])
    assert list(result.verdicts) == ["dest-order"]
    assert result.verdicts["dest-order"].verdict == "vacuous"
    assert "dest-device-runs" in result.verdicts["dest-order"].reason


def test_shared_page_witness_makes_marking_property_non_vacuous():
    cls = bundled("guest-assisted")
    # One buffer never shares its page with another: the witness is never reached.
    alone = explore(build(cls, {"slots": 1, "pages": 2}), ["marking-preserves-data"])
    assert alone.verdicts["marking-preserves-data"].verdict == "vacuous"
    # A refill may put a buffer in any page, so two buffers share one even when there is a
    # page per slot: the property holds, and not vacuously.
    spare = explore(build(cls, {"slots": 2, "pages": 2}), ["marking-preserves-data"])
    assert spare.verdicts["marking-preserves-data"].verdict == "holds"
    shared = explore(build(cls), ["marking-preserves-data"])
    assert shared.verdicts["marking-preserves-data"].verdict == "holds"
