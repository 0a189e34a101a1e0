"""The symbolic engine: the IR as z3 terms, checked by bounded model checking (``bmc``),
k-induction (``kind``) and PDR (``pdr``: blocking counterexamples to induction, then
z3's Spacer).

Every counterexample and witness is replayed through the IR interpreter before it is
reported; every unbounded ``holds`` carries a certificate (``verdict.extra["certificate"]``)
that an independent checker re-verified on a fresh solver. Limits and z3's unknown answers
give ``inconclusive`` with the reason, never ``holds``.

Scope: invariants, action properties and reachable properties ("sometimes" witnesses).
Deadlock and liveness (``eventually``, ``leads_to``) are checked by the explicit engine
only; named explicitly, they get an ``inconclusive`` verdict that says so.

>>> from migcheck.models import build
>>> from migcheck.models.library import bundled
>>> v = check_symbolic(build(bundled("peterson")), "pdr", ["mutual-exclusion"], None, 30)
>>> v["mutual-exclusion"].verdict, v["mutual-exclusion"].completeness
('holds', 'proved')
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import import_module
from typing import TYPE_CHECKING, Any

from migcheck.models.errors import UsageError
from migcheck.models.expr import Node
from migcheck.models.ir import System

from ..verdict import Verdict, mark_vacuous

if TYPE_CHECKING:
    from .certificate import (
        Certificate,
        CertificateCheck,
        certificate_smtlib,
        check_certificate,
        write_certificate,
    )

# z3 is loaded on first use of an engine, not on import: `migcheck list` and the explicit
# engine never need it (PEP 562 module attributes).
_LAZY = {"bmc": ".bmc", "DEFAULT_DEPTH": ".bmc", "kinduction": ".kinduction", "DEFAULT_MAX_K": ".kinduction",
         "pdr": ".pdr", "Certificate": ".certificate", "CertificateCheck": ".certificate",
         "certificate_smtlib": ".certificate", "check_certificate": ".certificate",
         "write_certificate": ".certificate"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


ENGINES = ("bmc", "kind", "pdr")


def check_symbolic(system: System, engine: str, properties: list[str] | None = None,
                   depth: int | None = None, timeout: float | None = None, *,
                   lemmas: Sequence[Node] = (), mine_lemmas: bool = True,
                   sample: System | None = None, block: bool = True) -> dict[str, Verdict]:
    """Check ``properties`` of ``system`` (default: every invariant, action and reachable
    property) with one symbolic engine; a verdict per property, in the order asked.

    Parameters
    ----------
    engine
        ``"bmc"`` (bounded: ``holds`` up to ``depth``), ``"kind"`` (k-induction up to
        ``k = depth + 1``, with ``lemmas``) or ``"pdr"`` (Spacer; ``depth`` caps the BMC run
        that extracts a counterexample Spacer reports).
    depth
        The BMC bound, or the largest base depth of k-induction; default 25.
    timeout
        Seconds for the whole call; running out gives ``inconclusive`` for what is open.
    lemmas
        k-induction only: IR state predicates that strengthen the induction (each checked).
    mine_lemmas, sample
        k-induction and PDR: strengthen the proof with lemmas mined from an explicit search of
        ``sample`` (default ``system``; `lemmas.sample_params` gives a smaller instance of a
        model with symmetric index sets) and filtered by Houdini; see `lemmas`. PDR also
        generalises its blocked cubes against ``sample``'s states.
    block
        PDR only: try the blocking strengthening (`strengthen`) before Spacer (default).

    Raises `UsageError` for an unknown engine, a bad bound or lemmas given to another engine.
    """
    if engine not in ENGINES:
        raise UsageError(f"unknown symbolic engine '{engine}' (engines: {', '.join(ENGINES)})")
    if depth is not None and depth < 0:
        raise UsageError(f"--depth must be at least 0, got {depth}")
    if timeout is not None and timeout <= 0:
        raise UsageError(f"--timeout must be positive, got {timeout}")
    if lemmas and engine != "kind":
        raise UsageError("lemmas are used by k-induction only (engine 'kind')")
    from .bmc import DEFAULT_DEPTH, bmc
    from .goals import selected
    from .kinduction import DEFAULT_MAX_K, kinduction
    from .pdr import pdr

    reported = [p.name for p in selected(system, properties)]
    witnesses = [p.witness for p in map(system.property, reported) if p is not None and p.witness]
    asked = list(dict.fromkeys([*reported, *witnesses]))  # a witness proved unreachable: vacuous
    vacuity = [w for w in witnesses if w not in reported]  # asked for that only: need not be found
    if engine == "bmc":
        verdicts = bmc(system, asked, DEFAULT_DEPTH if depth is None else depth, timeout)
    elif engine == "kind":
        verdicts = kinduction(system, asked, DEFAULT_MAX_K if depth is None else depth, timeout, lemmas,
                              mine_lemmas=mine_lemmas, sample=sample, vacuity=vacuity)
    else:
        verdicts = pdr(system, asked, timeout, depth, mine_lemmas=mine_lemmas, sample=sample, block=block,
                       vacuity=vacuity)
    mark_vacuous(verdicts, [p for p in map(system.property, reported) if p is not None])
    return {n: verdicts[n] for n in reported}


__all__ = ["ENGINES", "Certificate", "CertificateCheck", "bmc", "certificate_smtlib",
           "check_certificate", "check_symbolic", "kinduction", "pdr", "write_certificate"]
