"""Every engine against an independent breadth-first search, on randomly generated models.

Each seed gives a small model (`random_models`): booleans, bounded integers, enumerations,
arrays over an index set (symmetric or not), guards and updates built from every operator of
the language, invariants (some with a witness) and reachable properties. `reference_bfs`
searches its state space without any of migcheck, and each engine must agree with it:

- explicit (and ``--symmetry`` where the index set is declared symmetric, unless it refuses a
  model that reads particular elements): the same verdicts, distinct states (orbits, under
  symmetry), depth, and shortest counterexample and witness lengths;
- BMC to the reference's depth: the same violations and witnesses at the same lengths, and
  ``holds (bounded)`` or an undecided witness otherwise;
- k-induction and PDR: the same verdicts (``vacuous`` included) and lengths.

Above all, no engine may say ``holds`` (or ``vacuous``) where the reference finds a violation.
The default run checks `FAST` seeds, the slow profile `SLOW`; ``MIGCHECK_DIFF_SEED`` moves the
first seed, so a campaign can run with new ones.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the generator and the reference sit beside this file

from random_models import Spec, generate, to_model
from reference_bfs import Reference, reference

from migcheck import runner
from migcheck.checker.symmetry import SymmetryRefused

FIRST = int(os.environ.get("MIGCHECK_DIFF_SEED", "0"))
FAST = 24
SLOW = 300


def expected(spec: Spec, ref: Reference) -> dict[str, tuple[str, int | None]]:
    """Each property's verdict and shortest length (None where no run is shown), per the reference."""
    out: dict[str, tuple[str, int | None]] = {}
    for name, _, witness in spec.invariants:
        if ref.violated[name] is not None:
            out[name] = ("violated", ref.violated[name])
        elif witness and ref.witnessed[witness] is None:
            out[name] = ("vacuous", None)
        else:
            out[name] = ("holds", None)
    for name, _ in spec.reachables:
        length = ref.witnessed[name]
        out[name] = ("holds", length) if length is not None else ("violated", None)
    return out


def answers(results) -> dict[str, tuple[str, int | None]]:
    out = {}
    for r in results:
        v = r.verdict
        shown = v.trace if v.trace is not None else v.witness
        out[v.property] = (v.verdict, len(shown) if shown is not None else None)
    return out


def check_seed(seed: int, backends: tuple[str, ...] = ("python",)) -> None:
    spec = generate(seed)
    model = to_model(spec)
    ref = reference(spec)
    want = expected(spec, ref)
    context = f"seed {seed}: {spec}"

    deadlock = ("violated", ref.deadlock) if ref.deadlock is not None else ("holds", None)
    for backend in backends:
        explicit = runner.run(model, backend=backend)
        assert answers(explicit) == {**want, "deadlock": deadlock}, f"{backend}: {context}"
        stats = explicit[0].verdict.stats
        assert (stats.states, stats.depth) == (ref.states, ref.depth), f"{backend}: {context}"

    if spec.symmetric:
        try:
            reduced = runner.run(model, symmetry=True, properties=list(want))
        except SymmetryRefused:
            assert spec.leaky, context  # only a model that reads particular elements is refused
        else:
            assert answers(reduced) == want, context
            assert reduced[0].verdict.stats.states == ref.orbits, context

    bounded = answers(runner.run(model, engine="bmc", depth=ref.depth))
    for name, (verdict, length) in want.items():
        kind = "reachable" if name.startswith("seen") else "invariant"
        if (verdict, kind) in (("violated", "invariant"), ("holds", "reachable")):
            assert bounded[name] == (verdict, length), context
        elif kind == "invariant":
            assert bounded[name] == ("holds", None), context
        else:
            assert bounded[name] == ("inconclusive", None), context

    for engine in ("kind", "pdr"):
        assert answers(runner.run(model, engine=engine)) == want, f"{engine}: {context}"


@pytest.mark.parametrize("seed", range(FIRST, FIRST + FAST))
def test_engines_agree_with_the_reference_on_random_models(seed):
    check_seed(seed)


def native_available() -> bool:
    from migcheck.checker.native.build import find_compiler

    return find_compiler() is not None


CHUNKS = 30  # slow tests of 10 models each; k-induction alone takes ~100 s on seed 81 (loaded machine)


@pytest.mark.slow
@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_engines_agree_with_the_reference_on_many_random_models(chunk):
    """The slow profile also runs the explicit search in C, where a compiler is installed."""
    backends = ("python", "native") if native_available() else ("python",)
    for seed in range(FIRST + FAST + chunk, FIRST + FAST + SLOW, CHUNKS):
        check_seed(seed, backends)
