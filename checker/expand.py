"""One frontier's expansion, for the cluster search (`cluster.py`): the sequential search's own
specialised expansion with a list of states as its outer loop (`codegen.generate_chunk`), so
a guard, an update or a property means the same here as in the sequential search. It returns
the successors as packed ints with their parent's position and the action, plus the first
state of the list that decides each open property.

A partition drops a successor it has produced (or expanded) before: its owner has already seen
it at the same or an earlier position, so dropping it changes no number and saves sending it.
"""

from __future__ import annotations

from typing import Any

from migcheck.models.ir import System

from .codegen import Active, Packing, generate_chunk
from .symmetry import Symmetry

_FORGET = 4_000_000  # a partition forgets the successors it produced beyond this many (memory)


class Expander:
    """A partition's expansion: the model, its compiled ``expand`` functions (one per set of open
    checks; decided properties are dropped between levels) and the successors it produced."""

    def __init__(self, system: System, symmetry: Symmetry | None):
        self.system = system
        self.packing = Packing.of(system.layout)
        self.canon = symmetry.canonical_packed if symmetry is not None and symmetry.groups else None
        self.compiled: dict[Active, Any] = {}
        self.produced: set[int] = set()

    def __call__(self, checks: Active, chunk: list[int], fired: bytearray) -> tuple:
        """``expand``'s answer for ``chunk``; ``fired`` collects the action instances enabled."""
        expand = self.compiled.get(checks)
        if expand is None:
            source = generate_chunk(self.system, self.packing, checks)
            namespace: dict = {}
            exec(compile(source, f"<migcheck expand {self.system.model}/{self.system.variant}>", "exec"),
                 namespace)
            expand = self.compiled[checks] = namespace["expand"]
        if len(self.produced) > _FORGET:
            self.produced.clear()  # always sound: forgetting only means sending a duplicate
        return expand(chunk, self.produced, fired, self.canon)
