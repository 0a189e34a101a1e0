"""The migration property library: completeness, quiescence and destination order, defined once.

Every live-migration model asks the same three questions, whatever its protocol: when the VM
resumes on the destination, does the destination hold what the source held? Does a device
that the hypervisor counts as stopped stay quiet? Does a destination device run only once
what it needs is loaded? A model answers them by declaring a few facts about itself in a
:class:`Migration`, and takes the properties from it::

    from migcheck.properties.migration import Migration

    class Copy(Model):
        ...
        migration = Migration(
            switched=lambda s: s.phase == "switched",
            synced=lambda s: [s.synced[p] for p in s.pages],
            issues_dma=lambda act: act.name == "dma_write",
            stopped=lambda s, act: ~s.bme,
        )
        completeness = migration.completeness(witness="switchover-happens")
        quiescence = migration.quiescence(witness="switchover-happens")
        switchover_happens = migration.switchover()

Each fact is a function of the state view ``s`` (and, for steps, of the action instance
``act``, whose name, owner and parameters are plain Python values), written in the same
expression language as the model's actions; flags of a variant are readable as ``s.flag``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from migcheck.models import all_, implies
from migcheck.models.errors import ModelDefinitionError

from .declarations import PropertyDecl, Step

StateFact = Callable[[Any], Any]
StepFact = Callable[[Any, Step], Any]
StepKind = Callable[[Step], bool]


@dataclass(frozen=True)
class Migration:
    """What a migration model declares so that the library's properties apply to it.

    Parameters
    ----------
    switched : s -> condition
        The VM has switched over: it runs on the destination from now on.
    synced : s -> iterable of conditions
        One per item the destination must hold (a page, a device's saved state): the
        destination's copy equals the source's current one.
    issues_dma : act -> bool, optional
        Whether a step is a device issuing a DMA write or an interrupt (a posted write).
    stopped : (s, act) -> condition, optional
        Before such a step: whether the issuing device counts as stopped (BME clear, a
        VFIO STOP state), so that it may issue nothing.
    lands : act -> bool, optional
        Whether a step is a posted write landing in memory.
    relied_quiet : (s, act) -> condition, optional
        Before such a step: whether the hypervisor already relies on the device being quiet
        (the vCPU stopped, the final dirty sync done), so that nothing may land any more.
    dest_runs : s -> iterable of (runs, loaded) pairs, optional
        For each destination device: whether it runs, and whether what it needs before
        running (guest RAM, its own state) is loaded.
    """

    switched: StateFact
    synced: Callable[[Any], Iterable[Any]]
    issues_dma: StepKind | None = None
    stopped: StepFact | None = None
    lands: StepKind | None = None
    relied_quiet: StepFact | None = None
    dest_runs: Callable[[Any], Iterable[tuple[Any, Any]]] | None = None

    def completeness(self, *, name: str = "completeness", witness: str | None = None,
                     doc: str = "P1: when the VM resumes on the destination, the destination "
                                "holds every page (and device state) as the source has it.") -> PropertyDecl:
        """An invariant: switched over implies every declared item is synced."""

        def completeness(s: Any) -> Any:
            return implies(self.switched(s), all_(self.synced(s)))

        return _declare(completeness, "invariant", name, witness, doc, loses_data=True)

    def quiescence(self, *, name: str = "quiescence", witness: str | None = None,
                   doc: str = "P2: a device that counts as stopped issues no DMA or interrupt, "
                              "and nothing lands once the hypervisor relies on quiet.") -> PropertyDecl:
        """An action property over the declared DMA steps."""
        if self.issues_dma is None and self.lands is None:
            raise ModelDefinitionError(f"property {name}: the Migration declaration names neither "
                                       "issues_dma nor lands, so there is no DMA step to judge")
        if (self.issues_dma is None) != (self.stopped is None) or \
                (self.lands is None) != (self.relied_quiet is None):
            raise ModelDefinitionError(f"property {name}: declare issues_dma with stopped, and "
                                       "lands with relied_quiet")

        def quiescence(before: Any, act: Step, after: Any) -> Any:
            if self.issues_dma is not None and self.issues_dma(act):
                return _not(self.stopped(before, act))
            if self.lands is not None and self.lands(act):
                return _not(self.relied_quiet(before, act))
            return True

        return _declare(quiescence, "action", name, witness, doc)

    def dest_order(self, *, name: str = "dest-order", witness: str | None = None,
                   doc: str = "P7: a destination device runs only once what it needs is "
                              "loaded there.") -> PropertyDecl:
        """An invariant: every destination device that runs has its prerequisites loaded."""
        if self.dest_runs is None:
            raise ModelDefinitionError(f"property {name}: the Migration declaration needs dest_runs")

        def dest_order(s: Any) -> Any:
            return all_(implies(runs, loaded) for runs, loaded in self.dest_runs(s))

        return _declare(dest_order, "invariant", name, witness, doc, loses_data=True)

    def switchover(self, *, name: str = "switchover-happens",
                   doc: str = "The VM resumes on the destination.") -> PropertyDecl:
        """The witness of the three properties: a switchover happens."""

        def switchover(s: Any) -> Any:
            return self.switched(s)

        return _declare(switchover, "reachable", name, None, doc)


def _not(cond: Any) -> Any:
    """Negation of a condition that may be a plain Python bool (a fact that is constant)."""
    return implies(cond, False)


def _declare(fn: Callable[..., Any], kind: str, name: str, witness: str | None, doc: str,
             loses_data: bool = False) -> PropertyDecl:
    """``loses_data``: a violation leaves the destination with data the source no longer matches
    (a stale page, a device that ran before its memory arrived)."""
    fn.__doc__ = doc
    return PropertyDecl(fn, kind, name, witness, loses_data)


__all__ = ["Migration"]
